//! The one way the tests start a real `riskd` server in-process on 127.0.0.1:0: in-memory or
//! any other stores (Redis), any policy, any [`ServerLimits`] (TLS, authentication, rate limits,
//! in-flight and size limits), optionally following a store's readiness; business date pinned to
//! [`BUSINESS_DATE`] so the example data stays fresh. It hands out real clients.
//!
//! ```ignore
//! let server = start().await; // in-memory stores, default policy and limits
//! let server = TestServer::builder().redis(stores).store_readiness(ready).start().await;
//! let server = TestServer::builder().tls(tls).auth(auth).start().await;
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use riskdecision::app::{AppState, DecisionStore, LoadedPolicy, ProfileStore};
use riskdecision::pb;
use riskdecision::pb::decision_service_client::DecisionServiceClient;
use riskdecision::pb::policy_service_client::PolicyServiceClient;
use riskdecision::pb::profile_service_client::ProfileServiceClient;
use riskdecision::security::dev_certs::Issued;
use riskdecision::security::{Authenticator, RateLimiter, ReloadingTls};
use riskdecision::server::{ServerLimits, serve_with_readiness};
use riskdecision::store::{
    MemoryDecisionStore, MemoryProfileStore, RedisDecisionStore, RedisProfileStore, RedisStores,
};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::{BUSINESS_DATE, loaded_default_policy, put_profile_request};

pub type ServeResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A server with in-memory stores, the default policy and default limits.
pub async fn start() -> TestServer {
    TestServer::builder().start().await
}

/// What [`TestServer::builder`] starts; every setting has the default of `riskd`, except the
/// business date ([`BUSINESS_DATE`]) and the in-memory profile TTL (one hour).
pub struct ServerBuilder<P, D> {
    policy: Arc<LoadedPolicy>,
    profiles: P,
    decisions: D,
    limits: ServerLimits,
    store_ready: Option<watch::Receiver<bool>>,
}

impl ServerBuilder<MemoryProfileStore, MemoryDecisionStore> {
    /// How long the in-memory store keeps a profile.
    pub fn profile_ttl(mut self, ttl: Duration) -> Self {
        self.profiles = MemoryProfileStore::new(ttl);
        self
    }
}

impl<P: ProfileStore, D: DecisionStore> ServerBuilder<P, D> {
    /// Any stores in place of the in-memory ones.
    pub fn stores<P2: ProfileStore, D2: DecisionStore>(self, profiles: P2, decisions: D2) -> ServerBuilder<P2, D2> {
        ServerBuilder {
            policy: self.policy,
            profiles,
            decisions,
            limits: self.limits,
            store_ready: self.store_ready,
        }
    }

    /// The Redis stores in place of the in-memory ones.
    pub fn redis(self, stores: RedisStores) -> ServerBuilder<RedisProfileStore, RedisDecisionStore> {
        self.stores(stores.profiles, stores.decisions)
    }

    pub fn policy(mut self, policy: Arc<LoadedPolicy>) -> Self {
        self.policy = policy;
        self
    }

    /// All limits, security included (set [`tls`](Self::tls) and the like after this).
    pub fn limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Serve TLS (mutual TLS when its files name a client CA).
    pub fn tls(mut self, tls: Arc<ReloadingTls>) -> Self {
        self.limits.security.tls = Some(tls);
        self
    }

    /// Authenticate callers and check their roles.
    pub fn auth(mut self, auth: Arc<Authenticator>) -> Self {
        self.limits.security.auth = Some(auth);
        self
    }

    /// Rate-limit each caller.
    pub fn rate_limit(mut self, rate_limit: Arc<RateLimiter>) -> Self {
        self.limits.security.rate_limit = Some(rate_limit);
        self
    }

    /// Health follows the store's readiness, as `riskd` does over Redis.
    pub fn store_readiness(mut self, ready: watch::Receiver<bool>) -> Self {
        self.store_ready = Some(ready);
        self
    }

    pub async fn start(self) -> TestServer {
        let state = Arc::new(AppState {
            policy: self.policy,
            profiles: self.profiles,
            decisions: self.decisions,
            business_date: Some(BUSINESS_DATE),
        });
        // Bound before the server task starts: clients can connect at once, no sleep, no port race.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind an ephemeral port");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(serve_with_readiness(
            listener,
            state,
            self.limits,
            self.store_ready,
            async move {
                let _ = rx.await;
            },
        ));
        TestServer {
            addr,
            stop: Some(tx),
            handle: Some(handle),
        }
    }
}

/// A running in-process server, stopped on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<ServeResult>>,
}

impl TestServer {
    pub fn builder() -> ServerBuilder<MemoryProfileStore, MemoryDecisionStore> {
        ServerBuilder {
            policy: loaded_default_policy(),
            profiles: MemoryProfileStore::new(Duration::from_secs(3600)),
            decisions: MemoryDecisionStore::new(),
            limits: ServerLimits::default(),
            store_ready: None,
        }
    }

    /// A plain (not TLS) channel.
    pub async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(3))
            .connect()
            .await
            .expect("connect to test server")
    }

    /// A TLS channel trusting `ca_pem`, presenting `client` when given.
    pub async fn tls_channel(&self, ca_pem: &str, client: Option<&Issued>) -> Result<Channel, tonic::transport::Error> {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca_pem))
            .domain_name("localhost");
        if let Some(c) = client {
            tls = tls.identity(Identity::from_pem(&c.cert_pem, &c.key_pem));
        }
        Endpoint::from_shared(format!("https://{}", self.addr))
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(5))
            .tls_config(tls)?
            .connect()
            .await
    }

    pub async fn decisions(&self) -> DecisionServiceClient<Channel> {
        DecisionServiceClient::new(self.channel().await)
    }

    pub async fn profiles(&self) -> ProfileServiceClient<Channel> {
        ProfileServiceClient::new(self.channel().await)
    }

    pub async fn policies(&self) -> PolicyServiceClient<Channel> {
        PolicyServiceClient::new(self.channel().await)
    }

    pub async fn health(&self) -> tonic_health::pb::health_client::HealthClient<Channel> {
        tonic_health::pb::health_client::HealthClient::new(self.channel().await)
    }

    /// PutProfile of `examples/put-profile.json` (enterprise [`super::EXAMPLE_ENTERPRISE`]), which must
    /// be stored.
    pub async fn put_example_profile(&self) -> pb::PutProfileResponse {
        self.profiles()
            .await
            .put_profile(put_profile_request())
            .await
            .expect("put the example profile")
            .into_inner()
    }

    /// Health status of one service ("" for the server).
    pub async fn health_status(&self, service: &str) -> i32 {
        self.health()
            .await
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health check")
            .into_inner()
            .status
    }

    /// Stops the server and waits (bounded: it must stop within 10 s) for what `serve` returns.
    pub async fn shutdown(mut self) -> ServeResult {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let handle = self.handle.take().expect("not yet shut down");
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .expect("server stops within 10 s")
            .expect("server task joins")
    }

    /// Stops the server and gives it up to 10 s to finish, whatever it returns.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), handle).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

pub const SERVING: i32 = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
pub const NOT_SERVING: i32 = tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;
