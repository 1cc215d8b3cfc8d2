//! Early-warning signals (W01-W16) and the overall warning level (docs/DOMAIN.md 11.2, 11.3). Each signal
//! reads one part of the snapshot against the policy's `[monitoring.warning]` table; a green
//! signal is not reported.

use super::{ControlChange, FiredSignal, GuarantorStatus, Litigation, LoanSnapshot, Signals, collateral_coverage};
use crate::domain::decision::ScoreResult;
use crate::domain::profile::{EnterpriseProfile, TaxRating};
use crate::domain::rulebook::{Policy, Warning};
use crate::domain::figure::Figure;
use crate::domain::vocabulary::WarningLevel;

/// Absorbs binary rounding in a leverage increase, so that 0.61 - 0.51 counts as the 10 points
/// it is (not a policy number: far below any meaningful change of a ratio).
const RATIO_TOLERANCE: f64 = 1e-9;

fn num(name: &str, x: f64) -> Figure {
    Figure::number(name, x)
}

/// The signals fired so far, in firing order (which is also the report order).
struct SignalSet<'p> {
    policy: &'p Policy,
    fired: Vec<FiredSignal>,
}

impl SignalSet<'_> {
    fn fire(&mut self, code: &str, family: &str, level: WarningLevel, detail: String, figures: Vec<Figure>) {
        if level == WarningLevel::Green {
            return;
        }
        self.fired.push(FiredSignal {
            code: code.to_owned(),
            family: family.to_owned(),
            level,
            message: format!("{}: {detail}", self.policy.message(code)),
            figures,
            thresholds: Vec::new(),
        });
    }

    /// A change signal (a fraction, negative for a drop): the worst level whose threshold the
    /// change reaches, at or below it.
    fn fire_drop(&mut self, code: &str, family: &str, levels: &crate::domain::rulebook::Levels<f64>, change: Change) {
        let level = levels.level(|threshold| change.value <= threshold);
        let detail = format!("{:+.1}%{}", change.value * 100.0, change.suffix);
        self.fire(code, family, level, detail, vec![num(change.figure, change.value)]);
    }
}

/// One measured change and how to report it.
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
    delinquency_signal(&mut set, w, loan);
    revenue_and_tax_signals(&mut set, w, s);
    inflow_signals(&mut set, w, s);
    if electricity_applies(policy, profile) {
        electricity_signals(&mut set, w, s);
    }
    let litigation = litigation_level(w, s.litigation);
    set.fire(
        "W07",
        "litigation",
        litigation,
        format!("{:?}", s.litigation),
        Vec::new(),
    );
    collateral_signal(&mut set, w, policy, loan);
    let guarantor = guarantor_level(w, s.guarantor);
    set.fire("W10", "guarantor", guarantor, format!("{:?}", s.guarantor), Vec::new());
    leverage_signal(&mut set, w, s);
    if let Some(r) = scored {
        grade_signal(&mut set, w, r, notches_down);
    }
    borrowing_signal(&mut set, w, s);
    counterparty_signals(&mut set, w, s);
    let covenants = w.covenant_breaches.level(|t| loan.covenant_breaches >= t);
    let detail = format!("{} breached", loan.covenant_breaches);
    set.fire("W16", "covenants", covenants, detail, Vec::new());
    // Last: whether a control change is alone depends on every other signal.
    let control = control_change_level(w, s.control_change, !set.fired.is_empty());
    set.fire("W08", "control", control, format!("{:?}", s.control_change), Vec::new());
    set.fired
}

/// W01. Even 1-7 technical days past due are a signal: the class tolerates them, the watch
/// list does not.
fn delinquency_signal(set: &mut SignalSet, w: &Warning, loan: &LoanSnapshot) {
    let dpd = loan.days_past_due();
    let level = w.dpd.level(|t| dpd >= t);
    let figures = vec![num("days_past_due", f64::from(dpd))];
    set.fire("W01", "delinquency", level, format!("{dpd} days past due"), figures);
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
        let was = s.origination_tax_rating;
        let level = tax_rating_level(w, was, now);
        let from = was.map_or("unknown", |r| r.as_str());
        set.fire("W04", "tax", level, format!("{from} -> {}", now.as_str()), Vec::new());
    }
}

/// W04: the policy's level for the current rating, if the move from origination triggers it.
fn tax_rating_level(w: &Warning, origination: Option<TaxRating>, current: TaxRating) -> WarningLevel {
    w.tax_rating
        .get(&current)
        .filter(|rule| rule.when.fires(origination, current))
        .map_or(WarningLevel::Green, |rule| rule.level)
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
        let detail = "settlement account closed".into();
        set.fire("W05", "inflows", w.settlement_account_closed, detail, Vec::new());
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
        set.fire(
            "W06",
            "electricity",
            w.electricity_supply_cut,
            "supply cut".into(),
            Vec::new(),
        );
    }
}

/// W07 by litigation state.
fn litigation_level(w: &Warning, litigation: Litigation) -> WarningLevel {
    match litigation {
        Litigation::None => WarningLevel::Green,
        Litigation::NewCase => w.litigation.new_case,
        Litigation::Material => w.litigation.material,
        Litigation::DishonestOrFrozen => w.litigation.dishonest_or_frozen,
    }
}

/// W09: collateral coverage after haircuts, or collateral lost or disputed. Only for a secured
/// loan with something outstanding.
fn collateral_signal(set: &mut SignalSet, w: &Warning, policy: &Policy, loan: &LoanSnapshot) {
    if loan.collateral.is_empty() || !loan.outstanding_principal.is_positive() {
        return;
    }
    let coverage = collateral_coverage(policy, loan);
    let lost = loan.collateral.iter().any(|c| c.lost_or_disputed);
    let (level, detail) = if lost {
        (w.collateral_lost, "collateral lost or disputed".to_owned())
    } else {
        let level = w.collateral_coverage_below.level(|t| coverage < t);
        (level, format!("coverage {:.0}%", coverage * 100.0))
    };
    let figures = vec![num("collateral_coverage", coverage)];
    set.fire("W09", "collateral", level, detail, figures);
}

/// W10 by guarantor state.
fn guarantor_level(w: &Warning, guarantor: GuarantorStatus) -> WarningLevel {
    match guarantor {
        GuarantorStatus::Stable => WarningLevel::Green,
        GuarantorStatus::Downgraded => w.guarantor.downgraded,
        GuarantorStatus::Overdue => w.guarantor.overdue,
        GuarantorStatus::InsolventOrWithdrawn => w.guarantor.insolvent_or_withdrawn,
    }
}

/// W11: debt to assets above a level, or (yellow) risen enough since origination.
fn leverage_signal(set: &mut SignalSet, w: &Warning, s: &Signals) {
    let Some(now) = s.debt_to_assets else {
        return;
    };
    let mut level = w.debt_to_assets_above.level(|t| now > t);
    let risen = s
        .origination_debt_to_assets
        .is_some_and(|was| now - was >= w.debt_to_assets_increase_yellow - RATIO_TOLERANCE);
    if level == WarningLevel::Green && risen {
        level = WarningLevel::Yellow;
    }
    let mut figures = vec![num("debt_to_assets", now)];
    if let Some(was) = s.origination_debt_to_assets {
        figures.push(num("origination_debt_to_assets", was));
    }
    set.fire("W11", "leverage", level, format!("{:.1}%", now * 100.0), figures);
}

/// W12: the behaviour grade of the current profile: a listed bad grade, the default grade, or
/// enough notches lost since origination.
fn grade_signal(set: &mut SignalSet, w: &Warning, scored: &ScoreResult, notches_down: Option<i32>) {
    let level = match scored.scorecard.grade_index {
        Some(g) if w.red_grades.contains(&g) => WarningLevel::Red,
        Some(g) if w.orange_grades.contains(&g) => WarningLevel::Orange,
        // No grade index: the profile falls in the default grade.
        None => w.default_grade,
        Some(_) => notches_down.map_or(WarningLevel::Green, |n| w.grade_notches_down.level(|t| n >= t as i32)),
    };
    let detail = format!("grade {}", scored.scorecard.grade);
    let figures = vec![num("score", f64::from(scored.scorecard.score))];
    set.fire("W12", "grade", level, detail, figures);
}

/// W13: new lenders and credit inquiries over six months, the worse of the two.
fn borrowing_signal(set: &mut SignalSet, w: &Warning, s: &Signals) {
    let lenders = s
        .new_lenders_6m
        .map_or(WarningLevel::Green, |n| w.new_lenders_6m.level(|t| n >= t));
    let inquiries = s
        .inquiries_6m
        .map_or(WarningLevel::Green, |n| w.inquiries_6m.level(|t| n >= t));
    let detail = format!(
        "{} new lenders, {} inquiries in 6 months",
        s.new_lenders_6m.unwrap_or(0),
        s.inquiries_6m.unwrap_or(0)
    );
    set.fire("W13", "borrowing", lenders.max(inquiries), detail, Vec::new());
}

/// W14 another bank's non-performing report and W15 a related party in default.
fn counterparty_signals(set: &mut SignalSet, w: &Warning, s: &Signals) {
    if s.other_bank_npl {
        let detail = "reported by another bank".into();
        set.fire("W14", "other_bank", w.other_bank_npl, detail, Vec::new());
    }
    if s.related_party_default {
        let detail = "related party in default".into();
        set.fire("W15", "related_party", w.related_party_default, detail, Vec::new());
    }
}

/// W08: a change of controller is more alarming when anything else is already wrong.
fn control_change_level(w: &Warning, change: ControlChange, other_signals: bool) -> WarningLevel {
    match change {
        ControlChange::None => WarningLevel::Green,
        ControlChange::Changed if other_signals => w.control_change.changed_with_other_signal,
        ControlChange::Changed => w.control_change.changed,
        ControlChange::ControllerUnreachable => w.control_change.controller_unreachable,
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
