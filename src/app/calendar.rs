//! The business date: what date evaluations are made as of.

use time::{Date, Duration as TimeDuration, OffsetDateTime};

/// A pinned business date, or the bank-local calendar date (the policy's UTC offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    /// A pinned business date (test, replay and batch environments).
    pub business_date: Option<Date>,
    pub utc_offset_hours: i8,
}

impl Calendar {
    /// The date evaluations are made as of.
    pub fn evaluation_date(&self, now_ms: i64) -> Date {
        self.business_date
            .unwrap_or_else(|| local_date(now_ms, self.utc_offset_hours))
    }

    /// Latest acceptable as-of date: the evaluation date plus a day of slack for callers in
    /// other time zones.
    pub fn latest_input_date(&self, now_ms: i64) -> Date {
        self.evaluation_date(now_ms).next_day().unwrap_or(Date::MAX)
    }
}

/// The bank-local calendar date at `ms` (the policy's UTC offset).
pub fn local_date(ms: i64, utc_offset_hours: i8) -> Date {
    let utc = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    (utc + TimeDuration::hours(i64::from(utc_offset_hours))).date()
}
