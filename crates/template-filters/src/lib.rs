//! Template filters that print the way Russian invoices and letters do, for
//! every minijinja environment of robota (process templates on the host, the
//! e-mail action's templates in its sandbox), so a letter shows a sum and a
//! date exactly as the invoice PDF does:
//!
//! - `{{ invoice.total | money }}` → `480 000,00`;
//!   `{{ invoice.total | money(invoice.currency) }}` → `480 000,00 ₽`;
//! - `{{ invoice.due_date | date }}` → `11.12.2026`;
//! - `{{ task.starts_at | datetime }}` → `04.12.2026 14:00` (company time).
//!
//! A value that is not an amount or a date fails the render, naming it,
//! rather than printing something wrong into a letter to a client.

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind};
use robota_money_rules::print;
use rust_decimal::Decimal;
use std::str::FromStr;

/// Adds `money` and `date` to `env`.
pub fn register(env: &mut Environment<'_>) {
    env.add_filter("money", money);
    env.add_filter("date", date);
    env.add_filter("datetime", datetime);
}

/// The amount in `value` (a decimal string such as "480000.00" or an
/// integer), printed with grouped thousands and a comma; with a currency,
/// followed by its sign.
pub fn money(value: Value, currency: Option<String>) -> Result<String, Error> {
    let text = value.to_string();
    let amount = if value.as_str().is_some() || value.as_i64().is_some() {
        Decimal::from_str(text.trim()).ok()
    } else {
        None
    };
    let amount = amount.ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("money: `{text}` is not an amount such as \"480000.00\""),
        )
    })?;
    Ok(match currency {
        Some(c) => print::amount_in(amount, &c),
        None => print::amount(amount),
    })
}

/// The ISO date (or timestamp) in `value` as "11.12.2026".
pub fn date(value: Value) -> Result<String, Error> {
    value.as_str().and_then(print::date).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("date: `{value}` is not a date such as 2026-12-11"),
        )
    })
}

/// The instant in `value` (RFC 3339) in the company's time, "04.12.2026 14:00".
pub fn datetime(value: Value) -> Result<String, Error> {
    value.as_str().and_then(print::datetime).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("datetime: `{value}` is not a time such as 2026-12-04T11:00:00Z"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::register;
    use minijinja::{Environment, context};

    fn render(source: &str) -> Result<String, String> {
        let mut env = Environment::new();
        register(&mut env);
        env.render_str(
            source,
            context! { total => "480000.00", currency => "RUB", due => "2026-12-11", n => 1500, bad => "much" },
        )
        .map_err(|e| format!("{e:#}"))
    }

    #[test]
    fn amounts_and_dates_print_the_russian_way() {
        assert_eq!(render("{{ total | money }}").unwrap(), "480\u{a0}000,00");
        assert_eq!(
            render("{{ total | money(currency) }}").unwrap(),
            "480\u{a0}000,00\u{a0}₽"
        );
        assert_eq!(render("{{ n | money }}").unwrap(), "1\u{a0}500,00");
        assert_eq!(render("до {{ due | date }}").unwrap(), "до 11.12.2026");
    }

    #[test]
    fn a_value_that_is_not_an_amount_or_a_date_fails_naming_it() {
        let e = render("{{ bad | money }}").unwrap_err();
        assert!(e.contains("money: `much` is not an amount"), "{e}");
        let e = render("{{ bad | date }}").unwrap_err();
        assert!(e.contains("date: `much` is not a date"), "{e}");
    }
}
