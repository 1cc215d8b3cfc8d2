//! Helpers for the Redis tests: the shared local Redis (127.0.0.1:6379) with a unique key prefix
//! per test, private `redis-server` processes (single or a 3-node Cluster) killed by a Drop
//! guard, and `MONITOR`. Servers over Redis stores: `TestServer::builder().redis(stores)`.
//!
//! These tests never skip: without `redis-server` they fail and say how to install it.

use std::collections::HashMap;
use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use riskdecision::app::{ProfileStore, StoreError, StoredProfile};
use riskdecision::store::{RedisOptions, RedisStores};
use tokio::task::JoinHandle;

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
    super::unique_name(test)
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

/// The fields of every entry of the decision streams of `stores`, stream by stream.
pub async fn stream_fields(
    conn: &mut redis::aio::MultiplexedConnection,
    stores: &RedisStores,
) -> Vec<HashMap<String, String>> {
    let mut out = Vec::new();
    for key in stores.decisions.stream_keys() {
        let entries: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
            .arg(&key)
            .arg("-")
            .arg("+")
            .query_async(conn)
            .await
            .expect("xrange");
        out.extend(entries.into_iter().map(|(_, fields)| fields));
    }
    out
}

/// Twenty concurrent conditional writes of the example profile expecting `expected_version`,
/// alternating between two store instances (two replicas); their results, in order.
pub async fn contending_puts(
    a: &RedisStores,
    b: &RedisStores,
    expected_version: u64,
    now: i64,
) -> Vec<Result<StoredProfile, StoreError>> {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = if i % 2 == 0 {
                a.profiles.clone()
            } else {
                b.profiles.clone()
            };
            tokio::spawn(async move { store.put(super::domain_profile(), Some(expected_version), now).await })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("join"));
    }
    results
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

// ---- private redis-server processes ---------------------------------------------------------

/// A port that was free a moment ago (callers retry on a lost race).
pub fn free_port() -> u16 {
    let l = StdListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("addr").port()
}

/// Test-only TLS material (a CA valid until 2126 and a localhost server certificate).
pub fn tls_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/tls")
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

    /// A server that only speaks TLS, with the test certificates of `tests/support/tls`
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
