//! `DecisionService`: Score, Decide (idempotent, recorded before it is returned), GetDecision,
//! Monitor, MonitorPortfolio and ScorePortfolio, each a call of an `app` use case.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::requests::Checks;
use super::{convert, deadline, monitor_convert, requests};
use crate::app::{
    App, AppError, Clock, DecisionStore, Observer, PortfolioEnd, PortfolioObserver, ProfileStore, Scored,
};
use crate::domain::decision::Decision;
use crate::pb;
use crate::pb::decision_service_server::DecisionService;
use crate::policy::Policy;

/// Portfolio items scored together (and profiles fetched together).
const PORTFOLIO_BATCH: usize = 64;
/// How long to wait for a batch to fill before scoring what has arrived.
const PORTFOLIO_BATCH_WAIT: Duration = Duration::from_millis(2);
/// Responses buffered for a slow client.
const PORTFOLIO_BUFFER: usize = 128;

pub struct DecisionApi<P, D, O, C> {
    app: Arc<App<P, D, O, C>>,
    /// Items one ScorePortfolio stream may carry; past it the stream ends RESOURCE_EXHAUSTED.
    max_stream_items: u64,
    /// Tells open ScorePortfolio streams the server is shutting down.
    drain: super::drain::Drain,
}

impl<P, D, O, C> DecisionApi<P, D, O, C> {
    pub fn new(app: Arc<App<P, D, O, C>>) -> Self {
        DecisionApi {
            app,
            max_stream_items: u64::MAX,
            drain: super::drain::Drain::never(),
        }
    }

    /// Open ScorePortfolio streams end (UNAVAILABLE, after the items being scored) when `drain`
    /// fires, so that they do not hold a shutdown for its whole grace period.
    pub fn with_drain(mut self, drain: super::drain::Drain) -> Self {
        self.drain = drain;
        self
    }

    /// Caps the items of one ScorePortfolio stream: the first `max` are answered, then the
    /// stream ends with RESOURCE_EXHAUSTED (ErrorInfo `STREAM_ITEM_LIMIT`).
    pub fn with_max_stream_items(mut self, max: u64) -> Self {
        self.max_stream_items = max.max(1);
        self
    }
}

/// A decision as answered: the enterprise id of an individual business (a person) masked for
/// callers not allowed to read personal data (`reveal` false).
fn decision_answer(currency: &str, decision: Decision, reveal: bool) -> pb::Decision {
    let mut answer = convert::decision_into(currency, decision);
    if !reveal {
        crate::pii::mask_decision(&mut answer);
    }
    answer
}

fn score_response(policy: &Policy, s: Scored) -> pb::ScoreResponse {
    convert::score_response(
        &policy.currency,
        s.enterprise_id.as_str(),
        s.profile_version,
        s.result,
        &policy.version,
    )
}

/// A per-item error for a stream response.
fn item_error(e: AppError) -> pb::ItemError {
    let status = Status::from(e);
    use tonic_types::StatusExt;
    let field_violations = status
        .get_details_bad_request()
        .map(|b| {
            b.field_violations
                .into_iter()
                .map(|v| pb::FieldViolation {
                    field: v.field,
                    description: v.description,
                })
                .collect()
        })
        .unwrap_or_default();
    pb::ItemError {
        code: status.code() as i32,
        message: status.message().to_owned(),
        field_violations,
    }
}

/// Scores one batch of portfolio items, answered in order.
async fn score_batch<P, D, O, C>(
    app: &App<P, D, O, C>,
    items: Vec<(u64, pb::ScoreRequest)>,
    trace: &mut O::Portfolio,
) -> Vec<pb::ScoreResponse>
where
    P: ProfileStore,
    D: DecisionStore,
    O: Observer,
    C: Clock,
{
    let checks = Checks::of(app);
    let (tags, subjects): (Vec<_>, Vec<_>) = items
        .into_iter()
        .map(|(sequence, req)| {
            let subject = checks.score(&req);
            ((sequence, req.item_id), subject)
        })
        .unzip();
    let results = app.score_batch(subjects, trace).await;
    tags.into_iter()
        .zip(results)
        .map(|((sequence, item_id), result)| {
            let response = match result {
                Ok(scored) => score_response(app.policy(), scored),
                Err(e) => pb::ScoreResponse {
                    error: Some(item_error(e)),
                    ..Default::default()
                },
            };
            pb::ScoreResponse {
                item_id,
                sequence,
                ..response
            }
        })
        .collect()
}

/// One chunk of a portfolio stream, read: its items, and whether the stream is over.
struct Chunk {
    items: Vec<(u64, pb::ScoreRequest)>,
    over_limit: bool,
    broken: Option<Status>,
}

fn take_chunk(chunk: Vec<Result<pb::ScoreRequest, Status>>, sequence: &mut u64, max_items: u64) -> Chunk {
    let mut taken = Chunk {
        items: Vec::with_capacity(chunk.len()),
        over_limit: false,
        broken: None,
    };
    for item in chunk {
        if *sequence >= max_items {
            // The allowed items are answered first, then the stream ends.
            taken.over_limit = true;
            break;
        }
        match item {
            Ok(req) => taken.items.push((*sequence, req)),
            // A transport error ends the input; what was read is still answered.
            Err(status) => {
                taken.broken = Some(status);
                break;
            }
        }
        *sequence += 1;
    }
    taken
}

type Responses = mpsc::Sender<Result<pb::ScoreResponse, Status>>;

/// Answers a portfolio stream, batch by batch, until it ends.
async fn answer_portfolio<P, D, O, C>(
    app: Arc<App<P, D, O, C>>,
    input: impl Stream<Item = Vec<Result<pb::ScoreRequest, Status>>>,
    tx: Responses,
    max_items: u64,
    drain: super::drain::Drain,
    mut trace: O::Portfolio,
) where
    P: ProfileStore,
    D: DecisionStore,
    O: Observer,
    C: Clock,
{
    tokio::pin!(input);
    let mut sequence = 0u64;
    loop {
        let next = tokio::select! {
            next = input.next() => next,
            () = drain.started() => {
                trace.end(PortfolioEnd::Shutdown);
                let _ = tx.send(Err(super::drain::shutting_down_stream(sequence))).await;
                return;
            }
        };
        let Some(chunk) = next else { break };
        let chunk = take_chunk(chunk, &mut sequence, max_items);
        for response in score_batch(&app, chunk.items, &mut trace).await {
            if tx.send(Ok(response)).await.is_err() {
                return; // the client went away
            }
        }
        if chunk.over_limit {
            trace.end(PortfolioEnd::ItemLimit);
            let _ = tx.send(Err(crate::security::stream_item_limit(max_items))).await;
            return;
        }
        if let Some(status) = chunk.broken {
            trace.end(PortfolioEnd::InputError);
            tracing::debug!(error = %status, "portfolio input stream ended with an error");
            if status.code() == tonic::Code::OutOfRange {
                // An item over the message size limit: say so instead of just stopping.
                let _ = tx
                    .send(Err(Status::resource_exhausted(status.message().to_owned())))
                    .await;
            } else if status.code() == tonic::Code::Internal {
                // tonic reports an item it cannot read (not protobuf, bad framing) as INTERNAL:
                // the caller's mistake (grpc/caller_faults.rs does the same for unary calls).
                let _ = tx
                    .send(Err(Status::invalid_argument(format!(
                        "a ScorePortfolio item could not be read: {}",
                        status.message()
                    ))))
                    .await;
            }
            return;
        }
    }
    trace.end(PortfolioEnd::Complete);
}

#[tonic::async_trait]
impl<P: ProfileStore, D: DecisionStore, O: Observer, C: Clock> DecisionService for DecisionApi<P, D, O, C> {
    async fn score(&self, request: Request<pb::ScoreRequest>) -> Result<Response<pb::ScoreResponse>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        let req = request.into_inner();
        let scored = deadline::within(deadline, async {
            let subject = Checks::of(&self.app).score(&req)?;
            self.app.score(subject).await
        })
        .await?;
        Ok(Response::new(score_response(self.app.policy(), scored)))
    }

    async fn decide(&self, request: Request<pb::DecideRequest>) -> Result<Response<pb::Decision>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        let caller = crate::security::caller_id(request.extensions());
        let reveal = crate::security::may_read_personal_data(request.extensions());
        let req = request.into_inner();
        let decision = deadline::within(deadline, async {
            let command = Checks::of(&self.app).decide(&req, caller)?;
            self.app.decide(command).await
        })
        .await?;
        Ok(Response::new(decision_answer(
            &self.app.policy().currency,
            decision,
            reveal,
        )))
    }

    async fn get_decision(&self, request: Request<pb::GetDecisionRequest>) -> Result<Response<pb::Decision>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        // Personal data in clear only for callers whose role may read it (docs/SECURITY.md).
        let reveal = crate::security::may_read_personal_data(request.extensions());
        let req = request.into_inner();
        let decision = deadline::within(deadline, async {
            self.app.decision(requests::decision_id(&req)?).await
        })
        .await?;
        Ok(Response::new(decision_answer(
            &self.app.policy().currency,
            decision,
            reveal,
        )))
    }

    async fn monitor(&self, request: Request<pb::MonitorRequest>) -> Result<Response<pb::MonitorResponse>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        let req = request.into_inner();
        let (loan, result) = deadline::within(deadline, async {
            let (loan, subject) = Checks::of(&self.app).monitor(&req)?;
            let result = self.app.monitor(&loan, subject).await?;
            Ok((loan, result))
        })
        .await?;
        let policy = self.app.policy();
        Ok(Response::new(monitor_convert::response(
            &policy.currency,
            &loan.loan_id,
            &result,
            &policy.version,
        )))
    }

    async fn monitor_portfolio(
        &self,
        request: Request<pb::MonitorPortfolioRequest>,
    ) -> Result<Response<pb::MonitorPortfolioResponse>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        let req = request.into_inner();
        let checks = Checks::of(&self.app);
        let loans = req.loans.iter().map(|l| checks.monitor(l)).collect();
        let results = deadline::within(deadline, self.app.monitor_portfolio(loans)).await?;
        let policy = self.app.policy();
        let items = req
            .loans
            .iter()
            .zip(results)
            .enumerate()
            .map(|(index, (sent, result))| {
                let loan_id = sent.loan.as_ref().map(|l| l.loan_id.clone()).unwrap_or_default();
                let (result, error) = match result {
                    Ok(r) => (
                        Some(monitor_convert::response(
                            &policy.currency,
                            &loan_id,
                            &r,
                            &policy.version,
                        )),
                        None,
                    ),
                    Err(e) => (None, Some(item_error(e))),
                };
                pb::MonitorPortfolioItem {
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                    loan_id,
                    result,
                    error,
                }
            })
            .collect();
        Ok(Response::new(pb::MonitorPortfolioResponse { items }))
    }

    type ScorePortfolioStream = Pin<Box<dyn Stream<Item = Result<pb::ScoreResponse, Status>> + Send + 'static>>;

    async fn score_portfolio(
        &self,
        request: Request<Streaming<pb::ScoreRequest>>,
    ) -> Result<Response<Self::ScorePortfolioStream>, Status> {
        // Bounded both ways: at most PORTFOLIO_BATCH items read ahead, at most PORTFOLIO_BUFFER
        // responses waiting for the client; a slow reader stops our reading (HTTP/2 flow control
        // then stops the sender).
        let (tx, rx) = mpsc::channel::<Result<pb::ScoreResponse, Status>>(PORTFOLIO_BUFFER);
        let input = request
            .into_inner()
            .chunks_timeout(PORTFOLIO_BATCH, PORTFOLIO_BATCH_WAIT);
        let (app, max_items, drain) = (self.app.clone(), self.max_stream_items, self.drain.clone());
        // Observed in the call (no span per item); answered in a task of its own.
        let task = self
            .app
            .observer
            .portfolio()
            .detached(move |trace| answer_portfolio(app, input, tx, max_items, drain, trace));
        tokio::spawn(task);
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
