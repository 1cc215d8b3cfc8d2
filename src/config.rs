//! `riskd` configuration: flags with environment-variable fallbacks, validated at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// Where profiles and decisions are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// On local disk in `--data-dir` (redb): durable, one process.
    Embedded,
    /// In process memory: NOT durable (lost on restart), for tests and experiments.
    Memory,
    /// Redis at `--redis-url`, shared by every replica.
    Redis,
}

impl StoreKind {
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Embedded => "embedded",
            StoreKind::Memory => "memory",
            StoreKind::Redis => "redis",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// JSON lines when stdout is not a terminal, human-readable when it is.
    Auto,
    Json,
    Text,
}

/// Credit risk-decision service for SME lending (gRPC).
#[derive(Debug, Parser)]
#[command(name = "riskd", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a development CA, a localhost server certificate, one client certificate per role
    /// and a matching auth config into DIR (docs/SECURITY.md). Not for production.
    DevCerts {
        /// Directory to write into (created when missing).
        dir: PathBuf,
        /// Replace certificates already there.
        #[arg(long)]
        force: bool,
    },
    /// Read a bearer token on standard input and print its SHA-256, as the auth config lists it.
    HashToken,
    /// Validate a policy file and print its version and hash (exit 1 when invalid).
    CheckPolicy {
        /// Policy file (TOML); the embedded default when omitted.
        path: Option<PathBuf>,
    },
    /// Ask a running riskd for its gRPC health (`grpc.health.v1`); exit 0 when SERVING, 1
    /// otherwise. For container health checks.
    Healthcheck {
        /// Server to ask; the loopback address of `--listen` (RISKD_LISTEN) when unset, over
        /// TLS (https://) when the server's own --tls-cert (RISKD_TLS_CERT) or --tls-ca is set.
        #[arg(long)]
        addr: Option<String>,
        /// Service to ask about ("" is the whole server; e.g. riskdecision.v1.DecisionService).
        #[arg(long, default_value = "")]
        service: String,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
        timeout_ms: u64,
        #[command(flatten)]
        tls: HealthcheckTls,
    },
}

/// How `riskd healthcheck` reaches a server that serves TLS (docs/SECURITY.md). Its own
/// variables (`RISKD_HEALTHCHECK_TLS_*`): the server's `RISKD_TLS_*` are its server identity,
/// not a client's.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HealthcheckTls {
    /// PEM CA certificate that signed the server's certificate (for an https:// address).
    #[arg(
        long = "tls-ca",
        value_name = "FILE",
        id = "healthcheck_tls_ca",
        env = "RISKD_HEALTHCHECK_TLS_CA"
    )]
    pub ca: Option<PathBuf>,
    /// PEM client certificate, for a server with mutual TLS (with --tls-key).
    #[arg(
        long = "tls-cert",
        value_name = "FILE",
        id = "healthcheck_tls_cert",
        env = "RISKD_HEALTHCHECK_TLS_CERT",
        requires = "healthcheck_tls_key"
    )]
    pub cert: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(
        long = "tls-key",
        value_name = "FILE",
        id = "healthcheck_tls_key",
        env = "RISKD_HEALTHCHECK_TLS_KEY",
        requires = "healthcheck_tls_cert"
    )]
    pub key: Option<PathBuf>,
    /// Name the server's certificate must carry, when not the address's host (e.g. the
    /// service's DNS name while the check asks the loopback address).
    #[arg(
        long = "tls-server-name",
        value_name = "NAME",
        id = "healthcheck_tls_server_name",
        env = "RISKD_HEALTHCHECK_TLS_SERVER_NAME"
    )]
    pub server_name: Option<String>,
}

impl HealthcheckTls {
    /// True when any TLS option is given.
    pub fn any(&self) -> bool {
        self.ca.is_some() || self.cert.is_some() || self.key.is_some() || self.server_name.is_some()
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "RISKD_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Policy file (TOML). The embedded default policy when unset.
    #[arg(long, env = "RISKD_POLICY")]
    pub policy: Option<PathBuf>,
    /// Pin the business date evaluations are made as of (YYYY-MM-DD), for test, replay and batch
    /// environments. The bank-local calendar date when unset.
    #[arg(long, env = "RISKD_BUSINESS_DATE", value_parser = parse_date)]
    pub business_date: Option<time::Date>,
    /// Store of profiles and decisions. Default: redis when --redis-url (REDIS_URL) is set,
    /// embedded otherwise.
    #[arg(long, env = "RISKD_STORE", value_enum)]
    pub store: Option<StoreKind>,
    /// Folder of the embedded store (created on first start).
    #[arg(long, env = "RISKD_DATA_DIR", default_value = "riskd-data")]
    pub data_dir: PathBuf,
    /// Page cache of the embedded store, MiB: the bound of its memory use.
    #[arg(long, env = "RISKD_DATA_CACHE_MB", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub data_cache_mb: u64,
    /// Redis for shared profile and decision stores (selects `--store redis` by default).
    /// `redis://host:port[/db]`, `rediss://` (TLS), or a Redis Cluster as
    /// `redis+cluster://host1:port1,host2:port2` (`rediss+cluster://` for TLS) or as
    /// comma-separated `redis://` URLs of seed nodes.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key riskd writes (A-Z, a-z, 0-9, '.', '_', ':', '-').
    #[arg(long, env = "RISKD_REDIS_PREFIX", default_value = "riskd", value_parser = parse_redis_prefix)]
    pub redis_prefix: String,
    /// Budget of one Redis call, milliseconds, reconnect included; over it the call fails
    /// UNAVAILABLE. Keep it well under the callers' deadlines.
    #[arg(long, env = "RISKD_REDIS_TIMEOUT_MS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub redis_timeout_ms: u64,
    /// How long decision records and idempotency keys are kept (Redis and embedded stores), days
    /// (default 10 years).
    #[arg(long, env = "RISKD_DECISION_RETENTION_DAYS", default_value_t = 3653, value_parser = clap::value_parser!(u64).range(1..=36_525))]
    pub decision_retention_days: u64,
    /// Maximum length of each decision event stream (approximate in Redis: XADD MAXLEN ~).
    #[arg(long, env = "RISKD_DECISION_STREAM_MAXLEN", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1_000..=1_000_000_000))]
    pub decision_stream_maxlen: u64,
    /// Decision shards (Redis Cluster hash tags, one stream each). Default: 1 for a single Redis,
    /// 16 for a Cluster. Must not change for the life of a keyspace.
    #[arg(long, env = "RISKD_REDIS_DECISION_SHARDS", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub redis_decision_shards: Option<u16>,
    /// PEM file with the CA certificate(s) to trust for `rediss://` (the system store when unset).
    #[arg(long, env = "RISKD_REDIS_CA_FILE")]
    pub redis_ca_file: Option<PathBuf>,
    /// Time to live of cached profiles, seconds.
    #[arg(long, env = "RISKD_PROFILE_TTL_SECS", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub profile_ttl_secs: u64,
    /// Server-side cap on any request, milliseconds.
    #[arg(long, env = "RISKD_REQUEST_TIMEOUT_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub request_timeout_ms: u64,
    /// Requests in flight before new ones are shed with RESOURCE_EXHAUSTED.
    #[arg(long, env = "RISKD_MAX_IN_FLIGHT", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_in_flight: u64,
    /// A call that waited longer than this for a worker thread after it arrived is shed with
    /// RESOURCE_EXHAUSTED instead of run (overload protection for CPU-bound calls), milliseconds.
    #[arg(long, env = "RISKD_MAX_QUEUE_DELAY_MS", default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub max_queue_delay_ms: u64,
    /// How long in-flight calls may take to finish after SIGTERM, seconds.
    #[arg(long, env = "RISKD_SHUTDOWN_GRACE_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub shutdown_grace_secs: u64,
    /// PEM certificate chain of the server: serve TLS (with --tls-key). Reloaded when the file
    /// changes.
    #[arg(long, env = "RISKD_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the server certificate.
    #[arg(long, env = "RISKD_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificate(s) of client certificates: mutual TLS, a client without a certificate
    /// signed by it cannot connect. Reloaded when the file changes.
    #[arg(long, env = "RISKD_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// How often the TLS files are checked for changes, seconds.
    #[arg(long, env = "RISKD_TLS_RELOAD_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub tls_reload_secs: u64,
    /// TLS handshakes in progress at once, all sources together. When full, the oldest one
    /// that has not sent a byte is closed for the newcomer (docs/SECURITY.md).
    #[arg(long, env = "RISKD_TLS_MAX_HANDSHAKES", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub tls_max_handshakes: u32,
    /// TLS handshakes in progress at once from one source address (at most
    /// --tls-max-handshakes); raise it when every client comes through one proxy or NAT.
    #[arg(long, env = "RISKD_TLS_MAX_HANDSHAKES_PER_SOURCE", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub tls_max_handshakes_per_source: u32,
    /// Time a TLS handshake may take, milliseconds.
    #[arg(long, env = "RISKD_TLS_HANDSHAKE_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub tls_handshake_timeout_ms: u64,
    /// Time a TLS handshake may take when it starts with more than half of
    /// --tls-max-handshakes in progress, milliseconds (at most --tls-handshake-timeout-ms).
    #[arg(long, env = "RISKD_TLS_HANDSHAKE_BUSY_TIMEOUT_MS", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub tls_handshake_busy_timeout_ms: u64,
    /// Auth config (TOML): callers and their roles, static tokens (hashed), JWT key. Without
    /// it authentication and authorization are OFF: every caller may call every RPC.
    #[arg(long, env = "RISKD_AUTH_CONFIG")]
    pub auth_config: Option<PathBuf>,
    /// Calls per second each caller may make on average (token bucket); 0 = no limit.
    #[arg(long, env = "RISKD_RATE_LIMIT_RPS", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub rate_limit_rps: u32,
    /// Burst each caller may make above the rate; twice the rate when unset.
    #[arg(long, env = "RISKD_RATE_LIMIT_BURST", value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub rate_limit_burst: Option<u32>,
    /// Largest request message accepted, bytes (RESOURCE_EXHAUSTED beyond).
    #[arg(long, env = "RISKD_MAX_MESSAGE_BYTES", default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(1024..=67_108_864))]
    pub max_message_bytes: u64,
    /// Items one ScorePortfolio stream may carry; the stream ends with RESOURCE_EXHAUSTED
    /// after answering that many.
    #[arg(long, env = "RISKD_MAX_STREAM_ITEMS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub max_stream_items: u64,
    /// File holding the secret key (at least 32 bytes) of the HMAC-SHA256 pseudonyms of
    /// personal data in logs and on the decision stream. The key itself may instead be given in
    /// RISKD_PII_HMAC_KEY. A random per-process key (with a warning) when neither is set.
    #[arg(long, env = "RISKD_PII_HMAC_KEY_FILE")]
    pub pii_hmac_key_file: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "RISKD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
    /// Serve Prometheus metrics (text format, `GET /metrics`) on this address; off when unset.
    /// Traces and metrics also go to an OpenTelemetry collector when OTEL_EXPORTER_OTLP_ENDPOINT
    /// is set.
    #[arg(long, env = "RISKD_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

impl ServeArgs {
    pub fn profile_ttl(&self) -> Duration {
        Duration::from_secs(self.profile_ttl_secs)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// The limits of TLS handshakes in progress (checked when the TLS config loads).
    pub fn tls_handshake_limits(&self) -> crate::security::slots::SlotLimits {
        crate::security::slots::SlotLimits {
            max: usize::try_from(self.tls_max_handshakes).unwrap_or(usize::MAX),
            max_per_source: usize::try_from(self.tls_max_handshakes_per_source).unwrap_or(usize::MAX),
            timeout: Duration::from_millis(self.tls_handshake_timeout_ms),
            busy_timeout: Duration::from_millis(self.tls_handshake_busy_timeout_ms),
        }
    }

    /// The store to use: `--store`, else redis when `REDIS_URL` is set, else embedded.
    pub fn store_kind(&self) -> Result<StoreKind, String> {
        match (self.store, &self.redis_url) {
            (Some(StoreKind::Redis), None) => Err("--store redis needs --redis-url (REDIS_URL)".to_owned()),
            (Some(kind), _) => Ok(kind),
            (None, Some(_)) => Ok(StoreKind::Redis),
            (None, None) => Ok(StoreKind::Embedded),
        }
    }

    /// Options of the embedded store.
    pub fn embedded_options(&self) -> crate::store::EmbeddedOptions {
        let mut opts = crate::store::EmbeddedOptions::new(self.data_dir.clone());
        opts.profile_ttl = self.profile_ttl();
        opts.decision_retention = Duration::from_secs(self.decision_retention_days.saturating_mul(86_400));
        opts.stream_maxlen = self.decision_stream_maxlen;
        opts.cache_bytes = usize::try_from(self.data_cache_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        opts
    }

    /// Options for the Redis stores when `REDIS_URL` is set.
    pub fn redis_options(&self) -> Result<Option<crate::store::RedisOptions>, String> {
        let Some(url) = &self.redis_url else {
            return Ok(None);
        };
        let mut opts = crate::store::RedisOptions::new(url.clone());
        opts.prefix = self.redis_prefix.clone();
        opts.profile_ttl = self.profile_ttl();
        opts.call_timeout = Duration::from_millis(self.redis_timeout_ms);
        opts.decision_retention = Duration::from_secs(self.decision_retention_days.saturating_mul(86_400));
        opts.stream_maxlen = self.decision_stream_maxlen;
        opts.decision_shards = self.redis_decision_shards;
        if let Some(path) = &self.redis_ca_file {
            opts = opts.with_ca_file(path)?;
        }
        Ok(Some(opts))
    }
}

fn parse_redis_prefix(s: &str) -> Result<String, String> {
    crate::store::redis::keys::check_prefix(s).map(|()| s.to_owned())
}

fn parse_date(s: &str) -> Result<time::Date, String> {
    crate::policy::parse_iso_date(s).ok_or_else(|| format!("{s:?} is not a date YYYY-MM-DD"))
}
