//! The gRPC adapter: tonic services that validate, convert, call the pure core and the stores,
//! and map errors to statuses. Handlers stay thin; the banking knowledge lives in `domain`.

pub mod convert;
pub mod deadline;
mod decision_service;
pub mod monitor_convert;
pub mod overload;
mod policy_service;
mod profile_service;
pub mod status;
pub mod validate;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use time::{Date, Duration as TimeDuration, OffsetDateTime};

pub use decision_service::DecisionApi;
pub use policy_service::PolicyApi;
pub use profile_service::ProfileApi;

use crate::policy::Policy;

/// The policy in force and where it came from.
#[derive(Debug)]
pub struct LoadedPolicy {
    pub policy: Policy,
    /// "embedded" or the file path.
    pub source: String,
    pub loaded_at_ms: i64,
    pub content: String,
}

/// Shared state of all services.
pub struct AppState<P, D> {
    pub policy: Arc<LoadedPolicy>,
    pub profiles: P,
    pub decisions: D,
    /// A pinned business date (test, replay and batch environments); the bank-local calendar
    /// date when `None`.
    pub business_date: Option<Date>,
}

impl<P, D> AppState<P, D> {
    /// The date evaluations are made as of.
    pub fn evaluation_date(&self, now_ms: i64) -> Date {
        self.business_date
            .unwrap_or_else(|| local_date(now_ms, self.policy.policy.utc_offset_hours))
    }

    /// Latest acceptable as-of date: the evaluation date plus a day of slack for callers in
    /// other time zones.
    pub fn latest_input_date(&self, now_ms: i64) -> Date {
        self.evaluation_date(now_ms).next_day().unwrap_or(Date::MAX)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The bank-local calendar date at `ms` (the policy's UTC offset).
pub fn local_date(ms: i64, utc_offset_hours: i8) -> Date {
    let utc = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    (utc + TimeDuration::hours(i64::from(utc_offset_hours))).date()
}
