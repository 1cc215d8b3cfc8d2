//! The servers a run measures, all in this process on 127.0.0.1: ours (in-process or Redis
//! stores), the bare echo baseline and, with `--trace`, a null OTLP collector.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use riskdecision::app::{AppState, DecisionStore, LoadedPolicy, ProfileStore};
use riskdecision::policy::{DEFAULT_POLICY_TOML, Policy};
use riskdecision::server::{ServerLimits, serve};
use riskdecision::store::{RedisOptions, RedisStores};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::{Channel, Endpoint, Server};

use crate::args::BUSINESS_DATE;
use crate::{BoxError, echo, otlp_sink};

/// `--trace`: the telemetry pipelines and, without an endpoint in the environment, the null
/// collector, on a runtime of their own (thread name "otel", not counted as server CPU: in
/// production the collector is another process and the batch exporter a thread of its own).
pub(crate) struct Tracing {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) telemetry: riskdecision::telemetry::Telemetry,
    pub(crate) received: Option<Arc<otlp_sink::Received>>,
    pub(crate) _sink: Option<Running>,
}

impl Tracing {
    pub(crate) fn start() -> Result<Self, BoxError> {
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

    pub(crate) fn stop(self) {
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

pub(crate) async fn start_otlp_sink(
    rt: &tokio::runtime::Handle,
    received: Arc<otlp_sink::Received>,
) -> Result<Running, BoxError> {
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

/// A server running on the servers' runtime; stopped when dropped.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) stop: Option<oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

pub(crate) fn loaded_policy() -> Result<Arc<LoadedPolicy>, BoxError> {
    let policy = Policy::from_toml(DEFAULT_POLICY_TOML).map_err(|e| format!("default policy: {e}"))?;
    Ok(Arc::new(LoadedPolicy {
        policy,
        source: "embedded".into(),
        loaded_at_ms: 0,
        content: DEFAULT_POLICY_TOML.into(),
    }))
}

pub(crate) async fn bind(rt: &tokio::runtime::Handle) -> Result<(TcpListener, SocketAddr), BoxError> {
    let listener = rt.spawn(TcpListener::bind("127.0.0.1:0")).await??;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

pub(crate) async fn start_ours<P: ProfileStore, D: DecisionStore>(
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

pub(crate) async fn start_echo(rt: &tokio::runtime::Handle) -> Result<Running, BoxError> {
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

pub(crate) async fn connect(addr: SocketAddr, n: u64) -> Result<Vec<Channel>, BoxError> {
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

/// Our server on the Redis stores, under a prefix of its own (records expire after an hour and
/// are removed at the end of the run); `None` when Redis does not answer.
pub(crate) async fn open_redis(
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

pub(crate) fn redis_url_is_loopback(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or("");
    let host_port = rest.rsplit('@').next().unwrap_or("").split('/').next().unwrap_or("");
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]") || host.starts_with("127.")
}

/// Removes the run's keys (bounded SCAN).
pub(crate) async fn cleanup_redis(url: &str, prefix: &str) {
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
