//! `riskd`: the risk-decision gRPC server. Wires configuration, logging, policy, stores and the
//! server together; all behaviour lives in the library.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use riskdecision::config::{Cli, Command, LogFormat, ServeArgs};
use riskdecision::grpc::{AppState, LoadedPolicy, now_ms};
use riskdecision::policy::{DEFAULT_POLICY_TOML, Policy};
use riskdecision::server::{ServerLimits, serve_with_readiness};
use riskdecision::store::redis::{readiness_probe, redact};
use riskdecision::store::{DecisionStore, MemoryDecisionStore, MemoryProfileStore, ProfileStore, RedisStores};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::CheckPolicy { path }) => check_policy(path),
        None => {
            init_logging(cli.serve.log_format);
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("riskd: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(run(cli.serve)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "riskd stopped with an error");
                    eprintln!("riskd: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let result = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    if let Err(e) = result {
        eprintln!("riskd: logging not initialised: {e}");
    }
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

async fn run(args: ServeArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let policy = Arc::new(load_policy(args.policy.as_deref())?);
    let limits = ServerLimits {
        request_timeout: args.request_timeout(),
        max_in_flight: usize::try_from(args.max_in_flight).unwrap_or(usize::MAX),
        ..ServerLimits::default()
    };
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    match args.redis_options()? {
        Some(opts) => {
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
        None => {
            let state = Arc::new(AppState {
                policy: policy.clone(),
                profiles: MemoryProfileStore::new(args.profile_ttl()),
                decisions: MemoryDecisionStore::new(),
                business_date: args.business_date,
            });
            serve_until_signal(listener, state, limits, None, &args, "in-process").await
        }
    }
}

/// How often the readiness probe PINGs Redis.
const REDIS_PROBE_INTERVAL: Duration = Duration::from_secs(2);

async fn serve_until_signal<P: ProfileStore, D: DecisionStore>(
    listener: TcpListener,
    state: Arc<AppState<P, D>>,
    limits: ServerLimits,
    store_ready: Option<tokio::sync::watch::Receiver<bool>>,
    args: &ServeArgs,
    store: &'static str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let policy = &state.policy;
    tracing::info!(
        listen = %listener.local_addr()?,
        policy_version = %policy.policy.version,
        policy_hash = %policy.policy.hash,
        policy_source = %policy.source,
        store,
        business_date = ?args.business_date,
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
