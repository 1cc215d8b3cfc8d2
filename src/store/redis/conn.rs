//! One connection type for a single Redis (`ConnectionManager`) and a Redis Cluster
//! (`cluster_async::ClusterConnection`), both lazy, both with explicit timeouts and few retries,
//! and every call additionally bounded by a per-call budget that maps to `Unavailable`.

use std::future::Future;
use std::time::Duration;

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::{ClusterClient, ClusterConfig};
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Cmd, ErrorKind, FromRedisValue, Pipeline, RedisError, RedisFuture, ScriptInvocation, Value};

use tracing::Instrument as _;

use crate::app::ports::StoreError;

/// Sees every Redis call: telemetry installs one ([`observe_calls`]) for a span per call and
/// the call metrics; without one, calls are not observed.
pub trait CallObserver: Send + Sync + 'static {
    /// The span to run a call in (`Span::none()` for none): the command name (`GET`) and our
    /// name for the operation (`get profile`); never a key or a value.
    fn start(&self, command: &str, operation: &'static str) -> tracing::Span;
    /// The call ended after `elapsed`, failed with `error` if it did.
    fn finish(&self, span: &tracing::Span, operation: &'static str, elapsed: Duration, error: Option<&StoreError>);
}

static OBSERVER: std::sync::OnceLock<Box<dyn CallObserver>> = std::sync::OnceLock::new();

/// Installs the process's [`CallObserver`]; false when one already was.
pub fn observe_calls(observer: Box<dyn CallObserver>) -> bool {
    OBSERVER.set(observer).is_ok()
}

/// The command name of a Redis command (`GET`, `MGET`...), without its arguments.
fn command_name(cmd: &Cmd) -> &str {
    match cmd.args_iter().next() {
        Some(::redis::Arg::Simple(name)) => std::str::from_utf8(name).unwrap_or("?"),
        _ => "?",
    }
}

/// Where `REDIS_URL` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topology {
    /// One Redis (or a proxy in front of several): `redis://`, `rediss://`, `unix://`.
    Single(String),
    /// Redis Cluster seed nodes: `redis+cluster://h1:p1,h2:p2` (or `rediss+cluster://`), or a
    /// comma-separated list of `redis://` URLs.
    Cluster(Vec<String>),
}

impl Topology {
    /// Parses `REDIS_URL`. Credentials in a `redis+cluster://user:pass@h1:p1,h2:p2/` URL apply to
    /// every node; characters such as `,` or `@` in a password must be percent-encoded.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.is_empty() {
            return Err("REDIS_URL is empty".to_owned());
        }
        let cluster_scheme = [("redis+cluster://", "redis://"), ("rediss+cluster://", "rediss://")]
            .into_iter()
            .find_map(|(flag, scheme)| url.strip_prefix(flag).map(|rest| (scheme, rest)));
        let topology = if let Some((scheme, rest)) = cluster_scheme {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let (userinfo, hosts) = match authority.rsplit_once('@') {
                Some((u, h)) => (format!("{u}@"), h),
                None => (String::new(), authority),
            };
            let nodes: Vec<String> = hosts
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(|h| format!("{scheme}{userinfo}{h}{path}"))
                .collect();
            if nodes.is_empty() {
                return Err("a cluster REDIS_URL needs at least one host:port".to_owned());
            }
            Topology::Cluster(nodes)
        } else if url.contains(',') {
            Topology::Cluster(
                url.split(',')
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )
        } else {
            Topology::Single(url.to_owned())
        };
        for node in topology.nodes() {
            ::redis::IntoConnectionInfo::into_connection_info(node.as_str())
                .map_err(|e| format!("invalid Redis URL {}: {e}", redact(node)))?;
        }
        Ok(topology)
    }

    pub fn nodes(&self) -> Vec<&String> {
        match self {
            Topology::Single(u) => vec![u],
            Topology::Cluster(nodes) => nodes.iter().collect(),
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Topology::Cluster(_))
    }

    pub fn uses_tls(&self) -> bool {
        self.nodes().iter().any(|n| n.starts_with("rediss://"))
    }
}

/// A URL with any password replaced, for logs and errors.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// Timeouts and retries for the connection layer.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub response: Duration,
    pub retries: u8,
    /// Budget for one call as seen by the caller (covers reconnects and retries).
    pub call: Duration,
}

/// A cheap-to-clone handle to a single Redis or a Redis Cluster.
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Conn {
    /// Builds the connection without contacting Redis: the service starts (and answers inline
    /// requests) while Redis is still down, and connects on first use.
    pub fn open(topology: &Topology, t: Timeouts, ca_pem: Option<&[u8]>) -> Result<Self, String> {
        if topology.uses_tls() {
            // redis-rs builds rustls configs with the process-wide default provider; install ring
            // (the only provider compiled in) unless something else already did.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let certs = |pem: &[u8]| ::redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(pem.to_vec()),
        };
        match topology {
            Topology::Single(url) => {
                let client = match ca_pem {
                    Some(pem) if topology.uses_tls() => ::redis::Client::build_with_tls(url.as_str(), certs(pem)),
                    _ => ::redis::Client::open(url.as_str()),
                }
                .map_err(|e| format!("Redis URL {}: {e}", redact(url)))?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(t.connect))
                    .set_response_timeout(Some(t.response))
                    .set_number_of_retries(usize::from(t.retries))
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500));
                let manager = ConnectionManager::new_lazy_with_config(client, config)
                    .map_err(|e| format!("Redis connection manager: {e}"))?;
                Ok(Conn::Single(manager))
            }
            Topology::Cluster(nodes) => {
                let mut builder = ClusterClient::builder(nodes.iter().map(String::as_str))
                    .retries(u32::from(t.retries))
                    .min_retry_wait(50)
                    .max_retry_wait(500)
                    .connection_timeout(t.connect)
                    .response_timeout(t.response)
                    // A request including its MOVED/ASK redirections and retries; our own
                    // per-call budget still caps it from outside.
                    .overall_response_timeout(Some(t.call));
                if let Some(pem) = ca_pem.filter(|_| topology.uses_tls()) {
                    builder = builder.certs(certs(pem));
                }
                let client = builder.build().map_err(|e| format!("Redis Cluster client: {e}"))?;
                let config = ClusterConfig::new()
                    .set_connection_timeout(t.connect)
                    .set_response_timeout(t.response);
                Ok(Conn::Cluster(client.get_pending_async_connection_with_config(config)))
            }
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// The connection plus the per-call budget: every command goes through here.
#[derive(Clone)]
pub struct Redis {
    conn: Conn,
    call_timeout: Duration,
}

impl Redis {
    pub fn new(conn: Conn, call_timeout: Duration) -> Self {
        Redis { conn, call_timeout }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self.conn, Conn::Cluster(_))
    }

    async fn bounded<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.call_timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(map_error(op, &e)),
            Err(_) => {
                tracing::debug!(op, budget_ms = self.call_timeout.as_millis(), "redis call timed out");
                Err(StoreError::Timeout(format!(
                    "redis {op}: no answer within {} ms",
                    self.call_timeout.as_millis()
                )))
            }
        }
    }

    /// [`Self::bounded`], seen by the [`CallObserver`] if one is installed.
    async fn traced<T>(
        &self,
        op: &'static str,
        command: &str,
        fut: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        let Some(observer) = OBSERVER.get() else {
            return self.bounded(op, fut).await;
        };
        let span = observer.start(command, op);
        let started = std::time::Instant::now();
        let result = self.bounded(op, fut).instrument(span.clone()).await;
        observer.finish(&span, op, started.elapsed(), result.as_ref().err());
        result
    }

    /// Runs one command within the call budget.
    pub async fn query<T: FromRedisValue>(&self, op: &'static str, cmd: &Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        let command = command_name(cmd);
        self.traced(op, command, async move { cmd.query_async(&mut conn).await })
            .await
    }

    /// Runs a Lua script (EVALSHA, loading it once on NOSCRIPT) within the call budget.
    pub async fn invoke<T: FromRedisValue>(
        &self,
        op: &'static str,
        inv: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn.clone();
        self.traced(op, "EVALSHA", async move { inv.invoke_async(&mut conn).await })
            .await
    }
}

/// Redis errors to store errors: replies we cannot read are corruption (a bug or foreign data);
/// everything else (I/O, timeouts, cluster down or resharding, OOM, read-only replica...) means
/// the store cannot serve the call now.
fn map_error(op: &'static str, e: &RedisError) -> StoreError {
    match e.kind() {
        ErrorKind::Parse | ErrorKind::UnexpectedReturnType => {
            tracing::error!(op, error = %e, "unexpected reply from redis");
            StoreError::Corrupt(format!("redis {op}: unexpected reply"))
        }
        _ => {
            // Per call at debug: during an outage every request fails; the readiness probe
            // reports the outage once (warn) and its end (info).
            tracing::debug!(op, error = %e, "redis call failed");
            let what = if e.is_timeout() {
                "timed out"
            } else if e.is_connection_refusal() {
                "connection refused"
            } else if e.is_io_error() || e.is_connection_dropped() {
                "connection lost"
            } else if e.is_cluster_error() {
                "cluster not ready"
            } else {
                "error reply"
            };
            StoreError::Unavailable(format!("redis {op}: {what}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_urls() {
        assert_eq!(
            Topology::parse("redis://127.0.0.1:6379"),
            Ok(Topology::Single("redis://127.0.0.1:6379".into()))
        );
        assert_eq!(
            Topology::parse(" rediss://h:6380/2 "),
            Ok(Topology::Single("rediss://h:6380/2".into()))
        );
        assert!(Topology::parse("").is_err());
        assert!(Topology::parse("http://x").is_err());
    }

    #[test]
    fn cluster_urls() {
        assert_eq!(
            Topology::parse("redis+cluster://u:p@10.0.0.1:7000,10.0.0.2:7001"),
            Ok(Topology::Cluster(vec![
                "redis://u:p@10.0.0.1:7000".into(),
                "redis://u:p@10.0.0.2:7001".into()
            ]))
        );
        assert_eq!(
            Topology::parse("rediss+cluster://h1:7000"),
            Ok(Topology::Cluster(vec!["rediss://h1:7000".into()]))
        );
        assert_eq!(
            Topology::parse("redis://a:1, redis://b:2"),
            Ok(Topology::Cluster(vec!["redis://a:1".into(), "redis://b:2".into()]))
        );
        assert!(Topology::parse("redis+cluster://").is_err());
        assert!(Topology::parse("rediss+cluster://h:1").expect("parses").uses_tls());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("redis://user:secret@h:1"), "redis://***@h:1");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
    }
}
