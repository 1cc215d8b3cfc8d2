//! `--overload`: the closed-loop maximum, then open loop at a multiple of it, then at half.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use riskdecision::pb;
use serde::Serialize;
use tonic::codegen::http::uri::PathAndQuery;

use crate::BoxError;
use crate::args::{DECIDE_PATH, Mode};
use crate::calls::{Target, decide_body, parse};
use crate::cases::Env;
use crate::loops::{Load, RunResult, open_loop_dispatch, open_loop_drain};
use crate::measure::measure;
use crate::servers::connect;
use crate::stats::{self, per_second};

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Phase {
    pub(crate) name: String,
    pub(crate) result: RunResult,
    /// Each measured second: calls answered OK, calls shed or failed, p99 of the OK calls (us).
    pub(crate) seconds: Vec<(u64, u64, f64)>,
    /// Latency of the OK calls from when each was actually sent (the server's share; `result`
    /// counts from each call's intended start, the load generator's lag included).
    pub(crate) ok_from_send: stats::Percentiles,
    pub(crate) rss_kib_after: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Overload {
    pub(crate) sustainable_per_sec: f64,
    pub(crate) factor: f64,
    pub(crate) rss_kib_before: Option<u64>,
    pub(crate) phases: Vec<Phase>,
}

pub(crate) fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub(crate) async fn overload(env: &Env) -> Result<Overload, BoxError> {
    let args = &env.args;
    let load = env.load;
    let channels = connect(env.memory.addr, load.connections).await?;
    let req: pb::DecideRequest = parse("riskdecision.v1.DecideRequest", "decide-tax-loan-counter-offer.json")?;
    // Request ids from a pool: the in-process record store stops growing after the first
    // round, so the memory figures show queues and buffers only.
    let pool = if args.id_pool > 0 { args.id_pool } else { 1_000 };
    let target = Target {
        channels,
        path: PathAndQuery::from_static(DECIDE_PATH),
        body: decide_body(&req, env.run_id, 0xff, pool),
        streaming: false,
        seq: Arc::new(AtomicU64::new(0)),
    };
    let sustainable = match args.rate {
        Some(r) => r as f64,
        None => {
            // Measured with at most 2 connections x 16 callers: enough to saturate two cores,
            // few enough not to overload the server while finding its capacity.
            let probe = Load {
                connections: load.connections.min(2),
                streams: load.streams.min(16),
                ..load
            };
            eprintln!("riskbench: overload: closed-loop maximum ...");
            let (rec, window, _, _) = measure(&target, probe, Mode::Closed, None).await?;
            per_second(rec.ok_count(), window)
        }
    };
    let rss_before = rss_kib();
    let high = (sustainable * args.overload_factor).round().max(1.0) as u64;
    let low = (sustainable * 0.5).round().max(1.0) as u64;
    let mut phases = Vec::new();
    for (name, rate) in [
        (format!("{}x", args.overload_factor), high),
        ("0.5x (recovery)".to_owned(), low),
    ] {
        eprintln!("riskbench: overload: open loop at {rate}/s ({name}) ...");
        // The recovery phase starts straight after the overload phase's last call is sent:
        // whatever queued up is still there.
        let phase_load = Load {
            warmup: if phases.is_empty() { load.warmup } else { Duration::ZERO },
            ..load
        };
        phases.push(run_phase(&target, phase_load, name, rate).await?);
    }
    Ok(Overload {
        sustainable_per_sec: sustainable,
        factor: args.overload_factor,
        rss_kib_before: rss_before,
        phases,
    })
}

/// One open-loop phase at `rate`, with its per-second view and the memory after it.
async fn run_phase(target: &Target, load: Load, name: String, rate: u64) -> Result<Phase, BoxError> {
    let run = open_loop_dispatch(target, load, rate).await?;
    open_loop_drain(&run, load).await;
    let rec = run.rec.lock().map(|r| r.clone()).unwrap_or_default();
    let ok_from_send = run.sent.lock().map(|r| r.ok_latency()).unwrap_or_default();
    let seconds = run
        .per_second
        .lock()
        .map(|s| {
            s.iter()
                .map(|r| (r.ok_count(), r.count() - r.ok_count(), r.ok_latency().p99_us))
                .collect()
        })
        .unwrap_or_default();
    let mut result = RunResult::new("ours", Mode::Open, &rec, load.duration);
    result.offered_per_sec = Some(rate as f64);
    result.late_starts = run.late;
    Ok(Phase {
        name,
        result,
        seconds,
        ok_from_send,
        rss_kib_after: rss_kib(),
    })
}
