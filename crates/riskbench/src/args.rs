//! Command line: the cases, the load shape and the server limits of a run.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use serde::Serialize;

/// The date the example files are dated for.
pub(crate) const BUSINESS_DATE: time::Date = time::macros::date!(2026 - 11 - 30);
/// How long a call may take beyond its deadline before the client gives up on it.
pub(crate) const CLIENT_GRACE: Duration = Duration::from_secs(2);
/// Longest a run may last, whatever the flags say.
pub(crate) const MAX_RUN: Duration = Duration::from_secs(30 * 60);

pub(crate) const DECIDE_PATH: &str = "/riskdecision.v1.DecisionService/Decide";
pub(crate) const SCORE_PATH: &str = "/riskdecision.v1.DecisionService/Score";
pub(crate) const PORTFOLIO_PATH: &str = "/riskdecision.v1.DecisionService/ScorePortfolio";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Case {
    /// Decide with an inline profile; decision recorded in the in-process store.
    DecideInline,
    /// Decide with an inline profile; decision recorded in Redis (one round trip).
    DecideInlineRedis,
    /// Decide by enterprise id against Redis (profile GET + record script: two round trips).
    DecideIdRedis,
    /// Score with an inline profile (scorecard and cross-checks; nothing recorded).
    Score,
    /// ScorePortfolio stream items with inline profiles (items per second).
    Portfolio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Mode {
    /// Each stream sends its next call when the last one is answered (maximum throughput).
    Closed,
    /// Calls start on a fixed schedule (`--rate`), answered or not; latency from the intended
    /// start (no coordinated omission).
    Open,
}

/// Load generator for riskd with a bare tonic echo baseline (both in-process, 127.0.0.1).
#[derive(Debug, Clone, Parser)]
#[command(name = "riskbench", version)]
pub(crate) struct Args {
    /// Cases to run (comma-separated). Redis cases are skipped when Redis does not answer.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Case::DecideInline, Case::DecideInlineRedis, Case::DecideIdRedis, Case::Score, Case::Portfolio])]
    pub(crate) cases: Vec<Case>,
    #[arg(long, value_enum, default_value_t = Mode::Closed)]
    pub(crate) mode: Mode,
    /// Calls per second in open-loop mode (all connections together).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub(crate) rate: Option<u64>,
    /// HTTP/2 connections.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=2048))]
    pub(crate) connections: u64,
    /// Concurrent streams per connection (closed loop: callers; open loop: most calls
    /// outstanding; portfolio: open ScorePortfolio streams).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub(crate) streams: u64,
    /// Portfolio items in flight per stream.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub(crate) window: u64,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub(crate) duration: u64,
    /// Measured calls per slice (see --rounds) instead of a duration (closed loop).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub(crate) requests: Option<u64>,
    /// Seconds of warm-up before each run (not measured).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=300))]
    pub(crate) warmup: u64,
    /// Deadline sent with every call (grpc-timeout), milliseconds.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub(crate) timeout_ms: u64,
    /// Worker threads of the servers' runtime.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub(crate) server_threads: u64,
    /// Worker threads of the load generator's runtime.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub(crate) client_threads: u64,
    /// Our server's process-wide limit of calls in flight (riskd --max-in-flight).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub(crate) max_in_flight: u64,
    /// Our server's limit on the time a call may queue for a worker before it is shed, ms.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub(crate) max_queue_delay_ms: u64,
    /// Our server's cap on any call, milliseconds (riskd --request-timeout-ms).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub(crate) request_timeout_ms: u64,
    /// Decide request ids cycle through this many values (0: every call a new decision). A pool
    /// keeps the in-process record store from growing, so memory measures queues only.
    #[arg(long, default_value_t = 0)]
    pub(crate) id_pool: u64,
    /// Redis for the Redis cases (loopback only).
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub(crate) redis_url: String,
    /// Ours and echo take turns this many times per case (slices of duration / rounds), so
    /// background load on the machine falls on both alike.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub(crate) rounds: u64,
    /// Skip the echo baseline.
    #[arg(long)]
    pub(crate) no_baseline: bool,
    /// Overload scenario on Decide with an inline profile: the closed-loop maximum (or
    /// `--rate`), then open loop at `--overload-factor` times it, then at half of it.
    #[arg(long)]
    pub(crate) overload: bool,
    #[arg(long, default_value_t = 2.0)]
    pub(crate) overload_factor: f64,
    /// Also write the results as JSON.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    /// Trace our servers' calls through OpenTelemetry as riskd does with an OTLP endpoint: spans
    /// (and metrics) go to OTEL_EXPORTER_OTLP_ENDPOINT when set, else to a null collector run in
    /// this process on a thread of its own. OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG apply;
    /// log lines (RUST_LOG, default info) are formatted and discarded.
    #[arg(long)]
    pub(crate) trace: bool,
}

pub(crate) fn describe(case: Case) -> &'static str {
    match case {
        Case::DecideInline => "Decide, inline profile, record in the in-process store",
        Case::DecideInlineRedis => "Decide, inline profile, record in Redis (1 round trip)",
        Case::DecideIdRedis => "Decide by enterprise id, Redis (profile GET + record: 2 round trips)",
        Case::Score => "Score, inline profile (nothing recorded)",
        Case::Portfolio => "ScorePortfolio items, inline profiles (per item)",
    }
}
