//! A null OpenTelemetry collector for `--trace`: accepts OTLP/gRPC trace and metric exports,
//! counts them and answers success without decoding. It lets the benchmark charge tracing its
//! full cost (building, batching, encoding and sending spans) without a collector process.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use prost::bytes::Bytes;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};

use super::raw::RawCodec;

/// What the sink received.
#[derive(Debug, Default)]
pub struct Received {
    pub calls: AtomicU64,
    pub bytes: AtomicU64,
}

impl Received {
    pub fn snapshot(&self) -> (u64, u64) {
        (self.calls.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed))
    }
}

/// The gRPC service name a sink answers for.
pub trait Collector: Send + Sync + 'static {
    const NAME: &'static str;
}

pub struct Traces;
impl Collector for Traces {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

pub struct Metrics;
impl Collector for Metrics {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
}

/// Answers every export with an empty message: an `Export*ServiceResponse` with no
/// `partial_success`, which OTLP reads as "all accepted".
pub struct Sink<C> {
    received: Arc<Received>,
    collector: PhantomData<fn() -> C>,
}

impl<C> Sink<C> {
    pub fn new(received: Arc<Received>) -> Self {
        Sink {
            received,
            collector: PhantomData,
        }
    }
}

impl<C> Clone for Sink<C> {
    fn clone(&self) -> Self {
        Sink::new(self.received.clone())
    }
}

impl<C: Collector> NamedService for Sink<C> {
    const NAME: &'static str = C::NAME;
}

struct Accept(Arc<Received>);

impl UnaryService<Bytes> for Accept {
    type Response = Bytes;
    type Future = std::future::Ready<Result<Response<Bytes>, Status>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        self.0.calls.fetch_add(1, Ordering::Relaxed);
        let len = u64::try_from(request.get_ref().len()).unwrap_or(u64::MAX);
        self.0.bytes.fetch_add(len, Ordering::Relaxed);
        std::future::ready(Ok(Response::new(Bytes::new())))
    }
}

impl<C: Collector> tower::Service<http::Request<Body>> for Sink<C> {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let accept = Accept(self.received.clone());
        Box::pin(async move {
            let mut grpc = Grpc::new(RawCodec).max_decoding_message_size(64 << 20);
            Ok(grpc.unary(accept, req).await)
        })
    }
}
