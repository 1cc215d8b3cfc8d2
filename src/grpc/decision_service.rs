//! `DecisionService`: Score, Decide (idempotent, recorded before it is returned), GetDecision.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::convert;
use super::deadline;
use super::monitor_convert;
use super::status::{ApiError, invalid};
use super::validate::{Validator, request_id};
use super::{AppState, now_ms};
use crate::domain::decision::{Decision, check_application, score_profile};
use crate::domain::{EnterpriseProfile, Uscc};
use crate::pb;
use crate::pb::decision_service_server::DecisionService;
use crate::policy::sha256_hex;
use crate::store::{DecisionStore, ProfileStore, Recorded};
use crate::telemetry::spans::{self, PortfolioEnd, PortfolioTrace};

/// Portfolio items scored together (and profiles fetched together).
const PORTFOLIO_BATCH: usize = 64;
/// How long to wait for a batch to fill before scoring what has arrived.
const PORTFOLIO_BATCH_WAIT: Duration = Duration::from_millis(2);
/// Responses buffered for a slow client.
const PORTFOLIO_BUFFER: usize = 128;

pub struct DecisionApi<P, D> {
    state: Arc<AppState<P, D>>,
    /// Items one ScorePortfolio stream may carry; past it the stream ends RESOURCE_EXHAUSTED.
    max_stream_items: u64,
}

impl<P, D> DecisionApi<P, D> {
    pub fn new(state: Arc<AppState<P, D>>) -> Self {
        DecisionApi {
            state,
            max_stream_items: u64::MAX,
        }
    }

    /// Caps the items of one ScorePortfolio stream: the first `max` are answered, then the
    /// stream ends with RESOURCE_EXHAUSTED (ErrorInfo `STREAM_ITEM_LIMIT`).
    pub fn with_max_stream_items(mut self, max: u64) -> Self {
        self.max_stream_items = max.max(1);
        self
    }
}

/// Whom a request is about, after validation.
enum Subject {
    Stored(Uscc),
    Inline(Box<EnterpriseProfile>),
}

impl<P: ProfileStore, D: DecisionStore> DecisionApi<P, D> {
    fn validator(&self, now: i64) -> Validator<'_> {
        Validator::new(&self.state.policy.policy.currency, self.state.latest_input_date(now))
    }

    fn subject_enterprise(v: &mut Validator, path: &str, id: &str, accept_checksum: bool) -> Option<Subject> {
        convert::enterprise_id(v, path, id, accept_checksum).map(|(id, _)| Subject::Stored(id))
    }

    /// The profile to evaluate and its cached version (0 for inline).
    async fn resolve(&self, subject: Subject, now: i64) -> Result<(EnterpriseProfile, u64), ApiError> {
        match subject {
            Subject::Inline(p) => Ok((*p, 0)),
            Subject::Stored(id) => match spans::profile_lookup(&self.state, &id, now).await? {
                Some(stored) => Ok((stored.profile, stored.version)),
                None => Err(ApiError::NotFound {
                    what: "profile",
                    reason: "PROFILE_NOT_FOUND",
                    id: id.to_string(),
                }),
            },
        }
    }

    /// Validates a ScoreRequest's subject.
    fn score_subject(&self, req: &pb::ScoreRequest, now: i64) -> Result<Subject, ApiError> {
        let policy = &self.state.policy.policy;
        let mut v = self.validator(now);
        let subject = match &req.subject {
            Some(pb::score_request::Subject::EnterpriseId(id)) => {
                Self::subject_enterprise(&mut v, "enterprise_id", id, policy.accept_uscc_checksum_failures)
            }
            Some(pb::score_request::Subject::Profile(p)) => {
                convert::profile(&mut v, "profile", p, policy).map(|p| Subject::Inline(Box::new(p)))
            }
            None => {
                v.violation("subject", "one of enterprise_id or profile is required");
                None
            }
        };
        if req.item_id.len() > 128 {
            v.violation("item_id", "must be at most 128 characters");
        }
        match subject {
            Some(s) if v.is_clean() => Ok(s),
            _ => Err(ApiError::Invalid(v.violations)),
        }
    }

    /// Scores a profile. `traced`: a span per stage (a sampled Score call); never for the items
    /// of a portfolio stream (their batches are traced instead).
    fn score_response(&self, profile: &EnterpriseProfile, version: u64, now: i64, traced: bool) -> pb::ScoreResponse {
        let policy = &self.state.policy.policy;
        let date = self.state.evaluation_date(now);
        let result = if traced {
            spans::score(profile, policy, date)
        } else {
            score_profile(profile, policy, date)
        };
        convert::score_response(
            &policy.currency,
            profile.enterprise_id.as_str(),
            version,
            result,
            &policy.version,
        )
    }

    async fn score_inner(&self, req: pb::ScoreRequest) -> Result<pb::ScoreResponse, ApiError> {
        let now = now_ms();
        let subject = self.score_subject(&req, now)?;
        let (profile, version) = self.resolve(subject, now).await?;
        Ok(self.score_response(&profile, version, now, true))
    }

    /// Scores one batch of portfolio items, in order; profiles by id are fetched together.
    async fn score_batch(
        &self,
        items: Vec<(u64, Result<pb::ScoreRequest, Status>)>,
        trace: &mut PortfolioTrace,
    ) -> Vec<pb::ScoreResponse> {
        let now = now_ms();
        let mut prepared: Vec<(u64, String, Result<Subject, ApiError>)> = Vec::with_capacity(items.len());
        for (sequence, item) in items {
            match item {
                Ok(req) => {
                    let subject = self.score_subject(&req, now);
                    prepared.push((sequence, req.item_id, subject));
                }
                Err(status) => prepared.push((
                    sequence,
                    String::new(),
                    Err(ApiError::Internal(status.message().to_owned())),
                )),
            }
        }
        let ids: Vec<Uscc> = prepared
            .iter()
            .filter_map(|(_, _, s)| match s {
                Ok(Subject::Stored(id)) => Some(id.clone()),
                _ => None,
            })
            .collect();
        let fetched = trace.lookup_many(&self.state.profiles, &ids, now).await;
        let mut responses = Vec::with_capacity(prepared.len());
        for (sequence, item_id, subject) in prepared {
            let result = match subject {
                Ok(Subject::Inline(p)) => Ok(self.score_response(&p, 0, now, false)),
                Ok(Subject::Stored(id)) => match &fetched {
                    Ok(found) => match found.get(&id) {
                        Some(stored) => Ok(self.score_response(&stored.profile, stored.version, now, false)),
                        None => Err(ApiError::NotFound {
                            what: "profile",
                            reason: "PROFILE_NOT_FOUND",
                            id: id.to_string(),
                        }),
                    },
                    Err(e) => Err(ApiError::from(e.clone())),
                },
                Err(e) => Err(e),
            };
            let mut response = match result {
                Ok(r) => r,
                Err(e) => pb::ScoreResponse {
                    error: Some(item_error(e)),
                    ..Default::default()
                },
            };
            response.item_id = item_id;
            response.sequence = sequence;
            responses.push(response);
        }
        let failed = responses.iter().filter(|r| r.error.is_some()).count();
        trace.batch(responses.len(), failed);
        responses
    }

    async fn monitor_inner(&self, req: pb::MonitorRequest) -> Result<pb::MonitorResponse, ApiError> {
        let policy = &self.state.policy.policy;
        let now = now_ms();
        let mut v = self.validator(now);
        let Some(loan) = req.loan.as_ref() else {
            return Err(invalid("loan", "is required"));
        };
        let subject = match &loan.subject {
            Some(pb::loan_snapshot::Subject::EnterpriseId(id)) => {
                Self::subject_enterprise(&mut v, "loan.enterprise_id", id, policy.accept_uscc_checksum_failures)
            }
            Some(pb::loan_snapshot::Subject::Profile(p)) => {
                convert::profile(&mut v, "loan.profile", p, policy).map(|p| Subject::Inline(Box::new(p)))
            }
            None => None,
        };
        let snapshot = monitor_convert::snapshot(&mut v, "loan", loan, policy);
        let (Some(snapshot), true) = (snapshot, v.is_clean()) else {
            return Err(ApiError::Invalid(v.violations));
        };
        let profile = match subject {
            Some(s) => Some(self.resolve(s, now).await?.0),
            None => None,
        };
        let result = spans::monitor(&snapshot, profile.as_ref(), policy, self.state.evaluation_date(now));
        Ok(monitor_convert::response(
            &policy.currency,
            &snapshot.loan_id,
            &result,
            &policy.version,
        ))
    }

    async fn decide_inner(&self, req: pb::DecideRequest, caller: String) -> Result<Decision, ApiError> {
        let policy = &self.state.policy.policy;
        let now = now_ms();
        let mut v = self.validator(now);
        let request_id = request_id(&mut v, "request_id", &req.request_id);
        let Some(app_pb) = req.application.as_ref() else {
            v.violation("application", "is required");
            return Err(ApiError::Invalid(v.violations));
        };
        let subject = match &app_pb.subject {
            Some(pb::loan_application::Subject::EnterpriseId(id)) => Self::subject_enterprise(
                &mut v,
                "application.enterprise_id",
                id,
                policy.accept_uscc_checksum_failures,
            ),
            Some(pb::loan_application::Subject::Profile(p)) => {
                convert::profile(&mut v, "application.profile", p, policy).map(|p| Subject::Inline(Box::new(p)))
            }
            None => {
                v.violation(
                    "application.subject",
                    "one of application.enterprise_id or application.profile is required",
                );
                None
            }
        };
        let application = convert::application(&mut v, "application", app_pb);
        if let Some(app) = &application {
            for problem in check_application(app, policy) {
                v.violation(problem.field, problem.message);
            }
        }
        let (Some(request_id), Some(subject), Some(application)) = (request_id, subject, application) else {
            return Err(ApiError::Invalid(v.violations));
        };
        if !v.is_clean() {
            return Err(ApiError::Invalid(v.violations));
        }

        // Idempotency lives in `record` (insert if absent, else the recorded decision), so a
        // Decide by enterprise id costs two store round trips: the profile, then the record. A
        // retry re-evaluates (microseconds) and gets the recorded decision back from `record`.
        let request_digest = sha256_hex(&app_pb.encode_to_vec());
        let (profile, profile_version) = match self.resolve(subject, now).await {
            Ok(resolved) => resolved,
            // A retry whose profile has expired since still gets its recorded decision.
            Err(not_found @ ApiError::NotFound { .. }) => {
                return match self.state.decisions.by_request(&request_id).await? {
                    Some(existing) => same_request(existing, &request_digest),
                    None => Err(not_found),
                };
            }
            Err(e) => return Err(e),
        };
        let evaluation_date = self.state.evaluation_date(now);
        let evaluation = spans::decide(&application, &profile, policy, evaluation_date).map_err(|problems| {
            ApiError::Invalid(
                problems
                    .into_iter()
                    .map(|p| super::validate::Violation {
                        field: p.field.to_owned(),
                        description: p.message,
                    })
                    .collect(),
            )
        })?;
        let inputs_digest = inputs_digest(&application, &profile)?;
        let decision = Decision {
            decision_id: self.state.decisions.new_decision_id(&request_id),
            request_id,
            enterprise_id: profile.enterprise_id.to_string(),
            product: application.product,
            requested_amount: application.requested_amount,
            term_months: application.term_months,
            decided_at_ms: now,
            profile_version,
            request_digest: request_digest.clone(),
            inputs_digest,
            evaluation,
            caller,
        };
        // Only the recorded decision is ever returned: if another replica or a concurrent retry
        // recorded first, theirs is the answer.
        match spans::record_decision(&self.state.decisions, decision).await? {
            Recorded::New(d) => Ok(d),
            Recorded::Existing(existing) => same_request(existing, &request_digest),
        }
    }

    async fn get_decision_inner(&self, req: pb::GetDecisionRequest) -> Result<Decision, ApiError> {
        let id = req.decision_id.trim();
        if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(invalid(
                "decision_id",
                "must be a decision id as returned by Decide (a UUID)",
            ));
        }
        self.state
            .decisions
            .get(&id.to_ascii_lowercase())
            .await?
            .ok_or_else(|| ApiError::NotFound {
                what: "decision",
                reason: "DECISION_NOT_FOUND",
                id: id.to_owned(),
            })
    }
}

/// A per-item error for a stream response.
fn item_error(e: ApiError) -> pb::ItemError {
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

fn same_request(existing: Decision, request_digest: &str) -> Result<Decision, ApiError> {
    if existing.request_digest == request_digest {
        Ok(existing)
    } else {
        Err(ApiError::RequestIdReused {
            request_id: existing.request_id,
            decision_id: existing.decision_id,
        })
    }
}

/// SHA-256 over the canonical (serde, fixed field order) encoding of what was evaluated.
fn inputs_digest(app: &crate::domain::LoanApplication, profile: &EnterpriseProfile) -> Result<String, ApiError> {
    let bytes = serde_json::to_vec(&(app, profile)).map_err(|e| ApiError::Internal(format!("digest encoding: {e}")))?;
    Ok(sha256_hex(&bytes))
}

#[tonic::async_trait]
impl<P: ProfileStore, D: DecisionStore> DecisionService for DecisionApi<P, D> {
    async fn score(&self, request: Request<pb::ScoreRequest>) -> Result<Response<pb::ScoreResponse>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        let resp = deadline::within(deadline, self.score_inner(request.into_inner())).await?;
        Ok(Response::new(resp))
    }

    async fn decide(&self, request: Request<pb::DecideRequest>) -> Result<Response<pb::Decision>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        let caller = crate::security::caller_id(request.extensions());
        let decision = deadline::within(deadline, self.decide_inner(request.into_inner(), caller)).await?;
        spans::annotate_decision(&decision);
        tracing::info!(
            decision_id = %decision.decision_id,
            caller = %decision.caller,
            outcome = ?decision.evaluation.outcome,
            grade = %decision.evaluation.scorecard.grade,
            policy_version = %decision.evaluation.policy_version,
            "decision recorded"
        );
        Ok(Response::new(convert::decision_into(
            &self.state.policy.policy.currency,
            decision,
        )))
    }

    async fn get_decision(&self, request: Request<pb::GetDecisionRequest>) -> Result<Response<pb::Decision>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        let decision = deadline::within(deadline, self.get_decision_inner(request.into_inner())).await?;
        Ok(Response::new(convert::decision_into(
            &self.state.policy.policy.currency,
            decision,
        )))
    }
    async fn monitor(&self, request: Request<pb::MonitorRequest>) -> Result<Response<pb::MonitorResponse>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        Ok(Response::new(
            deadline::within(deadline, self.monitor_inner(request.into_inner())).await?,
        ))
    }

    type ScorePortfolioStream = Pin<Box<dyn Stream<Item = Result<pb::ScoreResponse, Status>> + Send + 'static>>;

    async fn score_portfolio(
        &self,
        request: Request<Streaming<pb::ScoreRequest>>,
    ) -> Result<Response<Self::ScorePortfolioStream>, Status> {
        let api = DecisionApi {
            state: self.state.clone(),
            max_stream_items: self.max_stream_items,
        };
        let max_items = self.max_stream_items;
        // Bounded both ways: at most PORTFOLIO_BATCH items read ahead, at most PORTFOLIO_BUFFER
        // responses waiting for the client; a slow reader stops our reading (HTTP/2 flow control
        // then stops the sender).
        let (tx, rx) = mpsc::channel::<Result<pb::ScoreResponse, Status>>(PORTFOLIO_BUFFER);
        let input = request
            .into_inner()
            .chunks_timeout(PORTFOLIO_BATCH, PORTFOLIO_BATCH_WAIT);
        // No span per item: a span per batch lookup and a summary on the server span.
        let task = PortfolioTrace::for_current_call().detached(move |mut trace| async move {
            tokio::pin!(input);
            let mut sequence = 0u64;
            while let Some(chunk) = input.next().await {
                let mut items = Vec::with_capacity(chunk.len());
                let mut broken = None;
                let mut over_limit = false;
                for item in chunk {
                    if sequence >= max_items {
                        // The allowed items are answered first, then the stream ends.
                        over_limit = true;
                        break;
                    }
                    match item {
                        Ok(req) => items.push((sequence, Ok(req))),
                        // A transport error ends the input; what was read is still answered.
                        Err(status) => {
                            broken = Some(status);
                            break;
                        }
                    }
                    sequence += 1;
                }
                for response in api.score_batch(items, &mut trace).await {
                    if tx.send(Ok(response)).await.is_err() {
                        return; // the client went away
                    }
                }
                if over_limit {
                    trace.end(PortfolioEnd::ItemLimit);
                    let _ = tx.send(Err(crate::security::stream_item_limit(max_items))).await;
                    return;
                }
                if let Some(status) = broken {
                    trace.end(PortfolioEnd::InputError);
                    tracing::debug!(error = %status, "portfolio input stream ended with an error");
                    if status.code() == tonic::Code::OutOfRange {
                        // An item over the message size limit: say so instead of just stopping.
                        let _ = tx
                            .send(Err(Status::resource_exhausted(status.message().to_owned())))
                            .await;
                    }
                    return;
                }
            }
            trace.end(PortfolioEnd::Complete);
        });
        tokio::spawn(task);
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
