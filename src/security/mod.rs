//! Who may call, what each caller may do, and what personal data may be shown (docs/SECURITY.md).
//!
//! - [`tls`]: TLS and mutual TLS with rustls (ring), certificates reloaded when their files
//!   change, handshakes in progress bounded by [`slots`] (per source, evicting idle ones);
//! - [`auth`]: the caller's identity from its client certificate, a static bearer token (stored
//!   hashed) or a JWT, and the auth config file (callers and their roles);
//! - [`roles`]: the four roles and the RPCs each may call;
//! - [`rate_limit`]: a token bucket per caller;
//! - [`layer`]: the tower layer that applies all of the above to every call (health and
//!   reflection stay open) and puts the [`Caller`] into the request extensions;
//! - [`crate::pii`] (its own module, used by the stores too): masking and keyed hashing of personal data;
//! - [`preface`]: a plaintext connection that does not send the HTTP/2 preface in time is
//!   closed;
//! - [`dev_certs`]: a development CA, server and per-role client certificates.
//!
//! Everything is off by default ([`Security::default`]): plain TCP, no authentication, no rate
//! limit. `riskd` says so in its start-up log.

pub mod auth;
mod der;
pub mod dev_certs;
pub mod layer;
pub mod preface;
pub mod rate_limit;
pub mod roles;
pub mod slots;
pub mod tls;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

pub use auth::{AuthConfig, Authenticator};
pub use layer::SecurityLayer;
pub use rate_limit::RateLimiter;
pub use roles::{Role, Rpc};
pub use tls::ReloadingTls;

use crate::pb::ERROR_DOMAIN;
use crate::pii;

/// How a caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A client certificate signed by the configured client CA (mutual TLS).
    Certificate,
    /// A static bearer token listed (hashed) in the auth config.
    Token,
    /// A JWT verified with the configured key.
    Jwt,
    /// Authentication is off: the identity, if any, is the client certificate's name.
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Certificate => "certificate",
            AuthMethod::Token => "token",
            AuthMethod::Jwt => "jwt",
            AuthMethod::None => "none",
        }
    }
}

/// The caller of a request, as established by the [`SecurityLayer`] (request extensions).
#[derive(Debug, Clone)]
pub struct Caller {
    /// Identity, prefixed by how it was proved so that the three namespaces never meet:
    /// `cert:<certificate name>`, `token:<static token identity>` or `jwt:<subject>`; empty when
    /// unknown (auth off without mutual TLS). Recorded with decisions, keys the rate limit.
    pub id: String,
    pub roles: Vec<Role>,
    pub method: AuthMethod,
    /// May see personal data in clear (GetProfile). True for everyone when auth is off.
    pub personal_data: bool,
}

/// TLS, caller authentication and authorization, and per-caller rate limits. Cheap to clone;
/// the default is all off (and the preface timeout [`preface::PREFACE_TIMEOUT`]).
#[derive(Clone)]
pub struct Security {
    /// TLS (and mutual TLS when a client CA is configured). Plain TCP when `None`.
    pub tls: Option<Arc<ReloadingTls>>,
    /// Authentication and roles. When `None`, every caller may call every RPC.
    pub auth: Option<Arc<Authenticator>>,
    /// Token bucket per caller. No limit when `None`.
    pub rate_limit: Option<Arc<RateLimiter>>,
    /// Time a plaintext connection has to send the HTTP/2 preface before it is closed.
    pub preface_timeout: std::time::Duration,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            tls: None,
            auth: None,
            rate_limit: None,
            preface_timeout: preface::PREFACE_TIMEOUT,
        }
    }
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Security {
    /// The tower layer enforcing authentication, roles and rate limits.
    pub fn layer(&self) -> SecurityLayer {
        SecurityLayer::new(self.clone())
    }

    /// Logs what is on and off when a server starts: a warning when authentication or TLS is
    /// off, or when no PII HMAC key is configured.
    pub fn log_state(&self) {
        if self.auth.is_none() {
            tracing::warn!(
                security = %self.describe(),
                "caller authentication and authorization are OFF: every caller may call every RPC and read personal data (give --auth-config to turn them on)"
            );
        } else {
            tracing::info!(security = %self.describe(), "caller authentication and authorization are ON");
        }
        if self.tls.is_none() {
            tracing::warn!(
                "TLS is OFF: calls, tokens and personal data travel in clear (give --tls-cert and --tls-key)"
            );
        }
        if pii::key_installed() {
            tracing::info!("PII HMAC key configured");
        } else {
            // Makes the random key now, so its warning is part of the start-up log.
            let _ = pii::pseudonym("");
        }
    }

    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        let tls = match &self.tls {
            None => "off (plain TCP)".to_owned(),
            Some(t) if t.mutual() => "mutual TLS".to_owned(),
            Some(_) => "TLS (no client certificates)".to_owned(),
        };
        let auth = match &self.auth {
            None => "OFF (no auth config: every caller may call every RPC)".to_owned(),
            Some(a) => a.describe(),
        };
        let rate = match &self.rate_limit {
            None => "off".to_owned(),
            Some(r) => r.describe(),
        };
        format!("tls: {tls}; auth: {auth}; rate limit per caller: {rate}")
    }
}

/// The caller's identity from request extensions ("" when unknown).
pub fn caller_id(extensions: &tonic::Extensions) -> String {
    extensions.get::<Caller>().map(|c| c.id.clone()).unwrap_or_default()
}

/// Whether the request's caller may see personal data in clear. True without a [`Caller`]
/// (the handler used outside the server, or auth off).
pub fn may_read_personal_data(extensions: &tonic::Extensions) -> bool {
    extensions.get::<Caller>().is_none_or(|c| c.personal_data)
}

/// The status that ends a ScorePortfolio stream past its item limit.
pub fn stream_item_limit(max: u64) -> Status {
    Status::with_error_details(
        Code::ResourceExhausted,
        format!(
            "a ScorePortfolio stream carries at most {max} items; the first {max} were answered, send the rest on a new stream"
        ),
        ErrorDetails::with_error_info(
            "STREAM_ITEM_LIMIT",
            ERROR_DOMAIN,
            HashMap::from([("max_items".to_owned(), max.to_string())]),
        ),
    )
}

/// Builds the security of `riskd` from its flags and installs the PII HMAC key. What is on and
/// off is logged when the server starts ([`Security::log_state`]).
pub fn from_args(args: &crate::config::ServeArgs) -> Result<Security, String> {
    install_pii_key(args.pii_hmac_key_file.as_deref())?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(ReloadingTls::load_with_handshakes(
            tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: args.tls_client_ca.clone(),
            },
            std::time::Duration::from_secs(args.tls_reload_secs),
            args.tls_handshake_limits(),
        )?),
        (None, None) if args.tls_client_ca.is_some() => {
            return Err("--tls-client-ca needs --tls-cert and --tls-key".to_owned());
        }
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".to_owned()),
    };
    let auth = match &args.auth_config {
        Some(path) => Some(Arc::new(Authenticator::from_file(path)?)),
        None => None,
    };
    let rate_limit = (args.rate_limit_rps > 0).then(|| {
        let burst = args
            .rate_limit_burst
            .unwrap_or_else(|| args.rate_limit_rps.saturating_mul(2));
        Arc::new(RateLimiter::new(f64::from(args.rate_limit_rps), burst))
    });
    Ok(Security {
        tls,
        auth,
        rate_limit,
        ..Security::default()
    })
}

/// The PII HMAC key from `RISKD_PII_HMAC_KEY` or a key file; none is a warning (made when the
/// first pseudonym is needed), not an error.
fn install_pii_key(file: Option<&std::path::Path>) -> Result<(), String> {
    let secret = match (std::env::var("RISKD_PII_HMAC_KEY").ok().filter(|k| !k.is_empty()), file) {
        (Some(_), Some(_)) => {
            return Err(
                "give the PII HMAC key either in RISKD_PII_HMAC_KEY or with --pii-hmac-key-file, not both".to_owned(),
            );
        }
        (Some(key), None) => key.into_bytes(),
        (None, Some(path)) => {
            let mut bytes = std::fs::read(path)
                .map_err(|e| format!("cannot read the PII HMAC key file {}: {e}", path.display()))?;
            while bytes.last().is_some_and(|b| b.is_ascii_whitespace()) {
                bytes.pop();
            }
            bytes
        }
        (None, None) => return Ok(()),
    };
    pii::install_key(&secret)
}

/// `riskd dev-certs DIR`.
pub fn dev_certs_command(dir: &std::path::Path, force: bool) -> std::process::ExitCode {
    match dev_certs::write_dev_certs(dir, force) {
        Ok(written) => {
            for path in written {
                println!("wrote {path}");
            }
            let d = dir.display();
            println!();
            println!("start riskd with mutual TLS and roles:");
            println!(
                "  riskd --tls-cert {d}/server.pem --tls-key {d}/server.key --tls-client-ca {d}/ca.pem --auth-config {d}/auth.toml"
            );
            println!("call it as a risk-ops console (each role has its client certificate):");
            println!(
                "  riskctl --addr https://localhost:50051 --tls-ca {d}/ca.pem --tls-cert {d}/risk-ops.pem --tls-key {d}/risk-ops.key policy"
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("riskd dev-certs: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `riskd hash-token`: the SHA-256 of the token on standard input.
pub fn hash_token_command() -> std::process::ExitCode {
    let mut token = String::new();
    match std::io::Read::read_to_string(&mut std::io::stdin(), &mut token) {
        Ok(_) if !token.trim().is_empty() => {
            println!("{}", auth::token_sha256(&token));
            std::process::ExitCode::SUCCESS
        }
        Ok(_) => {
            eprintln!("riskd hash-token: give the token on standard input");
            std::process::ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("riskd hash-token: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
