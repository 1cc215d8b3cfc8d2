//! Builds the tonic server: our three services, gRPC health and reflection, overload and
//! deadline protection, and a graceful, bounded shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::StreamExt;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;

use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

use crate::app::{App, AppState, DecisionStore, ProfileStore, SharedDecisions, SharedProfiles, SystemClock};
use crate::grpc::deadline::DeadlineLayer;
use crate::grpc::drain::{Drain, DrainingHealth};
use crate::grpc::overload::{ArrivalStamped, QueueDelayShedLayer};
use crate::grpc::{DecisionApi, PolicyApi, ProfileApi};
use crate::pb;
use crate::pb::decision_service_server::{self, DecisionServiceServer};
use crate::pb::policy_service_server::{self, PolicyServiceServer};
use crate::pb::profile_service_server::{self, ProfileServiceServer};
use crate::telemetry::spans::CallSpans;
use crate::telemetry::stores::{TracedDecisionStore, TracedProfileStore};

/// Calls one HTTP/2 connection may have open at once (RFC 9113 section 6.5.2 recommends at least
/// 100).
const MAX_STREAMS_PER_CONNECTION: u32 = 100;
/// HTTP/2 flow-control window of one call: request bytes the server accepts before the handler
/// has read them.
const STREAM_WINDOW: u32 = 256 * 1024;
/// HTTP/2 flow-control window of one connection, all its calls together.
const CONNECTION_WINDOW: u32 = 1024 * 1024;

/// Transport limits.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Hard cap on any request, also applied when the caller sends no deadline.
    pub request_timeout: Duration,
    /// Requests in flight across all connections before new ones are shed.
    pub max_in_flight: usize,
    /// Longest a request may wait for a worker thread after HTTP/2 accepted it; later ones are
    /// shed (RESOURCE_EXHAUSTED). Bounds the latency of accepted calls when the CPU is saturated.
    pub max_queue_delay: Duration,
    /// Largest request message accepted.
    pub max_message_bytes: usize,
    /// Items one ScorePortfolio stream may carry; then it ends with RESOURCE_EXHAUSTED.
    pub max_stream_items: u64,
    /// TLS, caller authentication and roles, per-caller rate limits (all off by default).
    pub security: crate::security::Security,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            request_timeout: Duration::from_secs(5),
            max_in_flight: 1024,
            max_queue_delay: Duration::from_millis(50),
            max_message_bytes: 1 << 20,
            max_stream_items: 100_000,
            security: crate::security::Security::default(),
        }
    }
}

/// The use cases served for a state: its stores traced, the calls observed by telemetry.
pub type ServedApp<P, D> =
    App<TracedProfileStore<SharedProfiles<P, D>>, TracedDecisionStore<SharedDecisions<P, D>>, CallSpans, SystemClock>;

/// Wires the use cases of `state` with their telemetry.
pub fn served_app<P: ProfileStore, D: DecisionStore>(state: Arc<AppState<P, D>>) -> ServedApp<P, D> {
    let calendar = state.calendar();
    App {
        policy: state.policy.clone(),
        calendar,
        profiles: TracedProfileStore::new(SharedProfiles(state.clone()), calendar),
        decisions: TracedDecisionStore::new(SharedDecisions(state)),
        observer: CallSpans,
        clock: SystemClock,
    }
}

/// Serves on an already-bound listener until `shutdown` resolves, then drains in-flight calls.
pub async fn serve<P, D>(
    listener: TcpListener,
    state: Arc<AppState<P, D>>,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    P: ProfileStore,
    D: DecisionStore,
{
    serve_with_readiness(listener, state, limits, None, shutdown).await
}

/// The services that need the stores for most calls.
const STORE_BACKED: [&str; 2] = [
    decision_service_server::SERVICE_NAME,
    profile_service_server::SERVICE_NAME,
];

async fn set_status(health: &HealthReporter, services: &[&str], status: ServingStatus) {
    for service in services {
        health.set_service_status(*service, status).await;
    }
}

/// Follows the readiness of the stores in the health status of the store-backed services.
fn follow_readiness(health: &HealthReporter, mut ready: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    let health = health.clone();
    tokio::spawn(async move {
        loop {
            let status = if *ready.borrow_and_update() {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            set_status(&health, &STORE_BACKED, status).await;
            if ready.changed().await.is_err() {
                break;
            }
        }
    })
}

/// [`serve`], with the readiness of the stores: while `store_ready` holds `false`,
/// `DecisionService` and `ProfileService` report NOT_SERVING in `grpc.health.v1` (they need the
/// stores for most calls); `PolicyService` and the overall status ("") stay SERVING, since the
/// process itself is fine and inline-profile scoring still works. Point readiness probes at
/// `riskdecision.v1.DecisionService` to take a replica out while its Redis is unreachable.
pub async fn serve_with_readiness<P, D>(
    listener: TcpListener,
    state: Arc<AppState<P, D>>,
    limits: ServerLimits,
    store_ready: Option<watch::Receiver<bool>>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    P: ProfileStore,
    D: DecisionStore,
{
    limits.security.log_state();
    // Server streams (health Watch, ScorePortfolio) end when shutdown begins (grpc::drain).
    let (drain_signal, drain) = Drain::channel();
    let health = HealthReporter::new();
    let health_service = HealthServer::new(DrainingHealth::new(
        HealthService::from_health_reporter(health.clone()),
        drain.clone(),
    ));
    set_status(&health, &ALL_SERVICES, ServingStatus::Serving).await;
    let readiness = store_ready.map(|ready| follow_readiness(&health, ready));
    let routes = services(Arc::new(served_app(state)), &limits, drain)?.add_service(health_service);
    let router = Server::builder()
        // Outermost of ours: one server span per call (continuing the caller's traceparent),
        // x-trace-id in the answer, call metrics; it sees shed calls as such.
        .layer(crate::telemetry::grpc::GrpcTelemetryLayer)
        // A request tonic cannot read because of the caller (bad protobuf or framing, a reset
        // mid-body) is INVALID_ARGUMENT or CANCELLED, not INTERNAL: inside telemetry, so that
        // metrics and spans see it so (grpc/caller_faults.rs).
        .layer(crate::grpc::caller_faults::CallerFaultLayer)
        // Shed calls that queued too long since their bytes arrived, at admission: before any
        // other work (authentication included) and before the deadline check, so that a call the
        // overload made late is answered RESOURCE_EXHAUSTED (back off) rather than
        // DEADLINE_EXCEEDED (grpc/overload.rs; issue 13, finding 2).
        .layer(QueueDelayShedLayer::new(limits.max_queue_delay, limits.request_timeout))
        // Authentication, roles and per-caller rate limits (UNAUTHENTICATED, PERMISSION_DENIED,
        // RESOURCE_EXHAUSTED), inside the telemetry span so refusals are traced and counted,
        // before the deadline and concurrency limits so refused calls take no slot.
        .layer(limits.security.layer())
        .layer(deadline_and_limit(&limits))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        // Memory per connection is bounded by its streams and its flow-control windows: at most
        // MAX_STREAMS_PER_CONNECTION calls at once (HTTP/2's recommended minimum; more wait in the
        // client), and request bytes buffered for at most STREAM_WINDOW per call and
        // CONNECTION_WINDOW per connection (hyper's default is 1 MiB each; larger messages still
        // arrive, in more round trips).
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        .initial_stream_window_size(Some(STREAM_WINDOW))
        .initial_connection_window_size(Some(CONNECTION_WINDOW))
        // tonic's default (None) would disable hyper's reset-flood protection.
        .http2_max_local_error_reset_streams(Some(1024))
        .add_routes(routes);
    let signal = drain_on(shutdown, readiness, health, drain_signal);
    match limits.security.tls.clone() {
        // TLS accepted by our own task so that certificates can be rotated (security::tls).
        Some(tls) => {
            // After the handshake, the HTTP/2 preface too must come in time (security::preface).
            let incoming = crate::security::preface::with_preface_deadline(
                tls.incoming(listener),
                limits.security.preface_timeout,
            );
            router.serve_with_incoming_shutdown(incoming, signal).await?
        }
        None => {
            // Each connection's reads stamp when their requests arrived (grpc/overload.rs).
            let incoming = TcpIncoming::from(listener)
                .with_nodelay(Some(true))
                .map(|conn| conn.map(ArrivalStamped::new));
            // A connection that never sends the HTTP/2 preface is closed (security::preface).
            let incoming = crate::security::preface::with_preface_deadline(incoming, limits.security.preface_timeout);
            router.serve_with_incoming_shutdown(incoming, signal).await?
        }
    }
    Ok(())
}

/// The innermost layers of ours. Deadlines, instead of `Server::timeout` (whose expiry the caller
/// sees as CANCELLED): the caller's grpc-timeout, capped by `request_timeout` for callers without
/// one, answered DEADLINE_EXCEEDED; outside the limit, so a call that runs out of time gives its
/// slot back at once. Then shed (RESOURCE_EXHAUSTED) rather than queue once the process-wide
/// limit is reached: queueing would only turn overload into timeouts for everyone.
fn deadline_and_limit(
    limits: &ServerLimits,
) -> Stack<GlobalConcurrencyLimitLayer, Stack<LoadShedLayer, Stack<DeadlineLayer, Identity>>> {
    ServiceBuilder::new()
        .layer(DeadlineLayer::new(limits.request_timeout))
        .load_shed()
        .layer(GlobalConcurrencyLimitLayer::new(limits.max_in_flight))
        .into_inner()
}

/// Our three services, as the health service names them.
const ALL_SERVICES: [&str; 3] = [STORE_BACKED[0], STORE_BACKED[1], policy_service_server::SERVICE_NAME];

/// What happens when `shutdown` resolves: readiness stops following the stores, load balancers
/// are told first (the whole server too), then server streams are told to end, so that tonic's
/// drain is not held for its grace period.
async fn drain_on(
    shutdown: impl Future<Output = ()> + Send,
    readiness: Option<tokio::task::JoinHandle<()>>,
    health: HealthReporter,
    drain_signal: crate::grpc::drain::DrainSignal,
) {
    shutdown.await;
    if let Some(task) = readiness {
        task.abort();
        let _ = task.await; // cancelled: it can no longer flip a status back to SERVING
    }
    set_status(&health, &ALL_SERVICES, ServingStatus::NotServing).await;
    set_status(&health, &[""], ServingStatus::NotServing).await;
    drain_signal.fire();
}

/// Our three services and reflection, for the app.
fn services<P, D>(
    app: Arc<ServedApp<P, D>>,
    limits: &ServerLimits,
    drain: Drain,
) -> Result<Routes, tonic_reflection::server::Error>
where
    P: ProfileStore,
    D: DecisionStore,
{
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let max = limits.max_message_bytes;
    let policies =
        PolicyServiceServer::new(PolicyApi::new(app.policy.clone())).max_decoding_message_size(max.max(1 << 20) + 4096);
    let profiles = ProfileServiceServer::new(ProfileApi::new(app.clone())).max_decoding_message_size(max);
    let decisions = DecisionServiceServer::new(
        DecisionApi::new(app)
            .with_max_stream_items(limits.max_stream_items)
            .with_drain(drain),
    )
    .max_decoding_message_size(max);
    Ok(Routes::new(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(decisions)
        .add_service(profiles)
        .add_service(policies))
}
