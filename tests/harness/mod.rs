//! Starts a real `riskd` server in-process on an ephemeral port (in-process stores, default
//! policy, business date pinned so the example data stays fresh) and hands out real clients.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use riskdecision::app::{AppState, LoadedPolicy};
use riskdecision::pb;
use riskdecision::pb::decision_service_client::DecisionServiceClient;
use riskdecision::pb::policy_service_client::PolicyServiceClient;
use riskdecision::pb::profile_service_client::ProfileServiceClient;
use riskdecision::policy::{DEFAULT_POLICY_TOML, Policy};
use riskdecision::server::{ServerLimits, serve};
use riskdecision::store::{MemoryDecisionStore, MemoryProfileStore};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

/// The date the example files are dated for.
pub const BUSINESS_DATE: time::Date = time::macros::date!(2026 - 11 - 30);

type ServeResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<ServeResult>>,
}

pub fn loaded_default_policy() -> Arc<LoadedPolicy> {
    let policy = Policy::from_toml(DEFAULT_POLICY_TOML).expect("default policy is valid");
    Arc::new(LoadedPolicy {
        policy,
        source: "embedded".into(),
        loaded_at_ms: 0,
        content: DEFAULT_POLICY_TOML.into(),
    })
}

pub async fn start() -> TestServer {
    start_with(loaded_default_policy(), Duration::from_secs(3600)).await
}

pub async fn start_with(policy: Arc<LoadedPolicy>, profile_ttl: Duration) -> TestServer {
    let state = Arc::new(AppState {
        policy,
        profiles: MemoryProfileStore::new(profile_ttl),
        decisions: MemoryDecisionStore::new(),
        business_date: Some(BUSINESS_DATE),
    });
    // Bound before the server task starts: clients can connect at once, no sleep, no port race.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind an ephemeral port");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(serve(listener, state, ServerLimits::default(), async move {
        let _ = rx.await;
    }));
    TestServer {
        addr,
        stop: Some(tx),
        handle: Some(handle),
    }
}

impl TestServer {
    pub async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect to test server")
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

    /// Stops the server and waits (bounded) for it to finish.
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
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Text of a file under `examples/`.
pub fn example_text(name: &str) -> String {
    let path = format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

pub fn decide_example(name: &str) -> pb::DecideRequest {
    riskdecision::json::from_json("riskdecision.v1.DecideRequest", &example_text(name))
        .expect("example parses as DecideRequest")
}

/// The worked-example profile (DOMAIN.md 8.11) from `examples/put-profile.json`.
pub fn worked_profile() -> pb::EnterpriseProfile {
    let req: pb::PutProfileRequest =
        riskdecision::json::from_json("riskdecision.v1.PutProfileRequest", &example_text("put-profile.json"))
            .expect("example parses");
    req.profile.expect("profile present")
}

pub fn cny(yuan: i64) -> pb::Money {
    pb::Money {
        currency: "CNY".into(),
        units_minor: yuan * 100,
    }
}

/// Field paths of a status's BadRequest details.
pub fn violations(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

pub fn error_reason(status: &tonic::Status) -> Option<String> {
    use tonic_types::StatusExt;
    status.get_details_error_info().map(|i| i.reason)
}
