//! TLS for the gRPC server with certificates that can be rotated without a restart.
//!
//! tonic's own `ServerTlsConfig` is fixed at start-up, so the server accepts TLS itself: a task
//! accepts TCP connections, runs each handshake (bounded in time and number) with the *current*
//! rustls `ServerConfig`, and hands finished TLS streams to tonic (`serve_with_incoming`). The
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
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

/// Handshakes in progress at once; connections beyond are closed at once.
const MAX_HANDSHAKES: usize = 512;
/// A handshake that takes longer is abandoned.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
    current: RwLock<Arc<ServerConfig>>,
    stamps: Mutex<Stamps>,
}

impl std::fmt::Debug for ReloadingTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingTls")
            .field("files", &self.files)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl ReloadingTls {
    /// Loads the files (an error when they do not make a valid config) and checks them for
    /// changes every `interval` once serving.
    pub fn load(files: TlsFiles, interval: Duration) -> Result<Arc<Self>, String> {
        let stamps = stamps(&files);
        let config = build(&files)?;
        Ok(Arc::new(ReloadingTls {
            files,
            interval: interval.max(Duration::from_millis(10)),
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

    /// TLS connections accepted on `listener`, for `serve_with_incoming`. The accept task ends
    /// (and the listener closes) when the stream is dropped.
    pub fn incoming(self: Arc<Self>, listener: TcpListener) -> ReceiverStream<Result<TlsStream<TcpStream>, io::Error>> {
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
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
                let Ok(permit) = handshakes.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, "too many TLS handshakes in progress: connection closed");
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = TlsAcceptor::from(self.config());
                let tx = tx.clone();
                tokio::spawn(async move {
                    let result = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await;
                    drop(permit);
                    match result {
                        Ok(Ok(stream)) => {
                            let _ = tx.send(Ok(stream)).await;
                        }
                        Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake refused"),
                        Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        ReceiverStream::new(rx)
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
