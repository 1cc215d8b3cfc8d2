//! Ports for the profile cache and the decision record, with an in-process implementation and a
//! Redis implementation (shared by several replicas) behind the same traits.

mod memory;
pub mod redis;

use std::future::Future;

pub use memory::{MemoryDecisionStore, MemoryProfileStore};
pub use redis::{RedisDecisionStore, RedisOptions, RedisProfileStore, RedisStores};

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
    /// The backing store cannot be reached in time.
    #[error("store unavailable: {0}")]
    Unavailable(String),
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
    /// Stores a profile. With `expected_version`, only if the current version equals it (0 =
    /// absent); the compare and the write are one atomic step.
    fn put(
        &self,
        profile: EnterpriseProfile,
        expected_version: Option<u64>,
        now_ms: i64,
    ) -> impl Future<Output = Result<StoredProfile, StoreError>> + Send;

    /// The live (unexpired) profile, if any.
    fn get(&self, id: &Uscc, now_ms: i64) -> impl Future<Output = Result<Option<StoredProfile>, StoreError>> + Send;

    /// Several live profiles at once (a batch of a portfolio stream), keyed by id; absent ids
    /// are missing from the map. Implementations fetch them in one round trip where they can.
    fn get_many(
        &self,
        ids: &[Uscc],
        now_ms: i64,
    ) -> impl Future<Output = Result<std::collections::HashMap<Uscc, StoredProfile>, StoreError>> + Send {
        async move {
            let mut found = std::collections::HashMap::with_capacity(ids.len());
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

/// Decision records and the idempotency index.
pub trait DecisionStore: Send + Sync + 'static {
    /// A new, unique decision id for a decision about to be recorded for `request_id`. A UUIDv7
    /// by default; a sharded store may encode where the record lives (see `store::redis`).
    fn new_decision_id(&self, request_id: &str) -> String {
        let _ = request_id;
        uuid::Uuid::now_v7().to_string()
    }

    /// The decision recorded for a request id, if any.
    fn by_request(&self, request_id: &str) -> impl Future<Output = Result<Option<Decision>, StoreError>> + Send;

    /// Records a decision unless its request id already has one (atomic insert-if-absent).
    fn record(&self, decision: Decision) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// A recorded decision by id.
    fn get(&self, decision_id: &str) -> impl Future<Output = Result<Option<Decision>, StoreError>> + Send;
}
