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

mod echo;
mod otlp_sink;
mod raw;
mod schedule;
mod stats;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use prost::Message;
use prost::bytes::{BufMut, Bytes, BytesMut};
use riskdecision::app::{AppState, DecisionStore, LoadedPolicy, ProfileStore};
use riskdecision::pb;
use riskdecision::policy::{DEFAULT_POLICY_TOML, Policy};
use riskdecision::server::{ServerLimits, serve};
use riskdecision::store::{MemoryDecisionStore, MemoryProfileStore, RedisOptions, RedisStores};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint, Server};

use raw::RawCodec;
use schedule::RateSchedule;
use stats::{Percentiles, Recorder, per_second, ratio};

/// The date the example files are dated for.
const BUSINESS_DATE: time::Date = time::macros::date!(2026 - 11 - 30);
/// How long a call may take beyond its deadline before the client gives up on it.
const CLIENT_GRACE: Duration = Duration::from_secs(2);
/// Longest a run may last, whatever the flags say.
const MAX_RUN: Duration = Duration::from_secs(30 * 60);

const DECIDE_PATH: &str = "/riskdecision.v1.DecisionService/Decide";
const SCORE_PATH: &str = "/riskdecision.v1.DecisionService/Score";
const PORTFOLIO_PATH: &str = "/riskdecision.v1.DecisionService/ScorePortfolio";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Case {
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
enum Mode {
    /// Each stream sends its next call when the last one is answered (maximum throughput).
    Closed,
    /// Calls start on a fixed schedule (`--rate`), answered or not; latency from the intended
    /// start (no coordinated omission).
    Open,
}

/// Load generator for riskd with a bare tonic echo baseline (both in-process, 127.0.0.1).
#[derive(Debug, Clone, Parser)]
#[command(name = "riskbench", version)]
struct Args {
    /// Cases to run (comma-separated). Redis cases are skipped when Redis does not answer.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Case::DecideInline, Case::DecideInlineRedis, Case::DecideIdRedis, Case::Score, Case::Portfolio])]
    cases: Vec<Case>,
    #[arg(long, value_enum, default_value_t = Mode::Closed)]
    mode: Mode,
    /// Calls per second in open-loop mode (all connections together).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    rate: Option<u64>,
    /// HTTP/2 connections.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=256))]
    connections: u64,
    /// Concurrent streams per connection (closed loop: callers; open loop: most calls
    /// outstanding; portfolio: open ScorePortfolio streams).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=4096))]
    streams: u64,
    /// Portfolio items in flight per stream.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    window: u64,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    duration: u64,
    /// Measured calls per slice (see --rounds) instead of a duration (closed loop).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    requests: Option<u64>,
    /// Seconds of warm-up before each run (not measured).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=300))]
    warmup: u64,
    /// Deadline sent with every call (grpc-timeout), milliseconds.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    timeout_ms: u64,
    /// Worker threads of the servers' runtime.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=256))]
    server_threads: u64,
    /// Worker threads of the load generator's runtime.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=256))]
    client_threads: u64,
    /// Our server's process-wide limit of calls in flight (riskd --max-in-flight).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_in_flight: u64,
    /// Our server's limit on the time a call may queue for a worker before it is shed, ms.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    max_queue_delay_ms: u64,
    /// Our server's cap on any call, milliseconds (riskd --request-timeout-ms).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(10..=600_000))]
    request_timeout_ms: u64,
    /// Decide request ids cycle through this many values (0: every call a new decision). A pool
    /// keeps the in-process record store from growing, so memory measures queues only.
    #[arg(long, default_value_t = 0)]
    id_pool: u64,
    /// Redis for the Redis cases (loopback only).
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Ours and echo take turns this many times per case (slices of duration / rounds), so
    /// background load on the machine falls on both alike.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100))]
    rounds: u64,
    /// Skip the echo baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Overload scenario on Decide with an inline profile: the closed-loop maximum (or
    /// `--rate`), then open loop at `--overload-factor` times it, then at half of it.
    #[arg(long)]
    overload: bool,
    #[arg(long, default_value_t = 2.0)]
    overload_factor: f64,
    /// Also write the results as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Trace our servers' calls through OpenTelemetry as riskd does with an OTLP endpoint: spans
    /// (and metrics) go to OTEL_EXPORTER_OTLP_ENDPOINT when set, else to a null collector run in
    /// this process on a thread of its own. OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG apply;
    /// log lines (RUST_LOG, default info) are formatted and discarded.
    #[arg(long)]
    trace: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.mode == Mode::Open && args.rate.is_none() && !args.overload {
        eprintln!("riskbench: --mode open needs --rate");
        return ExitCode::from(2);
    }
    let server_rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::try_from(args.server_threads).unwrap_or(2))
        .thread_name("server")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("riskbench: server runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let client_rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::try_from(args.client_threads).unwrap_or(2))
        .thread_name("client")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("riskbench: client runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tracing = if args.trace {
        match Tracing::start() {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("riskbench: --trace: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let received = tracing.as_ref().and_then(|t| t.received.clone());
    let result = client_rt.block_on(run(args, server_rt.handle().clone(), received));
    if let Some(t) = tracing {
        t.stop();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("riskbench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--trace`: the telemetry pipelines and, without an endpoint in the environment, the null
/// collector, on a runtime of their own (thread name "otel", not counted as server CPU: in
/// production the collector is another process and the batch exporter a thread of its own).
struct Tracing {
    rt: tokio::runtime::Runtime,
    telemetry: riskdecision::telemetry::Telemetry,
    received: Option<Arc<otlp_sink::Received>>,
    _sink: Option<Running>,
}

impl Tracing {
    fn start() -> Result<Self, BoxError> {
        use riskdecision::telemetry::{self, TelemetryConfig};
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otel")
            .enable_all()
            .build()?;
        let mut cfg = TelemetryConfig::from_lookup(|k| std::env::var(k).ok())?;
        cfg.log_json = true;
        cfg.log_writer = tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::sink);
        let (sink, received) = match cfg.otlp_endpoint {
            Some(_) => (None, None),
            None => {
                let received = Arc::new(otlp_sink::Received::default());
                let sink = rt.block_on(start_otlp_sink(rt.handle(), received.clone()))?;
                cfg.otlp_endpoint = Some(format!("http://{}", sink.addr));
                (Some(sink), Some(received))
            }
        };
        eprintln!(
            "riskbench: tracing to {}",
            cfg.otlp_endpoint.as_deref().unwrap_or_default()
        );
        let telemetry = rt.block_on(async move { telemetry::init(cfg) })?;
        Ok(Tracing {
            rt,
            telemetry,
            received,
            _sink: sink,
        })
    }

    fn stop(self) {
        let Tracing {
            rt,
            telemetry,
            received,
            _sink,
        } = self;
        rt.block_on(telemetry.shutdown(Duration::from_secs(3)));
        if let Some(r) = received {
            let (calls, bytes) = r.snapshot();
            eprintln!("riskbench: null collector received {calls} exports, {bytes} bytes in all");
        }
    }
}

async fn start_otlp_sink(rt: &tokio::runtime::Handle, received: Arc<otlp_sink::Received>) -> Result<Running, BoxError> {
    let (listener, addr) = bind(rt).await?;
    let (tx, rx) = oneshot::channel::<()>();
    rt.spawn(async move {
        let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        let result = Server::builder()
            .add_service(otlp_sink::Sink::<otlp_sink::Traces>::new(received.clone()))
            .add_service(otlp_sink::Sink::<otlp_sink::Metrics>::new(received))
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = result {
            eprintln!("riskbench: null collector stopped: {e}");
        }
    });
    Ok(Running { addr, stop: Some(tx) })
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

// ---------------------------------------------------------------------------------------------
// Servers

/// A server running on the servers' runtime; stopped when dropped.
struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

fn loaded_policy() -> Result<Arc<LoadedPolicy>, BoxError> {
    let policy = Policy::from_toml(DEFAULT_POLICY_TOML).map_err(|e| format!("default policy: {e}"))?;
    Ok(Arc::new(LoadedPolicy {
        policy,
        source: "embedded".into(),
        loaded_at_ms: 0,
        content: DEFAULT_POLICY_TOML.into(),
    }))
}

async fn bind(rt: &tokio::runtime::Handle) -> Result<(TcpListener, SocketAddr), BoxError> {
    let listener = rt.spawn(TcpListener::bind("127.0.0.1:0")).await??;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

async fn start_ours<P: ProfileStore, D: DecisionStore>(
    rt: &tokio::runtime::Handle,
    profiles: P,
    decisions: D,
    limits: ServerLimits,
) -> Result<Running, BoxError> {
    let state = Arc::new(AppState {
        policy: loaded_policy()?,
        profiles,
        decisions,
        business_date: Some(BUSINESS_DATE),
    });
    let (listener, addr) = bind(rt).await?;
    let (tx, rx) = oneshot::channel::<()>();
    rt.spawn(async move {
        if let Err(e) = serve(listener, state, limits, async move {
            let _ = rx.await;
        })
        .await
        {
            eprintln!("riskbench: our server stopped: {e}");
        }
    });
    Ok(Running { addr, stop: Some(tx) })
}

async fn start_echo(rt: &tokio::runtime::Handle) -> Result<Running, BoxError> {
    let (listener, addr) = bind(rt).await?;
    let (tx, rx) = oneshot::channel::<()>();
    rt.spawn(async move {
        let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        // Transport settings as ours (streams per connection, no Nagle); no layers, no work.
        let result = Server::builder()
            .max_concurrent_streams(Some(256))
            .add_service(echo::pb::echo_server::EchoServer::new(echo::EchoService))
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = result {
            eprintln!("riskbench: echo server stopped: {e}");
        }
    });
    Ok(Running { addr, stop: Some(tx) })
}

async fn connect(addr: SocketAddr, n: u64) -> Result<Vec<Channel>, BoxError> {
    if !addr.ip().is_loopback() {
        return Err(format!("refusing to load {addr}: loopback addresses only").into());
    }
    let mut channels = Vec::new();
    for _ in 0..n {
        let ch = Endpoint::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await?;
        channels.push(ch);
    }
    Ok(channels)
}

// ---------------------------------------------------------------------------------------------
// Requests

fn example(name: &str) -> Result<String, BoxError> {
    let path = format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).map_err(|e| format!("read {path}: {e}").into())
}

fn parse<M: Message + Default>(full_name: &str, name: &str) -> Result<M, BoxError> {
    Ok(riskdecision::json::from_json(full_name, &example(name)?).map_err(|e| format!("{name}: {e}"))?)
}

/// What each call sends.
#[derive(Debug, Clone)]
enum Body {
    Fixed(Bytes),
    /// A DecideRequest whose `request_id` (field 1) is put in front of the rest of the encoded
    /// message (protobuf merges fields in any order): a new decision per call, or one of a pool.
    Decide {
        rest: Bytes,
        run: u32,
        tag: u8,
        pool: u64,
    },
}

/// Width-stable request ids (run, case, sequence), so every request encodes to the same length.
fn request_id(run: u32, tag: u8, n: u64) -> String {
    format!("rb{run:08x}-{tag:02x}-{n:016x}")
}

impl Body {
    fn make(&self, seq: u64) -> Bytes {
        match self {
            Body::Fixed(b) => b.clone(),
            Body::Decide { rest, run, tag, pool } => {
                let n = if *pool > 0 { seq % pool } else { seq };
                let id = request_id(*run, *tag, n);
                let mut buf = BytesMut::with_capacity(rest.len() + id.len() + 2);
                buf.put_u8(0x0a); // field 1, length-delimited
                prost::encoding::encode_varint(id.len() as u64, &mut buf);
                buf.put_slice(id.as_bytes());
                buf.put_slice(rest);
                buf.freeze()
            }
        }
    }
}

/// Where calls go and what they carry.
#[derive(Debug, Clone)]
struct Target {
    channels: Vec<Channel>,
    path: PathAndQuery,
    body: Body,
    streaming: bool,
    /// Calls made so far (request ids stay unique across the slices of a run).
    seq: Arc<AtomicU64>,
}

fn code_name(c: tonic::Code) -> &'static str {
    use tonic::Code;
    match c {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// One unary call with a raw body; the answer's bytes or its status name.
async fn unary(channel: Channel, path: PathAndQuery, body: Bytes, timeout: Duration) -> Result<Bytes, &'static str> {
    let mut grpc = Grpc::new(channel);
    let mut request = tonic::Request::new(body);
    request.set_timeout(timeout);
    let call = async {
        grpc.ready().await.map_err(|_| "UNAVAILABLE")?;
        grpc.unary(request, path, RawCodec)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|s| code_name(s.code()))
    };
    tokio::time::timeout(timeout + CLIENT_GRACE, call)
        .await
        .unwrap_or(Err("CLIENT_TIMEOUT"))
}

// ---------------------------------------------------------------------------------------------
// Runs

#[derive(Debug, Clone, Serialize)]
struct RunResult {
    target: &'static str,
    mode: Mode,
    /// Calls (portfolio: items) per second, answered OK.
    ok_per_sec: f64,
    /// Calls per second, any status.
    calls_per_sec: f64,
    /// Open loop: the schedule's rate.
    offered_per_sec: Option<f64>,
    window_secs: f64,
    codes: std::collections::BTreeMap<String, u64>,
    /// Latency of the calls answered OK, microseconds.
    ok_latency: Percentiles,
    /// Latency of every call.
    all_latency: Percentiles,
    /// Open loop: calls the generator started more than 1 ms after their intended time (the
    /// generator itself could not keep up; their latency still counts from the intended time).
    late_starts: u64,
    /// Latencies above the histogram's range (120 s), counted at that value.
    clamped: u64,
    /// CPU time of the servers' threads per call in the measured window (10 ms clock ticks;
    /// unaffected by other processes on the machine, unlike throughput).
    server_cpu_us_per_call: f64,
    /// The same for the load generator's threads.
    client_cpu_us_per_call: f64,
    request_bytes: usize,
    response_bytes: usize,
}

impl RunResult {
    fn new(target: &'static str, mode: Mode, rec: &Recorder, window: Duration) -> Self {
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
struct Load {
    connections: u64,
    streams: u64,
    window: u64,
    warmup: Duration,
    duration: Duration,
    requests: Option<u64>,
    timeout: Duration,
}

impl Load {
    fn from(args: &Args) -> Self {
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
async fn closed_loop(target: &Target, load: Load) -> Recorder {
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
async fn merge_workers(workers: Vec<tokio::task::JoinHandle<Recorder>>) -> Recorder {
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
struct OpenRun {
    rec: Arc<std::sync::Mutex<Recorder>>,
    /// The same calls timed from when they were actually sent: the service's own latency,
    /// without the load generator's lag behind its schedule (see `late`).
    sent: Arc<std::sync::Mutex<Recorder>>,
    per_second: Arc<std::sync::Mutex<Vec<Recorder>>>,
    outstanding: Arc<Semaphore>,
    capacity: u32,
    late: u64,
}

async fn open_loop_dispatch(target: &Target, load: Load, rate: u64) -> Result<OpenRun, BoxError> {
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
async fn open_loop_drain(run: &OpenRun, load: Load) {
    let wait = load.timeout + CLIENT_GRACE + Duration::from_secs(1);
    let _ = tokio::time::timeout(wait, run.outstanding.acquire_many(run.capacity)).await;
}

/// ScorePortfolio-style streams: each keeps `window` items in flight; latency per item.
async fn streaming_loop(target: &Target, load: Load) -> Recorder {
    let start = Instant::now();
    let measure_from = start + load.warmup;
    let stop_at = measure_from + load.duration;
    let mut workers = Vec::new();
    for k in 0..load.connections * load.streams {
        let channel = target.channels[(k % load.connections) as usize].clone();
        let path = target.path.clone();
        let body = target.body.clone();
        let window = usize::try_from(load.window).unwrap_or(1);
        let timeout = load.timeout;
        workers.push(tokio::spawn(async move {
            let mut rec = Recorder::new();
            let (tx, rx) = mpsc::channel::<Bytes>(window);
            let (sent_tx, mut sent_rx) = mpsc::unbounded_channel::<Instant>();
            let slots = Arc::new(Semaphore::new(window));
            let sender_slots = slots.clone();
            let sender = tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < stop_at {
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
            request.set_timeout(timeout + load.warmup + load.duration);
            let answers = async {
                grpc.ready().await.map_err(|_| "UNAVAILABLE")?;
                grpc.streaming(request, path, RawCodec)
                    .await
                    .map_err(|s| code_name(s.code()))
            };
            match answers.await {
                Ok(response) => {
                    let mut inbound = response.into_inner();
                    let deadline = stop_at + timeout + CLIENT_GRACE;
                    loop {
                        let next = tokio::time::timeout_at(deadline.into(), inbound.message()).await;
                        match next {
                            Ok(Ok(Some(_))) => {
                                let Some(sent) = sent_rx.recv().await else { break };
                                if sent >= measure_from {
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
                Err(code) => rec.record(Duration::ZERO, code),
            }
            slots.close();
            sender.abort();
            rec
        }));
    }
    merge_workers(workers).await
}

/// CPU time (user + system) of this process's threads whose name starts with `prefix`: the
/// servers' runtime threads are "server", the load generator's "client" (Linux /proc).
fn thread_cpu(prefix: &str) -> Duration {
    // Clock ticks per second of /proc's utime and stime (USER_HZ: 100 on Linux).
    const TICKS_PER_SEC: u64 = 100;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let mut ticks = 0u64;
    for task in tasks.flatten().take(10_000) {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ... : comm may hold spaces, so split after the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // After the comm: state is field 3 of stat(5), utime 14 and stime 15.
        let utime = fields.get(11).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        let stime = fields.get(12).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        ticks += utime + stime;
    }
    Duration::from_millis(ticks * 1000 / TICKS_PER_SEC)
}

/// CPU used by the servers and by the load generator during a measured window.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    server: Duration,
    client: Duration,
}

/// One measured run: what was recorded, over which window, how many calls started late, and
/// the CPU spent in the measured window.
async fn measure(
    target: &Target,
    load: Load,
    mode: Mode,
    rate: Option<u64>,
) -> Result<(Recorder, Duration, u64, Cpu), BoxError> {
    let from = tokio::time::Instant::now() + load.warmup;
    let to = from + load.duration;
    let sampler = tokio::spawn(async move {
        tokio::time::sleep_until(from).await;
        let (server, client) = (thread_cpu("server"), thread_cpu("client"));
        tokio::time::sleep_until(to).await;
        Cpu {
            server: thread_cpu("server").saturating_sub(server),
            client: thread_cpu("client").saturating_sub(client),
        }
    });
    let (rec, window, late) = if target.streaming {
        (streaming_loop(target, load).await, load.duration, 0)
    } else {
        match (mode, rate) {
            (Mode::Open, Some(rate)) => {
                let run = open_loop_dispatch(target, load, rate).await?;
                open_loop_drain(&run, load).await;
                let rec = run.rec.lock().map(|r| r.clone()).unwrap_or_default();
                (rec, load.duration, run.late)
            }
            _ => {
                let started = Instant::now();
                let rec = closed_loop(target, load).await;
                let window = match load.requests {
                    Some(_) => started.elapsed().saturating_sub(load.warmup),
                    None => load.duration,
                };
                (rec, window, 0)
            }
        }
    };
    let cpu = sampler.await.unwrap_or_default();
    Ok((rec, window, late, cpu))
}

/// Several measured slices of one target, merged.
#[derive(Debug, Default)]
struct Tally {
    rec: Recorder,
    window: Duration,
    late: u64,
    cpu: Cpu,
}

impl Tally {
    fn add(&mut self, (rec, window, late, cpu): (Recorder, Duration, u64, Cpu)) {
        self.rec.merge(&rec);
        self.window += window;
        self.late += late;
        self.cpu.server += cpu.server;
        self.cpu.client += cpu.client;
    }

    fn result(&self, name: &'static str, mode: Mode, rate: Option<u64>, sizes: (usize, usize)) -> RunResult {
        let mut r = RunResult::new(name, mode, &self.rec, self.window);
        r.offered_per_sec = rate.filter(|_| mode == Mode::Open).map(|r| r as f64);
        r.late_starts = self.late;
        r.request_bytes = sizes.0;
        r.response_bytes = sizes.1;
        let calls = self.rec.count().max(1) as f64;
        r.server_cpu_us_per_call = self.cpu.server.as_secs_f64() * 1e6 / calls;
        r.client_cpu_us_per_call = self.cpu.client.as_secs_f64() * 1e6 / calls;
        r
    }
}

// ---------------------------------------------------------------------------------------------
// Cases

#[derive(Debug, Clone, Serialize)]
struct CaseResult {
    case: Case,
    what: &'static str,
    ours: RunResult,
    echo: Option<RunResult>,
    /// ours / echo, calls (items) answered OK per second.
    throughput_ratio: Option<f64>,
    /// ours / echo, p99 latency of the calls answered OK.
    p99_ratio: Option<f64>,
    /// echo / ours, server CPU per call: the throughput ratio on a machine whose cores serve only
    /// the service (no load generator, no other processes).
    server_cpu_ratio: Option<f64>,
}

fn describe(case: Case) -> &'static str {
    match case {
        Case::DecideInline => "Decide, inline profile, record in the in-process store",
        Case::DecideInlineRedis => "Decide, inline profile, record in Redis (1 round trip)",
        Case::DecideIdRedis => "Decide by enterprise id, Redis (profile GET + record: 2 round trips)",
        Case::Score => "Score, inline profile (nothing recorded)",
        Case::Portfolio => "ScorePortfolio items, inline profiles (per item)",
    }
}

/// One checked call (answer decoded), giving the encoded request and answer sizes.
async fn check_unary<M: Message + Default>(
    target: &Target,
    timeout: Duration,
    check: impl Fn(&M) -> Result<(), String>,
) -> Result<(usize, usize), BoxError> {
    let body = target.body.make(u64::MAX / 2);
    let request_len = body.len();
    let answer = unary(target.channels[0].clone(), target.path.clone(), body, timeout)
        .await
        .map_err(|code| format!("{}: check call failed with {code}", target.path))?;
    let decoded = M::decode(answer.clone())?;
    check(&decoded).map_err(|e| format!("{}: {e}", target.path))?;
    Ok((request_len, answer.len()))
}

fn decide_body(req: &pb::DecideRequest, run: u32, tag: u8, pool: u64) -> Body {
    let mut rest = req.clone();
    rest.request_id.clear();
    Body::Decide {
        rest: Bytes::from(rest.encode_to_vec()),
        run,
        tag,
        pool,
    }
}

struct Env {
    args: Args,
    load: Load,
    server_rt: tokio::runtime::Handle,
    memory: Running,
    redis: Option<(Running, String)>,
    echo: Running,
    run_id: u32,
}

async fn run_case(env: &Env, case: Case) -> Result<Option<CaseResult>, BoxError> {
    let args = &env.args;
    let load = env.load;
    let addr = match case {
        Case::DecideInline | Case::Score | Case::Portfolio => env.memory.addr,
        Case::DecideInlineRedis | Case::DecideIdRedis => match &env.redis {
            Some((server, _)) => server.addr,
            None => {
                eprintln!(
                    "riskbench: {case:?} skipped: Redis at {} does not answer",
                    args.redis_url
                );
                return Ok(None);
            }
        },
    };
    let channels = connect(addr, load.connections).await?;
    let decide_check = |d: &pb::Decision| {
        if d.outcome == pb::Outcome::Unspecified as i32 || d.decision_id.is_empty() {
            Err(format!("unexpected decision {d:?}"))
        } else {
            Ok(())
        }
    };
    let score_check = |s: &pb::ScoreResponse| match &s.error {
        Some(e) => Err(format!("item error {e:?}")),
        None if s.grade.is_empty() => Err("no grade".to_owned()),
        None => Ok(()),
    };
    let (target, sizes) = match case {
        Case::DecideInline | Case::DecideInlineRedis | Case::DecideIdRedis => {
            let file = if case == Case::DecideIdRedis {
                // The profile the by-id example refers to, cached first.
                let put: pb::PutProfileRequest = parse("riskdecision.v1.PutProfileRequest", "put-profile.json")?;
                let mut client = pb::profile_service_client::ProfileServiceClient::new(channels[0].clone());
                client.put_profile(put).await.map_err(|s| format!("PutProfile: {s}"))?;
                "decide-by-id-working-capital.json"
            } else {
                "decide-tax-loan-counter-offer.json"
            };
            let req: pb::DecideRequest = parse("riskdecision.v1.DecideRequest", file)?;
            let target = Target {
                channels: channels.clone(),
                path: PathAndQuery::from_static(DECIDE_PATH),
                body: decide_body(&req, env.run_id, case as u8, args.id_pool),
                streaming: false,
                seq: Arc::new(AtomicU64::new(0)),
            };
            let sizes = check_unary(&target, load.timeout, decide_check).await?;
            (target, sizes)
        }
        Case::Score | Case::Portfolio => {
            let req: pb::ScoreRequest = parse("riskdecision.v1.ScoreRequest", "score-inline.json")?;
            let unary_target = Target {
                channels: channels.clone(),
                path: PathAndQuery::from_static(SCORE_PATH),
                body: Body::Fixed(Bytes::from(req.encode_to_vec())),
                streaming: false,
                seq: Arc::new(AtomicU64::new(0)),
            };
            let sizes = check_unary(&unary_target, load.timeout, score_check).await?;
            if case == Case::Score {
                (unary_target, sizes)
            } else {
                (
                    Target {
                        path: PathAndQuery::from_static(PORTFOLIO_PATH),
                        streaming: true,
                        ..unary_target
                    },
                    sizes,
                )
            }
        }
    };
    let _ = &env.server_rt;

    eprintln!(
        "riskbench: {case:?}: ours (request {} B, answer {} B) ...",
        sizes.0, sizes.1
    );
    let mode = if target.streaming { Mode::Closed } else { args.mode };
    let echo_setup = if args.no_baseline {
        None
    } else {
        let echo_channels = connect(env.echo.addr, load.connections).await?;
        let body = echo::request_bytes(sizes.0, sizes.1);
        let answer = unary(
            echo_channels[0].clone(),
            PathAndQuery::from_static(echo::UNARY_PATH),
            body.clone(),
            load.timeout,
        )
        .await
        .map_err(|code| format!("echo check call failed with {code}"))?;
        eprintln!(
            "riskbench: {case:?}: echo (request {} B, answer {} B)",
            body.len(),
            answer.len()
        );
        let echo_target = Target {
            channels: echo_channels,
            path: PathAndQuery::from_static(if target.streaming {
                echo::STREAM_PATH
            } else {
                echo::UNARY_PATH
            }),
            body: Body::Fixed(body.clone()),
            streaming: target.streaming,
            seq: Arc::new(AtomicU64::new(0)),
        };
        Some((echo_target, (body.len(), answer.len())))
    };
    // Ours and echo take turns in short slices, so a change in the machine's background load
    // falls on both alike; each warms up before its first slice only.
    let rounds = u32::try_from(args.rounds).unwrap_or(1).max(1);
    let slice = (load.duration / rounds).max(Duration::from_secs(1));
    let mut ours_tally = Tally::default();
    let mut echo_tally = Tally::default();
    for round in 0..rounds {
        let warmup = if round == 0 { load.warmup } else { Duration::ZERO };
        let slice_load = Load {
            warmup,
            duration: slice,
            ..load
        };
        ours_tally.add(measure(&target, slice_load, mode, args.rate).await?);
        if let Some((echo_target, _)) = &echo_setup {
            echo_tally.add(measure(echo_target, slice_load, mode, args.rate).await?);
        }
    }
    let ours = ours_tally.result("ours", mode, args.rate, sizes);
    let echo = echo_setup.map(|(_, echo_sizes)| echo_tally.result("echo", mode, args.rate, echo_sizes));
    let throughput_ratio = echo.as_ref().and_then(|e| ratio(ours.ok_per_sec, e.ok_per_sec));
    let p99_ratio = echo
        .as_ref()
        .and_then(|e| ratio(ours.ok_latency.p99_us, e.ok_latency.p99_us));
    let server_cpu_ratio = echo
        .as_ref()
        .and_then(|e| ratio(e.server_cpu_us_per_call, ours.server_cpu_us_per_call));
    Ok(Some(CaseResult {
        case,
        what: describe(case),
        ours,
        echo,
        throughput_ratio,
        p99_ratio,
        server_cpu_ratio,
    }))
}

// ---------------------------------------------------------------------------------------------
// Overload

#[derive(Debug, Clone, Serialize)]
struct Phase {
    name: String,
    result: RunResult,
    /// Each measured second: calls answered OK, calls shed or failed, p99 of the OK calls (us).
    seconds: Vec<(u64, u64, f64)>,
    /// Latency of the OK calls from when each was actually sent (the server's share; `result`
    /// counts from each call's intended start, the load generator's lag included).
    ok_from_send: stats::Percentiles,
    rss_kib_after: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
struct Overload {
    sustainable_per_sec: f64,
    factor: f64,
    rss_kib_before: Option<u64>,
    phases: Vec<Phase>,
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn overload(env: &Env) -> Result<Overload, BoxError> {
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
        let run = open_loop_dispatch(&target, phase_load, rate).await?;
        open_loop_drain(&run, phase_load).await;
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
        let mut result = RunResult::new("ours", Mode::Open, &rec, phase_load.duration);
        result.offered_per_sec = Some(rate as f64);
        result.late_starts = run.late;
        phases.push(Phase {
            name,
            result,
            seconds,
            ok_from_send,
            rss_kib_after: rss_kib(),
        });
    }
    Ok(Overload {
        sustainable_per_sec: sustainable,
        factor: args.overload_factor,
        rss_kib_before: rss_before,
        phases,
    })
}

// ---------------------------------------------------------------------------------------------
// Report

#[derive(Debug, Clone, Serialize)]
struct Machine {
    nproc: usize,
    cpu: String,
    mem_total_kib: Option<u64>,
    loadavg_before: String,
    loadavg_after: String,
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn mem_total_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    s.lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[derive(Debug, Clone, Serialize)]
struct Report {
    machine: Machine,
    mode: Mode,
    rate: Option<u64>,
    connections: u64,
    streams: u64,
    window: u64,
    warmup_secs: u64,
    duration_secs: u64,
    rounds: u64,
    server_threads: u64,
    client_threads: u64,
    max_in_flight: u64,
    max_queue_delay_ms: u64,
    /// `--trace`: our calls were traced (OpenTelemetry on).
    traced: bool,
    /// What the null collector had received when the report was written (`--trace` without an
    /// endpoint): export calls and bytes.
    otlp_received: Option<(u64, u64)>,
    cases: Vec<CaseResult>,
    overload: Option<Overload>,
}

fn codes_text(codes: &std::collections::BTreeMap<String, u64>) -> String {
    codes
        .iter()
        .map(|(c, n)| format!("{c}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn row(label: &str, r: &RunResult) -> String {
    format!(
        "  {label:<6} {:>10.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>11.1} {:>11.1}   {}",
        r.ok_per_sec,
        r.ok_latency.p50_us,
        r.ok_latency.p90_us,
        r.ok_latency.p99_us,
        r.ok_latency.p999_us,
        r.ok_latency.max_us,
        r.server_cpu_us_per_call,
        r.client_cpu_us_per_call,
        codes_text(&r.codes)
    )
}

fn print_report(report: &Report) {
    let m = &report.machine;
    println!(
        "machine: {} cores, {}, {} MiB; load average before {} / after {}",
        m.nproc,
        m.cpu,
        m.mem_total_kib.unwrap_or(0) / 1024,
        m.loadavg_before,
        m.loadavg_after
    );
    println!(
        "load: {:?} loop{}, {} connections x {} streams, warm-up {} s, measured {} s in {} turns with echo; server {} threads, client {} threads",
        report.mode,
        report.rate.map(|r| format!(" at {r}/s")).unwrap_or_default(),
        report.connections,
        report.streams,
        report.warmup_secs,
        report.duration_secs,
        report.rounds,
        report.server_threads,
        report.client_threads
    );
    if report.traced {
        match report.otlp_received {
            Some((calls, bytes)) => println!(
                "tracing: on, every sampled call exported to the in-process null collector ({calls} exports, {bytes} bytes so far)"
            ),
            None => println!("tracing: on, exported to OTEL_EXPORTER_OTLP_ENDPOINT"),
        }
    }
    for c in &report.cases {
        println!();
        println!(
            "{:?}: {} (request {} B, answer {} B)",
            c.case, c.what, c.ours.request_bytes, c.ours.response_bytes
        );
        println!(
            "  {:<6} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11} {:>11}   status",
            "", "ok/s", "p50 us", "p90 us", "p99 us", "p99.9 us", "max us", "srv cpu us", "cli cpu us"
        );
        println!("{}", row("ours", &c.ours));
        if let Some(e) = &c.echo {
            println!("{}", row("echo", e));
        }
        if let (Some(t), Some(p)) = (c.throughput_ratio, c.p99_ratio) {
            println!(
                "  ratio = ours / echo: throughput {t:.2}, p99 {p:.2}; echo / ours server CPU per call {:.2}",
                c.server_cpu_ratio.unwrap_or(0.0)
            );
        }
    }
    if let Some(o) = &report.overload {
        println!();
        println!(
            "overload (Decide, inline profile, open loop): sustainable {:.0}/s, RSS before {} KiB",
            o.sustainable_per_sec,
            o.rss_kib_before.unwrap_or(0)
        );
        for p in &o.phases {
            let r = &p.result;
            println!(
                "  {:<16} offered {:>7.0}/s  ok {:>7.0}/s  ok p50 {:>8.0} us  p99 {:>8.0} us  p99.9 {:>8.0} us  all p99 {:>8.0} us  late starts {}  RSS {} KiB  {}",
                p.name,
                r.offered_per_sec.unwrap_or(0.0),
                r.ok_per_sec,
                r.ok_latency.p50_us,
                r.ok_latency.p99_us,
                r.ok_latency.p999_us,
                r.all_latency.p99_us,
                r.late_starts,
                p.rss_kib_after.unwrap_or(0),
                codes_text(&r.codes)
            );
            let secs: Vec<String> = p
                .seconds
                .iter()
                .map(|(ok, failed, p99)| format!("{ok}/{failed}/{:.1}ms", p99 / 1000.0))
                .collect();
            println!("    per second (ok/shed-or-failed/ok p99): {}", secs.join(" "));
            println!(
                "    OK calls timed from when they were sent: p50 {:.0} us  p99 {:.0} us  p99.9 {:.0} us  max {:.0} us",
                p.ok_from_send.p50_us, p.ok_from_send.p99_us, p.ok_from_send.p999_us, p.ok_from_send.max_us
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------

async fn run(
    args: Args,
    server_rt: tokio::runtime::Handle,
    otlp_received: Option<Arc<otlp_sink::Received>>,
) -> Result<(), BoxError> {
    let loadavg_before = loadavg();
    let limits = ServerLimits {
        max_in_flight: usize::try_from(args.max_in_flight).unwrap_or(usize::MAX),
        request_timeout: Duration::from_millis(args.request_timeout_ms),
        max_queue_delay: Duration::from_millis(args.max_queue_delay_ms),
        ..ServerLimits::default()
    };
    let run_id = std::process::id() ^ (riskdecision::app::now_ms() as u32);
    let memory = start_ours(
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
        open_redis(&server_rt, &args.redis_url, run_id, limits.clone()).await
    } else {
        None
    };
    let echo = start_echo(&server_rt).await?;
    let env = Env {
        load: Load::from(&args),
        args: args.clone(),
        server_rt: server_rt.clone(),
        memory,
        redis,
        echo,
        run_id,
    };

    let mut cases = Vec::new();
    let mut overload_result = None;
    if args.overload {
        overload_result = Some(overload(&env).await?);
    } else {
        for case in &args.cases {
            if let Some(result) = run_case(&env, *case).await? {
                cases.push(result);
            }
        }
    }
    if let Some((_, prefix)) = &env.redis {
        cleanup_redis(&args.redis_url, prefix).await;
    }

    let report = Report {
        machine: Machine {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu: cpu_model(),
            mem_total_kib: mem_total_kib(),
            loadavg_before,
            loadavg_after: loadavg(),
        },
        mode: if args.overload { Mode::Open } else { args.mode },
        rate: args.rate,
        connections: args.connections,
        streams: args.streams,
        window: args.window,
        warmup_secs: args.warmup,
        duration_secs: args.duration,
        rounds: args.rounds,
        server_threads: args.server_threads,
        client_threads: args.client_threads,
        max_in_flight: args.max_in_flight,
        max_queue_delay_ms: args.max_queue_delay_ms,
        traced: args.trace,
        otlp_received: otlp_received.map(|r| r.snapshot()),
        cases,
        overload: overload_result,
    };
    print_report(&report);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
        eprintln!("riskbench: wrote {}", path.display());
    }
    Ok(())
}

/// Our server on the Redis stores, under a prefix of its own (records expire after an hour and
/// are removed at the end of the run); `None` when Redis does not answer.
async fn open_redis(
    rt: &tokio::runtime::Handle,
    url: &str,
    run_id: u32,
    limits: ServerLimits,
) -> Option<(Running, String)> {
    if !redis_url_is_loopback(url) {
        eprintln!("riskbench: Redis cases skipped: {url} is not a loopback address");
        return None;
    }
    let prefix = format!("riskbench-{run_id:08x}");
    let mut opts = RedisOptions::new(url.to_owned());
    opts.prefix = prefix.clone();
    opts.profile_ttl = Duration::from_secs(3600);
    opts.decision_retention = Duration::from_secs(3600);
    opts.stream_maxlen = 10_000;
    // The connection's tasks live on the servers' runtime.
    let stores = match rt.spawn(async move { RedisStores::open(&opts) }).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            eprintln!("riskbench: Redis cases skipped: {e}");
            return None;
        }
        Err(e) => {
            eprintln!("riskbench: Redis cases skipped: {e}");
            return None;
        }
    };
    if let Err(e) = rt
        .spawn({
            let stores = stores.clone();
            async move { stores.ping().await }
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
    {
        eprintln!("riskbench: Redis cases skipped: {e}");
        return None;
    }
    match start_ours(rt, stores.profiles, stores.decisions, limits).await {
        Ok(server) => Some((server, prefix)),
        Err(e) => {
            eprintln!("riskbench: Redis cases skipped: {e}");
            None
        }
    }
}

fn redis_url_is_loopback(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or("");
    let host_port = rest.rsplit('@').next().unwrap_or("").split('/').next().unwrap_or("");
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]") || host.starts_with("127.")
}

/// Removes the run's keys (bounded SCAN).
async fn cleanup_redis(url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(url) else { return };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let mut cursor: u64 = 0;
    for _ in 0..100_000 {
        let scanned: Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await;
        let Ok((next, keys)) = scanned else { return };
        if !keys.is_empty() {
            let _: Result<u64, _> = redis::cmd("UNLINK").arg(&keys).query_async(&mut conn).await;
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
