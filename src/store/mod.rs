//! Ports for the profile cache and the decision record, with an in-process implementation.
//! The Redis implementation (shared by several replicas) slots in behind the same traits.

mod memory;

use std::future::Future;

pub use memory::{MemoryDecisionStore, MemoryProfileStore};

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

    /// Removes a profile; true when one was live.
    fn delete(&self, id: &Uscc, now_ms: i64) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Decision records and the idempotency index.
pub trait DecisionStore: Send + Sync + 'static {
    /// The decision recorded for a request id, if any.
    fn by_request(&self, request_id: &str) -> impl Future<Output = Result<Option<Decision>, StoreError>> + Send;

    /// Records a decision unless its request id already has one (atomic insert-if-absent).
    fn record(&self, decision: Decision) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// A recorded decision by id.
    fn get(&self, decision_id: &str) -> impl Future<Output = Result<Option<Decision>, StoreError>> + Send;
}
