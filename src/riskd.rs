//! `riskd`: configuration, logging, policy, stores and the server wired together, for the
//! `riskd` binary (whose `main` parses the command line and calls [`run`]).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::app::{AppState, DecisionStore, LoadedPolicy, ProfileStore, now_ms};
use crate::config::{Cli, Command, LogFormat, ServeArgs, StoreKind};
use crate::policy::{DEFAULT_POLICY_TOML, Policy};
use crate::server::{ServerLimits, serve_with_readiness};
use crate::store::redis::{readiness_probe, redact};
use crate::store::{EmbeddedStores, MemoryDecisionStore, MemoryProfileStore, RedisStores};
use crate::telemetry::{self, Telemetry, TelemetryConfig};

/// Runs `riskd` as its command line says: serves, or runs one of its subcommands.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Some(Command::CheckPolicy { path }) => check_policy(path),
        Some(Command::DevCerts { dir, force }) => crate::security::dev_certs_command(&dir, force),
        Some(Command::HashToken) => crate::security::hash_token_command(),
        Some(Command::Healthcheck {
            addr,
            service,
            timeout_ms,
            tls,
        }) => healthcheck(addr, service, timeout_ms, tls, &cli.serve),
        None => serve_command(cli.serve),
    }
}

/// Serves until SIGTERM or Ctrl-C, with telemetry, on a runtime of its own.
fn serve_command(args: ServeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("riskd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        // Inside the runtime: the OTLP exporter needs its reactor.
        let telemetry = match init_telemetry(&args) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("riskd: telemetry: {e}");
                return ExitCode::FAILURE;
            }
        };
        let result = serve(args, &telemetry).await;
        if let Err(e) = &result {
            tracing::error!(error = %e, "riskd stopped with an error");
            eprintln!("riskd: {e}");
        }
        // Bounded, and off the runtime's workers.
        telemetry.shutdown(TELEMETRY_FLUSH_TIMEOUT).await;
        if result.is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    });
    // A flush still stuck on an unreachable collector does not hold the exit.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

/// Longest wait for the last spans and metrics to reach the collector on shutdown.
const TELEMETRY_FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

fn init_telemetry(args: &ServeArgs) -> Result<Telemetry, String> {
    let mut cfg = TelemetryConfig::from_lookup(|k| std::env::var(k).ok())?;
    cfg.log_json = match args.log_format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    cfg.prometheus = args.metrics_listen.is_some();
    telemetry::init(cfg)
}

/// `riskd healthcheck`: exit 0 when the server reports SERVING. Over TLS for an https://
/// address, by default when the server's own flags (`serve`, from the same environment in a
/// container) say it serves TLS.
fn healthcheck(
    addr: Option<String>,
    service: String,
    timeout_ms: u64,
    tls: crate::config::HealthcheckTls,
    serve: &ServeArgs,
) -> ExitCode {
    use tonic_health::pb::health_check_response::ServingStatus;
    let addr = addr.unwrap_or_else(|| {
        let listen = serve.listen;
        let ip = match listen.ip() {
            ip if !ip.is_unspecified() => ip,
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        let scheme = if serve.tls_cert.is_some() || tls.any() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", std::net::SocketAddr::new(ip, listen.port()))
    });
    let timeout = Duration::from_millis(timeout_ms);
    let check = async {
        let mut endpoint = tonic::transport::Endpoint::from_shared(addr.clone())
            .map_err(|e| format!("bad address {addr}: {e}"))?
            .connect_timeout(timeout);
        if addr.starts_with("https://") {
            endpoint = endpoint
                .tls_config(healthcheck_tls(&tls)?)
                .map_err(|e| format!("TLS settings: {e}"))?;
        } else if tls.any() {
            return Err(format!("the TLS options need an https:// address, not {addr}"));
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| format!("cannot connect to {addr}: {}", error_chain(&e)))?;
        let request = tonic_health::pb::HealthCheckRequest {
            service: service.clone(),
        };
        let response = tonic_health::pb::health_client::HealthClient::new(channel)
            .check(request)
            .await
            .map_err(|s| format!("health check failed: {:?} {}", s.code(), s.message()))?;
        Ok::<i32, String>(response.into_inner().status)
    };
    let result = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt.block_on(async {
            tokio::time::timeout(timeout, check)
                .await
                .unwrap_or_else(|_| Err(format!("no answer from {addr} within {timeout_ms} ms")))
        }),
        Err(e) => Err(format!("cannot start the runtime: {e}")),
    };
    match result.map(|s| ServingStatus::try_from(s).unwrap_or(ServingStatus::Unknown)) {
        Ok(ServingStatus::Serving) => {
            println!("SERVING");
            ExitCode::SUCCESS
        }
        Ok(other) => {
            eprintln!("riskd healthcheck: {}", other.as_str_name());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("riskd healthcheck: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The client TLS of `riskd healthcheck`: the server's CA (required), a client certificate for
/// mutual TLS, the name the server's certificate must carry.
fn healthcheck_tls(tls: &crate::config::HealthcheckTls) -> Result<tonic::transport::ClientTlsConfig, String> {
    let read = |what: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
    };
    let ca = tls.ca.as_deref().ok_or(
        "an https:// address needs --tls-ca (RISKD_HEALTHCHECK_TLS_CA): the CA that signed the server's certificate",
    )?;
    let mut config = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(read("--tls-ca", ca)?));
    if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
        config = config.identity(tonic::transport::Identity::from_pem(
            read("--tls-cert", cert)?,
            read("--tls-key", key)?,
        ));
    }
    if let Some(name) = &tls.server_name {
        config = config.domain_name(name.clone());
    }
    Ok(config)
}

/// An error with its sources ("transport error: invalid peer certificate: UnknownIssuer"):
/// a TLS failure says why.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn load_policy(path: Option<&std::path::Path>) -> Result<LoadedPolicy, String> {
    let (content, source) = match path {
        Some(p) => (
            std::fs::read_to_string(p).map_err(|e| format!("cannot read policy {}: {e}", p.display()))?,
            p.display().to_string(),
        ),
        None => (DEFAULT_POLICY_TOML.to_owned(), "embedded".to_owned()),
    };
    let policy = Policy::from_toml(&content).map_err(|e| format!("policy {source}: {e}"))?;
    Ok(LoadedPolicy {
        policy,
        source,
        loaded_at_ms: now_ms(),
        content,
    })
}

fn check_policy(path: Option<std::path::PathBuf>) -> ExitCode {
    match load_policy(path.as_deref()) {
        Ok(p) => {
            println!(
                "valid: version {} hash {} ({} products, {} grades)",
                p.policy.version,
                p.policy.hash,
                p.policy.products.len(),
                p.policy.grades.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(mut args: ServeArgs, telemetry: &Telemetry) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let policy = Arc::new(load_policy(args.policy.as_deref())?);
    let limits = ServerLimits {
        request_timeout: args.request_timeout(),
        max_in_flight: usize::try_from(args.max_in_flight).unwrap_or(usize::MAX),
        max_queue_delay: std::time::Duration::from_millis(args.max_queue_delay_ms),
        max_message_bytes: usize::try_from(args.max_message_bytes).unwrap_or(usize::MAX),
        max_stream_items: args.max_stream_items,
        security: crate::security::from_args(&args)?,
    };
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    // The metrics endpoint serves until `run` returns (and drops `_metrics_stop`).
    let (_metrics_stop, metrics_addr) = start_metrics(args.metrics_listen, telemetry).await?;
    args.metrics_listen = metrics_addr;
    match args.store_kind()? {
        StoreKind::Redis => {
            let opts = args
                .redis_options()?
                .ok_or("--store redis needs --redis-url (REDIS_URL)")?;
            let stores = RedisStores::open(&opts)?;
            tracing::info!(
                redis = %redact(&opts.url),
                cluster = stores.is_cluster(),
                prefix = %opts.prefix,
                decision_shards = stores.shards(),
                call_timeout_ms = opts.call_timeout.as_millis(),
                "using the Redis stores"
            );
            if let Err(e) = stores.ping().await {
                tracing::warn!(error = %e, "redis is not reachable yet: store-backed calls fail UNAVAILABLE until it is");
            }
            // Health follows Redis; the probe stops when the server (the receiver) is gone.
            let (ready, _probe) = readiness_probe(&stores, REDIS_PROBE_INTERVAL);
            let state = Arc::new(AppState {
                policy: policy.clone(),
                profiles: stores.profiles,
                decisions: stores.decisions,
                business_date: args.business_date,
            });
            serve_until_signal(listener, state, limits, Some(ready), &args, "redis").await
        }
        StoreKind::Embedded => {
            let opts = args.embedded_options();
            // Opening reads the file and sweeps expired records: off the runtime's workers.
            let stores = tokio::task::spawn_blocking(move || EmbeddedStores::open(&opts)).await??;
            // The "riskd serving" line names the folder (`data_dir`).
            let state = Arc::new(AppState {
                policy: policy.clone(),
                profiles: stores.profiles,
                decisions: stores.decisions,
                business_date: args.business_date,
            });
            serve_until_signal(listener, state, limits, None, &args, "embedded").await
        }
        StoreKind::Memory => {
            tracing::warn!(
                store = "memory",
                "using the in-memory store: NOT durable, every decision and idempotency key is lost on restart, \
                 and memory grows with every decision"
            );
            let state = Arc::new(AppState {
                policy: policy.clone(),
                profiles: MemoryProfileStore::new(args.profile_ttl()),
                decisions: MemoryDecisionStore::new(),
                business_date: args.business_date,
            });
            serve_until_signal(listener, state, limits, None, &args, "memory").await
        }
    }
}

/// How often the readiness probe PINGs Redis.
const REDIS_PROBE_INTERVAL: Duration = Duration::from_secs(2);

/// Binds and serves the Prometheus endpoint when `--metrics-listen` is set; it stops when the
/// returned sender is dropped.
async fn start_metrics(
    listen: Option<std::net::SocketAddr>,
    telemetry: &Telemetry,
) -> Result<(Option<tokio::sync::oneshot::Sender<()>>, Option<std::net::SocketAddr>), String> {
    let (Some(addr), Some(reader)) = (listen, telemetry.prometheus()) else {
        return Ok((None, None));
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| format!("metrics listener: {e}"))?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(telemetry::prometheus::serve(listener, reader, async move {
        let _ = stop_rx.await;
    }));
    Ok((Some(stop_tx), Some(bound)))
}

async fn serve_until_signal<P: ProfileStore, D: DecisionStore>(
    listener: TcpListener,
    state: Arc<AppState<P, D>>,
    limits: ServerLimits,
    store_ready: Option<tokio::sync::watch::Receiver<bool>>,
    args: &ServeArgs,
    store: &'static str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let policy = &state.policy;
    // Where the decisions live: the folder of the embedded store (absolute, so an operator
    // finds it whatever the working directory was).
    let data_dir =
        (store == "embedded").then(|| std::path::absolute(&args.data_dir).unwrap_or_else(|_| args.data_dir.clone()));
    tracing::info!(
        listen = %listener.local_addr()?,
        policy_version = %policy.policy.version,
        policy_hash = %policy.policy.hash,
        policy_source = %policy.source,
        store,
        data_dir = data_dir.as_ref().map(|d| tracing::field::display(d.display())),
        durable = store != "memory",
        business_date = ?args.business_date,
        metrics_listen = args.metrics_listen.map(tracing::field::display),
        otlp_export = telemetry::grpc::otel_tracing(),
        "riskd serving"
    );

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with_readiness(listener, state, limits, store_ready, async move {
        let _ = stop_rx.await;
    }));
    shutdown_signal().await;
    tracing::info!(
        grace_secs = args.shutdown_grace_secs,
        "shutdown requested: draining in-flight calls"
    );
    let _ = stop_tx.send(());
    match tokio::time::timeout(args.shutdown_grace(), server).await {
        Ok(joined) => joined??,
        Err(_) => tracing::warn!("in-flight calls did not finish within the grace period; exiting"),
    }
    tracing::info!("riskd stopped");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
