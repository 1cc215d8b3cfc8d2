//! The tower layer in front of our services: authenticate, authorize by role, rate-limit per
//! caller, then run the call with the [`Caller`] in the request extensions and a `caller` field
//! on the tracing span. Health and reflection pass untouched.
//!
//! | situation | status |
//! |---|---|
//! | no or bad credentials (auth on) | UNAUTHENTICATED |
//! | the caller's roles do not include the RPC (or an unknown method) | PERMISSION_DENIED |
//! | the caller's token bucket is empty | RESOURCE_EXHAUSTED, `retry-after` (seconds) and `google.rpc.RetryInfo` |

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tonic::codegen::http;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, Service};
use tracing::Instrument as _;

use super::auth::{AuthError, CERT_PREFIX, certificate_identity};
use super::roles::Route;
use super::{AuthMethod, Caller, Security};
use crate::pb::ERROR_DOMAIN;

/// The one answer to every authentication failure; the reason is logged at INFO.
pub const UNAUTHENTICATED_MESSAGE: &str =
    "unauthenticated: present a valid client certificate or an `authorization: Bearer <token>` header";

#[derive(Debug, Clone)]
pub struct SecurityLayer {
    security: Security,
}

impl SecurityLayer {
    pub fn new(security: Security) -> Self {
        SecurityLayer { security }
    }
}

impl<S> Layer<S> for SecurityLayer {
    type Service = SecurityService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SecurityService {
            inner,
            security: self.security.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SecurityService<S> {
    inner: S,
    security: Security,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for SecurityService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        let route = Route::from_path(req.uri().path());
        if route == Route::Open {
            return Box::pin(self.inner.call(req));
        }
        match admit(&self.security, route, &req) {
            Err(status) => {
                let response = status.into_http::<ResBody>();
                Box::pin(std::future::ready(Ok(response)))
            }
            Ok(caller) => {
                let current = tracing::Span::current();
                current.record("caller", caller.id.as_str());
                let span = if caller.id.is_empty() {
                    tracing::Span::none()
                } else {
                    tracing::info_span!("caller", caller = %caller.id, caller.auth = caller.method.as_str())
                };
                req.extensions_mut().insert(caller);
                let fut = {
                    let _entered = span.enter();
                    self.inner.call(req)
                };
                Box::pin(
                    async move {
                        let mut response = fut.await?;
                        oversized_is_resource_exhausted(&mut response);
                        Ok(response)
                    }
                    .instrument(span),
                )
            }
        }
    }
}

/// tonic answers a request message over the size limit with OUT_OF_RANGE; gRPC's convention
/// (and the status table in docs/SECURITY.md) is RESOURCE_EXHAUSTED. The message is kept.
fn oversized_is_resource_exhausted<B>(response: &mut http::Response<B>) {
    let headers = response.headers_mut();
    let oversized = headers.get("grpc-status").is_some_and(|s| s.as_bytes() == b"11")
        && headers.get("grpc-message").is_some_and(|m| {
            let m = m.as_bytes();
            m.windows(9).any(|w| w == b"too large") || m.windows(11).any(|w| w == b"too%20large")
        });
    if oversized {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
    }
}

/// Peer certificates verified by mutual TLS, and the peer address.
fn peer<B>(
    req: &http::Request<B>,
) -> (
    Option<std::sync::Arc<Vec<rustls::pki_types::CertificateDer<'static>>>>,
    Option<std::net::IpAddr>,
) {
    if let Some(tls) = req.extensions().get::<TlsConnectInfo<TcpConnectInfo>>() {
        return (tls.peer_certs(), tls.get_ref().remote_addr().map(|a| a.ip()));
    }
    let ip = req
        .extensions()
        .get::<TcpConnectInfo>()
        .and_then(|c| c.remote_addr())
        .map(|a| a.ip());
    (None, ip)
}

fn admit<B>(security: &Security, route: Route, req: &http::Request<B>) -> Result<Caller, Status> {
    let (certs, ip) = peer(req);
    let caller = match &security.auth {
        // Auth off: everyone may do everything; a client certificate (mutual TLS) still names
        // the caller for the decision record and the trace.
        None => Caller {
            id: certs
                .as_deref()
                .and_then(|c| c.first())
                .and_then(certificate_identity)
                .map(|name| format!("{CERT_PREFIX}{name}"))
                .unwrap_or_default(),
            roles: Vec::new(),
            method: AuthMethod::None,
            personal_data: true,
        },
        Some(auth) => {
            let authorization = req.headers().get(http::header::AUTHORIZATION).map(|v| v.as_bytes());
            let caller = auth
                .authenticate(certs.as_deref().map(Vec::as_slice), authorization)
                .map_err(|AuthError::Unauthenticated(why)| {
                    // Why stays in the log: telling a caller which check its token failed
                    // (expired, wrong audience, bad signature) helps whoever forges one.
                    tracing::info!(path = req.uri().path(), reason = %why, "call refused: unauthenticated");
                    Status::unauthenticated(UNAUTHENTICATED_MESSAGE)
                })?;
            let allowed = match route {
                Route::Rpc(rpc) => caller.roles.iter().any(|r| r.allows(rpc)),
                Route::Open | Route::Unknown => false,
            };
            if !allowed {
                let roles: Vec<&str> = caller.roles.iter().map(|r| r.name()).collect();
                tracing::info!(caller = %caller.id, path = req.uri().path(), roles = ?roles, "call refused: not allowed for the caller's roles");
                return Err(Status::with_error_details(
                    Code::PermissionDenied,
                    format!(
                        "{} may not call {} (roles: {})",
                        caller.id,
                        req.uri().path(),
                        if roles.is_empty() {
                            "none".to_owned()
                        } else {
                            roles.join(", ")
                        }
                    ),
                    ErrorDetails::with_error_info(
                        "ROLE_NOT_ALLOWED",
                        ERROR_DOMAIN,
                        HashMap::from([("caller".to_owned(), caller.id.clone())]),
                    ),
                ));
            }
            caller
        }
    };
    if let Some(limiter) = &security.rate_limit {
        let key = if caller.id.is_empty() {
            format!("ip:{}", ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()))
        } else {
            format!("id:{}", caller.id)
        };
        if let Err(wait) = limiter.check(&key, Instant::now()) {
            return Err(rate_limited(&caller.id, wait));
        }
    }
    Ok(caller)
}

/// RESOURCE_EXHAUSTED with the wait as `retry-after` (whole seconds, at least 1) and
/// `google.rpc.RetryInfo` (exact).
fn rate_limited(caller: &str, wait: Duration) -> Status {
    let mut details = ErrorDetails::with_retry_info(Some(wait));
    details.set_error_info(
        "RATE_LIMITED",
        ERROR_DOMAIN,
        HashMap::from([
            ("caller".to_owned(), caller.to_owned()),
            ("retry_after_ms".to_owned(), wait.as_millis().max(1).to_string()),
        ]),
    );
    let mut status = Status::with_error_details(
        Code::ResourceExhausted,
        format!("rate limit exceeded; retry in {} ms", wait.as_millis().max(1)),
        details,
    );
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if let Ok(v) = secs.max(1).to_string().parse() {
        status.metadata_mut().insert("retry-after", v);
    }
    status
}
