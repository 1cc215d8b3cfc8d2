//! The spans inside a call: the decision pipeline's stages (through the core's
//! [`StageObserver`]), the profile lookup, the decision record and each Redis call.
//!
//! All are DEBUG spans of this crate, built only inside a call whose trace is exported (tracing
//! on and the call sampled, [`call_sampled`]): otherwise they cost a branch. Their
//! attributes are codes, counts, flags and ages: no name, no id of a person or an enterprise, no
//! amount (the decision id, a random UUID, is the only identifier).

use std::time::{Duration, Instant};

use tracing::field::Empty;
use tracing::span::EnteredSpan;
use tracing::{Instrument as _, Span};

use super::grpc::call_sampled;
use super::metrics::{Lookup, metrics, outcome_name};
use crate::domain::decision::{
    ApplicationProblem, Decision, Evaluation, Stage, StageObserver, StageReport, decide_observed,
};
use crate::domain::{EnterpriseProfile, LoanApplication, Uscc};
use crate::grpc::AppState;
use crate::policy::{Policy, Severity};
use crate::store::{DecisionStore, ProfileStore, Recorded, StoreError, StoredProfile};

/// Turns pipeline stages into child spans of the current span (when the call is sampled).
#[derive(Debug, Default)]
pub struct SpanObserver(bool);

impl SpanObserver {
    /// Spans for the stages of the current call, if its trace is exported.
    pub fn for_current_call() -> Self {
        SpanObserver(call_sampled())
    }
}

impl StageObserver for SpanObserver {
    type Guard = EnteredSpan;

    fn start(&mut self, stage: Stage) -> EnteredSpan {
        if !self.0 {
            return Span::none().entered();
        }
        let span = match stage {
            Stage::Features => tracing::debug_span!("features"),
            Stage::Verification => tracing::debug_span!(
                "verification",
                verification.findings = Empty,
                verification.warnings = Empty,
                verification.critical = Empty,
                verification.codes = Empty,
            ),
            Stage::Scorecard => tracing::debug_span!("scorecard", score.grade = Empty, score.reasons = Empty),
            Stage::Limit => tracing::debug_span!(
                "limit",
                limit.binding_cap = Empty,
                limit.caps = Empty,
                limit.below_minimum = Empty,
            ),
            Stage::KnockOuts => tracing::debug_span!(
                "knock_outs",
                decision.knock_outs = Empty,
                decision.refer_flags = Empty,
                knock_out.codes = Empty,
                refer_flag.codes = Empty,
            ),
            Stage::Pricing => tracing::debug_span!("pricing", pricing.priced = Empty, pricing.exception = Empty),
            Stage::Authority => tracing::debug_span!("authority", authority.level = Empty),
        };
        span.entered()
    }

    fn finish(&mut self, span: EnteredSpan, report: StageReport<'_>) {
        if span.is_disabled() {
            return;
        }
        match report {
            StageReport::Features(_) => {}
            StageReport::Verification(findings) => {
                let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
                span.record("verification.findings", findings.len());
                span.record("verification.warnings", count(Severity::Warning));
                span.record("verification.critical", count(Severity::Critical));
                if !findings.is_empty() {
                    span.record("verification.codes", codes(findings.iter().map(|f| f.code.as_str())));
                }
            }
            StageReport::Scorecard(card) => {
                span.record("score.grade", card.grade.as_str());
                span.record("score.reasons", card.reasons.len());
            }
            StageReport::Limit(limit) => {
                if let Some(cap) = limit.caps.iter().find(|c| c.binding) {
                    span.record("limit.binding_cap", cap.name.as_str());
                }
                span.record("limit.caps", limit.caps.len());
                span.record("limit.below_minimum", limit.below_minimum);
            }
            StageReport::KnockOuts {
                knock_outs,
                refer_flags,
            } => {
                span.record("decision.knock_outs", knock_outs.len());
                span.record("decision.refer_flags", refer_flags.len());
                if !knock_outs.is_empty() {
                    span.record("knock_out.codes", codes(knock_outs.iter().map(|r| r.code.as_str())));
                }
                if !refer_flags.is_empty() {
                    span.record("refer_flag.codes", codes(refer_flags.iter().map(|r| r.code.as_str())));
                }
            }
            StageReport::Pricing {
                price,
                pricing_exception,
            } => {
                span.record("pricing.priced", price.is_some());
                span.record("pricing.exception", pricing_exception);
            }
            StageReport::Authority { level } => {
                span.record("authority.level", level);
            }
        }
    }
}

fn codes<'a>(codes: impl Iterator<Item = &'a str>) -> String {
    codes.collect::<Vec<_>>().join(",")
}

/// [`domain::decision::decide`](crate::domain::decision::decide) with a child span per stage.
pub fn decide(
    app: &LoanApplication,
    profile: &EnterpriseProfile,
    policy: &Policy,
    evaluation_date: time::Date,
) -> Result<Evaluation, Vec<ApplicationProblem>> {
    decide_observed(
        app,
        profile,
        policy,
        evaluation_date,
        &mut SpanObserver::for_current_call(),
    )
}

/// What kind of store `P` is, for attributes and labels ("redis" or "memory").
pub fn store_kind<T: ?Sized>() -> &'static str {
    if std::any::type_name::<T>().contains("Redis") {
        "redis"
    } else {
        "memory"
    }
}

/// Looks a profile up under a `profile.lookup` span (store, hit or miss, cache age, age of the
/// financial data) and counts the result.
pub async fn profile_lookup<P: ProfileStore, D>(
    state: &AppState<P, D>,
    id: &Uscc,
    now_ms: i64,
) -> Result<Option<StoredProfile>, StoreError> {
    let store = &state.profiles;
    let kind = store_kind::<P>();
    let span = if call_sampled() {
        tracing::debug_span!(
            "profile.lookup",
            profile.store = kind,
            profile.found = Empty,
            profile.version = Empty,
            profile.cache_age_s = Empty,
            profile.data_age_days = Empty,
            otel.status_code = Empty,
        )
    } else {
        Span::none()
    };
    let result = store.get(id, now_ms).instrument(span.clone()).await;
    let outcome = match &result {
        Ok(Some(stored)) => {
            if !span.is_disabled() {
                span.record("profile.found", true);
                span.record("profile.version", stored.version);
                span.record("profile.cache_age_s", (now_ms - stored.stored_at_ms).max(0) / 1000);
                span.record(
                    "profile.data_age_days",
                    (state.evaluation_date(now_ms) - stored.profile.financials.as_of).whole_days(),
                );
            }
            Lookup::Hit
        }
        Ok(None) => {
            span.record("profile.found", false);
            Lookup::Miss
        }
        Err(_) => {
            span.record("otel.status_code", "ERROR");
            Lookup::Error
        }
    };
    metrics().profile_lookup(kind, outcome, 1);
    result
}

/// Several profiles at once (a portfolio batch), under one `profile.lookup_many` span when
/// there is a call span to hang it on.
pub async fn profile_lookup_many<P: ProfileStore>(
    store: &P,
    ids: &[Uscc],
    now_ms: i64,
) -> Result<std::collections::HashMap<Uscc, StoredProfile>, StoreError> {
    let kind = store_kind::<P>();
    if ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    // A portfolio stream scores its batches in a task of its own, after the call's span has
    // closed: no span then (one root trace per batch would bury the traces that matter); the
    // metrics still count.
    let span = if call_sampled() {
        tracing::debug_span!(
            "profile.lookup_many",
            profile.store = kind,
            profile.requested = ids.len(),
            profile.found = Empty,
            otel.status_code = Empty,
        )
    } else {
        Span::none()
    };
    let result = store.get_many(ids, now_ms).instrument(span.clone()).await;
    match &result {
        Ok(found) => {
            span.record("profile.found", found.len());
            metrics().profile_lookup(kind, Lookup::Hit, found.len() as u64);
            metrics().profile_lookup(kind, Lookup::Miss, ids.len().saturating_sub(found.len()) as u64);
        }
        Err(_) => {
            span.record("otel.status_code", "ERROR");
            metrics().profile_lookup(kind, Lookup::Error, ids.len() as u64);
        }
    }
    result
}

/// Records a decision under a `decision.record` span; a new record is counted in the decision
/// metrics (a retry that gets the recorded decision back is not).
pub async fn record_decision<D: DecisionStore>(store: &D, decision: Decision) -> Result<Recorded, StoreError> {
    let span = if call_sampled() {
        tracing::debug_span!(
            "decision.record",
            decision.store = store_kind::<D>(),
            decision.id = decision.decision_id.as_str(),
            decision.recorded = Empty,
            otel.status_code = Empty,
        )
    } else {
        Span::none()
    };
    let result = store.record(decision).instrument(span.clone()).await;
    match &result {
        Ok(Recorded::New(d)) => {
            span.record("decision.recorded", "new");
            metrics().decision_recorded(&d.evaluation);
        }
        Ok(Recorded::Existing(d)) => {
            span.record("decision.recorded", "existing");
            span.record("decision.id", d.decision_id.as_str());
        }
        Err(_) => {
            span.record("otel.status_code", "ERROR");
        }
    }
    result
}

/// Puts what explains a decision on the call's server span (the current span in a handler).
pub fn annotate_decision(decision: &Decision) {
    let span = Span::current();
    if span.is_disabled() {
        return;
    }
    let e = &decision.evaluation;
    span.record("decision.id", decision.decision_id.as_str());
    span.record("decision.outcome", outcome_name(e.outcome));
    span.record("decision.grade", e.scorecard.grade.as_str());
    span.record("decision.knock_outs", e.knock_outs.len());
    span.record("decision.refer_flags", e.refer_flags.len());
    span.record("policy.version", e.policy_version.as_str());
}

/// A span for one Redis call: `db.system=redis`, the command and our name for the operation;
/// never a key or a value. Only inside a sampled call: the readiness probe's PING every 2 s
/// would otherwise start a trace of its own each time.
pub fn redis_span(command: &str, operation: &'static str) -> Span {
    if !call_sampled() {
        return Span::none();
    }
    tracing::debug_span!(
        "redis",
        otel.name = command,
        otel.kind = "client",
        otel.status_code = Empty,
        db.system = "redis",
        db.operation.name = command,
        riskd.operation = operation,
        error.type = Empty,
    )
}

/// The command name of a Redis command (`GET`, `MGET`...), without its arguments.
pub fn redis_command(cmd: &::redis::Cmd) -> &str {
    match cmd.args_iter().next() {
        Some(::redis::Arg::Simple(name)) => std::str::from_utf8(name).unwrap_or("?"),
        _ => "?",
    }
}

/// Ends a Redis call: its latency and error kind into the metrics, the error onto the span.
pub fn redis_done(span: &Span, operation: &'static str, started: Instant, error: Option<&StoreError>) {
    let elapsed: Duration = started.elapsed();
    let error = error.map(|e| match e {
        StoreError::Unavailable(msg) if msg.contains("no answer within") => "timeout",
        StoreError::Unavailable(_) => "unavailable",
        StoreError::Corrupt(_) => "reply",
        StoreError::VersionConflict { .. } => "conflict",
    });
    metrics().redis_call(operation, elapsed, error);
    if let Some(kind) = error {
        span.record("otel.status_code", "ERROR");
        span.record("error.type", kind);
    }
}
