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
    /// Largest request message accepted.
    pub max_message_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            request_timeout: Duration::from_secs(5),
            max_in_flight: 1024,
            max_message_bytes: 1 << 20,
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
    let decisions = DecisionServiceServer::new(DecisionApi::new(state.clone())).max_decoding_message_size(max);
    let profiles = ProfileServiceServer::new(ProfileApi::new(state.clone())).max_decoding_message_size(max);
    let policies = PolicyServiceServer::new(PolicyApi::new(state.policy.clone()))
        .max_decoding_message_size(max.max(1 << 20) + 4096);

    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        // Backstop for callers without a deadline; handlers also honour grpc-timeout themselves
        // so that an expired call reports DEADLINE_EXCEEDED.
        .timeout(limits.request_timeout)
        // Shed (RESOURCE_EXHAUSTED) rather than queue once the process-wide limit is reached:
        // queueing would only turn overload into timeouts for everyone.
        .layer(
            ServiceBuilder::new()
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
        .add_service(policies)
        .serve_with_incoming_shutdown(incoming, async move {
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
        })
        .await?;
    Ok(())
}
