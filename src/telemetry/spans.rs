//! The spans inside a call: the stages of Decide and Score (through the core's
//! [`StageObserver`]) and of Monitor (through its [`MonitorObserver`]), the profile lookup, the
//! decision record, each Redis call, and for ScorePortfolio a span per batch profile lookup
//! and a summary on the server span ([`PortfolioTrace`]: no span per item).
//!
//! All are DEBUG spans of this crate, built only inside a call whose trace is exported (tracing
//! on and the call sampled, [`call_sampled`]): otherwise they cost a branch. Their
//! attributes are codes, counts, flags and ages: no name, no id of a person or an enterprise, no
//! amount (the decision id, a random UUID, is the only identifier).

use std::future::Future;
use std::time::{Duration, Instant};

use tracing::field::Empty;
use tracing::span::EnteredSpan;
use tracing::{Instrument as _, Span};

use super::grpc::{CallIds, call_sampled, current_call_ids, scope_call_ids};
use super::metrics::{Lookup, metrics, outcome_name};
use crate::domain::decision::{
    ApplicationProblem, Decision, Evaluation, ScoreResult, Stage, StageObserver, StageReport, decide_observed,
    score_profile_observed,
};
use crate::domain::monitoring::{
    LoanSnapshot, MonitorObserver, MonitorReport, MonitorResult, MonitorStage, monitor_observed,
};
use crate::domain::{EnterpriseProfile, LoanApplication, Uscc};
use crate::grpc::AppState;
use crate::policy::{LoanClass, Policy, Severity, WarningLevel};
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

/// [`domain::decision::score_profile`](crate::domain::decision::score_profile) with a child
/// span per stage (`features`, `verification`, `scorecard`), and what explains the score on the
/// call's server span: grade, number of cross-check findings, policy version (no figure).
pub fn score(profile: &EnterpriseProfile, policy: &Policy, evaluation_date: time::Date) -> ScoreResult {
    let mut observer = SpanObserver::for_current_call();
    let result = score_profile_observed(profile, policy, evaluation_date, &mut observer);
    if observer.0 {
        let span = Span::current();
        span.record("score.grade", result.scorecard.grade.as_str());
        span.record("verification.findings", result.verification.len());
        span.record("policy.version", policy.version.as_str());
    }
    result
}

/// Turns the steps of [`monitor_observed`] into child spans of the current span (when the call
/// is sampled): `rescoring` (with a profile), `signals`, `classification`, `ifrs9_stage`.
#[derive(Debug, Default)]
pub struct MonitorSpans(bool);

impl MonitorSpans {
    /// Spans for the steps of the current call, if its trace is exported.
    pub fn for_current_call() -> Self {
        MonitorSpans(call_sampled())
    }
}

impl MonitorObserver for MonitorSpans {
    type Guard = EnteredSpan;

    fn start(&mut self, stage: MonitorStage) -> EnteredSpan {
        if !self.0 {
            return Span::none().entered();
        }
        let span = match stage {
            MonitorStage::Rescoring => tracing::debug_span!(
                "rescoring",
                score.grade = Empty,
                score.reasons = Empty,
                verification.findings = Empty,
                monitor.grade_notches_down = Empty,
            ),
            MonitorStage::Signals => tracing::debug_span!(
                "signals",
                monitor.signals = Empty,
                monitor.warning_level = Empty,
                monitor.signal_codes = Empty,
            ),
            MonitorStage::Classification => tracing::debug_span!(
                "classification",
                monitor.classification = Empty,
                monitor.classification_rule = Empty,
                monitor.classification_rules = Empty,
            ),
            MonitorStage::Ifrs9Stage => {
                tracing::debug_span!("ifrs9_stage", monitor.ifrs9_stage = Empty, monitor.stage_reason = Empty)
            }
        };
        span.entered()
    }

    fn finish(&mut self, span: EnteredSpan, report: MonitorReport<'_>) {
        if span.is_disabled() {
            return;
        }
        match report {
            MonitorReport::Rescoring {
                result,
                grade_notches_down,
            } => {
                span.record("score.grade", result.scorecard.grade.as_str());
                span.record("score.reasons", result.scorecard.reasons.len());
                span.record("verification.findings", result.verification.len());
                if let Some(n) = grade_notches_down {
                    span.record("monitor.grade_notches_down", n);
                }
            }
            MonitorReport::Signals { signals, level } => {
                span.record("monitor.signals", signals.len());
                span.record("monitor.warning_level", warning_level_name(level));
                if !signals.is_empty() {
                    let mut fired: Vec<&str> = signals.iter().map(|s| s.code.as_str()).collect();
                    fired.dedup(); // one code can fire twice in a row (W05, W06)
                    span.record("monitor.signal_codes", fired.join(","));
                }
            }
            MonitorReport::Classification { class, rule, rules } => {
                span.record("monitor.classification", loan_class_name(class));
                span.record("monitor.classification_rule", rule.code.as_str());
                span.record("monitor.classification_rules", rules);
            }
            MonitorReport::Ifrs9Stage { stage, reason } => {
                span.record("monitor.ifrs9_stage", stage);
                span.record("monitor.stage_reason", reason.code.as_str());
            }
        }
    }
}

/// [`domain::monitoring::monitor`](crate::domain::monitoring::monitor) with a child span per
/// step, and the class, stage, warning level and policy version on the call's server span.
pub fn monitor(
    loan: &LoanSnapshot,
    profile: Option<&EnterpriseProfile>,
    policy: &Policy,
    evaluation_date: time::Date,
) -> MonitorResult {
    let mut observer = MonitorSpans::for_current_call();
    let result = monitor_observed(loan, profile, policy, evaluation_date, &mut observer);
    if observer.0 {
        let span = Span::current();
        span.record("monitor.classification", loan_class_name(result.classification));
        span.record("monitor.ifrs9_stage", result.ifrs9_stage);
        span.record("monitor.warning_level", warning_level_name(result.warning_level));
        span.record("policy.version", policy.version.as_str());
    }
    result
}

/// The proto name of a loan class (`riskdecision.v1.LoanClass`).
pub fn loan_class_name(class: LoanClass) -> &'static str {
    match class {
        LoanClass::Normal => "NORMAL",
        LoanClass::SpecialMention => "SPECIAL_MENTION",
        LoanClass::Substandard => "SUBSTANDARD",
        LoanClass::Doubtful => "DOUBTFUL",
        LoanClass::Loss => "LOSS",
    }
}

/// The proto name of a warning level (`riskdecision.v1.WarningLevel`).
pub fn warning_level_name(level: WarningLevel) -> &'static str {
    match level {
        WarningLevel::Green => "GREEN",
        WarningLevel::Yellow => "YELLOW",
        WarningLevel::Orange => "ORANGE",
        WarningLevel::Red => "RED",
    }
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

/// Several profiles at once (a portfolio batch), under one `profile.lookup_many` span when the
/// call is sampled ([`PortfolioTrace::lookup_many`] decides which batches are).
pub async fn profile_lookup_many<P: ProfileStore>(
    store: &P,
    ids: &[Uscc],
    now_ms: i64,
) -> Result<std::collections::HashMap<Uscc, StoredProfile>, StoreError> {
    let kind = store_kind::<P>();
    if ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
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

/// Batch profile lookups of one ScorePortfolio stream that get a span each; the batches past
/// them are only counted. A slow sender makes batches of one item: without a cap, a stream of
/// 100,000 items would export as many spans.
pub const PORTFOLIO_TRACED_LOOKUPS: u64 = 128;

/// How a ScorePortfolio stream ended, for `portfolio.end` on its server span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortfolioEnd {
    /// The client closed its side and every item was answered.
    Complete,
    /// Past `--max-stream-items`: the stream ended RESOURCE_EXHAUSTED.
    ItemLimit,
    /// The request stream broke (transport error, oversized item).
    InputError,
    /// The client went away before reading every answer.
    Cancelled,
}

impl PortfolioEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            PortfolioEnd::Complete => "complete",
            PortfolioEnd::ItemLimit => "item_limit",
            PortfolioEnd::InputError => "input_error",
            PortfolioEnd::Cancelled => "cancelled",
        }
    }
}

/// The trace of one ScorePortfolio stream. Its items are scored in a task of their own, after
/// the handler has returned the response stream; this carries the call into that task:
///
/// - log lines of the task carry the call's trace id ([`PortfolioTrace::detached`]);
/// - no span per item (no stage spans: a 10,000-item stream would export tens of thousands);
/// - one `profile.lookup_many` span per batch lookup, for the first
///   [`PORTFOLIO_TRACED_LOOKUPS`] batches, children of the server span;
/// - when the stream ends (the value is dropped), a summary on the server span, which it holds
///   open until then so that the span covers the whole stream: `portfolio.items`,
///   `portfolio.items_failed`, `portfolio.batches`, `portfolio.end`.
///
/// Spans and the summary only for a sampled call; otherwise it holds no span and records nothing.
#[derive(Debug)]
pub struct PortfolioTrace {
    /// The call's server span when the call is sampled, `Span::none()` otherwise.
    span: Span,
    ids: Option<CallIds>,
    items: u64,
    failed: u64,
    batches: u64,
    traced_lookups: u64,
    end: PortfolioEnd,
}

impl PortfolioTrace {
    /// Call in the handler, inside the call (before spawning the stream's task).
    pub fn for_current_call() -> Self {
        let ids = current_call_ids();
        let sampled = ids.is_some_and(|i| i.sampled);
        PortfolioTrace {
            span: if sampled { Span::current() } else { Span::none() },
            ids,
            items: 0,
            failed: 0,
            batches: 0,
            traced_lookups: 0,
            end: PortfolioEnd::Cancelled,
        }
    }

    /// The stream's task, made by `task` from this trace: it runs with the call's ids for its
    /// log lines, and no spans but those [`PortfolioTrace::lookup_many`] opens.
    pub fn detached<Fut: Future>(self, task: impl FnOnce(Self) -> Fut) -> impl Future<Output = Fut::Output> {
        let ids = self.ids;
        let fut = task(self);
        async move {
            match ids {
                Some(ids) => scope_call_ids(CallIds { sampled: false, ..ids }, fut).await,
                None => fut.await,
            }
        }
    }

    /// [`profile_lookup_many`] for one batch: under a span of the server span while the
    /// stream's traced lookups last, counted only after.
    pub async fn lookup_many<P: ProfileStore>(
        &mut self,
        store: &P,
        ids: &[Uscc],
        now_ms: i64,
    ) -> Result<std::collections::HashMap<Uscc, StoredProfile>, StoreError> {
        match self.ids {
            Some(call) if call.sampled && !ids.is_empty() && self.traced_lookups < PORTFOLIO_TRACED_LOOKUPS => {
                self.traced_lookups += 1;
                scope_call_ids(call, profile_lookup_many(store, ids, now_ms))
                    .instrument(self.span.clone())
                    .await
            }
            _ => profile_lookup_many(store, ids, now_ms).await,
        }
    }

    /// One batch answered: `items` responses, `failed` of them with an item error.
    pub fn batch(&mut self, items: usize, failed: usize) {
        self.batches += 1;
        self.items += items as u64;
        self.failed += failed as u64;
    }

    /// How the stream ended (`cancelled` unless said otherwise).
    pub fn end(&mut self, end: PortfolioEnd) {
        self.end = end;
    }
}

impl Drop for PortfolioTrace {
    fn drop(&mut self) {
        if self.span.is_disabled() {
            return;
        }
        self.span.record("portfolio.items", self.items);
        self.span.record("portfolio.items_failed", self.failed);
        self.span.record("portfolio.batches", self.batches);
        self.span.record("portfolio.end", self.end.as_str());
    }
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
