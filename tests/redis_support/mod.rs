//! Helpers for the Redis tests: the shared local Redis (127.0.0.1:6379) with a unique key prefix
//! per test, private `redis-server` processes (single or a 3-node Cluster) killed by a Drop
//! guard, in-process `riskd` servers over Redis stores, and example data.
//!
//! These tests never skip: without `redis-server` they fail and say how to install it.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::AsyncCommands;
use riskdecision::app::{AppState, LoadedPolicy};
use riskdecision::pb;
use riskdecision::pb::decision_service_client::DecisionServiceClient;
use riskdecision::pb::profile_service_client::ProfileServiceClient;
use riskdecision::policy::{DEFAULT_POLICY_TOML, Policy};
use riskdecision::server::{ServerLimits, serve_with_readiness};
use riskdecision::store::{RedisOptions, RedisStores};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

/// The date the example files are dated for.
pub const BUSINESS_DATE: time::Date = time::macros::date!(2026 - 11 - 30);
pub const EXAMPLE_ENTERPRISE: &str = "91110000600037341L";
const INSTALL_HINT: &str = "the Redis tests need redis-server and redis-cli: apt-get install redis-server";

/// The shared local Redis the tests use with a unique prefix each.
pub fn local_redis_url() -> String {
    std::env::var("RISKD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Fails (never skips) when the Redis binaries are missing.
pub fn require_redis_binaries() {
    for bin in ["redis-server", "redis-cli"] {
        let ok = Command::new(bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        assert!(matches!(ok, Ok(s) if s.success()), "{bin} not found: {INSTALL_HINT}");
    }
}

/// A raw connection for assertions, failing clearly when Redis is not there.
pub async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).expect("redis url");
    match tokio::time::timeout(Duration::from_secs(3), client.get_multiplexed_async_connection()).await {
        Ok(Ok(c)) => c,
        other => {
            require_redis_binaries();
            panic!(
                "cannot reach Redis at {url} ({other:?}): start one (redis-server --port 6379 --save '' \
                 --appendonly no --daemonize yes; .ci/run does) or set RISKD_TEST_REDIS_URL"
            )
        }
    }
}

/// A key prefix no other test (or run) uses.
pub fn unique_prefix(test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "t-{test}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Every key under a prefix (SCAN, so safe on a shared Redis).
pub async fn keys_with_prefix(conn: &mut redis::aio::MultiplexedConnection, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .expect("scan");
        out.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    out.sort();
    out
}

/// Removes a test's keys from the shared Redis.
pub async fn cleanup(url: &str, prefix: &str) {
    let mut conn = raw(url).await;
    for key in keys_with_prefix(&mut conn, prefix).await {
        let _: () = conn.del(&key).await.expect("del");
    }
}

/// Store options for tests: short retention so forgotten keys expire, and timeouts generous
/// enough for a debug build sharing 2 cores with other tests (tests that are about timeouts use
/// [`production_options`]).
pub fn options(url: &str, prefix: &str) -> RedisOptions {
    let mut o = production_options(url, prefix);
    o.call_timeout = Duration::from_secs(3);
    o.response_timeout = Duration::from_secs(2);
    o.connect_timeout = Duration::from_secs(1);
    o
}

/// The default timeouts of `riskd` (500 ms per call, 300 ms response, 500 ms connect).
pub fn production_options(url: &str, prefix: &str) -> RedisOptions {
    let mut o = RedisOptions::new(url);
    o.prefix = prefix.to_owned();
    o.profile_ttl = Duration::from_secs(3600);
    o.decision_retention = Duration::from_secs(3600);
    o
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

type ServeResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// An in-process `riskd` over Redis stores on 127.0.0.1:0.
pub struct RiskdServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<ServeResult>>,
}

pub async fn start_riskd(stores: RedisStores, ready: Option<watch::Receiver<bool>>) -> RiskdServer {
    let state = Arc::new(AppState {
        policy: loaded_default_policy(),
        profiles: stores.profiles,
        decisions: stores.decisions,
        business_date: Some(BUSINESS_DATE),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind an ephemeral port");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(serve_with_readiness(
        listener,
        state,
        ServerLimits::default(),
        ready,
        async move {
            let _ = rx.await;
        },
    ));
    RiskdServer {
        addr,
        stop: Some(tx),
        handle: Some(handle),
    }
}

impl RiskdServer {
    pub async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(3))
            .connect()
            .await
            .expect("connect to riskd")
    }

    pub async fn decisions(&self) -> DecisionServiceClient<Channel> {
        DecisionServiceClient::new(self.channel().await)
    }

    pub async fn profiles(&self) -> ProfileServiceClient<Channel> {
        ProfileServiceClient::new(self.channel().await)
    }

    pub async fn health(&self) -> tonic_health::pb::health_client::HealthClient<Channel> {
        tonic_health::pb::health_client::HealthClient::new(self.channel().await)
    }

    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(10), handle)
                .await
                .expect("riskd stops within 10 s")
                .expect("serve task joins")
                .expect("serve returns Ok");
        }
    }
}

impl Drop for RiskdServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Health status of one service ("" for the server).
pub async fn health_status(server: &RiskdServer, service: &str) -> i32 {
    let mut client = server.health().await;
    client
        .check(tonic_health::pb::HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health check")
        .into_inner()
        .status
}

pub const SERVING: i32 = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
pub const NOT_SERVING: i32 = tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;

// ---- example data ----------------------------------------------------------------------------

pub fn example_text(name: &str) -> String {
    let path = format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

pub fn decide_example(name: &str) -> pb::DecideRequest {
    riskdecision::json::from_json("riskdecision.v1.DecideRequest", &example_text(name))
        .expect("example parses as DecideRequest")
}

/// The profile of `examples/put-profile.json` (enterprise 91110000600037341L).
pub fn put_profile_request() -> pb::PutProfileRequest {
    riskdecision::json::from_json("riskdecision.v1.PutProfileRequest", &example_text("put-profile.json"))
        .expect("example parses as PutProfileRequest")
}

/// `examples/decide-by-id-working-capital.json` under another request id.
pub fn decide_by_id(request_id: &str) -> pb::DecideRequest {
    let mut req = decide_example("decide-by-id-working-capital.json");
    req.request_id = request_id.to_owned();
    req
}

/// An inline-profile Decide under another request id.
pub fn decide_inline(request_id: &str) -> pb::DecideRequest {
    let mut req = decide_example("decide-working-capital-approve.json");
    req.request_id = request_id.to_owned();
    req
}

/// The example profile as the domain type, for store-level tests.
pub fn domain_profile() -> riskdecision::domain::EnterpriseProfile {
    let policy = loaded_default_policy();
    let pb_profile = put_profile_request().profile.expect("profile");
    let mut v = riskdecision::grpc::validate::Validator::new(&policy.policy.currency, time::Date::MAX);
    riskdecision::grpc::convert::profile(&mut v, "profile", &pb_profile, &policy.policy)
        .expect("example profile converts")
}

pub fn now_ms() -> i64 {
    riskdecision::app::now_ms()
}

// ---- private redis-server processes ---------------------------------------------------------

/// A port that was free a moment ago (callers retry on a lost race).
pub fn free_port() -> u16 {
    let l = StdListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("addr").port()
}

/// Test-only TLS material (a CA valid until 2126 and a localhost server certificate).
pub fn tls_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/redis_support/tls")
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(unique_prefix(name));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `redis-server` child process on a loopback port, killed on drop.
pub struct PrivateRedis {
    pub port: u16,
    extra: Vec<String>,
    /// redis-cli arguments needed to reach it (TLS).
    cli: Vec<String>,
    dir: PathBuf,
    child: Option<Child>,
}

fn spawn_redis(port: u16, dir: &std::path::Path, extra: &[String]) -> std::io::Result<Child> {
    Command::new("redis-server")
        .arg("--port")
        .arg(port.to_string())
        .args([
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
        ])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(dir.join(format!("redis-{port}.log")))
        // "{port}" in an argument becomes the port (per-node cluster config files).
        .args(extra.iter().map(|a| a.replace("{port}", &port.to_string())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// Waits until the server on `port` answers PING; false if the child died or time ran out.
fn wait_ping(port: u16, cli: &[String], child: &mut Child, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        let out = Command::new("redis-cli")
            .args(cli)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "ping"])
            .output();
        if matches!(&out, Ok(o) if String::from_utf8_lossy(&o.stdout).trim() == "PONG") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

impl PrivateRedis {
    /// Starts a server on a free port (`--save ""` plus `extra` arguments), retrying on port races.
    pub fn start(dir: &std::path::Path, extra: &[&str]) -> Self {
        Self::start_with_cli(dir, extra, &[])
    }

    /// A server that only speaks TLS, with the test certificates of `tests/redis_support/tls`
    /// (CA `ca.crt`; server certificate for localhost and 127.0.0.1).
    pub fn start_tls(dir: &std::path::Path) -> Self {
        let tls = tls_dir();
        let file = |name: &str| tls.join(name).to_str().expect("utf-8 path").to_owned();
        let (cert, key, ca) = (file("server.crt"), file("server.key"), file("ca.crt"));
        let extra = [
            "--port",
            "0",
            "--tls-port",
            "{port}",
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            "no",
            "--appendonly",
            "no",
        ];
        Self::start_with_cli(dir, &extra, &["--tls", "--cacert", &ca])
    }

    fn start_with_cli(dir: &std::path::Path, extra: &[&str], cli: &[&str]) -> Self {
        require_redis_binaries();
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        let cli: Vec<String> = cli.iter().map(|s| (*s).to_owned()).collect();
        for _ in 0..20 {
            let port = free_port();
            let mut child =
                spawn_redis(port, dir, &extra).unwrap_or_else(|e| panic!("spawn redis-server: {e}; {INSTALL_HINT}"));
            if wait_ping(port, &cli, &mut child, Duration::from_secs(5)) {
                return PrivateRedis {
                    port,
                    extra,
                    cli,
                    dir: dir.to_owned(),
                    child: Some(child),
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start a private redis-server after 20 attempts");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: the server keeps its connections but answers nothing (a hung Redis).
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`pause`](Self::pause).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().map(Child::id).expect("redis-server running");
        let status = Command::new("kill")
            .arg(sig)
            .arg(pid.to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill {sig} {pid}");
    }

    /// Starts it again on the same port (retrying while the port is in TIME_WAIT or similar).
    pub fn restart(&mut self) {
        self.kill();
        for _ in 0..50 {
            let mut child = spawn_redis(self.port, &self.dir, &self.extra).expect("respawn redis-server");
            if wait_ping(self.port, &self.cli, &mut child, Duration::from_secs(5)) {
                self.child = Some(child);
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("could not restart redis-server on port {}", self.port);
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `MONITOR` on a private server: sees every command a client sends (and, marked `[0 lua]`,
/// those a script runs).
pub struct Monitor {
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    echo: redis::aio::MultiplexedConnection,
    task: JoinHandle<()>,
}

impl Monitor {
    pub async fn start(url: &str) -> Self {
        use tokio_stream::StreamExt;
        let client = redis::Client::open(url).expect("redis url");
        let monitor = client.get_async_monitor().await.expect("MONITOR");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut stream = monitor.into_on_message::<String>();
            while let Some(line) = stream.next().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Monitor {
            lines: rx,
            echo: raw(url).await,
            task,
        }
    }

    /// Sends `ECHO <marker>` and returns every command MONITOR saw before it.
    pub async fn until_marker(&mut self, marker: &str) -> Vec<String> {
        let _: String = redis::cmd("ECHO")
            .arg(marker)
            .query_async(&mut self.echo)
            .await
            .expect("echo");
        let mut seen = Vec::new();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(5), self.lines.recv())
                .await
                .expect("MONITOR line within 5 s")
                .expect("MONITOR stream open");
            if line.contains("\"ECHO\"") && line.contains(marker) {
                return seen;
            }
            seen.push(line);
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Client-sent commands (round trips when nothing is pipelined) among MONITOR lines: those not
/// run by a script.
pub fn client_commands(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| !l.contains(" lua] "))
        .map(|l| {
            l.split_once("] ")
                .map_or(l.as_str(), |(_, cmd)| cmd)
                .chars()
                .take(100)
                .collect()
        })
        .collect()
}

/// Milliseconds since the Unix epoch of a protobuf timestamp.
pub fn ts_ms(ts: &prost_types::Timestamp) -> i64 {
    ts.seconds * 1000 + i64::from(ts.nanos) / 1_000_000
}

/// The timeline of a test, printed at the end (visible with --nocapture).
pub struct Timeline {
    start: Instant,
    events: std::sync::Mutex<Vec<(u128, String)>>,
}

impl Timeline {
    pub fn new() -> Self {
        Timeline {
            start: Instant::now(),
            events: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub fn at(&self, what: impl Into<String>) {
        let ms = self.start.elapsed().as_millis();
        let what = what.into();
        eprintln!("[{ms:>6} ms] {what}");
        self.events.lock().unwrap_or_else(|p| p.into_inner()).push((ms, what));
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}
