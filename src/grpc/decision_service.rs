//! `DecisionService`: Score, Decide (idempotent, recorded before it is returned), GetDecision.

use std::sync::Arc;

use prost::Message;
use tonic::{Request, Response, Status};

use super::convert;
use super::deadline;
use super::status::{ApiError, invalid};
use super::validate::{Validator, request_id};
use super::{AppState, now_ms};
use crate::domain::decision::{Decision, check_application, decide, score_profile};
use crate::domain::{EnterpriseProfile, Uscc};
use crate::pb;
use crate::pb::decision_service_server::DecisionService;
use crate::policy::sha256_hex;
use crate::store::{DecisionStore, ProfileStore, Recorded};

pub struct DecisionApi<P, D> {
    state: Arc<AppState<P, D>>,
}

impl<P, D> DecisionApi<P, D> {
    pub fn new(state: Arc<AppState<P, D>>) -> Self {
        DecisionApi { state }
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
            Subject::Stored(id) => match self.state.profiles.get(&id, now).await? {
                Some(stored) => Ok((stored.profile, stored.version)),
                None => Err(ApiError::NotFound {
                    what: "profile",
                    reason: "PROFILE_NOT_FOUND",
                    id: id.to_string(),
                }),
            },
        }
    }

    async fn score_inner(&self, req: pb::ScoreRequest) -> Result<pb::ScoreResponse, ApiError> {
        let policy = &self.state.policy.policy;
        let now = now_ms();
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
        let subject = match subject {
            Some(s) if v.is_clean() => s,
            _ => return Err(ApiError::Invalid(v.violations)),
        };
        let (profile, version) = self.resolve(subject, now).await?;
        let result = score_profile(&profile, policy, self.state.evaluation_date(now));
        Ok(convert::score_response(
            &policy.currency,
            profile.enterprise_id.as_str(),
            version,
            &result,
            &policy.version,
        ))
    }

    async fn decide_inner(&self, req: pb::DecideRequest) -> Result<Decision, ApiError> {
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

        // Idempotency: a retry gets the recorded decision without re-evaluating.
        let request_digest = sha256_hex(&app_pb.encode_to_vec());
        if let Some(existing) = self.state.decisions.by_request(&request_id).await? {
            return same_request(existing, &request_digest);
        }

        let (profile, profile_version) = self.resolve(subject, now).await?;
        let evaluation_date = self.state.evaluation_date(now);
        let evaluation = decide(&application, &profile, policy, evaluation_date).map_err(|problems| {
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
            decision_id: uuid::Uuid::now_v7().to_string(),
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
        };
        // Only the recorded decision is ever returned: if another replica or a concurrent retry
        // recorded first, theirs is the answer.
        match self.state.decisions.record(decision).await? {
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
        let decision = deadline::within(deadline, self.decide_inner(request.into_inner())).await?;
        tracing::info!(
            decision_id = %decision.decision_id,
            outcome = ?decision.evaluation.outcome,
            grade = %decision.evaluation.scorecard.grade,
            policy_version = %decision.evaluation.policy_version,
            "decision recorded"
        );
        Ok(Response::new(convert::decision(
            &self.state.policy.policy.currency,
            &decision,
        )))
    }

    async fn get_decision(&self, request: Request<pb::GetDecisionRequest>) -> Result<Response<pb::Decision>, Status> {
        let deadline = deadline::from_metadata(request.metadata());
        let decision = deadline::within(deadline, self.get_decision_inner(request.into_inner())).await?;
        Ok(Response::new(convert::decision(
            &self.state.policy.policy.currency,
            &decision,
        )))
    }
}
