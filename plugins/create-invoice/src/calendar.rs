//! Due dates: calendar days, or working days that skip weekends and the
//! fixed Russian public holidays (Labour Code art. 112). Moved days off that
//! the government announces each year are not known here.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// Whether `d` is a fixed public holiday in Russia.
fn is_public_holiday(d: NaiveDate) -> bool {
    matches!(
        (d.month(), d.day()),
        (1, 1..=8) | (2, 23) | (3, 8) | (5, 1) | (5, 9) | (6, 12) | (11, 4)
    )
}

/// Whether `d` is a working day.
pub fn is_working_day(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !is_public_holiday(d)
}

/// `days` days after `issue`; with `business`, counting working days only.
pub fn due_date(issue: NaiveDate, days: u32, business: bool) -> NaiveDate {
    if !business {
        return issue + Duration::days(i64::from(days));
    }
    let mut at = issue;
    let mut left = days;
    while left > 0 {
        at += Duration::days(1);
        if is_working_day(at) {
            left -= 1;
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn calendar_days_count_every_day() {
        assert_eq!(due_date(d("2026-11-20"), 5, false), d("2026-11-25"));
        assert_eq!(due_date(d("2026-12-30"), 5, false), d("2027-01-04"));
    }

    #[test]
    fn business_days_skip_weekends_and_holidays() {
        // Friday + 1 working day = Monday.
        assert_eq!(due_date(d("2026-11-20"), 1, true), d("2026-11-23"));
        // 3 Nov 2026 (Tue) + 1: 4 Nov is a holiday, so Thursday 5 Nov.
        assert_eq!(due_date(d("2026-11-03"), 1, true), d("2026-11-05"));
        // The New Year holidays run to 8 January (Friday 2027-01-08).
        assert_eq!(due_date(d("2026-12-31"), 1, true), d("2027-01-11"));
        assert_eq!(due_date(d("2026-11-20"), 0, true), d("2026-11-20"));
    }
}
