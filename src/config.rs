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
    /// Redis URL for shared profile and decision stores; in-process stores when unset.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
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
}

fn parse_date(s: &str) -> Result<time::Date, String> {
    crate::policy::parse_iso_date(s).ok_or_else(|| format!("{s:?} is not a date YYYY-MM-DD"))
}
