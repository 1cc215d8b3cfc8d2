//! The ports the use cases run over: the profile cache, the decision record, a clock and a
//! source of decision ids. Adapters (`store::embedded`, `store::memory`, `store::redis`)
//! implement the stores; `telemetry` decorates them.

use std::collections::HashMap;
use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::domain::{Decision, EnterpriseProfile, Uscc};

/// A cached profile with its version and lifetime.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredProfile {
    pub profile: EnterpriseProfile,
    /// Starts at 1, one more on every write.
    pub version: u64,
    pub stored_at_ms: i64,
    pub expires_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The backing store cannot serve the call now (connection refused or lost, error reply).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backing store did not answer within the call's budget.
    #[error("store unavailable: {0}")]
    Timeout(String),
    /// A conditional write found another version.
    #[error("version conflict: expected {expected}, current {current}")]
    VersionConflict { expected: u64, current: u64 },
    /// A stored record could not be read back (schema or corruption problem).
    #[error("stored record unreadable: {0}")]
    Corrupt(String),
}

/// Result of recording a decision under an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// This decision is now the record for its request id.
    New(Decision),
    /// A decision was already recorded for the request id (returned as recorded).
    Existing(Decision),
}

/// Enterprise profiles pushed by the core banking system.
pub trait ProfileStore: Send + Sync + 'static {
    /// What backs the store ("embedded", "memory", "redis"), for attributes and labels.
    fn kind(&self) -> &'static str;

    /// Stores a profile. With `expected_version`, only if the current version equals it (0 =
    /// absent); the compare and the write are one atomic step.
    fn put(
        &self,
        profile: EnterpriseProfile,
        expected_version: Option<u64>,
        now_ms: i64,
    ) -> impl Future<Output = Result<StoredProfile, StoreError>> + Send;

    /// The live (unexpired) profile to evaluate, if any.
    fn get(&self, id: &Uscc, now_ms: i64) -> impl Future<Output = Result<Option<StoredProfile>, StoreError>> + Send;

    /// The live profile for the cache's own API (GetProfile): [`Self::get`], but decorators
    /// that observe the lookups of evaluations leave it alone.
    fn read(&self, id: &Uscc, now_ms: i64) -> impl Future<Output = Result<Option<StoredProfile>, StoreError>> + Send {
        self.get(id, now_ms)
    }

    /// Several live profiles at once (a batch of a portfolio stream), keyed by id; absent ids
    /// are missing from the map. Implementations fetch them in one round trip where they can.
    fn get_many(
        &self,
        ids: &[Uscc],
        now_ms: i64,
    ) -> impl Future<Output = Result<HashMap<Uscc, StoredProfile>, StoreError>> + Send {
        async move {
            let mut found = HashMap::with_capacity(ids.len());
            for id in ids {
                if let Some(p) = self.get(id, now_ms).await? {
                    found.insert(id.clone(), p);
                }
            }
            Ok(found)
        }
    }

    /// Removes a profile; true when one was live.
    fn delete(&self, id: &Uscc, now_ms: i64) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Where decision ids come from.
pub trait IdSource: Send + Sync {
    /// A new, unique decision id for a decision about to be recorded for `request_id`.
    fn decision_id(&self, request_id: &str) -> String;
}

/// UUIDv7 decision ids.
#[derive(Debug, Clone, Copy, Default)]
pub struct UuidV7Ids;

impl IdSource for UuidV7Ids {
    fn decision_id(&self, _request_id: &str) -> String {
        uuid::Uuid::now_v7().to_string()
    }
}

/// Decision records and the idempotency index.
pub trait DecisionStore: Send + Sync + 'static {
    /// What backs the store ("embedded", "memory", "redis"), for attributes and labels.
    fn kind(&self) -> &'static str;

    /// A new, unique decision id for a decision about to be recorded for `request_id`: the
    /// store is the id source, a UUIDv7 ([`UuidV7Ids`]) by default; a sharded store may encode
    /// where the record lives (see `store::redis`).
    fn new_decision_id(&self, request_id: &str) -> String {
        UuidV7Ids.decision_id(request_id)
    }

    /// The decision recorded for a request id, if any.
    fn by_request(&self, request_id: &str) -> impl Future<Output = Result<Option<Decision>, StoreError>> + Send;

    /// Records a decision unless its request id already has one (atomic insert-if-absent).
    fn record(&self, decision: Decision) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// A recorded decision by id.
    fn get(&self, decision_id: &str) -> impl Future<Output = Result<Option<Decision>, StoreError>> + Send;
}

/// What time it is.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// Milliseconds since the Unix epoch, by the system clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
