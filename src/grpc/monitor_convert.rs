//! Loan snapshots in, monitoring results out.

use super::convert::{collateral_kind, date, figures, money, reason, tax_rating};
use super::validate::{FieldPath, Sign, Validator};
use crate::domain::monitoring::*;
use crate::domain::profile::TaxRating;
use crate::pb;
use crate::policy::{LoanClass, Policy, WarningLevel};

fn fraction(v: &mut Validator, path: FieldPath<'_>, x: Option<f64>, lo: f64, hi: f64) -> Option<f64> {
    let x = x?;
    if !x.is_finite() || x < lo || x > hi {
        v.violation(path, format!("must be a number in {lo}..{hi}, got {x}"));
        return None;
    }
    Some(x)
}

fn rating(v: &mut Validator, path: FieldPath<'_>, raw: &str) -> Option<TaxRating> {
    let r = raw.trim();
    if r.is_empty() {
        return None;
    }
    let parsed = tax_rating(r);
    if parsed.is_none() {
        v.violation(path, format!("must be A, B, M, C, D or empty, got {raw:?}"));
    }
    parsed
}

fn enum_or<T: Copy>(v: &mut Validator, path: FieldPath<'_>, raw: i32, map: &[(i32, T)], default: T) -> T {
    if raw == 0 {
        return default;
    }
    match map.iter().find(|(k, _)| *k == raw) {
        Some((_, t)) => *t,
        None => {
            v.violation(path, format!("unknown value {raw}"));
            default
        }
    }
}

/// Validates a snapshot (without its subject).
pub fn snapshot<'p>(
    v: &mut Validator,
    base: impl Into<FieldPath<'p>>,
    l: &pb::LoanSnapshot,
    policy: &Policy,
) -> Option<LoanSnapshot> {
    let base = base.into();
    let loan_id = v.text(base.child("loan_id"), &l.loan_id, 1, 64);
    let outstanding = v.money(
        base.child("outstanding_principal"),
        l.outstanding_principal.as_ref(),
        true,
        Sign::NonNegative,
    );
    let undrawn = v.money(
        base.child("undrawn_commitment"),
        l.undrawn_commitment.as_ref(),
        false,
        Sign::NonNegative,
    );
    let principal_dpd = v.count(
        base.child("principal_days_past_due"),
        l.principal_days_past_due,
        100_000,
    );
    let interest_dpd = v.count(base.child("interest_days_past_due"), l.interest_days_past_due, 100_000);
    let share = fraction(
        v,
        base.child("share_of_debt_over_90_dpd"),
        l.share_of_debt_over_90_dpd,
        0.0,
        1.0,
    );
    let collateral = collateral(v, base.child("collateral"), &l.collateral);
    let covenant_breaches = v.count(base.child("covenant_breaches"), l.covenant_breaches, 1_000);
    let origination = origination(v, base, l, policy);
    let remaining = v.count(base.child("remaining_term_months"), l.remaining_term_months, 600);
    let assessed = v.money(
        base.child("assessed_credit_loss"),
        l.assessed_credit_loss.as_ref(),
        false,
        Sign::NonNegative,
    );
    let restructuring = l
        .restructuring
        .as_ref()
        .and_then(|r| restructuring(v, base.child("restructuring"), r));
    let no_signals = pb::MonitoringSignals::default();
    let signals = signals(v, base.child("signals"), l.signals.as_ref().unwrap_or(&no_signals));
    Some(LoanSnapshot {
        loan_id: loan_id?,
        outstanding_principal: outstanding?,
        undrawn_commitment: undrawn.unwrap_or_default(),
        principal_days_past_due: principal_dpd,
        interest_days_past_due: interest_dpd,
        overdue_technical: l.overdue_technical,
        restructuring,
        credit_impaired: l.credit_impaired,
        assessed_credit_loss: assessed,
        repaid_by_new_borrowing: l.repaid_by_new_borrowing,
        unapproved_purpose_change: l.unapproved_purpose_change,
        share_of_debt_over_90_dpd: share,
        collateral,
        covenant_breaches,
        signals,
        origination_pd: origination.pd,
        origination_grade: origination.grade,
        origination_score: l.origination_score,
        origination_collateral_coverage: origination.coverage,
        remaining_term_months: remaining,
        other_claims: Vec::new(),
    })
}

/// The values of the loan as approved, which monitoring measures migration against.
struct Origination {
    pd: Option<f64>,
    grade: Option<usize>,
    coverage: Option<f64>,
}

/// Validates the origination values of a snapshot (each optional).
fn origination(v: &mut Validator, base: FieldPath<'_>, l: &pb::LoanSnapshot, policy: &Policy) -> Origination {
    let pd = fraction(v, base.child("origination_pd"), l.origination_pd, 0.0, 1.0);
    let grade = origination_grade(v, base.child("origination_grade"), &l.origination_grade, policy);
    if l.origination_score.is_some_and(|s| !(-10_000..=10_000).contains(&s)) {
        v.violation(base.child("origination_score"), "must be within -10000..10000");
    }
    let coverage = fraction(
        v,
        base.child("origination_collateral_coverage"),
        l.origination_collateral_coverage,
        0.0,
        100.0,
    );
    Origination { pd, grade, coverage }
}

/// A class as sent; required (unspecified or unknown is a violation).
fn class(v: &mut Validator, path: FieldPath<'_>, raw: i32) -> Option<LoanClass> {
    let class = match pb::LoanClass::try_from(raw) {
        Ok(pb::LoanClass::Normal) => Some(LoanClass::Normal),
        Ok(pb::LoanClass::SpecialMention) => Some(LoanClass::SpecialMention),
        Ok(pb::LoanClass::Substandard) => Some(LoanClass::Substandard),
        Ok(pb::LoanClass::Doubtful) => Some(LoanClass::Doubtful),
        Ok(pb::LoanClass::Loss) => Some(LoanClass::Loss),
        _ => None,
    };
    if class.is_none() {
        v.violation(path, format!("must be a loan class (NORMAL..LOSS), got {raw}"));
    }
    class
}

/// The restructuring: its dates in order (modified, not in the future, before or on the start
/// of its observation; a previous observation before this modification) and the class before.
fn restructuring(v: &mut Validator, b: FieldPath<'_>, r: &pb::Restructuring) -> Option<Restructuring> {
    let restructured_on = v.date(b.child("restructured_on"), r.restructured_on.as_ref(), true, true);
    let observation_start = v.date(b.child("observation_start"), r.observation_start.as_ref(), true, false);
    let previous = v.date(
        b.child("previous_observation_start"),
        r.previous_observation_start.as_ref(),
        false,
        true,
    );
    let class_before = class(v, b.child("class_before"), r.class_before);
    let (restructured_on, observation_start) = (restructured_on?, observation_start?);
    if observation_start < restructured_on {
        v.violation(b.child("observation_start"), "must not be before restructured_on");
        return None;
    }
    if previous.is_some_and(|p| p >= restructured_on) {
        v.violation(b.child("previous_observation_start"), "must be before restructured_on");
        return None;
    }
    Some(Restructuring {
        restructured_on,
        observation_start,
        class_before: class_before?,
        previous_observation_start: previous,
    })
}

/// Most other claims of a debtor one Monitor call may carry.
pub const MAX_OTHER_CLAIMS: usize = 1000;

/// The debtor's other claims of a MonitorRequest (the valid ones kept).
pub fn other_claims(v: &mut Validator, path: FieldPath<'_>, all: &[pb::DebtorClaim]) -> Vec<DebtorClaim> {
    if all.len() > MAX_OTHER_CLAIMS {
        v.violation(path, format!("at most {MAX_OTHER_CLAIMS} claims"));
    }
    let mut claims = Vec::new();
    for (i, c) in all.iter().take(MAX_OTHER_CLAIMS).enumerate() {
        let b = path.index(i);
        let loan_id = v.text(b.child("loan_id"), &c.loan_id, 1, 64);
        let class = class(v, b.child("class"), c.class);
        let exposure = v.money(b.child("exposure"), c.exposure.as_ref(), true, Sign::NonNegative);
        if let (Some(loan_id), Some(class), Some(exposure)) = (loan_id, class, exposure) {
            claims.push(DebtorClaim {
                loan_id,
                class,
                exposure,
            });
        }
    }
    claims
}

/// At most 50 collateral valuations (the valid ones kept).
fn collateral(v: &mut Validator, path: FieldPath<'_>, all: &[pb::CollateralValuation]) -> Vec<CollateralValuation> {
    if all.len() > 50 {
        v.violation(path, "at most 50 items");
    }
    let mut collateral = Vec::new();
    for (i, c) in all.iter().take(50).enumerate() {
        let b = path.index(i);
        let kind = collateral_kind(v, b.child("type"), c.r#type);
        let value = v.money(
            b.child("current_value"),
            c.current_value.as_ref(),
            true,
            Sign::NonNegative,
        );
        let prior = v.money(b.child("prior_liens"), c.prior_liens.as_ref(), false, Sign::NonNegative);
        if let (Some(kind), Some(current_value)) = (kind, value) {
            collateral.push(CollateralValuation {
                kind,
                current_value,
                prior_liens: prior.unwrap_or_default(),
                lost_or_disputed: c.lost_or_disputed,
            });
        }
    }
    collateral
}

/// The index of a grade of the policy; none when not given.
fn origination_grade(v: &mut Validator, path: FieldPath<'_>, raw: &str, policy: &Policy) -> Option<usize> {
    if raw.trim().is_empty() {
        return None;
    }
    let g = policy.grade_index(raw.trim());
    if g.is_none() {
        v.violation(
            path,
            format!(
                "unknown grade {:?}; the policy's grades are {:?}",
                raw,
                policy.grades.iter().map(|g| &g.name).collect::<Vec<_>>()
            ),
        );
    }
    g
}

fn signals(v: &mut Validator, b: FieldPath<'_>, s: &pb::MonitoringSignals) -> Signals {
    let change = |v: &mut Validator, name: &str, x: Option<f64>| fraction(v, b.child(name), x, -1.0, 100.0);
    Signals {
        revenue_change: change(v, "revenue_change", s.revenue_change),
        tax_paid_change: change(v, "tax_paid_change", s.tax_paid_change),
        electricity_change: change(v, "electricity_change", s.electricity_change),
        bank_inflow_change: change(v, "bank_inflow_change", s.bank_inflow_change),
        settlement_account_closed: s.settlement_account_closed,
        electricity_supply_cut: s.electricity_supply_cut,
        tax_rating: rating(v, b.child("tax_rating"), &s.tax_rating),
        origination_tax_rating: rating(v, b.child("origination_tax_rating"), &s.origination_tax_rating),
        litigation: enum_or(
            v,
            b.child("litigation"),
            s.litigation,
            &[
                (1, Litigation::None),
                (2, Litigation::NewCase),
                (3, Litigation::Material),
                (4, Litigation::DishonestOrFrozen),
            ],
            Litigation::None,
        ),
        control_change: enum_or(
            v,
            b.child("control_change"),
            s.control_change,
            &[
                (1, ControlChange::None),
                (2, ControlChange::Changed),
                (3, ControlChange::ControllerUnreachable),
            ],
            ControlChange::None,
        ),
        guarantor: enum_or(
            v,
            b.child("guarantor"),
            s.guarantor,
            &[
                (1, GuarantorStatus::Stable),
                (2, GuarantorStatus::Downgraded),
                (3, GuarantorStatus::Overdue),
                (4, GuarantorStatus::InsolventOrWithdrawn),
            ],
            GuarantorStatus::Stable,
        ),
        related_party_default: s.related_party_default,
        other_bank_npl: s.other_bank_npl,
        debt_to_assets: fraction(v, b.child("debt_to_assets"), s.debt_to_assets, 0.0, 100.0),
        origination_debt_to_assets: fraction(
            v,
            b.child("origination_debt_to_assets"),
            s.origination_debt_to_assets,
            0.0,
            100.0,
        ),
        new_lenders_6m: s.new_lenders_6m.map(|n| v.count(b.child("new_lenders_6m"), n, 1_000)),
        inquiries_6m: s.inquiries_6m.map(|n| v.count(b.child("inquiries_6m"), n, 1_000)),
        external_rating_notches_down: s.external_rating_notches_down.and_then(|n| {
            if (-30..=30).contains(&n) {
                Some(n)
            } else {
                v.violation(
                    b.child("external_rating_notches_down"),
                    format!("must be within -30..30, got {n}"),
                );
                None
            }
        }),
    }
}

pub fn loan_class(c: LoanClass) -> pb::LoanClass {
    match c {
        LoanClass::Normal => pb::LoanClass::Normal,
        LoanClass::SpecialMention => pb::LoanClass::SpecialMention,
        LoanClass::Substandard => pb::LoanClass::Substandard,
        LoanClass::Doubtful => pb::LoanClass::Doubtful,
        LoanClass::Loss => pb::LoanClass::Loss,
    }
}

pub fn warning_level(l: WarningLevel) -> pb::WarningLevel {
    match l {
        WarningLevel::Green => pb::WarningLevel::Green,
        WarningLevel::Yellow => pb::WarningLevel::Yellow,
        WarningLevel::Orange => pb::WarningLevel::Orange,
        WarningLevel::Red => pb::WarningLevel::Red,
    }
}

pub fn response(currency: &str, loan_id: &str, r: &MonitorResult, policy_version: &str) -> pb::MonitorResponse {
    pb::MonitorResponse {
        loan_id: loan_id.to_owned(),
        classification: loan_class(r.classification) as i32,
        classification_rule: Some(reason(currency, &r.classification_rule)),
        classification_rules: r.classification_rules.iter().map(|a| reason(currency, a)).collect(),
        non_performing: r.classification.non_performing(),
        ifrs9_stage: i32::from(r.ifrs9_stage),
        stage_reason: Some(reason(currency, &r.stage_reason)),
        warning_level: warning_level(r.warning_level) as i32,
        signals: r
            .signals
            .iter()
            .map(|s| pb::Signal {
                code: s.code.clone(),
                family: s.family.clone(),
                level: warning_level(s.level) as i32,
                message: s.message.clone(),
                figures: figures(currency, &s.figures),
                thresholds: figures(currency, &s.thresholds),
            })
            .collect(),
        recommended_actions: r.recommended_actions.iter().map(|a| reason(currency, a)).collect(),
        provision_rate_bps: i32::try_from(r.provision_rate_bps).unwrap_or(i32::MAX),
        regulatory_provision: Some(money(currency, r.regulatory_provision)),
        expected_credit_loss: Some(money(currency, r.expected_credit_loss)),
        provision_required: Some(money(currency, r.provision_required)),
        exposure_at_default: Some(money(currency, r.exposure_at_default)),
        collateral_coverage: if r.collateral_coverage.is_finite() {
            r.collateral_coverage
        } else {
            0.0
        },
        score: r.score,
        grade: r.grade.clone().unwrap_or_default(),
        pd: r.pd,
        score_change: r.score_change,
        grade_notches_down: r.grade_notches_down,
        policy_version: policy_version.to_owned(),
        evaluation_date: Some(date(r.evaluation_date)),
    }
}
