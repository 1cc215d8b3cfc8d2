//! Redis-backed profile and decision stores, shared by every `riskd` replica (docs/ARCHITECTURE.md).
//!
//! # Keys
//! All keys start with a configurable prefix `P` (`RISKD_REDIS_PREFIX`, default `riskd`); the part
//! in braces is the Redis Cluster hash tag, i.e. what decides the slot.
//!
//! | key | value | lifetime |
//! |---|---|---|
//! | `P:profile:{<uscc>}` | byte 1 + JSON of [`StoredProfile`](crate::app::ports::StoredProfile) | profile TTL (`SET PX`) |
//! | `P:profile-version:{<uscc>}` | last version written (integer) | none: versions never go back |
//! | `P:idem:{d<s>}:<request_id>` | decision id | decision retention |
//! | `P:decision:{d<s>}:<decision_id>` | byte 1 + CBOR of [`Decision`](crate::domain::Decision) | decision retention |
//! | `P:decisions:{d<s>}` | stream of decision events (`MAXLEN ~`) | trimmed by length |
//!
//! A profile and its version counter share the tag `{<uscc>}`, so the conditional put is one Lua
//! script (compare the live version, `INCR`, `SET PX`) on one slot.
//!
//! # Decisions and the Cluster slot choice
//! `record` must write the idempotency key, the record and the stream entry atomically, and
//! `GetDecision` must find a record by its id alone. Both hold because everything of one decision
//! lives under the tag of its **shard** `s`: a stable hash of the request id modulo the shard
//! count (`RISKD_REDIS_DECISION_SHARDS`; default 1 for a single Redis, 16 for a Cluster), and the
//! store issues decision ids ([`DecisionStore::new_decision_id`](crate::app::ports::DecisionStore::new_decision_id))
//! as UUIDv7 whose last byte *is* that shard. So the record script touches three keys of one
//! slot, and `get(decision_id)` reads the shard back from the id. The shard count must stay fixed
//! for the life of a keyspace (a different count would look retried request ids up elsewhere).
//!
//! Consumers read every stream `P:decisions:{d0}` .. `P:decisions:{d<n-1>}` (one stream with the
//! default single-Redis setting). Each stream is ordered; there is no global order across shards,
//! sort by `decided_at_ms` where it matters. An entry holds `decision_id`, `request_id`,
//! `enterprise_id`, `product`, `outcome`, `grade`, `score`, `requested_amount_minor`,
//! `approved_amount_minor`, `policy_version`, `profile_version`, `inputs_digest` and
//! `decided_at_ms`: no personal data and no profile. The full record is `GET`-able by id.
//!
//! # Round trips
//! A `Decide` by enterprise id is two round trips: `GET` of the profile, then `EVALSHA` of the
//! record script, which also answers retries and concurrent twins with the decision already
//! recorded (the use case no longer looks the request id up first). An inline-profile `Decide` is
//! one. After a Redis restart (script cache empty) the first script call per script adds a
//! `SCRIPT LOAD` and a second `EVALSHA`.
//!
//! # Failure
//! Connections are lazy (the service starts while Redis is down), connect and response timeouts
//! are short, retries few, and every call is also bounded by a per-call budget
//! (`RISKD_REDIS_TIMEOUT_MS`, default 500 ms): a call that cannot be served in time fails with
//! [`StoreError::Timeout`](crate::app::StoreError::Timeout) and the next call reconnects. [`readiness_probe`] PINGs Redis so
//! health can report the dependency.

mod conn;
mod decision;
pub mod keys;
mod profile;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use conn::{CallObserver, Topology, observe_calls, redact};
pub use decision::{DECISION_SCHEMA_V1, RedisDecisionStore, outcome_name, stream_fields};
pub(crate) use decision::{decode_decision, encode_decision};
pub(crate) use profile::decode_profile;
pub use profile::{PROFILE_SCHEMA_V1, RedisProfileStore};

use conn::{Conn, Redis, Timeouts};
use keys::Keys;

use crate::app::ports::StoreError;

/// Decision shards when none are configured: one stream for a single Redis; spread over the
/// Cluster's nodes otherwise.
pub const DEFAULT_SHARDS_SINGLE: u16 = 1;
pub const DEFAULT_SHARDS_CLUSTER: u16 = 16;

/// How to reach Redis and how to lay data out in it.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// `redis://`, `rediss://`, `redis+cluster://h1:p1,h2:p2`, or comma-separated URLs.
    pub url: String,
    pub prefix: String,
    pub profile_ttl: Duration,
    /// Budget of one store call as the caller sees it.
    pub call_timeout: Duration,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    /// Reconnect or retry attempts inside one call.
    pub retries: u8,
    pub decision_retention: Duration,
    /// Approximate cap of each decision stream.
    pub stream_maxlen: u64,
    /// `None`: 1 for a single Redis, 16 for a Cluster.
    pub decision_shards: Option<u16>,
    /// PEM CA certificate(s) to trust for `rediss://` instead of the system store.
    pub ca_pem: Option<Vec<u8>>,
}

impl RedisOptions {
    pub fn new(url: impl Into<String>) -> Self {
        RedisOptions {
            url: url.into(),
            prefix: "riskd".to_owned(),
            profile_ttl: Duration::from_secs(86_400),
            call_timeout: Duration::from_millis(500),
            connect_timeout: Duration::from_millis(500),
            response_timeout: Duration::from_millis(300),
            retries: 1,
            decision_retention: Duration::from_secs(3653 * 86_400),
            stream_maxlen: 1_000_000,
            decision_shards: None,
            ca_pem: None,
        }
    }

    /// Reads the CA file for `rediss://`.
    pub fn with_ca_file(mut self, path: &Path) -> Result<Self, String> {
        self.ca_pem =
            Some(std::fs::read(path).map_err(|e| format!("cannot read Redis CA file {}: {e}", path.display()))?);
        Ok(self)
    }
}

/// What both stores share: one connection, the key scheme and the lifetimes.
pub(crate) struct Shared {
    redis: Redis,
    keys: Keys,
    profile_ttl_ms: i64,
    decision_retention_ms: i64,
    stream_maxlen: u64,
}

impl Shared {
    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.redis.query("ping", &::redis::cmd("PING")).await?;
        Ok(())
    }
}

/// The two stores over one connection.
#[derive(Clone)]
pub struct RedisStores {
    pub profiles: RedisProfileStore,
    pub decisions: RedisDecisionStore,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl RedisStores {
    /// Validates the options and builds the stores without contacting Redis (the connection is
    /// made on first use). Must run inside a tokio runtime.
    pub fn open(opts: &RedisOptions) -> Result<Self, String> {
        let topology = Topology::parse(&opts.url)?;
        let default_shards = if topology.is_cluster() {
            DEFAULT_SHARDS_CLUSTER
        } else {
            DEFAULT_SHARDS_SINGLE
        };
        let keys = Keys::new(&opts.prefix, opts.decision_shards.unwrap_or(default_shards))?;
        if opts.profile_ttl < Duration::from_millis(1) || opts.decision_retention < Duration::from_millis(1) {
            return Err("profile TTL and decision retention must be at least 1 ms".to_owned());
        }
        if opts.call_timeout.is_zero() {
            return Err("the Redis call timeout must be positive".to_owned());
        }
        let timeouts = Timeouts {
            connect: opts.connect_timeout,
            response: opts.response_timeout,
            retries: opts.retries,
            call: opts.call_timeout,
        };
        let conn = Conn::open(&topology, timeouts, opts.ca_pem.as_deref())?;
        let shared = Arc::new(Shared {
            redis: Redis::new(conn, opts.call_timeout),
            keys,
            profile_ttl_ms: millis(opts.profile_ttl),
            decision_retention_ms: millis(opts.decision_retention),
            stream_maxlen: opts.stream_maxlen.max(1),
        });
        Ok(RedisStores {
            profiles: RedisProfileStore { shared: shared.clone() },
            decisions: RedisDecisionStore { shared },
        })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.profiles.ping().await
    }

    pub fn is_cluster(&self) -> bool {
        self.profiles.shared.redis.is_cluster()
    }

    pub fn shards(&self) -> u16 {
        self.profiles.shared.keys.shards()
    }
}

/// PINGs Redis every `interval` and publishes whether it answered (false until the first PING
/// succeeds). Logs each change. The task ends when every receiver is dropped.
pub fn readiness_probe(
    stores: &RedisStores,
    interval: Duration,
) -> (tokio::sync::watch::Receiver<bool>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let stores = stores.clone();
    let handle = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last: Option<bool> = None;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = tx.closed() => break,
            }
            let result = stores.ping().await;
            let up = result.is_ok();
            if last != Some(up) {
                match &result {
                    Ok(()) => tracing::info!("redis reachable: store-backed services SERVING"),
                    Err(e) => tracing::warn!(error = %e, "redis unreachable: store-backed services NOT_SERVING"),
                }
                last = Some(up);
            }
            tx.send_replace(up);
        }
    });
    (rx, handle)
}
