//! The spans inside a call, as the `app` use cases report them through [`CallSpans`] (their
//! [`Observer`]): the stages of Decide and Score (through the core's [`StageObserver`]) and of
//! Monitor (through its [`MonitorObserver`]), what explains a result on the server span, each
//! Redis call ([`RedisCalls`]), and for ScorePortfolio a summary on the server span
//! ([`PortfolioTrace`]: no span per item). The profile lookups and the decision record are
//! traced by the store decorators of [`super::stores`].
//!
//! All are DEBUG spans of this crate, built only inside a call whose trace is exported (tracing
//! on and the call sampled, [`call_sampled`]): otherwise they cost a branch. Their
//! attributes are codes, counts, flags and ages: no name, no id of a person or an enterprise, no
//! amount (the decision id, a random UUID, is the only identifier).

use std::future::Future;
use std::time::Duration;

use tracing::field::Empty;
use tracing::span::EnteredSpan;
use tracing::{Instrument as _, Span};

use super::grpc::{CallIds, call_sampled, current_call_ids, scope_call_ids};
use super::metrics::{metrics, outcome_name};
pub use crate::app::PortfolioEnd;
use crate::app::{Observer, PortfolioObserver, StoreError};
use crate::domain::decision::{Decision, ScoreResult, Stage, StageObserver, StageReport};
use crate::domain::monitoring::{MonitorObserver, MonitorReport, MonitorResult, MonitorStage};
use crate::policy::{LoanClass, Policy, Severity, WarningLevel};

/// Turns the stages of a Decide or Score and the steps of a Monitor into child spans of the
/// current span, when the call is sampled (no span is built otherwise).
#[derive(Debug, Default)]
pub struct StageSpans(bool);

impl StageSpans {
    /// Spans for the stages of the current call, if its trace is exported.
    pub fn for_current_call() -> Self {
        StageSpans(call_sampled())
    }

    fn enter(&self, make: impl FnOnce() -> Span) -> EnteredSpan {
        let span = if self.0 { make() } else { Span::none() };
        span.entered()
    }
}

impl StageObserver for StageSpans {
    type Guard = EnteredSpan;

    fn start(&mut self, stage: Stage) -> EnteredSpan {
        self.enter(|| stage_span(stage))
    }

    fn finish(&mut self, span: EnteredSpan, report: StageReport<'_>) {
        if !span.is_disabled() {
            record_stage(&span, report);
        }
    }
}

impl MonitorObserver for StageSpans {
    type Guard = EnteredSpan;

    fn start(&mut self, stage: MonitorStage) -> EnteredSpan {
        self.enter(|| monitor_step_span(stage))
    }

    fn finish(&mut self, span: EnteredSpan, report: MonitorReport<'_>) {
        if !span.is_disabled() {
            record_monitor_step(&span, report);
        }
    }
}

/// The span of a pipeline stage, its attributes to be filled by [`record_stage`].
fn stage_span(stage: Stage) -> Span {
    match stage {
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
    }
}

/// What a stage concluded, as attributes (codes, counts, flags: never a name, an id or an amount).
fn record_stage(span: &Span, report: StageReport<'_>) {
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

fn codes<'a>(codes: impl Iterator<Item = &'a str>) -> String {
    codes.collect::<Vec<_>>().join(",")
}

/// The span of a step of [`monitor_observed`]: `rescoring` (with a profile), `signals`,
/// `classification`, `ifrs9_stage`.
fn monitor_step_span(stage: MonitorStage) -> Span {
    match stage {
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
    }
}

/// What a monitoring step concluded, as attributes.
fn record_monitor_step(span: &Span, report: MonitorReport<'_>) {
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

/// Batch profile lookups of one ScorePortfolio stream that get a span each; the batches past
/// them are only counted. A slow sender makes batches of one item: without a cap, a stream of
/// 100,000 items would export as many spans.
pub const PORTFOLIO_TRACED_LOOKUPS: u64 = 128;

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
}

impl PortfolioObserver for PortfolioTrace {
    /// The stream's task, made by `task` from this trace: it runs with the call's ids for its
    /// log lines, and no spans but those of the lookups `lookup` traces.
    fn detached<Fut: Future + Send>(self, task: impl FnOnce(Self) -> Fut) -> impl Future<Output = Fut::Output> + Send {
        let ids = self.ids;
        let fut = task(self);
        async move {
            match ids {
                Some(ids) => scope_call_ids(CallIds { sampled: false, ..ids }, fut).await,
                None => fut.await,
            }
        }
    }

    /// One batch's lookup: inside the (sampled) call, under the server span, while the
    /// stream's traced lookups last (the store's decorator opens `profile.lookup_many`);
    /// counted only after.
    fn lookup<F: Future + Send>(&mut self, requested: usize, lookup: F) -> impl Future<Output = F::Output> + Send {
        let traced = match self.ids {
            Some(call) if call.sampled && requested > 0 && self.traced_lookups < PORTFOLIO_TRACED_LOOKUPS => {
                self.traced_lookups += 1;
                Some((call, self.span.clone()))
            }
            _ => None,
        };
        async move {
            match traced {
                Some((call, span)) => scope_call_ids(call, lookup).instrument(span).await,
                None => lookup.await,
            }
        }
    }

    fn batch(&mut self, items: usize, failed: usize) {
        self.batches += 1;
        self.items += items as u64;
        self.failed += failed as u64;
    }

    fn end(&mut self, end: PortfolioEnd) {
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

/// The spans of the use cases: the stages of Score and Decide, the steps of Monitor, what
/// explains a result on the call's server span, and the trace of a ScorePortfolio stream.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallSpans;

impl Observer for CallSpans {
    type Stages = StageSpans;
    type MonitorSteps = StageSpans;
    type Portfolio = PortfolioTrace;

    fn stages(&self) -> StageSpans {
        StageSpans::for_current_call()
    }

    /// What explains the score on the call's server span: grade, number of cross-check
    /// findings, policy version (no figure).
    fn scored(&self, result: &ScoreResult, policy: &Policy) {
        if call_sampled() {
            let span = Span::current();
            span.record("score.grade", result.scorecard.grade.as_str());
            span.record("verification.findings", result.verification.len());
            span.record("policy.version", policy.version.as_str());
        }
    }

    fn monitor_steps(&self) -> StageSpans {
        StageSpans::for_current_call()
    }

    /// The class, stage, warning level and policy version on the call's server span.
    fn monitored(&self, result: &MonitorResult, policy: &Policy) {
        if call_sampled() {
            let span = Span::current();
            span.record("monitor.classification", loan_class_name(result.classification));
            span.record("monitor.ifrs9_stage", result.ifrs9_stage);
            span.record("monitor.warning_level", warning_level_name(result.warning_level));
            span.record("policy.version", policy.version.as_str());
        }
    }

    fn decided(&self, decision: &Decision) {
        annotate_decision(decision);
    }

    fn portfolio(&self) -> PortfolioTrace {
        PortfolioTrace::for_current_call()
    }
}

/// A span per Redis call (`db.system=redis`, the command and our name for the operation;
/// never a key or a value) and the Redis call metrics. Spans only inside a sampled call: the
/// readiness probe's PING every 2 s would otherwise start a trace of its own each time.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedisCalls;

impl crate::store::redis::CallObserver for RedisCalls {
    fn start(&self, command: &str, operation: &'static str) -> Span {
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

    fn finish(&self, span: &Span, operation: &'static str, elapsed: Duration, error: Option<&StoreError>) {
        let error = error.map(|e| match e {
            StoreError::Timeout(_) => "timeout",
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
}
