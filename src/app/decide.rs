//! Decide: idempotent by request id, recorded before it is returned.

use super::ports::{Clock, DecisionStore, ProfileStore, Recorded};
use super::{App, AppError, Observer, Subject, Violation};
use crate::domain::decision::{ApplicationProblem, Decision, decide_observed};
use crate::domain::{EnterpriseProfile, LoanApplication};
use crate::policy::sha256_hex;

/// A validated Decide request.
#[derive(Debug, Clone)]
pub struct DecideCommand {
    /// The caller's idempotency key.
    pub request_id: String,
    pub subject: Subject,
    pub application: LoanApplication,
    /// The application exactly as the caller sent it (its canonical encoding): a retry under
    /// the same request id must send the same bytes.
    pub application_bytes: Vec<u8>,
    /// Who asked (the authenticated caller).
    pub caller: String,
}

impl<P: ProfileStore, D: DecisionStore, O: Observer, C: Clock> App<P, D, O, C> {
    /// Decides an application and records the decision; a retry (same request id, same
    /// application) gets the recorded decision back, even after its profile expired.
    pub async fn decide(&self, cmd: DecideCommand) -> Result<Decision, AppError> {
        let decision = self.decide_recorded(cmd).await?;
        self.observer.decided(&decision);
        tracing::info!(
            decision_id = %decision.decision_id,
            caller = %decision.caller,
            outcome = ?decision.evaluation.outcome,
            grade = %decision.evaluation.scorecard.grade,
            policy_version = %decision.evaluation.policy_version,
            "decision recorded"
        );
        Ok(decision)
    }

    async fn decide_recorded(&self, cmd: DecideCommand) -> Result<Decision, AppError> {
        let now = self.now_ms();
        // Idempotency lives in `record` (insert if absent, else the recorded decision), so a
        // Decide by enterprise id costs two store round trips: the profile, then the record. A
        // retry re-evaluates (microseconds) and gets the recorded decision back from `record`.
        let request_digest = sha256_hex(&cmd.application_bytes);
        let (profile, profile_version) = match self.resolve(cmd.subject, now).await {
            Ok(resolved) => resolved,
            // A retry whose profile has expired since still gets its recorded decision.
            Err(not_found @ AppError::NotFound { .. }) => {
                return match self.decisions.by_request(&cmd.request_id).await? {
                    Some(existing) => same_request(existing, &request_digest),
                    None => Err(not_found),
                };
            }
            Err(e) => return Err(e),
        };
        let date = self.calendar.evaluation_date(now);
        let evaluation = decide_observed(
            &cmd.application,
            &profile,
            self.policy(),
            date,
            &mut self.observer.stages(),
        )
        .map_err(invalid_application)?;
        let inputs_digest = inputs_digest(&cmd.application, &profile)?;
        let decision = Decision {
            decision_id: self.decisions.new_decision_id(&cmd.request_id),
            request_id: cmd.request_id,
            enterprise_id: profile.enterprise_id.to_string(),
            product: cmd.application.product,
            requested_amount: cmd.application.requested_amount,
            term_months: cmd.application.term_months,
            decided_at_ms: now,
            profile_version,
            request_digest: request_digest.clone(),
            inputs_digest,
            evaluation,
            caller: cmd.caller,
        };
        // Only the recorded decision is ever returned: if another replica or a concurrent retry
        // recorded first, theirs is the answer.
        match self.decisions.record(decision).await? {
            Recorded::New(d) => Ok(d),
            Recorded::Existing(existing) => same_request(existing, &request_digest),
        }
    }
}

fn invalid_application(problems: Vec<ApplicationProblem>) -> AppError {
    AppError::Invalid(
        problems
            .into_iter()
            .map(|p| Violation {
                field: p.field.to_owned(),
                description: p.message,
            })
            .collect(),
    )
}

fn same_request(existing: Decision, request_digest: &str) -> Result<Decision, AppError> {
    if existing.request_digest == request_digest {
        Ok(existing)
    } else {
        Err(AppError::RequestIdReused {
            request_id: existing.request_id,
            decision_id: existing.decision_id,
        })
    }
}

/// SHA-256 over the canonical (serde, fixed field order) encoding of what was evaluated.
fn inputs_digest(app: &LoanApplication, profile: &EnterpriseProfile) -> Result<String, AppError> {
    let bytes = serde_json::to_vec(&(app, profile)).map_err(|e| AppError::Internal(format!("digest encoding: {e}")))?;
    Ok(sha256_hex(&bytes))
}
