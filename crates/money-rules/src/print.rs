//! How Russian documents and letters print amounts, quantities and dates:
//! "1 234 567,50", "2,5", "480 000,00 ₽", "11.12.2026". The invoice PDF, the
//! e-mail templates and the process templates print with these, so a letter
//! shows a sum exactly as the invoice it comes with.

use crate::round_money;
use rust_decimal::Decimal;

/// The space between groups of thousands: no-break, so "120 000" never
/// breaks across lines.
const GROUP_SPACE: char = '\u{a0}';

/// An amount rounded to kopecks: "120 000,00".
pub fn amount(x: Decimal) -> String {
    let text = format!("{:.2}", round_money(x));
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "00"));
    format!("{sign}{},{frac}", group_thousands(int))
}

/// An amount with its currency: "480 000,00 ₽" for RUB, the code for others
/// ("1 000,00 USD").
pub fn amount_in(x: Decimal, currency: &str) -> String {
    let sign = match currency {
        "RUB" | "RUR" => "₽",
        other => other,
    };
    format!("{}{GROUP_SPACE}{sign}", amount(x))
}

/// A quantity without trailing zeros: "2", "2,5", "1 500".
pub fn quantity(x: Decimal) -> String {
    let text = x.normalize().to_string();
    match text.split_once('.') {
        Some((int, frac)) => format!("{},{frac}", group_thousands(int)),
        None => group_thousands(&text),
    }
}

/// An ISO date ("2026-12-11") as "11.12.2026"; `None` if it is not one
/// (a timestamp's date part counts: "2026-12-11T09:00:00Z").
pub fn date(iso: &str) -> Option<String> {
    let day = iso.get(..10)?;
    let mut parts = day.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_digit());
    (digits(y, 4)
        && digits(m, 2)
        && digits(d, 2)
        && (iso.len() == 10 || iso[10..].starts_with('T')))
    .then(|| format!("{d}.{m}.{y}"))
}

/// The offset of the company's time (Moscow, which has kept UTC+3 all year
/// since 2014; the host's `COMPANY_TIMEZONE`).
const COMPANY_OFFSET_SECONDS: i32 = 3 * 3600;

/// An RFC 3339 instant ("2026-12-04T11:00:00Z") in the company's time, as
/// "04.12.2026 14:00"; `None` if it is not one.
pub fn datetime(rfc3339: &str) -> Option<String> {
    let at = chrono::DateTime::parse_from_rfc3339(rfc3339).ok()?;
    let local = at.with_timezone(&chrono::FixedOffset::east_opt(COMPANY_OFFSET_SECONDS)?);
    Some(local.format("%d.%m.%Y %H:%M").to_string())
}

fn group_thousands(int: &str) -> String {
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(GROUP_SPACE);
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn amounts_print_with_grouped_thousands_and_a_comma() {
        assert_eq!(amount(d("1234567.5")), "1\u{a0}234\u{a0}567,50");
        assert_eq!(amount(d("0.005")), "0,01");
        assert_eq!(amount(Decimal::from(100)), "100,00");
        assert_eq!(amount(d("-1500")), "-1\u{a0}500,00");
        assert_eq!(amount_in(d("480000"), "RUB"), "480\u{a0}000,00\u{a0}₽");
        assert_eq!(amount_in(d("10"), "USD"), "10,00\u{a0}USD");
    }

    #[test]
    fn quantities_drop_trailing_zeros() {
        assert_eq!(quantity(d("2.50")), "2,5");
        assert_eq!(quantity(Decimal::from(1500)), "1\u{a0}500");
    }

    #[test]
    fn instants_print_in_company_time() {
        assert_eq!(
            datetime("2026-12-04T11:00:00.000000Z").as_deref(),
            Some("04.12.2026 14:00")
        );
        assert_eq!(
            datetime("2026-12-04T22:30:00Z").as_deref(),
            Some("05.12.2026 01:30")
        );
        assert_eq!(datetime("2026-12-04"), None);
    }

    #[test]
    fn dates_print_day_first_and_only_when_they_are_dates() {
        assert_eq!(date("2026-12-11").as_deref(), Some("11.12.2026"));
        assert_eq!(date("2026-12-11T09:00:00Z").as_deref(), Some("11.12.2026"));
        assert_eq!(date("11.12.2026"), None);
        assert_eq!(date("2026-1-11"), None);
        assert_eq!(date("2026-12-11 junk"), None);
    }
}
