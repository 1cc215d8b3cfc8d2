//! Shared by the security tests: certificates made in the test (rcgen through
//! `security::dev_certs`), token requests, and one call of every RPC with a request that
//! succeeds when allowed. Servers with TLS or authentication: `TestServer::builder().tls(..)`.

use std::path::Path;

use riskdecision::pb;
use riskdecision::pb::decision_service_client::DecisionServiceClient;
use riskdecision::pb::policy_service_client::PolicyServiceClient;
use riskdecision::pb::profile_service_client::ProfileServiceClient;
use riskdecision::policy::DEFAULT_POLICY_TOML;
use riskdecision::security::Rpc;
use riskdecision::security::dev_certs::{DevCa, Issued, Leaf};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Request, Status};

use super::{decide_inline, monitor_example, worked_profile};

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
        .decide(bearer(decide_inline("fixture-decision"), decide_token))
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
            .decide(bearer(decide_inline(&format!("matrix-{n}")), token))
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
        Rpc::Monitor => decisions
            .monitor(bearer(monitor_example("monitor-substandard.json"), token))
            .await
            .map(drop),
        Rpc::MonitorPortfolio => decisions
            .monitor_portfolio(bearer(
                pb::MonitorPortfolioRequest {
                    loans: vec![monitor_example("monitor-substandard.json")],
                },
                token,
            ))
            .await
            .map(drop),
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
