//! The embedded store: profiles, decision records, the idempotency index and the decision
//! stream in one [redb](https://www.redb.org) file on local disk (`<data dir>/riskd.redb`), the
//! default when no `REDIS_URL` is set (docs/ARCHITECTURE.md). One process only: redb locks the
//! file, so a second `riskd` on the same folder refuses to start.
//!
//! # Tables
//! | table | key | value |
//! |---|---|---|
//! | `decisions` | decision id | 8-byte big-endian expiry (ms) + schema byte + CBOR of the decision (the Redis record format) |
//! | `idem` | request id | decision id |
//! | `decision_expiry` | 8-byte big-endian expiry (ms) + decision id | request id |
//! | `stream` | sequence number (from 1) | JSON array of `[field, value]` pairs (the Redis stream fields) |
//! | `profiles` | USCC | schema byte + JSON of the stored profile (the Redis format) |
//! | `profile_versions` | USCC | last version written (never goes back) |
//! | `profile_expiry` | 8-byte big-endian expiry (ms) + USCC | nothing |
//!
//! # Durability and retention
//! Every write is one redb write transaction committed with `Durability::Immediate` (fsync)
//! before the call returns: a decision the service answered survives a crash (SIGKILL, power
//! loss after the fsync). The rules of the Redis store hold: a decision and its idempotency key
//! expire `decision_retention` after they were recorded (by the store's clock), profiles
//! `profile_ttl` after their put; expired entries are invisible at once and removed by the next
//! writes (a bounded sweep inside each write transaction, and a full sweep at open). The stream
//! keeps the last `stream_maxlen` entries (exact, where Redis trims approximately).
//!
//! # Memory
//! Nothing is cached by this module: redb's page cache is bounded by `cache_bytes` (default
//! [`DEFAULT_CACHE_BYTES`]), so resident memory does not grow with the number of decisions.
//!
//! # Threads
//! redb is blocking: every call runs on tokio's blocking pool (`spawn_blocking`), never on a
//! runtime worker. redb runs one write transaction at a time; reads run alongside.

mod decision;
mod profile;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use redb::{Database, TableDefinition};

pub use decision::{EmbeddedDecisionStore, StreamEntry};
pub use profile::EmbeddedProfileStore;

use crate::app::ports::{Clock, StoreError, SystemClock};

/// redb's page cache when none is configured: 32 MiB.
pub const DEFAULT_CACHE_BYTES: usize = 32 << 20;

/// The database file inside the data directory.
pub const DB_FILE: &str = "riskd.redb";

const DECISIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("decisions");
const IDEM: TableDefinition<&str, &str> = TableDefinition::new("idem");
const DECISION_EXPIRY: TableDefinition<&[u8], &str> = TableDefinition::new("decision_expiry");
const STREAM: TableDefinition<u64, &[u8]> = TableDefinition::new("stream");
const PROFILES: TableDefinition<&str, &[u8]> = TableDefinition::new("profiles");
const PROFILE_VERSIONS: TableDefinition<&str, u64> = TableDefinition::new("profile_versions");
const PROFILE_EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("profile_expiry");

/// Expired entries removed per write transaction (bounds the work one call adds).
const SWEEP_PER_WRITE: usize = 64;

/// Where the data lives and how long it is kept.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Folder of the database file, created when missing.
    pub data_dir: PathBuf,
    pub profile_ttl: Duration,
    pub decision_retention: Duration,
    /// Entries the decision stream keeps.
    pub stream_maxlen: u64,
    /// redb page cache, bytes.
    pub cache_bytes: usize,
}

impl EmbeddedOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        EmbeddedOptions {
            data_dir: data_dir.into(),
            profile_ttl: Duration::from_secs(86_400),
            decision_retention: Duration::from_secs(3653 * 86_400),
            stream_maxlen: 1_000_000,
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

/// What both stores share: the database, the lifetimes and the clock of decision retention.
pub(crate) struct Inner {
    db: Database,
    profile_ttl_ms: i64,
    decision_retention_ms: i64,
    stream_maxlen: u64,
    clock: Arc<dyn Clock>,
}

/// The two stores over one database file.
#[derive(Clone)]
pub struct EmbeddedStores {
    pub profiles: EmbeddedProfileStore,
    pub decisions: EmbeddedDecisionStore,
    path: PathBuf,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A redb failure as the ports see it: the disk cannot serve the call.
pub(crate) fn db_err(e: impl Into<redb::Error>) -> StoreError {
    match e.into() {
        redb::Error::Corrupted(msg) => StoreError::Corrupt(format!("embedded store: {msg}")),
        other => StoreError::Unavailable(format!("embedded store: {other}")),
    }
}

/// `expires_at_ms` as a key prefix that sorts by time (negative times sort first).
pub(crate) fn expiry_key(expires_at_ms: i64, id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + id.len());
    key.extend_from_slice(&u64::try_from(expires_at_ms.max(0)).unwrap_or(0).to_be_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

impl EmbeddedStores {
    /// Opens (creating when missing) the data directory and its database, with the system clock.
    /// Blocking: call before serving or from a blocking thread.
    pub fn open(opts: &EmbeddedOptions) -> Result<Self, String> {
        Self::open_with_clock(opts, Arc::new(SystemClock))
    }

    /// [`Self::open`] with the clock that dates decision retention (tests).
    pub fn open_with_clock(opts: &EmbeddedOptions, clock: Arc<dyn Clock>) -> Result<Self, String> {
        if opts.profile_ttl < Duration::from_millis(1) || opts.decision_retention < Duration::from_millis(1) {
            return Err("profile TTL and decision retention must be at least 1 ms".to_owned());
        }
        std::fs::create_dir_all(&opts.data_dir)
            .map_err(|e| format!("cannot create the data directory {}: {e}", opts.data_dir.display()))?;
        let path = opts.data_dir.join(DB_FILE);
        let db = Database::builder()
            .set_cache_size(opts.cache_bytes)
            .create(&path)
            .map_err(|e| format!("cannot open the embedded store {}: {e}", path.display()))?;
        let inner = Arc::new(Inner {
            db,
            profile_ttl_ms: millis(opts.profile_ttl),
            decision_retention_ms: millis(opts.decision_retention),
            stream_maxlen: opts.stream_maxlen.max(1),
            clock,
        });
        inner
            .create_tables_and_sweep()
            .map_err(|e| format!("embedded store {}: {e}", path.display()))?;
        Ok(EmbeddedStores {
            profiles: EmbeddedProfileStore { inner: inner.clone() },
            decisions: EmbeddedDecisionStore { inner },
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Inner {
    /// Creates every table (a read transaction cannot open a table never created) and removes
    /// everything that expired while the service was down.
    fn create_tables_and_sweep(&self) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        tx.open_table(DECISIONS).map_err(db_err)?;
        tx.open_table(IDEM).map_err(db_err)?;
        tx.open_table(DECISION_EXPIRY).map_err(db_err)?;
        tx.open_table(STREAM).map_err(db_err)?;
        tx.open_table(PROFILES).map_err(db_err)?;
        tx.open_table(PROFILE_VERSIONS).map_err(db_err)?;
        tx.open_table(PROFILE_EXPIRY).map_err(db_err)?;
        let now = self.clock.now_ms();
        while decision::sweep_expired(&tx, now, 4096)? == 4096 {}
        while profile::sweep_expired(&tx, now, 4096)? == 4096 {}
        tx.commit().map_err(db_err)
    }
}

/// Runs `f` on tokio's blocking pool: redb calls block on disk I/O and fsync.
pub(crate) async fn blocking<T: Send + 'static>(
    inner: &Arc<Inner>,
    f: impl FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let inner = inner.clone();
    tokio::task::spawn_blocking(move || f(&inner))
        .await
        .map_err(|e| StoreError::Unavailable(format!("embedded store task: {e}")))?
}

/// The upper bound (exclusive) of the expiry keys due at `now`: everything that expires at or
/// before `now` (a Redis key with `PX` is gone when its time is reached).
pub(crate) fn due_bound(now: i64) -> [u8; 8] {
    u64::try_from(now.max(0)).unwrap_or(0).saturating_add(1).to_be_bytes()
}
