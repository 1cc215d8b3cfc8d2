//! Shared by the security tests: a server started with given limits and security, certificates
//! made in the test (rcgen through `security::dev_certs`), TLS and token clients, and one call
//! of every RPC with a request that succeeds when allowed.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use riskdecision::app::{AppState, LoadedPolicy};
use riskdecision::app::{DecisionStore, ProfileStore};
use riskdecision::pb;
use riskdecision::pb::decision_service_client::DecisionServiceClient;
use riskdecision::pb::policy_service_client::PolicyServiceClient;
use riskdecision::pb::profile_service_client::ProfileServiceClient;
use riskdecision::policy::{DEFAULT_POLICY_TOML, Policy};
use riskdecision::security::Rpc;
use riskdecision::security::dev_certs::{DevCa, Issued, Leaf};
use riskdecision::server::{ServerLimits, serve};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Request, Status};

/// The date the example files are dated for.
pub const BUSINESS_DATE: time::Date = time::macros::date!(2026 - 11 - 30);

type ServeResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

pub fn loaded_default_policy() -> Arc<LoadedPolicy> {
    Arc::new(LoadedPolicy {
        policy: Policy::from_toml(DEFAULT_POLICY_TOML).expect("default policy is valid"),
        source: "embedded".into(),
        loaded_at_ms: 0,
        content: DEFAULT_POLICY_TOML.into(),
    })
}

/// A server on 127.0.0.1:0, stopped on drop.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<ServeResult>>,
}

pub async fn start<P: ProfileStore, D: DecisionStore>(profiles: P, decisions: D, limits: ServerLimits) -> Server {
    let state = Arc::new(AppState {
        policy: loaded_default_policy(),
        profiles,
        decisions,
        business_date: Some(BUSINESS_DATE),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(serve(listener, state, limits, async move {
        let _ = rx.await;
    }));
    Server {
        addr,
        stop: Some(tx),
        handle: Some(handle),
    }
}

pub async fn start_in_memory(limits: ServerLimits) -> Server {
    start(
        riskdecision::store::MemoryProfileStore::new(Duration::from_secs(3600)),
        riskdecision::store::MemoryDecisionStore::new(),
        limits,
    )
    .await
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

impl Server {
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), h).await;
        }
    }

    pub async fn plain(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect")
    }

    /// A TLS channel trusting `ca_pem`, presenting `client` when given.
    pub async fn tls(&self, ca_pem: &str, client: Option<&Issued>) -> Result<Channel, tonic::transport::Error> {
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
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "riskd-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA with a localhost server certificate, written as files for the server.
pub struct Pki {
    pub ca: DevCa,
    pub ca_pem: String,
    pub server: Issued,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let ca = DevCa::new(name).expect("CA");
        let server = ca.issue(&Leaf::localhost_server(30)).expect("server cert");
        Pki {
            ca_pem: ca.cert_pem(),
            ca,
            server,
        }
    }

    pub fn client(&self, name: &str) -> Issued {
        self.ca.issue(&Leaf::client(name, 30)).expect("client cert")
    }

    /// Writes server.pem, server.key and client-ca.pem into `dir`.
    pub fn write_server_files(&self, dir: &Path) -> riskdecision::security::tls::TlsFiles {
        write_atomically(&dir.join("server.pem"), &self.server.cert_pem);
        write_atomically(&dir.join("server.key"), &self.server.key_pem);
        write_atomically(&dir.join("client-ca.pem"), &self.ca_pem);
        riskdecision::security::tls::TlsFiles {
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
            client_ca: Some(dir.join("client-ca.pem")),
        }
    }
}

/// Write then rename, as certificate managers do.
pub fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// `authorization: Bearer <token>` on a request.
pub fn bearer<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut r = Request::new(message);
    if let Some(t) = token {
        r.metadata_mut().insert(
            "authorization",
            MetadataValue::try_from(format!("Bearer {t}")).expect("ascii token"),
        );
    }
    r
}

pub fn example_text(name: &str) -> String {
    let path = format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

pub fn worked_profile() -> pb::EnterpriseProfile {
    let req: pb::PutProfileRequest =
        riskdecision::json::from_json("riskdecision.v1.PutProfileRequest", &example_text("put-profile.json"))
            .expect("example parses");
    req.profile.expect("profile")
}

pub fn decide_request(request_id: &str) -> pb::DecideRequest {
    let mut req: pb::DecideRequest = riskdecision::json::from_json(
        "riskdecision.v1.DecideRequest",
        &example_text("decide-working-capital-approve.json"),
    )
    .expect("example parses");
    req.request_id = request_id.to_owned();
    req
}

pub fn monitor_request() -> pb::MonitorRequest {
    riskdecision::json::from_json(
        "riskdecision.v1.MonitorRequest",
        &example_text("monitor-substandard.json"),
    )
    .expect("example parses")
}

/// What the calls of [`call`] need to succeed: a cached profile and a recorded decision.
#[derive(Debug, Clone)]
pub struct Fixtures {
    pub enterprise_id: String,
    pub decision_id: String,
}

/// Stores the worked profile and records one decision, with any credentials allowed to.
pub async fn fixtures(
    profiles_channel: Channel,
    profiles_token: Option<&str>,
    decide_channel: Channel,
    decide_token: Option<&str>,
) -> Fixtures {
    let profile = worked_profile();
    let enterprise_id = profile.enterprise_id.clone();
    ProfileServiceClient::new(profiles_channel)
        .put_profile(bearer(
            pb::PutProfileRequest {
                profile: Some(profile),
                expected_version: None,
            },
            profiles_token,
        ))
        .await
        .expect("fixture PutProfile");
    let decision = DecisionServiceClient::new(decide_channel)
        .decide(bearer(decide_request("fixture-decision"), decide_token))
        .await
        .expect("fixture Decide")
        .into_inner();
    Fixtures {
        enterprise_id,
        decision_id: decision.decision_id,
    }
}

/// Calls `rpc` with a request that succeeds when the caller is allowed to make it.
pub async fn call(channel: Channel, token: Option<&str>, rpc: Rpc, f: &Fixtures, n: usize) -> Result<(), Status> {
    let mut decisions = DecisionServiceClient::new(channel.clone());
    let mut profiles = ProfileServiceClient::new(channel.clone());
    let mut policies = PolicyServiceClient::new(channel);
    let score = || pb::ScoreRequest {
        subject: Some(pb::score_request::Subject::EnterpriseId(f.enterprise_id.clone())),
        ..Default::default()
    };
    match rpc {
        Rpc::Score => decisions.score(bearer(score(), token)).await.map(drop),
        Rpc::Decide => decisions
            .decide(bearer(decide_request(&format!("matrix-{n}")), token))
            .await
            .map(drop),
        Rpc::GetDecision => decisions
            .get_decision(bearer(
                pb::GetDecisionRequest {
                    decision_id: f.decision_id.clone(),
                },
                token,
            ))
            .await
            .map(drop),
        Rpc::Monitor => decisions.monitor(bearer(monitor_request(), token)).await.map(drop),
        Rpc::ScorePortfolio => {
            let mut stream = decisions
                .score_portfolio(bearer(tokio_stream::iter(vec![score(), score()]), token))
                .await?
                .into_inner();
            let mut answered = 0;
            while let Some(r) = stream.message().await? {
                assert!(r.error.is_none(), "{:?}", r.error);
                answered += 1;
            }
            assert_eq!(answered, 2);
            Ok(())
        }
        Rpc::PutProfile => profiles
            .put_profile(bearer(
                pb::PutProfileRequest {
                    profile: Some(worked_profile()),
                    expected_version: None,
                },
                token,
            ))
            .await
            .map(drop),
        Rpc::GetProfile => profiles
            .get_profile(bearer(
                pb::GetProfileRequest {
                    enterprise_id: f.enterprise_id.clone(),
                },
                token,
            ))
            .await
            .map(drop),
        Rpc::DeleteProfile => profiles
            .delete_profile(bearer(
                pb::DeleteProfileRequest {
                    enterprise_id: "91440300MA5FLX5R1W".into(),
                    allow_missing: true,
                },
                token,
            ))
            .await
            .map(drop),
        Rpc::GetPolicy => policies
            .get_policy(bearer(pb::GetPolicyRequest::default(), token))
            .await
            .map(drop),
        Rpc::ValidatePolicy => policies
            .validate_policy(bearer(
                pb::ValidatePolicyRequest {
                    content: DEFAULT_POLICY_TOML.into(),
                },
                token,
            ))
            .await
            .map(drop),
    }
}

/// Every RPC, for `role`: allowed ones must succeed, the others fail PERMISSION_DENIED.
pub async fn assert_role_matrix(
    channel: Channel,
    token: Option<&str>,
    role: riskdecision::security::Role,
    f: &Fixtures,
) {
    for (n, rpc) in Rpc::ALL.into_iter().enumerate() {
        let result = call(channel.clone(), token, rpc, f, n).await;
        if role.allows(rpc) {
            assert!(result.is_ok(), "{role} should be allowed {rpc}: {result:?}");
        } else {
            let status = result.expect_err(&format!("{role} must not be allowed {rpc}"));
            assert_eq!(
                status.code(),
                tonic::Code::PermissionDenied,
                "{role} calling {rpc}: {status:?}"
            );
        }
    }
}
