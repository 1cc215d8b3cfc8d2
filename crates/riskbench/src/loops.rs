//! The load loops: closed (callers), open (a schedule; latency from the intended start) and
//! streaming (ScorePortfolio items in flight).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prost::bytes::Bytes;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

use crate::BoxError;
use crate::args::{Args, CLIENT_GRACE, MAX_RUN, Mode};
use crate::calls::{Body, Target, code_name, unary};
use crate::raw::RawCodec;
use crate::schedule::RateSchedule;
use crate::stats::{Percentiles, Recorder, per_second};

#[derive(Debug, Clone, Serialize)]
pub(crate) struct RunResult {
    pub(crate) target: &'static str,
    pub(crate) mode: Mode,
    /// Calls (portfolio: items) per second, answered OK.
    pub(crate) ok_per_sec: f64,
    /// Calls per second, any status.
    pub(crate) calls_per_sec: f64,
    /// Open loop: the schedule's rate.
    pub(crate) offered_per_sec: Option<f64>,
    pub(crate) window_secs: f64,
    pub(crate) codes: std::collections::BTreeMap<String, u64>,
    /// Latency of the calls answered OK, microseconds.
    pub(crate) ok_latency: Percentiles,
    /// Latency of every call.
    pub(crate) all_latency: Percentiles,
    /// Open loop: calls the generator started more than 1 ms after their intended time (the
    /// generator itself could not keep up; their latency still counts from the intended time).
    pub(crate) late_starts: u64,
    /// Latencies above the histogram's range (120 s), counted at that value.
    pub(crate) clamped: u64,
    /// CPU time of the servers' threads per call in the measured window (10 ms clock ticks;
    /// unaffected by other processes on the machine, unlike throughput).
    pub(crate) server_cpu_us_per_call: f64,
    /// The same for the load generator's threads.
    pub(crate) client_cpu_us_per_call: f64,
    pub(crate) request_bytes: usize,
    pub(crate) response_bytes: usize,
}

impl RunResult {
    pub(crate) fn new(target: &'static str, mode: Mode, rec: &Recorder, window: Duration) -> Self {
        RunResult {
            target,
            mode,
            ok_per_sec: per_second(rec.ok_count(), window),
            calls_per_sec: per_second(rec.count(), window),
            offered_per_sec: None,
            window_secs: window.as_secs_f64(),
            codes: rec.codes().clone(),
            ok_latency: rec.ok_latency(),
            all_latency: rec.all_latency(),
            late_starts: 0,
            clamped: rec.clamped(),
            server_cpu_us_per_call: 0.0,
            client_cpu_us_per_call: 0.0,
            request_bytes: 0,
            response_bytes: 0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    pub(crate) connections: u64,
    pub(crate) streams: u64,
    pub(crate) window: u64,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
    pub(crate) requests: Option<u64>,
    pub(crate) timeout: Duration,
}

impl Load {
    pub(crate) fn from(args: &Args) -> Self {
        Load {
            connections: args.connections,
            streams: args.streams,
            window: args.window,
            warmup: Duration::from_secs(args.warmup),
            duration: Duration::from_secs(args.duration),
            requests: args.requests,
            timeout: Duration::from_millis(args.timeout_ms),
        }
    }
}

/// Closed loop: `connections x streams` callers, each sending its next call when the last one
/// is answered.
pub(crate) async fn closed_loop(target: &Target, load: Load) -> Recorder {
    let start = Instant::now();
    let measure_from = start + load.warmup;
    let stop_at = match load.requests {
        Some(_) => start + MAX_RUN,
        None => measure_from + load.duration,
    };
    let measured_budget = Arc::new(AtomicU64::new(load.requests.unwrap_or(u64::MAX)));
    let seq = target.seq.clone();
    let mut workers = Vec::new();
    for k in 0..load.connections * load.streams {
        let channel = target.channels[(k % load.connections) as usize].clone();
        let path = target.path.clone();
        let body = target.body.clone();
        let budget = measured_budget.clone();
        let seq = seq.clone();
        workers.push(tokio::spawn(async move {
            let mut rec = Recorder::new();
            loop {
                let t0 = Instant::now();
                if t0 >= stop_at {
                    break;
                }
                let measured = t0 >= measure_from;
                if measured
                    && budget
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_err()
                {
                    break;
                }
                let bytes = body.make(seq.fetch_add(1, Ordering::Relaxed));
                let code = match unary(channel.clone(), path.clone(), bytes, load.timeout).await {
                    Ok(_) => "OK",
                    Err(code) => code,
                };
                if measured {
                    rec.record(t0.elapsed(), code);
                }
            }
            rec
        }));
    }
    merge_workers(workers).await
}

/// The recorders of finished load workers, merged (a worker that panicked adds nothing).
pub(crate) async fn merge_workers(workers: Vec<tokio::task::JoinHandle<Recorder>>) -> Recorder {
    let mut total = Recorder::new();
    for w in workers {
        if let Ok(rec) = w.await {
            total.merge(&rec);
        }
    }
    total
}

/// Open loop at a fixed rate for `warmup + duration`; only calls due in the measured window
/// are recorded, from their intended start.
pub(crate) struct OpenRun {
    pub(crate) rec: Arc<std::sync::Mutex<Recorder>>,
    /// The same calls timed from when they were actually sent: the service's own latency,
    /// without the load generator's lag behind its schedule (see `late`).
    pub(crate) sent: Arc<std::sync::Mutex<Recorder>>,
    pub(crate) per_second: Arc<std::sync::Mutex<Vec<Recorder>>>,
    pub(crate) outstanding: Arc<Semaphore>,
    pub(crate) capacity: u32,
    pub(crate) late: u64,
}

pub(crate) async fn open_loop_dispatch(target: &Target, load: Load, rate: u64) -> Result<OpenRun, BoxError> {
    let schedule = RateSchedule::new(rate).ok_or("rate must be positive")?;
    let measured = schedule.calls_between(load.warmup, load.warmup + load.duration);
    let seconds = usize::try_from(load.duration.as_secs()).unwrap_or(0).max(1);
    let capacity = u32::try_from(load.connections * load.streams)
        .unwrap_or(u32::MAX)
        .min(1 << 20);
    let run = OpenRun {
        rec: Arc::new(std::sync::Mutex::new(Recorder::new())),
        sent: Arc::new(std::sync::Mutex::new(Recorder::new())),
        per_second: Arc::new(std::sync::Mutex::new(vec![Recorder::new(); seconds])),
        outstanding: Arc::new(Semaphore::new(capacity as usize)),
        capacity,
        late: 0,
    };
    let mut late = 0u64;
    let start = tokio::time::Instant::now() + Duration::from_millis(10);
    for i in 0..measured.end {
        let intended = start + schedule.offset(i);
        tokio::time::sleep_until(intended).await;
        let Ok(permit) = run.outstanding.clone().acquire_owned().await else {
            break;
        };
        if tokio::time::Instant::now() > intended + Duration::from_millis(1) {
            late += 1;
        }
        let channel = target.channels[(i % load.connections) as usize].clone();
        let path = target.path.clone();
        let bytes = target.body.make(target.seq.fetch_add(1, Ordering::Relaxed));
        let in_window = measured.contains(&i);
        let second = usize::try_from((schedule.offset(i).saturating_sub(load.warmup)).as_secs()).unwrap_or(0);
        let rec = run.rec.clone();
        let sent_rec = run.sent.clone();
        let per_second = run.per_second.clone();
        let timeout = load.timeout;
        tokio::spawn(async move {
            let sent = tokio::time::Instant::now();
            let code = match unary(channel, path, bytes, timeout).await {
                Ok(_) => "OK",
                Err(code) => code,
            };
            let latency = intended.elapsed();
            if in_window {
                if let Ok(mut r) = rec.lock() {
                    r.record(latency, code);
                }
                if let Ok(mut r) = sent_rec.lock() {
                    r.record(sent.elapsed(), code);
                }
                if let Ok(mut s) = per_second.lock()
                    && let Some(r) = s.get_mut(second)
                {
                    r.record(latency, code);
                }
            }
            drop(permit);
        });
    }
    Ok(OpenRun { late, ..run })
}

/// Waits (bounded) for the calls of an open-loop run to finish.
pub(crate) async fn open_loop_drain(run: &OpenRun, load: Load) {
    let wait = load.timeout + CLIENT_GRACE + Duration::from_secs(1);
    let _ = tokio::time::timeout(wait, run.outstanding.acquire_many(run.capacity)).await;
}

/// ScorePortfolio-style streams: each keeps `window` items in flight; latency per item.
pub(crate) async fn streaming_loop(target: &Target, load: Load) -> Recorder {
    let measure_from = Instant::now() + load.warmup;
    let plan = StreamPlan {
        measure_from,
        stop_at: measure_from + load.duration,
        window: usize::try_from(load.window).unwrap_or(1),
        timeout: load.timeout,
        stream_timeout: load.timeout + load.warmup + load.duration,
    };
    let mut workers = Vec::new();
    for k in 0..load.connections * load.streams {
        let channel = target.channels[(k % load.connections) as usize].clone();
        let (path, body) = (target.path.clone(), target.body.clone());
        workers.push(tokio::spawn(stream_worker(channel, path, body, plan)));
    }
    merge_workers(workers).await
}

/// When one stream measures and stops, and how much it keeps in flight.
#[derive(Debug, Clone, Copy)]
struct StreamPlan {
    measure_from: Instant,
    stop_at: Instant,
    window: usize,
    timeout: Duration,
    stream_timeout: Duration,
}

/// One stream: a sender task keeps `window` items in flight; answers free their slots and are
/// timed from when their item was sent (answers come back in order).
async fn stream_worker(channel: Channel, path: PathAndQuery, body: Body, plan: StreamPlan) -> Recorder {
    let mut rec = Recorder::new();
    let (tx, rx) = mpsc::channel::<Bytes>(plan.window);
    let (sent_tx, sent_rx) = mpsc::unbounded_channel::<Instant>();
    let slots = Arc::new(Semaphore::new(plan.window));
    let sender_slots = slots.clone();
    let sender = tokio::spawn(async move {
        let mut n = 0u64;
        while Instant::now() < plan.stop_at {
            let Ok(permit) = sender_slots.acquire().await else {
                break;
            };
            permit.forget();
            if sent_tx.send(Instant::now()).is_err() || tx.send(body.make(n)).await.is_err() {
                break;
            }
            n += 1;
        }
    });
    let mut grpc = Grpc::new(channel);
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    request.set_timeout(plan.stream_timeout);
    let answers = async {
        grpc.ready().await.map_err(|_| "UNAVAILABLE")?;
        grpc.streaming(request, path, RawCodec)
            .await
            .map_err(|s| code_name(s.code()))
    };
    match answers.await {
        Ok(response) => record_answers(response.into_inner(), sent_rx, &slots, &mut rec, plan).await,
        Err(code) => rec.record(Duration::ZERO, code),
    }
    slots.close();
    sender.abort();
    rec
}

async fn record_answers(
    mut inbound: tonic::Streaming<Bytes>,
    mut sent_rx: mpsc::UnboundedReceiver<Instant>,
    slots: &Semaphore,
    rec: &mut Recorder,
    plan: StreamPlan,
) {
    let deadline = plan.stop_at + plan.timeout + CLIENT_GRACE;
    loop {
        match tokio::time::timeout_at(deadline.into(), inbound.message()).await {
            Ok(Ok(Some(_))) => {
                let Some(sent) = sent_rx.recv().await else { break };
                if sent >= plan.measure_from {
                    rec.record(sent.elapsed(), "OK");
                }
                slots.add_permits(1);
            }
            Ok(Ok(None)) => break,
            Ok(Err(status)) => {
                rec.record(Duration::ZERO, code_name(status.code()));
                break;
            }
            Err(_) => {
                rec.record(Duration::ZERO, "CLIENT_TIMEOUT");
                break;
            }
        }
    }
}
