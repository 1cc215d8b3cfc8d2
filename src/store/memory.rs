//! In-process stores, for tests and `riskd --store memory` (which logs that it is not durable).
//! One process only; data is lost on restart and grows with every decision. Locks are held for map operations only, never across an await.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::app::ports::{DecisionStore, ProfileStore, Recorded, StoreError, StoredProfile};
use crate::domain::{Decision, EnterpriseProfile, Uscc};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps half-updated (single inserts and
    // removes), so a poisoned lock is still safe to use.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Profiles with a time-to-live.
#[derive(Debug)]
pub struct MemoryProfileStore {
    ttl_ms: i64,
    inner: Mutex<ProfileMap>,
}

#[derive(Debug, Default)]
struct ProfileMap {
    profiles: HashMap<Uscc, StoredProfile>,
    /// Last version per id, kept after expiry or delete so versions never go back.
    versions: HashMap<Uscc, u64>,
    writes_since_sweep: u32,
}

impl MemoryProfileStore {
    pub fn new(ttl: Duration) -> Self {
        MemoryProfileStore {
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            inner: Mutex::new(ProfileMap::default()),
        }
    }
}

impl ProfileStore for MemoryProfileStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn put(
        &self,
        profile: EnterpriseProfile,
        expected_version: Option<u64>,
        now_ms: i64,
    ) -> Result<StoredProfile, StoreError> {
        let mut map = lock(&self.inner);
        let id = profile.enterprise_id.clone();
        let live = map
            .profiles
            .get(&id)
            .filter(|p| p.expires_at_ms > now_ms)
            .map(|p| p.version);
        if let Some(expected) = expected_version {
            let current = live.unwrap_or(0);
            if current != expected {
                return Err(StoreError::VersionConflict { expected, current });
            }
        }
        let version = map.versions.get(&id).copied().unwrap_or(0) + 1;
        let stored = StoredProfile {
            profile,
            version,
            stored_at_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(self.ttl_ms),
        };
        map.versions.insert(id.clone(), version);
        map.profiles.insert(id, stored.clone());
        map.writes_since_sweep += 1;
        if map.writes_since_sweep >= 1024 {
            map.writes_since_sweep = 0;
            map.profiles.retain(|_, p| p.expires_at_ms > now_ms);
        }
        Ok(stored)
    }

    async fn get(&self, id: &Uscc, now_ms: i64) -> Result<Option<StoredProfile>, StoreError> {
        let map = lock(&self.inner);
        Ok(map.profiles.get(id).filter(|p| p.expires_at_ms > now_ms).cloned())
    }

    async fn delete(&self, id: &Uscc, now_ms: i64) -> Result<bool, StoreError> {
        let mut map = lock(&self.inner);
        Ok(map.profiles.remove(id).is_some_and(|p| p.expires_at_ms > now_ms))
    }
}

/// Decision records indexed by decision id and request id.
#[derive(Debug, Default)]
pub struct MemoryDecisionStore {
    inner: Mutex<DecisionMap>,
}

#[derive(Debug, Default)]
struct DecisionMap {
    // Boxed behind an Arc: a `Decision` is a few hundred bytes inline, and a map of them moved
    // every record on each resize (stalls of 100+ ms at 100,000 decisions).
    by_id: HashMap<String, Arc<Decision>>,
    by_request: HashMap<String, String>,
}

impl MemoryDecisionStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl DecisionStore for MemoryDecisionStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn by_request(&self, request_id: &str) -> Result<Option<Decision>, StoreError> {
        let map = lock(&self.inner);
        Ok(map
            .by_request
            .get(request_id)
            .and_then(|id| map.by_id.get(id))
            .map(|d| Decision::clone(d)))
    }

    async fn record(&self, decision: Decision) -> Result<Recorded, StoreError> {
        let mut map = lock(&self.inner);
        if let Some(existing) = map
            .by_request
            .get(&decision.request_id)
            .and_then(|id| map.by_id.get(id))
        {
            return Ok(Recorded::Existing(Decision::clone(existing)));
        }
        map.by_request
            .insert(decision.request_id.clone(), decision.decision_id.clone());
        map.by_id
            .insert(decision.decision_id.clone(), Arc::new(decision.clone()));
        Ok(Recorded::New(decision))
    }

    async fn get(&self, decision_id: &str) -> Result<Option<Decision>, StoreError> {
        Ok(lock(&self.inner).by_id.get(decision_id).map(|d| Decision::clone(d)))
    }
}
