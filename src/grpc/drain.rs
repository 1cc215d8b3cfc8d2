//! Server streams end when shutdown begins.
//!
//! A graceful shutdown (tonic, then hyper) stops accepting, sends GOAWAY and waits for every
//! open call to finish. A unary call finishes by itself within its deadline; a server stream
//! does not: one `grpc.health.v1.Health/Watch` (open to anyone, no authentication) or an idle
//! `ScorePortfolio` stream would hold the process for its whole grace period. So the server
//! fires a [`Drain`] when shutdown begins, and the streams end on it: Watch sends NOT_SERVING
//! then ends UNAVAILABLE (clients reconnect elsewhere), ScorePortfolio finishes the batch being
//! scored and ends UNAVAILABLE, saying which items were not answered.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::watch;
use tokio_stream::Stream;
use tonic::{Code, Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::Health;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_health::server::HealthService;
use tonic_types::{ErrorDetails, StatusExt};

use crate::pb::ERROR_DOMAIN;

/// Fires the [`Drain`]s made with it (also when dropped).
#[derive(Debug)]
pub struct DrainSignal(watch::Sender<bool>);

impl DrainSignal {
    /// Tells every stream the server is shutting down.
    pub fn fire(&self) {
        self.0.send_replace(true);
    }
}

/// Resolves [`started`](Drain::started) when shutdown begins. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Drain(Option<watch::Receiver<bool>>);

impl Drain {
    /// A signal and its drain.
    pub fn channel() -> (DrainSignal, Drain) {
        let (tx, rx) = watch::channel(false);
        (DrainSignal(tx), Drain(Some(rx)))
    }

    /// A drain that never starts (services used outside a server).
    pub fn never() -> Drain {
        Drain(None)
    }

    /// Resolves once shutdown has begun (or the server that made the signal is gone).
    pub async fn started(&self) {
        match &self.0 {
            Some(rx) => {
                let mut rx = rx.clone();
                let _ = rx.wait_for(|draining| *draining).await;
            }
            None => std::future::pending().await,
        }
    }
}

/// The status that ends a ScorePortfolio stream at shutdown: items from `next_sequence` on were
/// not answered.
pub fn shutting_down_stream(next_sequence: u64) -> Status {
    Status::with_error_details(
        Code::Unavailable,
        format!(
            "the server is shutting down: items from sequence {next_sequence} on were not answered; send them on a new stream"
        ),
        ErrorDetails::with_error_info(
            "SHUTTING_DOWN",
            ERROR_DOMAIN,
            HashMap::from([("next_sequence".to_owned(), next_sequence.to_string())]),
        ),
    )
}

/// tonic-health's service, whose Watch streams end when the drain starts.
pub struct DrainingHealth {
    inner: HealthService,
    drain: Drain,
}

impl DrainingHealth {
    pub fn new(inner: HealthService, drain: Drain) -> Self {
        DrainingHealth { inner, drain }
    }
}

type WatchItem = Result<HealthCheckResponse, Status>;

#[tonic::async_trait]
impl Health for DrainingHealth {
    async fn check(&self, request: Request<HealthCheckRequest>) -> Result<Response<HealthCheckResponse>, Status> {
        self.inner.check(request).await
    }

    type WatchStream = UntilDrained;

    async fn watch(&self, request: Request<HealthCheckRequest>) -> Result<Response<Self::WatchStream>, Status> {
        let statuses = self.inner.watch(request).await?.into_inner();
        let drain = self.drain.clone();
        Ok(Response::new(UntilDrained {
            statuses: Box::pin(statuses),
            drain: Box::pin(async move { drain.started().await }),
            state: WatchState::Watching,
        }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WatchState {
    Watching,
    /// NOT_SERVING sent; UNAVAILABLE next.
    Drained,
    Ended,
}

/// A Watch stream that, once the drain starts, sends NOT_SERVING and ends UNAVAILABLE.
pub struct UntilDrained {
    statuses: Pin<Box<dyn Stream<Item = WatchItem> + Send>>,
    drain: Pin<Box<dyn Future<Output = ()> + Send>>,
    state: WatchState,
}

impl Stream for UntilDrained {
    type Item = WatchItem;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WatchItem>> {
        match self.state {
            WatchState::Watching => {
                if self.drain.as_mut().poll(cx).is_ready() {
                    self.state = WatchState::Drained;
                    return Poll::Ready(Some(Ok(HealthCheckResponse {
                        status: ServingStatus::NotServing as i32,
                    })));
                }
                self.statuses.as_mut().poll_next(cx)
            }
            WatchState::Drained => {
                self.state = WatchState::Ended;
                Poll::Ready(Some(Err(Status::unavailable(
                    "the server is shutting down: watch another replica",
                ))))
            }
            WatchState::Ended => Poll::Ready(None),
        }
    }
}
