//! During- and post-loan monitoring (docs/DOMAIN.md 11): early-warning signals and level,
//! five-category classification (2023 Measures), IFRS 9 stage, actions and provisions. Pure:
//! the evaluation date and the optional current profile are inputs.
//!
//! [`monitor_observed`] runs the steps in order, each a module of its own: [`signals`] (the
//! early-warning signals and the overall level), [`classification`] (the five categories),
//! [`stage`] (IFRS 9) and [`provision`] (regulatory provision and expected credit loss). Every
//! threshold and level table is the policy's `[monitoring]` section.

mod classification;
mod provision;
mod signals;
mod stage;

use serde::{Deserialize, Serialize};
use time::Date;

use super::application::CollateralKind;
use super::decision::{ScoreResult, Unobserved, score_profile};
use super::profile::{EnterpriseProfile, TaxRating};
use super::rulebook::Policy;
use super::verification::Figure;
use super::vocabulary::{LoanClass, WarningLevel};
use super::{Amount, Reason};
use classification::{Classification, classify};
use provision::{Provisions, provisions};
use signals::early_warning_signals;
use stage::{StageInputs, ifrs9_stage};

pub use provision::collateral_coverage;
pub use signals::aggregate;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Litigation {
    #[default]
    None,
    NewCase,
    Material,
    DishonestOrFrozen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ControlChange {
    #[default]
    None,
    Changed,
    ControllerUnreachable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum GuarantorStatus {
    #[default]
    Stable,
    Downgraded,
    Overdue,
    InsolventOrWithdrawn,
}

/// Signals since origination; `None` means not measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    pub revenue_change: Option<f64>,
    pub tax_paid_change: Option<f64>,
    pub electricity_change: Option<f64>,
    pub bank_inflow_change: Option<f64>,
    pub settlement_account_closed: bool,
    pub electricity_supply_cut: bool,
    pub tax_rating: Option<TaxRating>,
    pub origination_tax_rating: Option<TaxRating>,
    pub litigation: Litigation,
    pub control_change: ControlChange,
    pub guarantor: GuarantorStatus,
    pub related_party_default: bool,
    pub other_bank_npl: bool,
    pub debt_to_assets: Option<f64>,
    pub origination_debt_to_assets: Option<f64>,
    pub new_lenders_6m: Option<u32>,
    pub inquiries_6m: Option<u32>,
    /// Notches the borrower's (or the asset's) external rating has lost since origination
    /// (negative: upgraded).
    #[serde(default)]
    pub external_rating_notches_down: Option<i32>,
}

/// A restructuring of the loan because of the borrower's financial difficulty. The service
/// decides from the dates whether its observation period has passed on the evaluation date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Restructuring {
    /// When the terms were modified.
    pub restructured_on: Date,
    /// Start of the observation period: the first repayment date after the modification.
    pub observation_start: Date,
    /// The class just before the restructuring (a non-performing one is not upgraded during
    /// the observation period).
    pub class_before: LoanClass,
    /// Start of the previous restructuring's observation period, if the loan was restructured
    /// before (a restructuring within it is a restructuring again).
    pub previous_observation_start: Option<Date>,
}

impl Restructuring {
    /// The end of the observation period started at `start` (exclusive).
    fn observation_end(start: Date, months: u32) -> Date {
        add_months(start, months)
    }

    /// Whether the observation period still runs on `date`.
    pub fn under_observation(&self, months: u32, date: Date) -> bool {
        date < Self::observation_end(self.observation_start, months)
    }

    /// Whether this restructuring fell within the previous one's observation period.
    pub fn restructured_again(&self, months: u32) -> bool {
        self.previous_observation_start
            .is_some_and(|prev| self.restructured_on < Self::observation_end(prev, months))
    }
}

/// `date` plus `months` calendar months, the day clamped to the end of a shorter month.
fn add_months(date: Date, months: u32) -> Date {
    let total = date.year() as i64 * 12 + (date.month() as i64 - 1) + i64::from(months);
    let year = i32::try_from(total.div_euclid(12)).unwrap_or(i32::MAX).min(9999);
    let month = time::Month::try_from((total.rem_euclid(12) + 1) as u8).unwrap_or(time::Month::December);
    let last = month.length(year);
    Date::from_calendar_date(year, month, date.day().min(last)).unwrap_or(Date::MAX)
}

/// Another claim of the same debtor at the bank, for the debtor-level rule (CL19).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DebtorClaim {
    pub loan_id: String,
    pub class: LoanClass,
    /// Outstanding exposure of the claim.
    pub exposure: Amount,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollateralValuation {
    pub kind: CollateralKind,
    pub current_value: Amount,
    pub prior_liens: Amount,
    pub lost_or_disputed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoanSnapshot {
    pub loan_id: String,
    pub outstanding_principal: Amount,
    pub undrawn_commitment: Amount,
    pub principal_days_past_due: u32,
    pub interest_days_past_due: u32,
    pub overdue_technical: bool,
    /// The latest restructuring, if the loan was restructured.
    pub restructuring: Option<Restructuring>,
    pub credit_impaired: bool,
    /// An individually assessed lifetime expected credit loss of a credit-impaired loan
    /// (discounted recoveries); the stage 3 loss when given, else the model's.
    pub assessed_credit_loss: Option<Amount>,
    pub repaid_by_new_borrowing: bool,
    pub unapproved_purpose_change: bool,
    pub share_of_debt_over_90_dpd: Option<f64>,
    pub collateral: Vec<CollateralValuation>,
    pub covenant_breaches: u32,
    pub signals: Signals,
    pub origination_pd: Option<f64>,
    /// Index of the origination grade in the policy.
    pub origination_grade: Option<usize>,
    pub origination_score: Option<i32>,
    /// Collateral coverage after haircuts at origination (as approved), for W09's migration.
    pub origination_collateral_coverage: Option<f64>,
    pub remaining_term_months: u32,
    /// The debtor's other claims at the bank, for the debtor-level rule (CL19).
    pub other_claims: Vec<DebtorClaim>,
}

impl LoanSnapshot {
    /// Days past due on principal or interest, whichever is worse.
    pub fn days_past_due(&self) -> u32 {
        self.principal_days_past_due.max(self.interest_days_past_due)
    }

    /// A delay the policy tolerates as technical: flagged, and within its days past due.
    pub fn technical_delay(&self, technical_dpd_max: u32) -> bool {
        self.overdue_technical && self.days_past_due() <= technical_dpd_max
    }
}

/// A warning signal that fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FiredSignal {
    pub code: String,
    pub family: String,
    pub level: WarningLevel,
    pub message: String,
    pub figures: Vec<Figure>,
    /// The policy thresholds of the level it reached.
    #[serde(default)]
    pub thresholds: Vec<Figure>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorResult {
    pub classification: LoanClass,
    pub classification_rule: Reason,
    pub classification_rules: Vec<Reason>,
    pub ifrs9_stage: u8,
    pub stage_reason: Reason,
    pub warning_level: WarningLevel,
    pub signals: Vec<FiredSignal>,
    pub recommended_actions: Vec<Reason>,
    pub provision_rate_bps: i64,
    pub regulatory_provision: Amount,
    pub expected_credit_loss: Amount,
    pub provision_required: Amount,
    pub exposure_at_default: Amount,
    pub collateral_coverage: f64,
    pub score: Option<i32>,
    pub grade: Option<String>,
    pub pd: Option<f64>,
    pub score_change: Option<i32>,
    pub grade_notches_down: Option<i32>,
    pub evaluation_date: Date,
}

/// A step of [`monitor`], as an observer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorStage {
    /// Scoring the current profile (only when one is given).
    Rescoring,
    /// The early-warning signals and their level.
    Signals,
    /// The five-category classification.
    Classification,
    /// The IFRS 9 stage.
    Ifrs9Stage,
}

impl MonitorStage {
    pub fn name(self) -> &'static str {
        match self {
            MonitorStage::Rescoring => "rescoring",
            MonitorStage::Signals => "signals",
            MonitorStage::Classification => "classification",
            MonitorStage::Ifrs9Stage => "ifrs9_stage",
        }
    }
}

/// What a step of [`monitor`] concluded, by reference. As with the decision pipeline's
/// `StageReport`, the observer picks what it may show: the core knows nothing of who watches.
#[derive(Debug, Clone, Copy)]
pub enum MonitorReport<'a> {
    Rescoring {
        result: &'a ScoreResult,
        /// Grades lost since origination (negative: better), when both grades are known.
        grade_notches_down: Option<i32>,
    },
    Signals {
        signals: &'a [FiredSignal],
        level: WarningLevel,
    },
    Classification {
        class: LoanClass,
        /// The rule that decided the class.
        rule: &'a Reason,
        /// Rules that applied (the deciding one included).
        rules: usize,
    },
    Ifrs9Stage {
        stage: u8,
        reason: &'a Reason,
    },
}

/// Watches [`monitor_observed`] step by step: `start` just before a step runs, `finish` with
/// its report right after (the monitoring counterpart of the decision pipeline's
/// `StageObserver`). [`Unobserved`] costs nothing.
pub trait MonitorObserver {
    /// Whatever the observer keeps while a step runs (a span guard, a start time).
    type Guard;
    fn start(&mut self, stage: MonitorStage) -> Self::Guard;
    fn finish(&mut self, guard: Self::Guard, report: MonitorReport<'_>);
}

impl MonitorObserver for Unobserved {
    type Guard = ();
    #[inline(always)]
    fn start(&mut self, _stage: MonitorStage) {
        // Nothing observed: the stage runs with no guard to hold.
    }

    #[inline(always)]
    fn finish(&mut self, _guard: (), _report: MonitorReport<'_>) {
        // Nothing observed.
    }
}

/// Evaluates a loan snapshot. `profile`, when given, is scored for the behaviour-grade signal,
/// the current PD and the change since origination.
pub fn monitor(loan: &LoanSnapshot, profile: Option<&EnterpriseProfile>, policy: &Policy, date: Date) -> MonitorResult {
    monitor_observed(loan, profile, policy, date, &mut Unobserved)
}

/// [`monitor`], step by step under an observer (the same result, bit for bit).
pub fn monitor_observed<O: MonitorObserver>(
    loan: &LoanSnapshot,
    profile: Option<&EnterpriseProfile>,
    policy: &Policy,
    date: Date,
    observer: &mut O,
) -> MonitorResult {
    let rescored = profile.map(|p| rescore(loan, p, policy, date, observer));
    let notches_down = rescored.as_ref().and_then(|r| r.notches_down);
    let scored = rescored.as_ref().map(|r| &r.result);

    let guard = observer.start(MonitorStage::Signals);
    let signals = early_warning_signals(loan, profile, scored, notches_down, policy);
    let warning_level = aggregate(&policy.monitoring.warning, &signals);
    let report = MonitorReport::Signals {
        signals: &signals,
        level: warning_level,
    };
    observer.finish(guard, report);

    let guard = observer.start(MonitorStage::Classification);
    let classified = classify(loan, profile, warning_level, policy, date);
    let report = MonitorReport::Classification {
        class: classified.class,
        rule: &classified.rule,
        rules: classified.rules.len(),
    };
    observer.finish(guard, report);

    let guard = observer.start(MonitorStage::Ifrs9Stage);
    let pd_now = scored.map(|r| r.scorecard.pd);
    let inputs = StageInputs {
        pd_now,
        notches_down,
        class: classified.class,
        warning_level,
    };
    let (stage, stage_reason) = ifrs9_stage(loan, &inputs, policy, date);
    let report = MonitorReport::Ifrs9Stage {
        stage,
        reason: &stage_reason,
    };
    observer.finish(guard, report);

    let provided = provisions(loan, scored, classified.class, stage, policy);
    let result = Assessment {
        classified,
        stage,
        stage_reason,
        warning_level,
        signals,
        provided,
    };
    assemble(loan, scored, notches_down, policy, result, date)
}

/// The current profile's score and the grades lost since origination.
struct Rescored {
    result: ScoreResult,
    notches_down: Option<i32>,
}

/// Scores the current profile: the behaviour grade signal, the current PD and SICR read it.
fn rescore<O: MonitorObserver>(
    loan: &LoanSnapshot,
    profile: &EnterpriseProfile,
    policy: &Policy,
    date: Date,
    observer: &mut O,
) -> Rescored {
    let guard = observer.start(MonitorStage::Rescoring);
    let result = score_profile(profile, policy, date);
    // Grades are best first, so a larger index now than at origination is a downgrade.
    let notches_down = match (result.scorecard.grade_index, loan.origination_grade) {
        (Some(now), Some(was)) => Some(now as i32 - was as i32),
        _ => None,
    };
    let report = MonitorReport::Rescoring {
        result: &result,
        grade_notches_down: notches_down,
    };
    observer.finish(guard, report);
    Rescored { result, notches_down }
}

/// What the steps concluded, gathered for [`assemble`].
struct Assessment {
    classified: Classification,
    stage: u8,
    stage_reason: Reason,
    warning_level: WarningLevel,
    signals: Vec<FiredSignal>,
    provided: Provisions,
}

/// The result: the steps' conclusions, the actions for the level, and the score movement.
fn assemble(
    loan: &LoanSnapshot,
    scored: Option<&ScoreResult>,
    notches_down: Option<i32>,
    policy: &Policy,
    a: Assessment,
    date: Date,
) -> MonitorResult {
    let score = scored.map(|r| r.scorecard.score);
    let provided = a.provided;
    MonitorResult {
        classification: a.classified.class,
        classification_rule: a.classified.rule,
        classification_rules: a.classified.rules,
        ifrs9_stage: a.stage,
        stage_reason: a.stage_reason,
        warning_level: a.warning_level,
        signals: a.signals,
        recommended_actions: recommended_actions(policy, a.warning_level),
        provision_rate_bps: provided.rate_bps,
        regulatory_provision: provided.regulatory,
        // The regulatory reference and the expected credit loss: the larger is required.
        provision_required: provided.regulatory.max(provided.expected_credit_loss),
        expected_credit_loss: provided.expected_credit_loss,
        exposure_at_default: provided.exposure_at_default,
        collateral_coverage: collateral_coverage(policy, loan),
        score,
        grade: scored.map(|r| r.scorecard.grade.clone()),
        pd: scored.map(|r| r.scorecard.pd),
        score_change: score.zip(loan.origination_score).map(|(now, was)| now - was),
        grade_notches_down: notches_down,
        evaluation_date: date,
    }
}

/// The policy's action list for the level (none at green).
fn recommended_actions(policy: &Policy, level: WarningLevel) -> Vec<Reason> {
    policy
        .monitoring
        .warning
        .actions
        .get(&level)
        .into_iter()
        .flatten()
        .map(|code| Reason::coded(code, &policy.message(code)))
        .collect()
}

/// A classification or stage reason: the code's message, the figures it compared and the
/// policy thresholds it compared them with.
fn rule_reason(policy: &Policy, code: &str, figures: Vec<Figure>, thresholds: Vec<Figure>) -> Reason {
    Reason::coded(code, &policy.message(code)).with_figures(figures, thresholds)
}
