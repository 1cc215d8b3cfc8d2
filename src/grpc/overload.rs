//! Load shedding by queueing delay: a call that waited too long for a worker thread after HTTP/2
//! accepted it is answered RESOURCE_EXHAUSTED at once instead of being run.
//!
//! Why not only a concurrency limit: our calls are mostly CPU (microseconds of policy work, no
//! I/O with the in-process stores), so a call runs to completion in one poll. When the service
//! is saturated, the backlog is not calls "in flight" (the tower concurrency limit counts only
//! calls that have started, a handful at any time) but calls accepted by HTTP/2 and waiting in
//! the runtime's queue for a worker. Their number is invisible to tower; their wait is not.
//!
//! How the wait is measured: for every request, hyper clones the service stack the moment it
//! accepts the stream (on the connection's task) and polls the clone, which calls it, once a
//! worker picks the request up. [`Accepted`] is stamped when cloned and read when called: the
//! difference is the time the call queued. (A stack that was not cloned per request would read
//! zero after its first call: the failure mode is to shed less, never to shed everything.)
//!
//! Shedding a call costs a few microseconds of HTTP/2 work instead of the full call, so the
//! backlog drains; accepted calls wait at most about `max_queue_delay`, and once the overload
//! ends the next calls are served immediately (nothing is remembered between calls).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tonic::codegen::http;

/// When a service stack was cloned for a request (see the module comment).
#[derive(Debug, Default)]
pub struct Accepted(Option<Instant>);

impl Clone for Accepted {
    fn clone(&self) -> Self {
        Accepted(Some(Instant::now()))
    }
}

impl Accepted {
    /// How long ago this copy was made; zero on the second and later calls.
    pub fn waited(&mut self) -> Duration {
        self.0.take().map_or(Duration::ZERO, |at| at.elapsed())
    }
}

/// Sheds calls that queued longer than `max_queue_delay` before a worker picked them up.
#[derive(Debug, Clone, Copy)]
pub struct QueueDelayShedLayer {
    max_queue_delay: Duration,
}

impl QueueDelayShedLayer {
    pub fn new(max_queue_delay: Duration) -> Self {
        QueueDelayShedLayer { max_queue_delay }
    }
}

impl<S> tower::Layer<S> for QueueDelayShedLayer {
    type Service = QueueDelayShed<S>;

    fn layer(&self, inner: S) -> QueueDelayShed<S> {
        QueueDelayShed {
            inner,
            max_queue_delay: self.max_queue_delay,
            accepted: Accepted::default(),
        }
    }
}

/// The service of [`QueueDelayShedLayer`].
#[derive(Debug, Clone)]
pub struct QueueDelayShed<S> {
    inner: S,
    max_queue_delay: Duration,
    accepted: Accepted,
}

/// Whether a call that waited `waited` is shed.
pub fn shed(waited: Duration, max_queue_delay: Duration) -> bool {
    waited > max_queue_delay
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for QueueDelayShed<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let waited = self.accepted.waited();
        if shed(waited, self.max_queue_delay) {
            let status = tonic::Status::resource_exhausted(format!(
                "overloaded: the call queued {} ms for a worker (limit {} ms); retry with backoff",
                waited.as_millis(),
                self.max_queue_delay.as_millis()
            ));
            let mut resp = status.into_http();
            // Counted in riskd.rpc.shed by the telemetry layer outside.
            resp.extensions_mut().insert(crate::telemetry::grpc::Shed);
            return Box::pin(std::future::ready(Ok(resp)));
        }
        Box::pin(self.inner.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_copy_reads_its_wait_once() {
        let original = Accepted::default();
        let mut copy = original.clone();
        std::thread::sleep(Duration::from_millis(2));
        assert!(copy.waited() >= Duration::from_millis(2));
        assert_eq!(copy.waited(), Duration::ZERO);
        let mut never_cloned = Accepted::default();
        assert_eq!(never_cloned.waited(), Duration::ZERO);
    }

    #[test]
    fn sheds_only_beyond_the_limit() {
        let limit = Duration::from_millis(50);
        assert!(!shed(Duration::ZERO, limit));
        assert!(!shed(limit, limit));
        assert!(shed(limit + Duration::from_micros(1), limit));
    }
}
