//! TLS for the gRPC server with certificates that can be rotated without a restart.
//!
//! tonic's own `ServerTlsConfig` is fixed at start-up, so the server accepts TLS itself: a task
//! accepts TCP connections, runs each handshake with the *current* rustls `ServerConfig`, and
//! hands finished TLS streams to tonic (`serve_with_incoming`). Handshakes in progress hold a
//! [`Slot`](super::slots::Slot) (bounded in number, per source address and in time; an idle
//! socket that never sends its ClientHello is the first evicted for a newcomer, see
//! [`super::slots`]), so idle sockets cannot lock new clients and health probes out. The
//! same task polls the certificate, key and client-CA files' modification times every few
//! seconds and builds a new `ServerConfig` when they change; new connections get it, open ones
//! keep theirs. A change that does not load (say the key written before the certificate) keeps
//! the old config, logs the problem, and is retried at the next change.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

use super::slots::{SlotLimits, Slots};

/// The default limits of TLS handshakes in progress (`riskd --tls-max-handshakes` and
/// friends): 512 at once, 64 per source address, 10 s each, 1 s under pressure.
pub fn default_handshake_limits() -> SlotLimits {
    SlotLimits {
        max: 512,
        max_per_source: 64,
        timeout: Duration::from_secs(10),
        busy_timeout: Duration::from_secs(1),
    }
}

/// At most one warning per this interval about evicted or refused handshakes.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Where the TLS material lives.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain of the server, leaf first.
    pub cert: PathBuf,
    /// PEM private key of the server (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM CA certificate(s) client certificates must chain to (mutual TLS). No client
    /// certificates are asked for when `None`.
    pub client_ca: Option<PathBuf>,
}

/// Modification time and length of each file: a change of either triggers a reload.
type Stamps = Vec<Option<(SystemTime, u64)>>;

/// The current TLS config, reloaded when its files change.
pub struct ReloadingTls {
    files: TlsFiles,
    interval: Duration,
    handshakes: SlotLimits,
    current: RwLock<Arc<ServerConfig>>,
    stamps: Mutex<Stamps>,
}

impl std::fmt::Debug for ReloadingTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingTls")
            .field("files", &self.files)
            .field("interval", &self.interval)
            .field("handshakes", &self.handshakes)
            .finish_non_exhaustive()
    }
}

impl ReloadingTls {
    /// Loads the files (an error when they do not make a valid config) and checks them for
    /// changes every `interval` once serving.
    pub fn load(files: TlsFiles, interval: Duration) -> Result<Arc<Self>, String> {
        Self::load_with_handshakes(files, interval, default_handshake_limits())
    }

    /// [`load`](Self::load), with the limits of handshakes in progress.
    pub fn load_with_handshakes(
        files: TlsFiles,
        interval: Duration,
        handshakes: SlotLimits,
    ) -> Result<Arc<Self>, String> {
        handshakes.check("TLS handshakes")?;
        let stamps = stamps(&files);
        let config = build(&files)?;
        Ok(Arc::new(ReloadingTls {
            files,
            interval: interval.max(Duration::from_millis(10)),
            handshakes,
            current: RwLock::new(Arc::new(config)),
            stamps: Mutex::new(stamps),
        }))
    }

    /// Whether client certificates are required.
    pub fn mutual(&self) -> bool {
        self.files.client_ca.is_some()
    }

    /// The config new connections get.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reloads when a file changed; true when a new config is in force.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamps(&self.files);
        {
            let mut seen = self.stamps.lock().unwrap_or_else(|p| p.into_inner());
            if *seen == now {
                return false;
            }
            *seen = now;
        }
        match build(&self.files) {
            Ok(config) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
                tracing::info!(cert = %self.files.cert.display(), "TLS certificates reloaded");
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "TLS files changed but do not load: keeping the previous certificates");
                false
            }
        }
    }

    /// The limits of handshakes in progress.
    pub fn handshake_limits(&self) -> &SlotLimits {
        &self.handshakes
    }

    /// TLS connections accepted on `listener`, for `serve_with_incoming`. The accept task ends
    /// (and the listener closes) when the stream is dropped.
    pub fn incoming(self: Arc<Self>, listener: TcpListener) -> ReceiverStream<Result<TlsStream<TcpStream>, io::Error>> {
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            let slots = Slots::new(self.handshakes.clone());
            let mut warned = Pressure::default();
            let mut tick = tokio::time::interval(self.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let accepted = tokio::select! {
                    () = tx.closed() => break,
                    _ = tick.tick() => {
                        self.reload_if_changed();
                        continue;
                    }
                    accepted = listener.accept() => accepted,
                };
                let (tcp, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: back off a little.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let slot = slots.admit(peer.ip());
                warned.maybe_warn(&slots);
                let Ok(slot) = slot else {
                    tracing::debug!(%peer, "every TLS handshake slot is busy: connection closed");
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = TlsAcceptor::from(self.config());
                tokio::spawn(handshake(slot, acceptor, tcp, peer, tx.clone()));
            }
        });
        ReceiverStream::new(rx)
    }
}

/// Runs one handshake in its slot: waits for the first byte (evictable meanwhile), then the
/// TLS handshake, all within the slot's timeout; a finished TLS stream goes to `tx`.
async fn handshake(
    mut slot: super::slots::Slot,
    acceptor: TlsAcceptor,
    tcp: TcpStream,
    peer: std::net::SocketAddr,
    tx: mpsc::Sender<Result<TlsStream<TcpStream>, io::Error>>,
) {
    let timeout = slot.timeout();
    let mut first = [0u8; 1];
    let result = tokio::time::timeout(timeout, async {
        tokio::select! {
            () = slot.evicted() => return Err("evicted for a newer connection before sending anything"),
            read = tcp.peek(&mut first) => match read {
                Ok(n) if n > 0 => slot.spoke(),
                _ => return Err("closed before sending anything"),
            },
        }
        tokio::select! {
            () = slot.evicted() => Err("evicted for a newer connection: handshake too slow"),
            accepted = acceptor.accept(tcp) => accepted.map_err(|e| {
                tracing::info!(%peer, error = %e, "TLS handshake refused");
                "refused"
            }),
        }
    })
    .await;
    drop(slot);
    match result {
        Ok(Ok(stream)) => {
            let _ = tx.send(Ok(stream)).await;
        }
        Ok(Err(why)) => tracing::debug!(%peer, why, "TLS handshake abandoned"),
        Err(_) => tracing::debug!(%peer, timeout_ms = timeout.as_millis(), "TLS handshake timed out"),
    }
}

/// Rate-limits the warning about handshakes evicted or refused.
#[derive(Default)]
struct Pressure {
    last: Option<std::time::Instant>,
    seen: (u64, u64),
}

impl Pressure {
    fn maybe_warn(&mut self, slots: &Slots) {
        let now = slots.evicted_and_refused();
        if now == self.seen || self.last.is_some_and(|t| t.elapsed() < WARN_EVERY) {
            return;
        }
        tracing::warn!(
            in_progress = slots.in_use(),
            evicted = now.0 - self.seen.0,
            refused = now.1 - self.seen.1,
            "TLS handshake slots under pressure: idle handshakes evicted or new connections refused (many idle connections?)"
        );
        self.seen = now;
        self.last = Some(std::time::Instant::now());
    }
}

fn stamps(files: &TlsFiles) -> Stamps {
    [Some(&files.cert), Some(&files.key), files.client_ca.as_ref()]
        .into_iter()
        .flatten()
        .map(|p| {
            std::fs::metadata(p)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", path.display()));
    }
    Ok(certs)
}

/// A rustls server config from the files: TLS 1.2 and 1.3 with the ring provider, ALPN h2,
/// client certificates required and verified against `client_ca` when set.
pub fn build(files: &TlsFiles) -> Result<ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certs(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("cannot read the private key from {}: {e}", files.key.display()))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in certs(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("client CA {}: {e}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("client CA {}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        format!(
            "server certificate {} and key {}: {e}",
            files.cert.display(),
            files.key.display()
        )
    })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}
