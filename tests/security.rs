//! TLS, mutual TLS, caller authentication (certificates, static tokens, JWT), roles, rate
//! limits, stream and message limits, and certificate rotation, against real servers with
//! certificates made in the test.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use riskdecision::pb;
use riskdecision::pb::decision_service_client::DecisionServiceClient;
use riskdecision::pb::policy_service_client::PolicyServiceClient;
use riskdecision::pb::profile_service_client::ProfileServiceClient;
use riskdecision::security::auth::{sign_hs256, token_sha256};
use riskdecision::security::dev_certs::{DevCa, Leaf};
use riskdecision::security::tls::{ReloadingTls, TlsFiles};
use riskdecision::security::{Authenticator, RateLimiter, Role, Rpc};
use riskdecision::server::ServerLimits;
use support::process::{self, Riskd};
use support::security::*;
use support::*;
use tonic::Code;
use tonic_types::StatusExt;

/// The identity each role's client certificate and token carry in these tests.
fn identity(role: Role) -> String {
    format!("{}.test", role.name())
}

fn auth_toml(tokens: &[(Role, &str)], jwt_key_file: Option<&str>) -> String {
    let mut s = String::from("[callers]\n");
    for role in Role::ALL {
        // The same name as a certificate, a static token and a JWT subject: three callers.
        for method in ["cert", "token", "jwt"] {
            s.push_str(&format!("\"{method}:{}\" = [\"{}\"]\n", identity(role), role.name()));
        }
    }
    s.push_str("\"cert:nobody.test\" = []\n");
    for (role, token) in tokens {
        s.push_str(&format!(
            "[[tokens]]\nidentity = \"{}\"\nsha256 = \"{}\"\n",
            identity(*role),
            token_sha256(token)
        ));
    }
    if let Some(key) = jwt_key_file {
        s.push_str(&format!(
            "[jwt]\nalgorithm = \"HS256\"\nkey_file = \"{key}\"\nissuer = \"sso.test\"\naudience = \"riskd\"\n"
        ));
    }
    s
}

/// A mutual-TLS server whose callers are the four roles' certificates.
async fn mtls_server(pki: &Pki, dir: &TempDir) -> TestServer {
    let files = pki.write_server_files(&dir.0);
    let auth_path = dir.write("auth.toml", &auth_toml(&[], None));
    TestServer::builder()
        .tls(ReloadingTls::load(files, Duration::from_millis(100)).expect("tls loads"))
        .auth(Arc::new(Authenticator::from_file(&auth_path).expect("auth config")))
        .start()
        .await
}

/// The call must fail: at connect, or (TLS 1.3 reports a rejected client certificate after the
/// handshake) at the first RPC. Never with an answer.
async fn assert_refused(server: &TestServer, ca_pem: &str, client: Option<&riskdecision::security::dev_certs::Issued>) {
    match server.tls_channel(ca_pem, client).await {
        Err(_) => {}
        Ok(channel) => {
            let result = PolicyServiceClient::new(channel)
                .get_policy(pb::GetPolicyRequest::default())
                .await;
            let status = result.expect_err("the connection must be refused");
            assert!(
                matches!(
                    status.code(),
                    Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Internal
                ),
                "refused at the TLS level, not by a handler: {status:?}"
            );
        }
    }
}

#[tokio::test]
async fn mutual_tls_refuses_clients_without_a_certificate_of_the_ca() {
    let pki = Pki::new("bank CA");
    let dir = TempDir::new("mtls-refuse");
    let server = mtls_server(&pki, &dir).await;

    // No client certificate.
    assert_refused(&server, &pki.ca_pem, None).await;
    // A certificate from another CA, with a name the server knows.
    let other = Pki::new("other CA");
    let impostor = other.client(&identity(Role::CoreBanking));
    assert_refused(&server, &pki.ca_pem, Some(&impostor)).await;
    // Expired, from the right CA.
    let now = time::OffsetDateTime::now_utc();
    let expired = pki
        .ca
        .issue(&Leaf {
            not_before: now - time::Duration::days(30),
            not_after: now - time::Duration::days(1),
            ..Leaf::client(&identity(Role::CoreBanking), 1)
        })
        .expect("expired cert");
    assert_refused(&server, &pki.ca_pem, Some(&expired)).await;
    // Plain TCP to the TLS port.
    let plain = tonic::transport::Endpoint::from_shared(format!("http://{}", server.addr))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(3));
    if let Ok(ch) = plain.connect().await {
        assert!(
            PolicyServiceClient::new(ch)
                .get_policy(pb::GetPolicyRequest::default())
                .await
                .is_err()
        );
    }

    // The right CA's certificate works.
    let ops = server
        .tls_channel(&pki.ca_pem, Some(&pki.client(&identity(Role::RiskOps))))
        .await
        .expect("connect");
    PolicyServiceClient::new(ops)
        .get_policy(pb::GetPolicyRequest::default())
        .await
        .expect("risk-ops reads the policy");
    server.stop().await;
}

#[tokio::test]
async fn each_role_by_certificate_may_call_exactly_its_rpcs() {
    let pki = Pki::new("bank CA");
    let dir = TempDir::new("mtls-roles");
    let server = mtls_server(&pki, &dir).await;
    let as_role = |role: Role| {
        let client = pki.client(&identity(role));
        let server = &server;
        let ca = pki.ca_pem.clone();
        async move { server.tls_channel(&ca, Some(&client)).await.expect("connect") }
    };
    let f = fixtures(
        as_role(Role::CoreBanking).await,
        None,
        as_role(Role::LoanOrigination).await,
        None,
    )
    .await;
    for role in Role::ALL {
        assert_role_matrix(as_role(role).await, None, role, &f).await;
    }

    // A known CA, a name with no roles: authenticated, allowed nothing.
    let nobody = server
        .tls_channel(&pki.ca_pem, Some(&pki.client("nobody.test")))
        .await
        .expect("connect");
    for (n, rpc) in Rpc::ALL.into_iter().enumerate() {
        let status = call(nobody.clone(), None, rpc, &f, n).await.expect_err("no role");
        assert_eq!(status.code(), Code::PermissionDenied, "{rpc}");
    }
    // A name not in the config at all: the same.
    let stranger = server
        .tls_channel(&pki.ca_pem, Some(&pki.client("stranger.test")))
        .await
        .expect("connect");
    let status = call(stranger, None, Rpc::Score, &f, 0)
        .await
        .expect_err("unknown caller");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.get_details_error_info().map(|i| i.reason).as_deref(),
        Some("ROLE_NOT_ALLOWED")
    );
    server.stop().await;
}

#[tokio::test]
async fn decisions_record_the_caller_and_personal_data_is_masked_for_other_roles() {
    let pki = Pki::new("bank CA");
    let dir = TempDir::new("mtls-caller");
    let server = mtls_server(&pki, &dir).await;
    let los = server
        .tls_channel(&pki.ca_pem, Some(&pki.client(&identity(Role::LoanOrigination))))
        .await
        .expect("connect");
    let decision = DecisionServiceClient::new(los)
        .decide(decide_inline("caller-recorded"))
        .await
        .expect("decide")
        .into_inner();
    assert_eq!(decision.caller, "cert:loan-origination.test");
    let auditor = server
        .tls_channel(&pki.ca_pem, Some(&pki.client(&identity(Role::Auditor))))
        .await
        .expect("connect");
    let read = DecisionServiceClient::new(auditor)
        .get_decision(pb::GetDecisionRequest {
            decision_id: decision.decision_id.clone(),
        })
        .await
        .expect("auditor reads it")
        .into_inner();
    assert_eq!(read.caller, "cert:loan-origination.test");

    // Personal data: core banking stores and reads it in clear; risk-ops sees it masked.
    let mut profile = worked_profile();
    let controller = profile.controller.as_mut().expect("controller");
    controller.name = "王小明".into();
    controller.id_number = "11010519491231002X".into();
    controller.phone = "+86 138 0013 8000".into();
    profile.bank_flows.as_mut().expect("flows").settlement_account_numbers = vec!["6222 0212 3456 7890 123".into()];
    let id = profile.enterprise_id.clone();
    let cbs = server
        .tls_channel(&pki.ca_pem, Some(&pki.client(&identity(Role::CoreBanking))))
        .await
        .expect("connect");
    ProfileServiceClient::new(cbs.clone())
        .put_profile(pb::PutProfileRequest {
            profile: Some(profile),
            expected_version: None,
        })
        .await
        .expect("put");
    let get = |ch| {
        let id = id.clone();
        async move {
            let p = ProfileServiceClient::new(ch)
                .get_profile(pb::GetProfileRequest { enterprise_id: id })
                .await
                .expect("get")
                .into_inner()
                .profile
                .expect("profile");
            let c = p.controller.expect("controller");
            (
                c.name,
                c.id_number,
                c.phone,
                p.bank_flows.expect("flows").settlement_account_numbers,
            )
        }
    };
    assert_eq!(
        get(cbs).await,
        (
            "王小明".to_owned(),
            "11010519491231002X".to_owned(),
            "13800138000".to_owned(),
            vec!["6222021234567890123".to_owned()]
        )
    );
    let ops = server
        .tls_channel(&pki.ca_pem, Some(&pki.client(&identity(Role::RiskOps))))
        .await
        .expect("connect");
    assert_eq!(
        get(ops).await,
        (
            "王**".to_owned(),
            "110105********002X".to_owned(),
            "138****8000".to_owned(),
            vec!["****0123".to_owned()]
        )
    );
    server.stop().await;
}

/// Issue 13, finding 7: an individual business's USCC identifies a person, so roles without
/// personal data (auditor, loan origination, risk-ops) get it masked in Decide and GetDecision;
/// a masked name has the same length whatever the name's.
#[tokio::test]
async fn an_individual_business_id_is_masked_for_roles_without_personal_data() {
    const INDIVIDUAL_BUSINESS: &str = "92330100MA2H7K3L0N";
    const MASKED: &str = "923301********3L0N";
    let pki = Pki::new("bank CA");
    let dir = TempDir::new("mtls-masking");
    let server = mtls_server(&pki, &dir).await;
    let channel_of = |role: Role| {
        let client = pki.client(&identity(role));
        let (server, ca) = (&server, pki.ca_pem.clone());
        async move { server.tls_channel(&ca, Some(&client)).await.expect("connect") }
    };
    let mut request = decide_example("decide-working-capital-approve-with-conditions.json");
    request.request_id = "individual-business-masked".into();
    assert!(
        format!("{request:?}").contains(INDIVIDUAL_BUSINESS),
        "the example is an individual business"
    );
    let decided = DecisionServiceClient::new(channel_of(Role::LoanOrigination).await)
        .decide(request)
        .await
        .expect("decide")
        .into_inner();
    assert_eq!(
        decided.enterprise_id, MASKED,
        "loan origination is never sent personal data"
    );
    for role in [Role::Auditor, Role::LoanOrigination, Role::RiskOps] {
        let read = DecisionServiceClient::new(channel_of(role).await)
            .get_decision(pb::GetDecisionRequest {
                decision_id: decided.decision_id.clone(),
            })
            .await
            .expect("read the decision")
            .into_inner();
        assert_eq!(read.enterprise_id, MASKED, "{role} reads the decision");
        assert!(!format!("{read:?}").contains(INDIVIDUAL_BUSINESS), "{role}");
    }

    // Masked names keep no trace of their length.
    let cbs = channel_of(Role::CoreBanking).await;
    let ops = channel_of(Role::RiskOps).await;
    for name in ["张三", "欧阳娜娜"] {
        let mut profile = worked_profile();
        profile.controller.as_mut().expect("controller").name = name.into();
        let id = profile.enterprise_id.clone();
        ProfileServiceClient::new(cbs.clone())
            .put_profile(pb::PutProfileRequest {
                profile: Some(profile),
                expected_version: None,
            })
            .await
            .expect("put");
        let masked = ProfileServiceClient::new(ops.clone())
            .get_profile(pb::GetProfileRequest { enterprise_id: id })
            .await
            .expect("get")
            .into_inner()
            .profile
            .and_then(|p| p.controller)
            .expect("controller")
            .name;
        let first: String = name.chars().take(1).collect();
        assert_eq!(masked, format!("{first}**"), "{name}");
    }
    server.stop().await;
}

#[tokio::test]
async fn tokens_and_jwts_authenticate_without_mutual_tls() {
    let pki = Pki::new("bank CA");
    let dir = TempDir::new("tokens");
    let mut files = pki.write_server_files(&dir.0);
    files.client_ca = None; // TLS, but no client certificates: callers bring tokens.
    let secret = "a shared JWT secret of at least 32 bytes";
    dir.write("jwt.secret", secret);
    let tokens: Vec<(Role, String)> = Role::ALL
        .into_iter()
        .map(|r| (r, format!("token-of-{}", r.name())))
        .collect();
    let token_refs: Vec<(Role, &str)> = tokens.iter().map(|(r, t)| (*r, t.as_str())).collect();
    let auth_path = dir.write("auth.toml", &auth_toml(&token_refs, Some("jwt.secret")));
    let server = TestServer::builder()
        .tls(ReloadingTls::load(files, Duration::from_secs(5)).expect("tls"))
        .auth(Arc::new(Authenticator::from_file(&auth_path).expect("auth")))
        .start()
        .await;
    let channel = server
        .tls_channel(&pki.ca_pem, None)
        .await
        .expect("server-only TLS connects");
    let token = |role: Role| tokens.iter().find(|(r, _)| *r == role).map(|(_, t)| t.as_str());

    // No token, a wrong one, a malformed header: UNAUTHENTICATED.
    for bad in [None, Some("not-a-known-token"), Some("a.b.c")] {
        let status = PolicyServiceClient::new(channel.clone())
            .get_policy(bearer(pb::GetPolicyRequest::default(), bad))
            .await
            .expect_err("unauthenticated");
        assert_eq!(status.code(), Code::Unauthenticated, "{bad:?}: {status:?}");
    }
    // Health and reflection stay open.
    let health = tonic_health::pb::health_client::HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("health needs no credentials")
        .into_inner();
    assert_eq!(health.status, 1);

    let f = fixtures(
        channel.clone(),
        token(Role::CoreBanking),
        channel.clone(),
        token(Role::LoanOrigination),
    )
    .await;
    for role in Role::ALL {
        assert_role_matrix(channel.clone(), token(role), role, &f).await;
    }

    // JWT: the subject is the identity; expired, wrongly signed or for another audience: no.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims =
        |sub: &str, exp: u64, aud: &str| serde_json::json!({"sub": sub, "exp": exp, "iss": "sso.test", "aud": aud});
    let good = sign_hs256(secret.as_bytes(), &claims(&identity(Role::Auditor), now + 600, "riskd"));
    let decision = call(channel.clone(), Some(&good), Rpc::GetDecision, &f, 0).await;
    assert!(decision.is_ok(), "{decision:?}");
    let denied = call(channel.clone(), Some(&good), Rpc::Score, &f, 0)
        .await
        .expect_err("auditor");
    assert_eq!(denied.code(), Code::PermissionDenied);
    for bad in [
        sign_hs256(
            secret.as_bytes(),
            &claims(&identity(Role::Auditor), now - 3600, "riskd"),
        ),
        sign_hs256(
            b"some other secret, also 32 bytes long",
            &claims(&identity(Role::Auditor), now + 600, "riskd"),
        ),
        sign_hs256(
            secret.as_bytes(),
            &claims(&identity(Role::Auditor), now + 600, "elsewhere"),
        ),
    ] {
        let status = call(channel.clone(), Some(&bad), Rpc::GetDecision, &f, 0)
            .await
            .expect_err("bad JWT");
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn rate_limit_per_caller_returns_resource_exhausted_with_a_retry_hint() {
    let dir = TempDir::new("rate");
    let auth_path = dir.write(
        "auth.toml",
        &auth_toml(&[(Role::RiskOps, "ops-token"), (Role::Auditor, "audit-token")], None),
    );
    let server = TestServer::builder()
        .auth(Arc::new(Authenticator::from_file(&auth_path).expect("auth")))
        .rate_limit(Arc::new(RateLimiter::new(0.5, 3)))
        .start()
        .await;
    let mut policies = PolicyServiceClient::new(server.channel().await);
    for _ in 0..3 {
        policies
            .get_policy(bearer(pb::GetPolicyRequest::default(), Some("ops-token")))
            .await
            .expect("within the burst");
    }
    let status = policies
        .get_policy(bearer(pb::GetPolicyRequest::default(), Some("ops-token")))
        .await
        .expect_err("over the limit");
    assert_eq!(status.code(), Code::ResourceExhausted);
    let retry_after: u64 = status
        .metadata()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("retry-after metadata");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let delay = status
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .expect("RetryInfo");
    assert!(
        delay > Duration::from_millis(1000) && delay <= Duration::from_secs(2),
        "{delay:?}"
    );
    assert_eq!(
        status.get_details_error_info().map(|i| i.reason).as_deref(),
        Some("RATE_LIMITED")
    );
    // Another caller has its own bucket; an unauthenticated call is refused before counting.
    let mut decisions = DecisionServiceClient::new(server.channel().await);
    let not_found = decisions
        .get_decision(bearer(
            pb::GetDecisionRequest {
                decision_id: "0193b1f6-7f10-7c4e-9a5e-3b7d2c1e4f00".into(),
            },
            Some("audit-token"),
        ))
        .await
        .expect_err("no such decision");
    assert_eq!(not_found.code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn stream_item_and_message_size_limits() {
    let server = TestServer::builder()
        .limits(ServerLimits {
            max_stream_items: 3,
            max_message_bytes: 4096,
            ..ServerLimits::default()
        })
        .start()
        .await;
    let profile = worked_profile();
    let item = pb::ScoreRequest {
        subject: Some(pb::score_request::Subject::Profile(profile.clone())),
        ..Default::default()
    };
    let mut client = DecisionServiceClient::new(server.channel().await);
    let mut stream = client
        .score_portfolio(tokio_stream::iter(vec![item.clone(); 5]))
        .await
        .expect("stream opens")
        .into_inner();
    let mut answered = 0;
    let end = loop {
        match stream.message().await {
            Ok(Some(r)) => {
                assert!(r.error.is_none(), "{:?}", r.error);
                answered += 1;
            }
            Ok(None) => panic!("the stream must end with RESOURCE_EXHAUSTED"),
            Err(status) => break status,
        }
    };
    assert_eq!(answered, 3, "the allowed items are answered first");
    assert_eq!(end.code(), Code::ResourceExhausted);
    assert_eq!(
        end.get_details_error_info().map(|i| i.reason).as_deref(),
        Some("STREAM_ITEM_LIMIT")
    );

    // A request over the message size limit.
    let mut big = profile;
    big.name = "x".repeat(5000);
    let status = client
        .score(pb::ScoreRequest {
            subject: Some(pb::score_request::Subject::Profile(big)),
            ..Default::default()
        })
        .await
        .expect_err("too large");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    server.stop().await;
}

#[tokio::test]
async fn certificates_rotate_without_a_restart() {
    let dir = TempDir::new("rotation");
    let old = Pki::new("CA 2026");
    let files = old.write_server_files(&dir.0);
    let tls = ReloadingTls::load(files, Duration::from_millis(100)).expect("tls");
    let server = TestServer::builder().tls(tls).start().await;
    let get_policy = |ch| async move {
        PolicyServiceClient::new(ch)
            .get_policy(pb::GetPolicyRequest::default())
            .await
            .map(|r| r.into_inner().version)
    };
    let old_client = old.client("cbs.test");
    let before = server
        .tls_channel(&old.ca_pem, Some(&old_client))
        .await
        .expect("old CA connects");
    get_policy(before.clone()).await.expect("old certificates work");

    // New CA: new server certificate and new client CA, written in place.
    let new = Pki::new("CA 2027");
    std::thread::sleep(Duration::from_millis(20)); // a distinct modification time
    new.write_server_files(&dir.0);
    let new_client = new.client("cbs.test");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = match server.tls_channel(&new.ca_pem, Some(&new_client)).await {
            Ok(ch) => get_policy(ch).await.is_ok(),
            Err(_) => false,
        };
        if attempt {
            break;
        }
        assert!(Instant::now() < deadline, "the new certificates were not picked up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // New connections with the old material are refused now; the open one still works.
    assert_refused(&server, &old.ca_pem, Some(&old_client)).await;
    get_policy(before)
        .await
        .expect("connections made before the rotation keep working");

    // A broken write (key of another certificate) keeps the current certificates.
    let stray = DevCa::new("stray")
        .expect("ca")
        .issue(&Leaf::localhost_server(1))
        .expect("cert");
    write_atomically(&dir.0.join("server.key"), &stray.key_pem);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let ch = server
        .tls_channel(&new.ca_pem, Some(&new_client))
        .await
        .expect("still serving");
    get_policy(ch).await.expect("the previous certificates are kept");
    server.stop().await;
}

#[test]
fn tls_files_that_do_not_load_are_reported() {
    let dir = TempDir::new("bad-tls");
    let cert = dir.write("cert.pem", "not a certificate");
    let key = dir.write("key.pem", "not a key");
    let err = ReloadingTls::load(
        TlsFiles {
            cert,
            key,
            client_ca: None,
        },
        Duration::from_secs(5),
    )
    .expect_err("invalid files");
    assert!(err.contains("cert.pem"), "{err}");
}

/// The README's two commands with the real binaries: `riskd dev-certs DIR`, then `riskd` with
/// mutual TLS and the written auth config; `riskctl` calls it with the role certificates.
#[test]
fn dev_certs_then_riskd_with_mutual_tls_as_in_the_readme() {
    use std::process::Command;

    let dir = TempDir::new("readme-mtls");
    let certs = dir.0.join("certs");
    let out = Command::new(env!("CARGO_BIN_EXE_riskd"))
        .arg("dev-certs")
        .arg(&certs)
        .output()
        .expect("run riskd dev-certs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again = Command::new(env!("CARGO_BIN_EXE_riskd"))
        .arg("dev-certs")
        .arg(&certs)
        .output()
        .expect("run riskd dev-certs");
    assert!(!again.status.success(), "does not overwrite without --force");
    let path = |name: &str| certs.join(name).display().to_string();

    let riskd = Riskd::spawn(
        process::dated("json")
            .args(["--tls-cert", &path("server.pem"), "--tls-key", &path("server.key")])
            .args(["--tls-client-ca", &path("ca.pem"), "--auth-config", &path("auth.toml")])
            .env_remove("RISKD_AUTH_CONFIG")
            .env("RISKD_PII_HMAC_KEY", "a test key of at least thirty-two bytes"),
    );
    let addr = riskd
        .json(|l| l["message"] == "riskd serving")
        .and_then(|l| l["listen"].as_str().map(str::to_owned))
        .expect("riskd serving with its address");
    let auth_on = riskd
        .json(|l| l["message"] == "caller authentication and authorization are ON")
        .is_some();
    assert!(auth_on, "the start-up log says authentication is on");
    let port = addr.rsplit(':').next().expect("port").to_owned();

    let riskctl = |role: Option<&str>, args: &[&str]| {
        let mut cmd = process::riskctl(&format!("https://localhost:{port}"));
        cmd.arg("--tls-ca").arg(path("ca.pem")).args(args);
        if let Some(role) = role {
            cmd.arg("--tls-cert")
                .arg(path(&format!("{role}.pem")))
                .arg("--tls-key")
                .arg(path(&format!("{role}.key")));
        }
        process::run(&mut cmd)
    };
    let (code, out, err) = riskctl(
        Some("loan-origination"),
        &["decide", "examples/decide-working-capital-approve.json"],
    );
    assert_eq!(code, 0, "{err}");
    let decision: serde_json::Value = serde_json::from_str(&out).expect("JSON decision");
    assert_eq!(decision["caller"], "cert:loan-origination.dev");
    let (code, _, err) = riskctl(Some("auditor"), &["policy"]);
    assert_eq!(code, 1);
    assert!(err.contains("PermissionDenied"), "{err}");
    let (code, out, err) = riskctl(Some("risk-ops"), &["policy", "--compact"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sme-default-1.1.0"));
    let (code, _, _) = riskctl(None, &["policy"]);
    assert_eq!(code, 1, "no client certificate: refused");
}

// ---------------------------------------------------------------------------------------------
// TLS handshake slots (issue 13, attack review finding 1)

/// Sockets that connect and never send a ClientHello, more of them than the server has
/// handshake slots (512), all from one address: a real TLS client and a health probe still get
/// through, promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_do_not_lock_tls_clients_and_probes_out() {
    let pki = Pki::new("idle-handshakes");
    let dir = TempDir::new("idle-handshakes");
    let mut files = pki.write_server_files(&dir.0);
    files.client_ca = None; // anyone may start a handshake: no certificate needed to attack
    let server = TestServer::builder()
        .tls(ReloadingTls::load(files, Duration::from_secs(5)).expect("tls loads"))
        .start()
        .await;
    let mut idle = Vec::new();
    for _ in 0..600 {
        idle.push(
            tokio::net::TcpStream::connect(server.addr)
                .await
                .expect("an idle socket connects"),
        );
    }
    // The server has taken them all in by now.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let channel = tokio::time::timeout(Duration::from_secs(5), server.tls_channel(&pki.ca_pem, None))
        .await
        .expect("the TLS client connects in time")
        .expect("the TLS client gets through 600 idle sockets");
    let status = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("the health probe is answered")
        .into_inner()
        .status;
    assert_eq!(status, SERVING);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    drop(idle);
    server.stop().await;
}

/// Attack review finding 9: the bearer scheme in any case (RFC 7235: schemes are
/// case-insensitive); every authentication failure answered with one generic message (the
/// reason only in the log); the caller recorded as `token:` / `jwt:` / `cert:` so that a JWT
/// subject spelled like another caller's identity gets none of its roles.
#[tokio::test]
async fn bearer_in_any_case_generic_refusals_and_one_namespace_per_method() {
    let dir = TempDir::new("bearer-case");
    let secret = "a shared JWT secret of at least 32 bytes";
    dir.write("jwt.secret", secret);
    let mut toml = auth_toml(&[(Role::LoanOrigination, "los-token")], Some("jwt.secret"));
    // Only as a certificate's name: no token or JWT may claim it.
    toml = toml.replace("[[tokens]]", "\"cert:ops-console.test\" = [\"risk-ops\"]\n[[tokens]]");
    let auth_path = dir.write("auth.toml", &toml);
    let server = TestServer::builder()
        .auth(Arc::new(Authenticator::from_file(&auth_path).expect("auth")))
        .start()
        .await;
    let channel = server.channel().await;
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let with_header = |value: &str| {
        let n = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut r = tonic::Request::new(decide_inline(&format!("case-{n}")));
        r.metadata_mut().insert("authorization", value.parse().expect("ascii"));
        r
    };
    for header in ["BEARER los-token", "bearer los-token", "Bearer  los-token"] {
        let decision = DecisionServiceClient::new(channel.clone())
            .decide(with_header(header))
            .await
            .unwrap_or_else(|s| panic!("{header:?}: {s:?}"))
            .into_inner();
        assert_eq!(decision.caller, "token:loan-origination.test", "{header:?}");
    }

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let jwt = |sub: &str, exp: u64| {
        sign_hs256(
            secret.as_bytes(),
            &serde_json::json!({"sub": sub, "exp": exp, "iss": "sso.test", "aud": "riskd"}),
        )
    };
    // Every kind of failure: the same answer, which says nothing about the check that failed.
    let mut messages = std::collections::BTreeSet::new();
    for bad in [
        "Basic bG9zOnRva2Vu".to_owned(),
        "Bearer not-a-known-token".to_owned(),
        format!("Bearer {}", jwt("auditor.test", now - 3600)),
        format!("Bearer {}x", jwt("auditor.test", now + 600)),
    ] {
        let status = DecisionServiceClient::new(channel.clone())
            .decide(with_header(&bad))
            .await
            .expect_err("unauthenticated");
        assert_eq!(status.code(), Code::Unauthenticated, "{bad}: {status:?}");
        messages.insert(status.message().to_owned());
    }
    assert_eq!(messages.len(), 1, "one generic message: {messages:?}");
    let message = messages.into_iter().next().unwrap_or_default();
    for detail in ["expired", "signature", "invalid token", "must be"] {
        assert!(!message.contains(detail), "{message:?} reveals {detail:?}");
    }

    // A JWT is its own namespace: its subject never takes a certificate's or a token's roles.
    for sub in [
        "ops-console.test",
        "cert:ops-console.test",
        "token:loan-origination.test",
    ] {
        let status = DecisionServiceClient::new(channel.clone())
            .decide(with_header(&format!("Bearer {}", jwt(sub, now + 600))))
            .await
            .expect_err("no roles for this JWT subject");
        assert_eq!(status.code(), Code::PermissionDenied, "{sub}: {status:?}");
        assert!(status.message().starts_with(&format!("jwt:{sub} ")), "{status:?}");
    }
    let decision = DecisionServiceClient::new(channel.clone())
        .decide(with_header(&format!(
            "Bearer {}",
            jwt("loan-origination.test", now + 600)
        )))
        .await
        .expect("a JWT subject listed as jwt:")
        .into_inner();
    assert_eq!(decision.caller, "jwt:loan-origination.test");
    server.stop().await;
}

/// Attack review finding 9: a plaintext connection that never sends the HTTP/2 preface (or only
/// part of it) is closed after the preface timeout; real clients are served meanwhile.
#[tokio::test]
async fn a_connection_without_the_http2_preface_is_closed() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut limits = ServerLimits::default();
    limits.security.preface_timeout = Duration::from_millis(300);
    let server = TestServer::builder().limits(limits).start().await;
    let silent = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    let mut partial = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    partial.write_all(b"PRI * HTTP/2.0\r\n").await.expect("half a preface");
    let started = Instant::now();
    // Served meanwhile.
    PolicyServiceClient::new(server.channel().await)
        .get_policy(pb::GetPolicyRequest::default())
        .await
        .expect("a real client is served");
    for (what, mut conn) in [("silent", silent), ("partial", partial)] {
        let mut buf = [0u8; 256];
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {} // the server's SETTINGS, sent before it reads the preface
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "{what}: still open {:?} after connecting",
            started.elapsed()
        );
    }
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    server.stop().await;
}
