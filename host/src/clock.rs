//! The one clock of a server and the company's time zone.
//!
//! Everything that asks "what time is it" — the engine's timers and
//! schedules, the store's timestamps, an action's WASI wall clock, the
//! reports' default periods — asks the same [`Clock`], so a demo or a test
//! that moves it (`robota serve --dev-clock`) moves it everywhere. Dates
//! (an invoice's issue date, "today" in a template, a report's default day)
//! are the company's dates, in [`COMPANY_TIMEZONE`].

use chrono::{DateTime, NaiveDate, Utc};
use std::sync::atomic::{AtomicI64, Ordering};

/// The company's time zone: dates and cron schedules without a zone of
/// their own are in it.
pub const COMPANY_TIMEZONE: chrono_tz::Tz = chrono_tz::Europe::Moscow;

/// Where the time comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> DateTime<Utc>;

    /// Today's date in the company's time zone.
    fn today(&self) -> NaiveDate {
        self.now().with_timezone(&COMPANY_TIMEZONE).date_naive()
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The clock of this process's server. One process serves one CRM, so its
/// clock is the process's: the store stamps rows with it (created, updated,
/// timeline, outbox), the engine and the actions read it through
/// [`ServerClock`], and `POST /api/v1/dev/clock` moves it. A test that
/// wants a clock of its own gives its engine a [`ShiftedClock`]; the
/// store's stamps then stay at this clock (system time unless moved).
static SERVER_CLOCK: ShiftedClock = ShiftedClock::new();

/// Now, by this process's server clock.
pub fn now() -> DateTime<Utc> {
    SERVER_CLOCK.now()
}

/// The server clock itself, to move it (`--dev-clock` only).
pub fn server_clock() -> &'static ShiftedClock {
    &SERVER_CLOCK
}

/// This process's server clock as a [`Clock`] to hand the engine and the
/// plugin host.
#[derive(Debug, Default, Clone, Copy)]
pub struct ServerClock;

impl Clock for ServerClock {
    fn now(&self) -> DateTime<Utc> {
        SERVER_CLOCK.now()
    }
}

/// The system clock plus an offset that only grows: time can be moved
/// forward, never back, so timers and schedules stay consistent.
#[derive(Debug, Default)]
pub struct ShiftedClock {
    offset_ms: AtomicI64,
}

impl ShiftedClock {
    /// A clock at system time.
    pub const fn new() -> ShiftedClock {
        ShiftedClock {
            offset_ms: AtomicI64::new(0),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Moves the clock forward to `at`; an `at` in the clock's past is
    /// refused (timers and schedules already fired stay fired), naming now.
    pub fn advance_to(&self, at: DateTime<Utc>) -> Result<(), String> {
        let now = self.now();
        if at < now {
            return Err(format!(
                "the clock moves only forward: {} is before now, {}",
                crate::crm::timestamp_text(at),
                crate::crm::timestamp_text(now)
            ));
        }
        // Whole milliseconds, rounded up: the clock then reads `at` or a
        // moment after it, never a moment before.
        let us = (at - now).num_microseconds().unwrap_or(i64::MAX);
        let ms = us.saturating_add(999) / 1000;
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
        Ok(())
    }

    /// How far ahead of the system clock this clock is.
    pub fn offset(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shifted_clock_moves_forward() {
        let c = ShiftedClock::new();
        let before = c.now();
        c.advance(std::time::Duration::from_secs(3 * 86_400));
        assert!(c.now() - before >= chrono::Duration::days(3));
    }

    #[test]
    fn a_shifted_clock_moves_to_a_later_time_and_refuses_an_earlier_one() {
        let c = ShiftedClock::new();
        let target = Utc::now() + chrono::Duration::days(2);
        c.advance_to(target).unwrap();
        let off = (c.now() - target).num_microseconds().unwrap();
        assert!((0..1_000_000).contains(&off), "{off} µs past the target");
        let e = c.advance_to(Utc::now()).unwrap_err();
        assert!(e.starts_with("the clock moves only forward: "), "{e}");
    }

    #[test]
    fn today_is_the_companys_date() {
        let c = ShiftedClock::new();
        // 22:30 UTC is 01:30 the next day in Moscow.
        let late = Utc::now()
            .date_naive()
            .and_hms_opt(22, 30, 0)
            .unwrap()
            .and_utc()
            + chrono::Duration::days(1);
        c.advance_to(late).unwrap();
        assert_eq!(c.today(), late.date_naive().succ_opt().unwrap());
    }
}
