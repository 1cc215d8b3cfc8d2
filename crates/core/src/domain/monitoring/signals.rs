//! Early-warning signals (W01-W16) and the overall warning level (docs/DOMAIN.md 11.2, 11.3). Each signal
//! reads one part of the snapshot against the policy's `[monitoring.warning]` table; a green
//! signal is not reported.

use super::stage::level_key;
use super::{ControlChange, FiredSignal, GuarantorStatus, Litigation, LoanSnapshot, Signals, collateral_coverage};
use crate::domain::decision::ScoreResult;
use crate::domain::figure::Figure;
use crate::domain::profile::{EnterpriseProfile, TaxRating};
use crate::domain::rulebook::{Levels, Policy, TaxRatingTrigger, Warning};
use crate::domain::vocabulary::WarningLevel;

/// Absorbs binary rounding in a leverage increase, so that 0.61 - 0.51 counts as the 10 points
/// it is (not a policy number: far below any meaningful change of a ratio).
const RATIO_TOLERANCE: f64 = 1e-9;

fn num(name: &str, x: f64) -> Figure {
    Figure::number(name, x)
}

fn text(name: &str, s: impl Into<String>) -> Figure {
    Figure::text(name, s)
}

/// The threshold of `level` in a table of levels, named `field.level` as the policy writes it.
fn level_threshold<T: Copy + Into<f64>>(field: &str, levels: &Levels<T>, level: WarningLevel) -> Vec<Figure> {
    let t = match level {
        WarningLevel::Yellow => levels.yellow,
        WarningLevel::Orange => levels.orange,
        WarningLevel::Red => levels.red,
        WarningLevel::Green => None,
    };
    t.map(|t| num(&format!("{field}.{}", level_key(level)), t.into()))
        .into_iter()
        .collect()
}

/// The policy entry that set a state's level: `field` and the level it gives.
fn state_threshold(field: &str, level: WarningLevel) -> Vec<Figure> {
    vec![text(field, level_key(level))]
}

/// The signals fired so far, in firing order (which is also the report order).
struct SignalSet<'p> {
    policy: &'p Policy,
    fired: Vec<FiredSignal>,
}

/// What a signal saw: the level it reached, a short detail, the figures it compared and the
/// policy thresholds of its level.
struct Seen {
    level: WarningLevel,
    detail: String,
    figures: Vec<Figure>,
    thresholds: Vec<Figure>,
}

impl SignalSet<'_> {
    fn fire(&mut self, code: &str, family: &str, seen: Seen) {
        if seen.level == WarningLevel::Green {
            return;
        }
        self.fired.push(FiredSignal {
            code: code.to_owned(),
            family: family.to_owned(),
            level: seen.level,
            message: format!("{}: {}", self.policy.message(code), seen.detail),
            figures: seen.figures,
            thresholds: seen.thresholds,
        });
    }

    /// A state signal (a flag or a state of a table): its level, the state seen and the policy
    /// entry that gives the level.
    fn fire_state(&mut self, code: &str, family: &str, level: WarningLevel, state: Figure, field: &str) {
        let detail = match &state.value {
            crate::domain::figure::FigureValue::Text(t) => t.clone(),
            _ => String::new(),
        };
        let seen = Seen {
            level,
            detail,
            figures: vec![state],
            thresholds: state_threshold(field, level),
        };
        self.fire(code, family, seen);
    }

    /// A change signal (a fraction, negative for a drop): the worst level whose threshold the
    /// change reaches, at or below it.
    fn fire_drop(&mut self, code: &str, family: &str, levels: &Levels<f64>, change: Change) {
        let level = levels.level(|threshold| change.value <= threshold);
        let seen = Seen {
            level,
            detail: format!("{:+.1}%{}", change.value * 100.0, change.suffix),
            figures: vec![num(change.figure, change.value)],
            thresholds: level_threshold(change.figure, levels, level),
        };
        self.fire(code, family, seen);
    }
}

/// One measured change and how to report it; `figure` is also the policy table's name.
struct Change {
    value: f64,
    figure: &'static str,
    suffix: &'static str,
}

fn change(value: f64, figure: &'static str) -> Change {
    Change {
        value,
        figure,
        suffix: "",
    }
}

/// Every signal of the snapshot, in the fixed report order. `scored` and `notches_down` come
/// from rescoring the current profile, when one is given.
pub(super) fn early_warning_signals(
    loan: &LoanSnapshot,
    profile: Option<&EnterpriseProfile>,
    scored: Option<&ScoreResult>,
    notches_down: Option<i32>,
    policy: &Policy,
) -> Vec<FiredSignal> {
    let mut set = SignalSet {
        policy,
        fired: Vec::new(),
    };
    let w = &policy.monitoring.warning;
    let s = &loan.signals;
    delinquency_signal(&mut set, w, loan, policy.monitoring.technical_dpd_max);
    revenue_and_tax_signals(&mut set, w, s);
    inflow_signals(&mut set, w, s);
    if electricity_applies(policy, profile) {
        electricity_signals(&mut set, w, s);
    }
    let (litigation, state) = litigation_level(w, s.litigation);
    let field = format!("litigation.{state}");
    set.fire_state("W07", "litigation", litigation, text("litigation", state), &field);
    collateral_signal(&mut set, w, policy, loan);
    let (guarantor, state) = guarantor_level(w, s.guarantor);
    let field = format!("guarantor.{state}");
    set.fire_state("W10", "guarantor", guarantor, text("guarantor", state), &field);
    leverage_signal(&mut set, w, s);
    if let Some(r) = scored {
        grade_signal(&mut set, w, r, loan.origination_grade, notches_down);
    }
    borrowing_signal(&mut set, w, s);
    counterparty_signals(&mut set, w, s);
    covenant_signal(&mut set, w, loan.covenant_breaches);
    // Last: whether a control change is alone depends on every other signal.
    let (control, state) = control_change_level(w, s.control_change, !set.fired.is_empty());
    let field = format!("control_change.{state}");
    set.fire_state("W08", "control", control, text("control_change", state), &field);
    set.fired
}

/// W01 by days past due. A technical delay the policy tolerates (flagged, within
/// `technical_dpd_max`) is no warning: it would otherwise join another family's yellow and
/// escalate a performing loan to special mention.
fn delinquency_signal(set: &mut SignalSet, w: &Warning, loan: &LoanSnapshot, technical_dpd_max: u32) {
    if loan.technical_delay(technical_dpd_max) {
        return;
    }
    let dpd = loan.days_past_due();
    let level = w.dpd.level(|t| dpd >= t);
    let seen = Seen {
        level,
        detail: format!("{dpd} days past due"),
        figures: vec![num("days_past_due", f64::from(dpd))],
        thresholds: level_threshold("dpd", &w.dpd, level),
    };
    set.fire("W01", "delinquency", seen);
}

/// W02 revenue, W03 tax paid and W04 the tax credit rating (one "tax" family).
fn revenue_and_tax_signals(set: &mut SignalSet, w: &Warning, s: &Signals) {
    if let Some(x) = s.revenue_change {
        set.fire_drop("W02", "revenue", &w.revenue_change, change(x, "revenue_change"));
    }
    if let Some(x) = s.tax_paid_change {
        set.fire_drop("W03", "tax", &w.tax_paid_change, change(x, "tax_paid_change"));
    }
    if let Some(now) = s.tax_rating {
        tax_rating_signal(set, w, s.origination_tax_rating, now);
    }
}

/// W04: the policy's level for the current rating, if the move from origination triggers it;
/// the thresholds are the rating's entry (its level and trigger).
fn tax_rating_signal(set: &mut SignalSet, w: &Warning, origination: Option<TaxRating>, current: TaxRating) {
    let Some(rule) = w
        .tax_rating
        .get(&current)
        .filter(|r| r.when.fires(origination, current))
    else {
        return;
    };
    let from = origination.map_or("unknown", |r| r.as_str());
    let base = format!("tax_rating.{}", current.as_str());
    let seen = Seen {
        level: rule.level,
        detail: format!("{from} -> {}", current.as_str()),
        figures: vec![
            text("tax_rating", current.as_str()),
            text("origination_tax_rating", from),
        ],
        thresholds: vec![
            text(&format!("{base}.level"), level_key(rule.level)),
            text(&format!("{base}.when"), trigger_key(rule.when)),
        ],
    };
    set.fire("W04", "tax", seen);
}

fn trigger_key(when: TaxRatingTrigger) -> &'static str {
    match when {
        TaxRatingTrigger::Always => "always",
        TaxRatingTrigger::Downgrade => "downgrade",
        TaxRatingTrigger::DowngradeOrUnknown => "downgrade_or_unknown",
    }
}

/// W05: bank inflows (3-month against 12-month average) and a closed settlement account.
fn inflow_signals(set: &mut SignalSet, w: &Warning, s: &Signals) {
    if let Some(x) = s.bank_inflow_change {
        let inflows = Change {
            suffix: " (3m avg vs 12m avg)",
            ..change(x, "bank_inflow_change")
        };
        set.fire_drop("W05", "inflows", &w.bank_inflow_change, inflows);
    }
    if s.settlement_account_closed {
        let state = text("settlement_account_closed", "true");
        set.fire_state(
            "W05",
            "inflows",
            w.settlement_account_closed,
            state,
            "settlement_account_closed",
        );
    }
}

/// Electricity is read only in the industries where it tracks output (or when the industry is
/// unknown because no current profile was given).
fn electricity_applies(policy: &Policy, profile: Option<&EnterpriseProfile>) -> bool {
    profile.is_none_or(|p| {
        policy
            .verification
            .electricity_industries
            .iter()
            .any(|prefix| p.industry_code.starts_with(prefix.as_str()))
    })
}

/// W06: electricity consumption and a supply cut.
fn electricity_signals(set: &mut SignalSet, w: &Warning, s: &Signals) {
    if let Some(x) = s.electricity_change {
        set.fire_drop(
            "W06",
            "electricity",
            &w.electricity_change,
            change(x, "electricity_change"),
        );
    }
    if s.electricity_supply_cut {
        let state = text("electricity_supply_cut", "true");
        set.fire_state(
            "W06",
            "electricity",
            w.electricity_supply_cut,
            state,
            "electricity_supply_cut",
        );
    }
}

/// W07 by litigation state, with the state's name in the policy table.
fn litigation_level(w: &Warning, litigation: Litigation) -> (WarningLevel, &'static str) {
    match litigation {
        Litigation::None => (WarningLevel::Green, "none"),
        Litigation::NewCase => (w.litigation.new_case, "new_case"),
        Litigation::Material => (w.litigation.material, "material"),
        Litigation::DishonestOrFrozen => (w.litigation.dishonest_or_frozen, "dishonest_or_frozen"),
    }
}

/// W09: collateral lost or disputed; else the fall of coverage after haircuts since
/// origination (the limit may lend an unsecured part on top of the collateral, so what the
/// loan was approved with is the reference); the absolute floors only when the coverage at
/// origination is unknown. Only for a secured loan with something outstanding.
fn collateral_signal(set: &mut SignalSet, w: &Warning, policy: &Policy, loan: &LoanSnapshot) {
    if loan.collateral.is_empty() || !loan.outstanding_principal.is_positive() {
        return;
    }
    let coverage = collateral_coverage(policy, loan);
    if loan.collateral.iter().any(|c| c.lost_or_disputed) {
        let state = text("collateral_lost_or_disputed", "true");
        set.fire_state("W09", "collateral", w.collateral_lost, state, "collateral_lost");
        return;
    }
    let mut figures = vec![num("collateral_coverage", coverage)];
    let seen = match loan.origination_collateral_coverage {
        // Nothing was lent against collateral at origination: there is no coverage to lose.
        Some(was) if was <= 0.0 => return,
        Some(was) => {
            let fall = 1.0 - coverage / was;
            figures.extend([
                num("origination_collateral_coverage", was),
                num("collateral_coverage_fall", fall),
            ]);
            let level = w.collateral_coverage_fall.level(|t| fall >= t);
            Seen {
                level,
                detail: format!(
                    "coverage {:.0}% from {:.0}% at origination",
                    coverage * 100.0,
                    was * 100.0
                ),
                figures,
                thresholds: level_threshold("collateral_coverage_fall", &w.collateral_coverage_fall, level),
            }
        }
        None => {
            let level = w.collateral_coverage_below.level(|t| coverage < t);
            Seen {
                level,
                detail: format!("coverage {:.0}%", coverage * 100.0),
                figures,
                thresholds: level_threshold("collateral_coverage_below", &w.collateral_coverage_below, level),
            }
        }
    };
    set.fire("W09", "collateral", seen);
}

/// W10 by guarantor state, with the state's name in the policy table.
fn guarantor_level(w: &Warning, guarantor: GuarantorStatus) -> (WarningLevel, &'static str) {
    match guarantor {
        GuarantorStatus::Stable => (WarningLevel::Green, "stable"),
        GuarantorStatus::Downgraded => (w.guarantor.downgraded, "downgraded"),
        GuarantorStatus::Overdue => (w.guarantor.overdue, "overdue"),
        GuarantorStatus::InsolventOrWithdrawn => (w.guarantor.insolvent_or_withdrawn, "insolvent_or_withdrawn"),
    }
}

/// W11: debt to assets above the absolute backstop (which starts above what K12 admits, so a
/// loan approved at the ceiling is not flagged), or (yellow) risen enough since origination.
fn leverage_signal(set: &mut SignalSet, w: &Warning, s: &Signals) {
    let Some(now) = s.debt_to_assets else {
        return;
    };
    let above = w.debt_to_assets_above.level(|t| now > t);
    let rise = s.origination_debt_to_assets.map(|was| now - was);
    let risen = rise.is_some_and(|r| r >= w.debt_to_assets_increase_yellow - RATIO_TOLERANCE);
    let (level, thresholds) = if above == WarningLevel::Green && risen {
        let t = num("debt_to_assets_increase_yellow", w.debt_to_assets_increase_yellow);
        (WarningLevel::Yellow, vec![t])
    } else {
        (
            above,
            level_threshold("debt_to_assets_above", &w.debt_to_assets_above, above),
        )
    };
    let mut figures = vec![num("debt_to_assets", now)];
    if let (Some(was), Some(rise)) = (s.origination_debt_to_assets, rise) {
        figures.extend([num("origination_debt_to_assets", was), num("debt_to_assets_rise", rise)]);
    }
    let seen = Seen {
        level,
        detail: format!("{:.1}%", now * 100.0),
        figures,
        thresholds,
    };
    set.fire("W11", "leverage", seen);
}

/// W12: the behaviour grade of the current profile: the default grade (whatever it was), a
/// listed bad grade the loan has migrated into (worse than at origination, or the origination
/// grade unknown), or enough notches lost since origination. A loan approved at a listed grade
/// and still there has not deteriorated.
fn grade_signal(
    set: &mut SignalSet,
    w: &Warning,
    scored: &ScoreResult,
    origination: Option<usize>,
    notches_down: Option<i32>,
) {
    let migrated_into = |g: usize| origination.is_none_or(|was| g > was);
    let notches = |n: i32| w.grade_notches_down.level(|t| n >= t as i32);
    let grades = &set.policy.grades;
    let grade_list = |field: &str, list: &[usize]| {
        let names: Vec<&str> = list
            .iter()
            .filter_map(|g| grades.get(*g))
            .map(|g| g.name.as_str())
            .collect();
        vec![text(field, names.join(", "))]
    };
    let (level, thresholds) = match scored.scorecard.grade_index {
        // No grade index: the profile falls in the default grade.
        None => (w.default_grade, state_threshold("default_grade", w.default_grade)),
        Some(g) if w.red_grades.contains(&g) && migrated_into(g) => {
            (WarningLevel::Red, grade_list("red_grades", &w.red_grades))
        }
        Some(g) if w.orange_grades.contains(&g) && migrated_into(g) => {
            (WarningLevel::Orange, grade_list("orange_grades", &w.orange_grades))
        }
        Some(_) => {
            let level = notches_down.map_or(WarningLevel::Green, notches);
            (
                level,
                level_threshold("grade_notches_down", &w.grade_notches_down, level),
            )
        }
    };
    let mut figures = vec![
        num("score", f64::from(scored.scorecard.score)),
        text("grade", scored.scorecard.grade.clone()),
    ];
    if let Some(was) = origination.and_then(|g| grades.get(g)) {
        figures.push(text("origination_grade", was.name.clone()));
    }
    if let Some(n) = notches_down {
        figures.push(num("grade_notches_down", f64::from(n)));
    }
    let seen = Seen {
        level,
        detail: format!("grade {}", scored.scorecard.grade),
        figures,
        thresholds,
    };
    set.fire("W12", "grade", seen);
}

/// W13: new lenders and credit inquiries over six months, the worse of the two.
fn borrowing_signal(set: &mut SignalSet, w: &Warning, s: &Signals) {
    let lenders = s
        .new_lenders_6m
        .map_or(WarningLevel::Green, |n| w.new_lenders_6m.level(|t| n >= t));
    let inquiries = s
        .inquiries_6m
        .map_or(WarningLevel::Green, |n| w.inquiries_6m.level(|t| n >= t));
    let level = lenders.max(inquiries);
    let mut figures = Vec::new();
    let mut thresholds = Vec::new();
    if let Some(n) = s.new_lenders_6m {
        figures.push(num("new_lenders_6m", f64::from(n)));
        thresholds.extend(level_threshold("new_lenders_6m", &w.new_lenders_6m, lenders));
    }
    if let Some(n) = s.inquiries_6m {
        figures.push(num("inquiries_6m", f64::from(n)));
        thresholds.extend(level_threshold("inquiries_6m", &w.inquiries_6m, inquiries));
    }
    let detail = format!(
        "{} new lenders, {} inquiries in 6 months",
        s.new_lenders_6m.unwrap_or(0),
        s.inquiries_6m.unwrap_or(0)
    );
    set.fire(
        "W13",
        "borrowing",
        Seen {
            level,
            detail,
            figures,
            thresholds,
        },
    );
}

/// W14 another bank's non-performing report and W15 a related party in default.
fn counterparty_signals(set: &mut SignalSet, w: &Warning, s: &Signals) {
    if s.other_bank_npl {
        let state = text("other_bank_npl", "true");
        set.fire_state("W14", "other_bank", w.other_bank_npl, state, "other_bank_npl");
    }
    if s.related_party_default {
        let state = text("related_party_default", "true");
        set.fire_state(
            "W15",
            "related_party",
            w.related_party_default,
            state,
            "related_party_default",
        );
    }
}

/// W16: covenants breached and not waived.
fn covenant_signal(set: &mut SignalSet, w: &Warning, breaches: u32) {
    let level = w.covenant_breaches.level(|t| breaches >= t);
    let seen = Seen {
        level,
        detail: format!("{breaches} breached"),
        figures: vec![num("covenant_breaches", f64::from(breaches))],
        thresholds: level_threshold("covenant_breaches", &w.covenant_breaches, level),
    };
    set.fire("W16", "covenants", seen);
}

/// W08: a change of controller is more alarming when anything else is already wrong; with the
/// state's name in the policy table.
fn control_change_level(w: &Warning, change: ControlChange, other_signals: bool) -> (WarningLevel, &'static str) {
    let c = &w.control_change;
    match change {
        ControlChange::None => (WarningLevel::Green, "none"),
        ControlChange::Changed if other_signals => (c.changed_with_other_signal, "changed_with_other_signal"),
        ControlChange::Changed => (c.changed, "changed"),
        ControlChange::ControllerUnreachable => (c.controller_unreachable, "controller_unreachable"),
    }
}

/// The overall level: the worst signal, raised by the policy's family escalations (several
/// families going wrong together say more than one family going very wrong).
pub fn aggregate(w: &Warning, signals: &[FiredSignal]) -> WarningLevel {
    let worst = signals.iter().map(|s| s.level).max().unwrap_or(WarningLevel::Green);
    w.family_escalation
        .iter()
        .filter(|rule| families_at(signals, rule.at_least) >= rule.families)
        .map(|rule| rule.raise_to)
        .fold(worst, WarningLevel::max)
}

/// Distinct families with a signal at `min` or worse.
fn families_at(signals: &[FiredSignal], min: WarningLevel) -> usize {
    let mut families: Vec<&str> = signals
        .iter()
        .filter(|s| s.level >= min)
        .map(|s| s.family.as_str())
        .collect();
    families.sort_unstable();
    families.dedup();
    families.len()
}
