//! Profiles in Redis: `SET PX` for the TTL, a version counter that outlives the profile, and the
//! conditional put as one Lua script (compare and set in one atomic step).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use ::redis::Script;

use super::Shared;
use crate::app::ports::{ProfileStore, StoreError, StoredProfile};
use crate::domain::{EnterpriseProfile, Uscc};

/// Schema byte in front of the JSON of a stored profile.
pub const PROFILE_SCHEMA_V1: u8 = 1;

/// KEYS[1] profile, KEYS[2] version counter (same hash tag).
/// ARGV[1] expected version ('' = unconditional), ARGV[2] TTL ms, ARGV[3] stored_at ms,
/// ARGV[4] expires_at ms, ARGV[5] profile JSON, ARGV[6] schema byte.
/// Returns {1, new version} or {0, current version} (a conflict; the current version is 0 when
/// no live profile exists).
static PUT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local current = '0'
if redis.call('EXISTS', KEYS[1]) == 1 then
  current = redis.call('GET', KEYS[2]) or '0'
end
if ARGV[1] ~= '' and ARGV[1] ~= current then
  return {0, current}
end
local version = redis.call('INCR', KEYS[2])
local record = ARGV[6] .. '{"version":' .. version .. ',"stored_at_ms":' .. ARGV[3]
  .. ',"expires_at_ms":' .. ARGV[4] .. ',"profile":' .. ARGV[5] .. '}'
redis.call('SET', KEYS[1], record, 'PX', ARGV[2])
return {1, tostring(version)}
"#,
    )
});

/// Enterprise profiles shared by every replica through Redis.
#[derive(Clone)]
pub struct RedisProfileStore {
    pub(super) shared: Arc<Shared>,
}

impl RedisProfileStore {
    /// PING within the call budget (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.shared.ping().await
    }

    /// The key prefix in use.
    pub fn prefix(&self) -> &str {
        self.shared.keys.prefix()
    }
}

pub(crate) fn decode_profile(bytes: &[u8]) -> Result<StoredProfile, StoreError> {
    match bytes.split_first() {
        Some((&PROFILE_SCHEMA_V1, json)) => {
            serde_json::from_slice(json).map_err(|e| StoreError::Corrupt(format!("stored profile: {e}")))
        }
        Some((other, _)) => Err(StoreError::Corrupt(format!(
            "stored profile has unknown schema version {other}"
        ))),
        None => Err(StoreError::Corrupt("stored profile is empty".to_owned())),
    }
}

impl ProfileStore for RedisProfileStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn put(
        &self,
        profile: EnterpriseProfile,
        expected_version: Option<u64>,
        now_ms: i64,
    ) -> Result<StoredProfile, StoreError> {
        let keys = &self.shared.keys;
        let ttl_ms = self.shared.profile_ttl_ms;
        let expires_at_ms = now_ms.saturating_add(ttl_ms);
        let json =
            serde_json::to_string(&profile).map_err(|e| StoreError::Corrupt(format!("profile encoding: {e}")))?;
        let mut inv = PUT.prepare_invoke();
        inv.key(keys.profile(&profile.enterprise_id))
            .key(keys.profile_version(&profile.enterprise_id))
            .arg(expected_version.map(|v| v.to_string()).unwrap_or_default())
            .arg(ttl_ms)
            .arg(now_ms)
            .arg(expires_at_ms)
            .arg(json)
            .arg(&[PROFILE_SCHEMA_V1][..]);
        let (written, version): (i64, String) = self.shared.redis.invoke("put profile", &inv).await?;
        let version: u64 = version
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("profile version {version:?} is not a number")))?;
        if written == 1 {
            Ok(StoredProfile {
                profile,
                version,
                stored_at_ms: now_ms,
                expires_at_ms,
            })
        } else {
            Err(StoreError::VersionConflict {
                expected: expected_version.unwrap_or(0),
                current: version,
            })
        }
    }

    /// The profile while its Redis TTL runs. Redis is the one clock for expiry, so replicas with
    /// skewed clocks still agree; `now_ms` is not consulted.
    async fn get(&self, id: &Uscc, _now_ms: i64) -> Result<Option<StoredProfile>, StoreError> {
        let key = self.shared.keys.profile(id);
        let bytes: Option<Vec<u8>> = self
            .shared
            .redis
            .query("get profile", ::redis::cmd("GET").arg(&key))
            .await?;
        bytes.map(|b| decode_profile(&b)).transpose()
    }

    /// One `MGET` on a single Redis; on a Cluster (where `MGET` must stay in one slot) one `GET`
    /// per profile, all in flight at once.
    async fn get_many(&self, ids: &[Uscc], _now_ms: i64) -> Result<HashMap<Uscc, StoredProfile>, StoreError> {
        let mut found = HashMap::with_capacity(ids.len());
        if ids.is_empty() {
            return Ok(found);
        }
        let keys: Vec<String> = ids.iter().map(|id| self.shared.keys.profile(id)).collect();
        let values: Vec<Option<Vec<u8>>> = if self.shared.redis.is_cluster() {
            let mut set = tokio::task::JoinSet::new();
            for (i, key) in keys.into_iter().enumerate() {
                let redis = self.shared.redis.clone();
                set.spawn(async move {
                    let value: Result<Option<Vec<u8>>, StoreError> =
                        redis.query("get profiles", ::redis::cmd("GET").arg(&key)).await;
                    (i, value)
                });
            }
            let mut values = vec![None; ids.len()];
            while let Some(joined) = set.join_next().await {
                let (i, value) = joined.map_err(|e| StoreError::Unavailable(format!("redis get profiles: {e}")))?;
                if let Some(slot) = values.get_mut(i) {
                    *slot = value?;
                }
            }
            values
        } else {
            self.shared
                .redis
                .query("get profiles", ::redis::cmd("MGET").arg(&keys))
                .await?
        };
        for (id, value) in ids.iter().zip(values) {
            if let Some(bytes) = value {
                found.insert(id.clone(), decode_profile(&bytes)?);
            }
        }
        Ok(found)
    }

    async fn delete(&self, id: &Uscc, _now_ms: i64) -> Result<bool, StoreError> {
        // The version counter stays, so a later put continues the sequence.
        let key = self.shared.keys.profile(id);
        let removed: i64 = self
            .shared
            .redis
            .query("delete profile", ::redis::cmd("DEL").arg(&key))
            .await?;
        Ok(removed > 0)
    }
}
