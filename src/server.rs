//! Builds the tonic server: our three services, gRPC health and reflection, overload and
//! deadline protection, and a graceful, bounded shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;

use crate::grpc::deadline::DeadlineLayer;
use crate::grpc::overload::QueueDelayShedLayer;
use crate::grpc::{AppState, DecisionApi, PolicyApi, ProfileApi};
use crate::pb;
use crate::pb::decision_service_server::DecisionServiceServer;
use crate::pb::policy_service_server::PolicyServiceServer;
use crate::pb::profile_service_server::ProfileServiceServer;
use crate::store::{DecisionStore, ProfileStore};

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
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<DecisionServiceServer<DecisionApi<P, D>>>().await;
    health.set_serving::<ProfileServiceServer<ProfileApi<P, D>>>().await;
    health.set_serving::<PolicyServiceServer<PolicyApi>>().await;
    let readiness = store_ready.map(|mut ready| {
        let health = health.clone();
        tokio::spawn(async move {
            loop {
                if *ready.borrow_and_update() {
                    health.set_serving::<DecisionServiceServer<DecisionApi<P, D>>>().await;
                    health.set_serving::<ProfileServiceServer<ProfileApi<P, D>>>().await;
                } else {
                    health
                        .set_not_serving::<DecisionServiceServer<DecisionApi<P, D>>>()
                        .await;
                    health.set_not_serving::<ProfileServiceServer<ProfileApi<P, D>>>().await;
                }
                if ready.changed().await.is_err() {
                    break;
                }
            }
        })
    });

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let max = limits.max_message_bytes;
    let decisions =
        DecisionServiceServer::new(DecisionApi::new(state.clone()).with_max_stream_items(limits.max_stream_items))
            .max_decoding_message_size(max);
    let profiles = ProfileServiceServer::new(ProfileApi::new(state.clone())).max_decoding_message_size(max);
    let policies = PolicyServiceServer::new(PolicyApi::new(state.policy.clone()))
        .max_decoding_message_size(max.max(1 << 20) + 4096);

    let router = Server::builder()
        // Outermost of ours: one server span per call (continuing the caller's traceparent),
        // x-trace-id in the answer, call metrics; it sees shed calls as such.
        .layer(crate::telemetry::grpc::GrpcTelemetryLayer)
        // Authentication, roles and per-caller rate limits (UNAUTHENTICATED, PERMISSION_DENIED,
        // RESOURCE_EXHAUSTED), inside the telemetry span so refusals are traced and counted,
        // before the deadline and concurrency limits so refused calls take no slot.
        .layer(limits.security.layer())
        .layer(
            ServiceBuilder::new()
                // Deadlines, instead of `Server::timeout` (whose expiry the caller sees as
                // CANCELLED): the caller's grpc-timeout, capped by `request_timeout` for callers
                // without one, answered DEADLINE_EXCEEDED. Outside the limit, so a call that
                // runs out of time gives its slot back at once.
                .layer(DeadlineLayer::new(limits.request_timeout))
                // Shed calls that queued too long for a worker: with CPU-bound calls that is where
                // an overload piles up, unseen by the in-flight limit below (grpc/overload.rs).
                // Inside the deadline layer, so a call already out of time says so instead.
                .layer(QueueDelayShedLayer::new(limits.max_queue_delay))
                // Shed (RESOURCE_EXHAUSTED) rather than queue once the process-wide limit is
                // reached: queueing would only turn overload into timeouts for everyone.
                .load_shed()
                .layer(GlobalConcurrencyLimitLayer::new(limits.max_in_flight))
                .into_inner(),
        )
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .max_concurrent_streams(Some(256))
        // tonic's default (None) would disable hyper's reset-flood protection.
        .http2_max_local_error_reset_streams(Some(1024))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(decisions)
        .add_service(profiles)
        .add_service(policies);
    let signal = async move {
        shutdown.await;
        if let Some(task) = readiness {
            task.abort();
            let _ = task.await; // cancelled: it can no longer flip a status back to SERVING
        }
        // Tell load balancers first; tonic then stops accepting and drains.
        health
            .set_not_serving::<DecisionServiceServer<DecisionApi<P, D>>>()
            .await;
        health.set_not_serving::<ProfileServiceServer<ProfileApi<P, D>>>().await;
        health.set_not_serving::<PolicyServiceServer<PolicyApi>>().await;
    };
    match limits.security.tls.clone() {
        // TLS accepted by our own task so that certificates can be rotated (security::tls).
        Some(tls) => {
            router
                .serve_with_incoming_shutdown(tls.incoming(listener), signal)
                .await?
        }
        None => {
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            router.serve_with_incoming_shutdown(incoming, signal).await?
        }
    }
    Ok(())
}
