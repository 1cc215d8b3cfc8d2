//! Profiles on disk: a TTL per profile, a version counter that outlives it, and the conditional
//! put (compare the live version, then write) in one write transaction.

use std::collections::HashMap;
use std::sync::Arc;

use redb::{ReadableTable, WriteTransaction};

use super::{
    Inner, PROFILE_EXPIRY, PROFILE_VERSIONS, PROFILES, SWEEP_PER_WRITE, blocking, db_err, due_bound, expiry_key,
};
use crate::app::ports::{ProfileStore, StoreError, StoredProfile};
use crate::domain::{EnterpriseProfile, Uscc};
use crate::store::redis::{PROFILE_SCHEMA_V1, decode_profile};

/// Enterprise profiles of one process, on disk.
#[derive(Clone)]
pub struct EmbeddedProfileStore {
    pub(super) inner: Arc<Inner>,
}

fn encode_profile(p: &StoredProfile) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![PROFILE_SCHEMA_V1];
    serde_json::to_writer(&mut out, p).map_err(|e| StoreError::Corrupt(format!("profile encoding: {e}")))?;
    Ok(out)
}

fn stored(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
) -> Result<Option<StoredProfile>, StoreError> {
    table
        .get(id)
        .map_err(db_err)?
        .map(|g| decode_profile(g.value()))
        .transpose()
}

/// Removes up to `limit` profiles whose TTL ran out before `now`; returns how many.
pub(super) fn sweep_expired(tx: &WriteTransaction, now: i64, limit: usize) -> Result<usize, StoreError> {
    let mut expiry = tx.open_table(PROFILE_EXPIRY).map_err(db_err)?;
    let bound = due_bound(now);
    let mut due = Vec::new();
    for entry in expiry.range::<&[u8]>(..bound.as_slice()).map_err(db_err)?.take(limit) {
        due.push(entry.map_err(db_err)?.0.value().to_vec());
    }
    let mut profiles = tx.open_table(PROFILES).map_err(db_err)?;
    for key in &due {
        let id = std::str::from_utf8(key.get(8..).unwrap_or_default()).unwrap_or_default();
        profiles.remove(id).map_err(db_err)?;
        expiry.remove(key.as_slice()).map_err(db_err)?;
    }
    Ok(due.len())
}

impl Inner {
    fn put_blocking(
        &self,
        profile: EnterpriseProfile,
        expected_version: Option<u64>,
        now_ms: i64,
    ) -> Result<StoredProfile, StoreError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        let stored_profile = {
            let mut profiles = tx.open_table(PROFILES).map_err(db_err)?;
            let mut versions = tx.open_table(PROFILE_VERSIONS).map_err(db_err)?;
            let mut expiry = tx.open_table(PROFILE_EXPIRY).map_err(db_err)?;
            let id = profile.enterprise_id.as_str().to_owned();
            let previous = stored(&profiles, &id)?;
            let last_version = versions.get(id.as_str()).map_err(db_err)?.map_or(0, |g| g.value());
            if let Some(expected) = expected_version {
                let live = previous.as_ref().filter(|p| p.expires_at_ms > now_ms);
                let current = live.map_or(0, |_| last_version);
                if current != expected {
                    return Err(StoreError::VersionConflict { expected, current });
                }
            }
            if let Some(old) = &previous {
                expiry
                    .remove(expiry_key(old.expires_at_ms, &id).as_slice())
                    .map_err(db_err)?;
            }
            let new = StoredProfile {
                profile,
                version: last_version + 1,
                stored_at_ms: now_ms,
                expires_at_ms: now_ms.saturating_add(self.profile_ttl_ms),
            };
            versions.insert(id.as_str(), new.version).map_err(db_err)?;
            profiles
                .insert(id.as_str(), encode_profile(&new)?.as_slice())
                .map_err(db_err)?;
            expiry
                .insert(expiry_key(new.expires_at_ms, &id).as_slice(), ())
                .map_err(db_err)?;
            new
        };
        sweep_expired(&tx, now_ms, SWEEP_PER_WRITE)?;
        tx.commit().map_err(db_err)?;
        Ok(stored_profile)
    }

    fn get_many_blocking(&self, ids: &[Uscc], now_ms: i64) -> Result<HashMap<Uscc, StoredProfile>, StoreError> {
        let tx = self.db.begin_read().map_err(db_err)?;
        let profiles = tx.open_table(PROFILES).map_err(db_err)?;
        let mut found = HashMap::with_capacity(ids.len());
        for id in ids {
            if let Some(p) = stored(&profiles, id.as_str())?.filter(|p| p.expires_at_ms > now_ms) {
                found.insert(id.clone(), p);
            }
        }
        Ok(found)
    }

    fn delete_blocking(&self, id: &Uscc, now_ms: i64) -> Result<bool, StoreError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        let was_live = {
            let mut profiles = tx.open_table(PROFILES).map_err(db_err)?;
            let mut expiry = tx.open_table(PROFILE_EXPIRY).map_err(db_err)?;
            // The version counter stays, so a later put continues the sequence.
            let old = stored(&profiles, id.as_str())?;
            if let Some(old) = &old {
                profiles.remove(id.as_str()).map_err(db_err)?;
                expiry
                    .remove(expiry_key(old.expires_at_ms, id.as_str()).as_slice())
                    .map_err(db_err)?;
            }
            old.is_some_and(|p| p.expires_at_ms > now_ms)
        };
        tx.commit().map_err(db_err)?;
        Ok(was_live)
    }
}

impl ProfileStore for EmbeddedProfileStore {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    async fn put(
        &self,
        profile: EnterpriseProfile,
        expected_version: Option<u64>,
        now_ms: i64,
    ) -> Result<StoredProfile, StoreError> {
        blocking(&self.inner, move |inner| {
            inner.put_blocking(profile, expected_version, now_ms)
        })
        .await
    }

    async fn get(&self, id: &Uscc, now_ms: i64) -> Result<Option<StoredProfile>, StoreError> {
        let ids = [id.clone()];
        let mut found = blocking(&self.inner, move |inner| inner.get_many_blocking(&ids, now_ms)).await?;
        Ok(found.remove(id))
    }

    async fn get_many(&self, ids: &[Uscc], now_ms: i64) -> Result<HashMap<Uscc, StoredProfile>, StoreError> {
        let ids = ids.to_vec();
        blocking(&self.inner, move |inner| inner.get_many_blocking(&ids, now_ms)).await
    }

    async fn delete(&self, id: &Uscc, now_ms: i64) -> Result<bool, StoreError> {
        let id = id.clone();
        blocking(&self.inner, move |inner| inner.delete_blocking(&id, now_ms)).await
    }
}
