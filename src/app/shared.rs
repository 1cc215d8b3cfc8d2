//! The stores of a shared [`AppState`], each a port of its own, so that wiring can decorate
//! them without taking them out of the state.

use std::collections::HashMap;
use std::sync::Arc;

use super::AppState;
use super::ports::{DecisionStore, ProfileStore, Recorded, StoreError, StoredProfile};
use crate::domain::{Decision, EnterpriseProfile, Uscc};

/// The profile store of a shared [`AppState`].
pub struct SharedProfiles<P, D>(pub Arc<AppState<P, D>>);

/// The decision store of a shared [`AppState`].
pub struct SharedDecisions<P, D>(pub Arc<AppState<P, D>>);

impl<P: ProfileStore, D: Send + Sync + 'static> ProfileStore for SharedProfiles<P, D> {
    fn kind(&self) -> &'static str {
        self.0.profiles.kind()
    }

    async fn put(
        &self,
        profile: EnterpriseProfile,
        expected_version: Option<u64>,
        now_ms: i64,
    ) -> Result<StoredProfile, StoreError> {
        self.0.profiles.put(profile, expected_version, now_ms).await
    }

    async fn get(&self, id: &Uscc, now_ms: i64) -> Result<Option<StoredProfile>, StoreError> {
        self.0.profiles.get(id, now_ms).await
    }

    async fn read(&self, id: &Uscc, now_ms: i64) -> Result<Option<StoredProfile>, StoreError> {
        self.0.profiles.read(id, now_ms).await
    }

    async fn get_many(&self, ids: &[Uscc], now_ms: i64) -> Result<HashMap<Uscc, StoredProfile>, StoreError> {
        self.0.profiles.get_many(ids, now_ms).await
    }

    async fn delete(&self, id: &Uscc, now_ms: i64) -> Result<bool, StoreError> {
        self.0.profiles.delete(id, now_ms).await
    }
}

impl<P: Send + Sync + 'static, D: DecisionStore> DecisionStore for SharedDecisions<P, D> {
    fn kind(&self) -> &'static str {
        self.0.decisions.kind()
    }

    fn new_decision_id(&self, request_id: &str) -> String {
        self.0.decisions.new_decision_id(request_id)
    }

    async fn by_request(&self, request_id: &str) -> Result<Option<Decision>, StoreError> {
        self.0.decisions.by_request(request_id).await
    }

    async fn record(&self, decision: Decision) -> Result<Recorded, StoreError> {
        self.0.decisions.record(decision).await
    }

    async fn get(&self, decision_id: &str) -> Result<Option<Decision>, StoreError> {
        self.0.decisions.get(decision_id).await
    }
}
