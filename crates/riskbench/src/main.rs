//! `riskbench`: load generator for riskd, with a bare tonic echo service as the framework
//! baseline, both started in this process on 127.0.0.1 (docs/PERFORMANCE.md).
//!
//! For each case it runs our RPC, then the echo service with messages of the same encoded size,
//! with the same connections, streams, duration and mode, and prints throughput and latency
//! percentiles side by side with `ratio = ours / echo`. `--overload` measures what happens at
//! twice the sustainable rate and after it (open loop, latency from each call's intended start).
//!
//! Every loop is bounded by time and count; the servers listen on 127.0.0.1 only.

// mimalloc instead of glibc malloc: a decision allocates a few hundred small strings, and under
// load glibc's arena locks made allocation a tenth of the server's CPU (docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod args;
mod calls;
mod cases;
mod echo;
mod loops;
mod measure;
mod otlp_sink;
mod overload;
mod raw;
mod report;
mod schedule;
mod servers;
mod stats;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use riskdecision::server::ServerLimits;
use riskdecision::store::{MemoryDecisionStore, MemoryProfileStore};

use args::{Args, Case, Mode};
use cases::Env;
use loops::Load;
use report::Report;
use servers::Tracing;

fn main() -> ExitCode {
    let args = Args::parse();
    if args.mode == Mode::Open && args.rate.is_none() && !args.overload {
        eprintln!("riskbench: --mode open needs --rate");
        return ExitCode::from(2);
    }
    match run_with_runtimes(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("riskbench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The servers and the load generator on runtimes of their own (thread names "server" and
/// "client", whose CPU time is measured apart), and the telemetry pipelines with `--trace`.
fn run_with_runtimes(args: Args) -> Result<(), BoxError> {
    let server_rt = runtime(args.server_threads, "server")?;
    let client_rt = runtime(args.client_threads, "client")?;
    let tracing = match args.trace {
        true => Some(Tracing::start().map_err(|e| format!("--trace: {e}"))?),
        false => None,
    };
    let received = tracing.as_ref().and_then(|t| t.received.clone());
    let result = client_rt.block_on(run(args, server_rt.handle().clone(), received));
    if let Some(t) = tracing {
        t.stop();
    }
    result
}

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn runtime(threads: u64, name: &str) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::try_from(threads).unwrap_or(2))
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|e| format!("{name} runtime: {e}"))
}

async fn run(
    args: Args,
    server_rt: tokio::runtime::Handle,
    otlp_received: Option<Arc<otlp_sink::Received>>,
) -> Result<(), BoxError> {
    let loadavg_before = report::loadavg();
    let env = start_servers(&args, server_rt).await?;
    let mut cases = Vec::new();
    let mut overload_result = None;
    if args.overload {
        overload_result = Some(overload::overload(&env).await?);
    } else {
        for case in &args.cases {
            if let Some(result) = cases::run_case(&env, *case).await? {
                cases.push(result);
            }
        }
    }
    if let Some((_, prefix)) = &env.redis {
        servers::cleanup_redis(&args.redis_url, prefix).await;
    }
    let received = otlp_received.map(|r| r.snapshot());
    let report = Report::new(&args, loadavg_before, received, cases, overload_result);
    report::print_report(&report);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
        eprintln!("riskbench: wrote {}", path.display());
    }
    Ok(())
}

/// Our server on the in-process stores, on Redis when a case needs it, and the echo baseline.
async fn start_servers(args: &Args, server_rt: tokio::runtime::Handle) -> Result<Env, BoxError> {
    let limits = ServerLimits {
        max_in_flight: usize::try_from(args.max_in_flight).unwrap_or(usize::MAX),
        request_timeout: Duration::from_millis(args.request_timeout_ms),
        max_queue_delay: Duration::from_millis(args.max_queue_delay_ms),
        ..ServerLimits::default()
    };
    let run_id = std::process::id() ^ (riskdecision::app::now_ms() as u32);
    let memory = servers::start_ours(
        &server_rt,
        MemoryProfileStore::new(Duration::from_secs(3600)),
        MemoryDecisionStore::new(),
        limits.clone(),
    )
    .await?;
    let wants_redis = !args.overload
        && args
            .cases
            .iter()
            .any(|c| matches!(c, Case::DecideInlineRedis | Case::DecideIdRedis));
    let redis = if wants_redis {
        servers::open_redis(&server_rt, &args.redis_url, run_id, limits).await
    } else {
        None
    };
    let echo = servers::start_echo(&server_rt).await?;
    Ok(Env {
        load: Load::from(args),
        args: args.clone(),
        memory,
        redis,
        echo,
        run_id,
    })
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use prost::bytes::Bytes;
    use riskdecision::pb;
    use tonic::codegen::http::uri::PathAndQuery;

    use super::*;
    use crate::calls::{decide_body, request_id, unary};
    use crate::servers::{connect, redis_url_is_loopback, start_otlp_sink};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_null_collector_accepts_and_counts_trace_and_metric_exports() {
        let received = Arc::new(otlp_sink::Received::default());
        let sink = start_otlp_sink(&tokio::runtime::Handle::current(), received.clone())
            .await
            .expect("null collector");
        let channel = connect(sink.addr, 1).await.expect("connect").remove(0);
        let timeout = Duration::from_secs(5);
        for path in [
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        ] {
            let body = Bytes::from_static(b"\x0a\x00");
            let answer = unary(channel.clone(), PathAndQuery::from_static(path), body, timeout).await;
            assert_eq!(
                answer,
                Ok(Bytes::new()),
                "{path}: an empty answer is OTLP's full success"
            );
        }
        assert_eq!(received.snapshot(), (2, 4));
        let unknown = unary(
            channel,
            PathAndQuery::from_static("/opentelemetry.proto.collector.logs.v1.LogsService/Export"),
            Bytes::new(),
            timeout,
        )
        .await;
        assert_eq!(unknown, Err("UNIMPLEMENTED"), "only traces and metrics are collected");
        assert_eq!(received.snapshot(), (2, 4));
    }

    #[test]
    fn request_ids_have_a_fixed_width() {
        assert_eq!(request_id(1, 0, 0).len(), request_id(u32::MAX, 255, u64::MAX).len());
    }

    #[test]
    fn decide_bodies_carry_the_request_id_first() {
        let req = pb::DecideRequest {
            request_id: "ignored".into(),
            application: Some(pb::LoanApplication {
                term_months: 12,
                ..Default::default()
            }),
        };
        let body = decide_body(&req, 7, 2, 3);
        let a = pb::DecideRequest::decode(body.make(4)).expect("decodes");
        assert_eq!(a.request_id, request_id(7, 2, 1));
        assert_eq!(a.application.map(|a| a.term_months), Some(12));
        assert_eq!(body.make(1).len(), body.make(u64::MAX).len());
        let unique = decide_body(&req, 7, 2, 0);
        assert_ne!(unique.make(1), unique.make(2));
    }

    #[test]
    fn only_loopback_redis_is_used() {
        assert!(redis_url_is_loopback("redis://127.0.0.1:6379"));
        assert!(redis_url_is_loopback("redis://localhost:6379/0"));
        assert!(redis_url_is_loopback("redis://user:pw@127.0.0.1:6380"));
        assert!(!redis_url_is_loopback("redis://10.0.0.5:6379"));
        assert!(!redis_url_is_loopback("rediss://cache.example.com:6379"));
    }
}
