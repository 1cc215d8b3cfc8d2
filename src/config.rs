//! `riskd` configuration: flags with environment-variable fallbacks, validated at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

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
    /// Validate a policy file and print its version and hash (exit 1 when invalid).
    CheckPolicy {
        /// Policy file (TOML); the embedded default when omitted.
        path: Option<PathBuf>,
    },
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
    /// Redis for shared profile and decision stores; in-process stores when unset.
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
    /// How long decision records and idempotency keys are kept in Redis, days (default 10 years).
    #[arg(long, env = "RISKD_DECISION_RETENTION_DAYS", default_value_t = 3653, value_parser = clap::value_parser!(u64).range(1..=36_525))]
    pub decision_retention_days: u64,
    /// Approximate maximum length of each decision event stream (XADD MAXLEN ~).
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
    /// How long in-flight calls may take to finish after SIGTERM, seconds.
    #[arg(long, env = "RISKD_SHUTDOWN_GRACE_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub shutdown_grace_secs: u64,
    /// Log format.
    #[arg(long, env = "RISKD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
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
