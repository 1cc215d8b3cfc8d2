//! `riskd healthcheck` (the container health check) against servers that serve TLS: the real
//! binary, run as a process, against a real server on 127.0.0.1:0 with certificates made in
//! the test (tests/support/security.rs). It must say SERVING and exit 0 with the right CA (and a
//! client certificate where mutual TLS asks for one), and exit non-zero otherwise.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use riskdecision::security::ReloadingTls;
use riskdecision::security::tls::TlsFiles;
use support::security::*;
use support::*;

/// Every variable that could change what the healthcheck does, so that the test's environment
/// does not leak into it.
const VARIABLES: &[&str] = &[
    "RISKD_LISTEN",
    "RISKD_TLS_CERT",
    "RISKD_TLS_KEY",
    "RISKD_TLS_CLIENT_CA",
    "RISKD_HEALTHCHECK_TLS_CA",
    "RISKD_HEALTHCHECK_TLS_CERT",
    "RISKD_HEALTHCHECK_TLS_KEY",
    "RISKD_HEALTHCHECK_TLS_SERVER_NAME",
];

/// `riskd [global...] healthcheck [args...]` with `env`, on a blocking thread (the server runs
/// on this test's runtime).
async fn healthcheck(global: &[String], args: &[String], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_riskd"));
    cmd.args(global)
        .arg("healthcheck")
        .args(["--timeout-ms", "5000"])
        .args(args);
    for v in VARIABLES {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("run riskd healthcheck"))
        .await
        .expect("joins")
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}, stdout {:?}, stderr {:?}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_serving(out: &Output) {
    assert!(out.status.success(), "{}", describe(out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "SERVING",
        "{}",
        describe(out)
    );
}

fn assert_fails(out: &Output, stderr_mentions: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", describe(out));
    assert!(out.stdout.is_empty(), "{}", describe(out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.to_lowercase().contains(&stderr_mentions.to_lowercase()),
        "stderr should mention {stderr_mentions:?}: {}",
        describe(out)
    );
}

/// A server on 127.0.0.1:0 that serves TLS with `files` (mutual TLS when they name a client CA).
async fn tls_server(files: TlsFiles) -> TestServer {
    TestServer::builder()
        .tls(ReloadingTls::load(files, Duration::from_secs(5)).expect("tls loads"))
        .start()
        .await
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_over_mutual_tls() {
    let pki = Pki::new("healthcheck-ca");
    let dir = TempDir::new("healthcheck-mtls");
    let files = pki.write_server_files(&dir.0);
    let (server_cert, server_key) = (files.cert.clone(), files.key.clone());
    let server = tls_server(files).await;
    let probe = pki.client("container-probe");
    let ca = dir.write("ca.pem", &pki.ca_pem);
    let cert = dir.write("probe.pem", &probe.cert_pem);
    let key = dir.write("probe.key", &probe.key_pem);
    let other = Pki::new("healthcheck-other-ca");
    let wrong_ca = dir.write("other-ca.pem", &other.ca_pem);
    let stranger = other.client("stranger");
    let stranger_cert = dir.write("stranger.pem", &stranger.cert_pem);
    let stranger_key = dir.write("stranger.key", &stranger.key_pem);
    let https = format!("https://127.0.0.1:{}", server.addr.port());
    let path = |p: &Path| p.display().to_string();
    let with = |addr: &str, ca: &Path, client: Option<(&Path, &Path)>| {
        let mut args = vec!["--addr".to_owned(), addr.to_owned(), "--tls-ca".to_owned(), path(ca)];
        if let Some((c, k)) = client {
            args.extend(["--tls-cert".to_owned(), path(c), "--tls-key".to_owned(), path(k)]);
        }
        args
    };

    // The right CA and a client certificate of the server's client CA: SERVING, exit 0.
    assert_serving(&healthcheck(&[], &with(&https, &ca, Some((&cert, &key))), &[]).await);
    // A service by name.
    let mut args = with(&https, &ca, Some((&cert, &key)));
    args.extend(strings(&["--service", "riskdecision.v1.DecisionService"]));
    assert_serving(&healthcheck(&[], &args, &[]).await);

    // As in a container: no flags, the server's own variables say it serves TLS on which port,
    // the healthcheck's variables say how to trust it and who it is.
    let env = [
        ("RISKD_TLS_CERT", server_cert.as_path()),
        ("RISKD_TLS_KEY", server_key.as_path()),
        ("RISKD_HEALTHCHECK_TLS_CA", ca.as_path()),
        ("RISKD_HEALTHCHECK_TLS_CERT", cert.as_path()),
        ("RISKD_HEALTHCHECK_TLS_KEY", key.as_path()),
    ];
    let listen = strings(&["--listen", &server.addr.to_string()]);
    assert_serving(&healthcheck(&listen, &[], &env).await);

    // The name the certificate carries, given while asking the loopback address; a name it
    // does not carry fails.
    let mut args = with(&https, &ca, Some((&cert, &key)));
    args.extend(strings(&["--tls-server-name", "localhost"]));
    assert_serving(&healthcheck(&[], &args, &[]).await);
    let mut args = with(&https, &ca, Some((&cert, &key)));
    args.extend(strings(&["--tls-server-name", "riskd.bank.example"]));
    assert_fails(&healthcheck(&[], &args, &[]).await, "riskd.bank.example");

    // A wrong CA: the server is not trusted, exit 1.
    assert_fails(
        &healthcheck(&[], &with(&https, &wrong_ca, Some((&cert, &key))), &[]).await,
        "certificate",
    );
    // No client certificate, or one of another CA: the server refuses the handshake.
    assert_fails(&healthcheck(&[], &with(&https, &ca, None), &[]).await, "");
    assert_fails(
        &healthcheck(&[], &with(&https, &ca, Some((&stranger_cert, &stranger_key))), &[]).await,
        "",
    );
    // Plain TCP against a TLS server, and https:// without a CA.
    let plain = format!("http://127.0.0.1:{}", server.addr.port());
    assert_fails(&healthcheck(&[], &strings(&["--addr", &plain]), &[]).await, "");
    assert_fails(&healthcheck(&[], &strings(&["--addr", &https]), &[]).await, "--tls-ca");
    // The server's variables alone (no healthcheck CA): TLS by default, and it says what is missing.
    assert_fails(
        &healthcheck(
            &listen,
            &[],
            &[
                ("RISKD_TLS_CERT", server_cert.as_path()),
                ("RISKD_TLS_KEY", server_key.as_path()),
            ],
        )
        .await,
        "RISKD_HEALTHCHECK_TLS_CA",
    );
    // TLS options with a plaintext address are a mistake, not a silent plaintext check.
    let mut args = strings(&["--addr", &plain]);
    args.extend(["--tls-ca".to_owned(), path(&ca)]);
    assert_fails(&healthcheck(&[], &args, &[]).await, "https://");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_over_server_only_tls() {
    let pki = Pki::new("healthcheck-tls-ca");
    let dir = TempDir::new("healthcheck-tls");
    let mut files = pki.write_server_files(&dir.0);
    files.client_ca = None;
    let server = tls_server(files).await;
    let ca = dir.write("ca.pem", &pki.ca_pem);
    let wrong_ca = dir.write("other-ca.pem", &Pki::new("healthcheck-tls-other").ca_pem);
    let https = format!("https://127.0.0.1:{}", server.addr.port());

    // The CA alone is enough when the server asks for no client certificate.
    let out = healthcheck(
        &[],
        &strings(&["--addr", &https, "--tls-ca", &ca.display().to_string()]),
        &[],
    )
    .await;
    assert_serving(&out);
    let out = healthcheck(
        &strings(&["--listen", &server.addr.to_string()]),
        &[],
        &[("RISKD_HEALTHCHECK_TLS_CA", &ca)],
    )
    .await;
    assert_serving(&out);
    let out = healthcheck(
        &[],
        &strings(&["--addr", &https, "--tls-ca", &wrong_ca.display().to_string()]),
        &[],
    )
    .await;
    assert_fails(&out, "certificate");
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Shutdown ends server streams (issue 13, attack review finding 8)

/// How long a shutdown may take with a server stream open (the grace period is 10 s).
const PROMPT_SHUTDOWN: Duration = Duration::from_secs(3);

/// An open, unauthenticated `grpc.health.v1.Health/Watch` stream does not hold the shutdown:
/// the server stops at once; the watcher hears NOT_SERVING, then its stream ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_watch_stream_does_not_hold_shutdown() {
    let server = start().await;
    let mut watch = server
        .health()
        .await
        .watch(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("watch opens")
        .into_inner();
    let first = watch.message().await.expect("a status").expect("a first status");
    assert_eq!(first.status, SERVING);

    let started = std::time::Instant::now();
    let stopped = tokio::time::timeout(PROMPT_SHUTDOWN, server.shutdown()).await;
    assert!(
        stopped.is_ok(),
        "the Watch stream held the shutdown for {:?}",
        started.elapsed()
    );
    stopped.expect("stopped").expect("the server stops cleanly");

    let mut statuses = Vec::new();
    let end = loop {
        match tokio::time::timeout(PROMPT_SHUTDOWN, watch.message()).await {
            Ok(Ok(Some(m))) => statuses.push(m.status),
            Ok(Ok(None)) => break None,
            Ok(Err(status)) => break Some(status.code()),
            Err(_) => panic!("the Watch stream did not end: {statuses:?}"),
        }
    };
    assert!(statuses.contains(&NOT_SERVING), "{statuses:?}");
    assert_eq!(end, Some(tonic::Code::Unavailable));
}

/// A ScorePortfolio stream whose client keeps its side open does not hold the shutdown either:
/// the items sent were answered, then the stream ends UNAVAILABLE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_portfolio_stream_does_not_hold_shutdown() {
    let server = start().await;
    let item = riskdecision::pb::ScoreRequest {
        subject: Some(riskdecision::pb::score_request::Subject::Profile(worked_profile())),
        item_id: "first".into(),
    };
    let (items, input) = tokio::sync::mpsc::channel(4);
    items.send(item).await.expect("queued");
    let mut answers = server
        .decisions()
        .await
        .score_portfolio(tokio_stream::wrappers::ReceiverStream::new(input))
        .await
        .expect("stream opens")
        .into_inner();
    let first = answers.message().await.expect("an answer").expect("the first answer");
    assert_eq!(first.item_id, "first");

    let started = std::time::Instant::now();
    let stopped = tokio::time::timeout(PROMPT_SHUTDOWN, server.shutdown()).await;
    assert!(
        stopped.is_ok(),
        "the stream held the shutdown for {:?}",
        started.elapsed()
    );
    stopped.expect("stopped").expect("the server stops cleanly");
    let end = tokio::time::timeout(PROMPT_SHUTDOWN, answers.message())
        .await
        .expect("the stream ends");
    let status = end.expect_err("ends with a status");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    drop(items);
}
