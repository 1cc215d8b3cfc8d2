//! During- and post-loan monitoring (DOMAIN.md 5, 8.10): early-warning signals and level,
//! five-category classification (2023 Measures), IFRS 9 stage, actions and provisions. Pure:
//! the evaluation date and the optional current profile are inputs.

use serde::{Deserialize, Serialize};
use time::Date;

use super::application::{Collateral, CollateralKind};
use super::decision::{ScoreResult, Unobserved, score_profile};
use super::lgd::lgd_bps;
use super::profile::{EnterpriseProfile, RegistryStatus, TaxRating};
use super::verification::{Figure, FigureValue};
use super::{Amount, Reason};
use super::rulebook::Policy;
use super::vocabulary::{LoanClass, WarningLevel};

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
    pub restructured: bool,
    pub restructuring_observation_passed: bool,
    pub restructured_from_npl: bool,
    pub credit_impaired: bool,
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
    pub remaining_term_months: u32,
}

impl LoanSnapshot {
    /// Days past due on principal or interest, whichever is worse.
    pub fn days_past_due(&self) -> u32 {
        self.principal_days_past_due.max(self.interest_days_past_due)
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

fn num(name: &str, x: f64) -> Figure {
    Figure {
        name: name.to_owned(),
        value: FigureValue::Number(x),
    }
}

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
        });
    }
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
    fn start(&mut self, _stage: MonitorStage) {}
    #[inline(always)]
    fn finish(&mut self, _guard: (), _report: MonitorReport<'_>) {}
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
    let m = &policy.monitoring;
    let w = &m.warning;
    let dpd = loan.days_past_due();
    let (scored, notches_down): (Option<ScoreResult>, Option<i32>) = match profile {
        Some(p) => {
            let guard = observer.start(MonitorStage::Rescoring);
            let result = score_profile(p, policy, date);
            let notches_down = match (result.scorecard.grade_index, loan.origination_grade) {
                (Some(now), Some(was)) => Some(now as i32 - was as i32),
                _ => None,
            };
            observer.finish(
                guard,
                MonitorReport::Rescoring {
                    result: &result,
                    grade_notches_down: notches_down,
                },
            );
            (Some(result), notches_down)
        }
        None => (None, None),
    };
    let guard = observer.start(MonitorStage::Signals);
    let mut set = SignalSet {
        policy,
        fired: Vec::new(),
    };
    let drop = |t: f64| move |x: f64| x <= t;

    // Days past due: 1-7 technical is still a (yellow) signal; the class tolerates it.
    let dpd_level = w.dpd.level(|t| dpd >= t);
    set.fire(
        "W01",
        "delinquency",
        dpd_level,
        format!("{dpd} days past due"),
        vec![num("days_past_due", f64::from(dpd))],
    );

    let s = &loan.signals;
    if let Some(x) = s.revenue_change {
        let level = w.revenue_change.level(|t| drop(t)(x));
        set.fire(
            "W02",
            "revenue",
            level,
            format!("{:+.1}%", x * 100.0),
            vec![num("revenue_change", x)],
        );
    }
    if let Some(x) = s.tax_paid_change {
        let level = w.tax_paid_change.level(|t| drop(t)(x));
        set.fire(
            "W03",
            "tax",
            level,
            format!("{:+.1}%", x * 100.0),
            vec![num("tax_paid_change", x)],
        );
    }
    if let Some(now) = s.tax_rating {
        // A/B -> M yellow, -> C orange, -> D red (DOMAIN.md 8.10); a D is red whatever it was.
        let was = s.origination_tax_rating;
        let level = match now {
            TaxRating::D => WarningLevel::Red,
            TaxRating::C if was.is_none_or(|r| r < TaxRating::C) => WarningLevel::Orange,
            TaxRating::M if was.is_some_and(|r| r < TaxRating::M) => WarningLevel::Yellow,
            _ => WarningLevel::Green,
        };
        let from = was.map_or("unknown", |r| r.as_str());
        set.fire("W04", "tax", level, format!("{from} -> {}", now.as_str()), Vec::new());
    }
    if let Some(x) = s.bank_inflow_change {
        let level = w.bank_inflow_change.level(|t| drop(t)(x));
        set.fire(
            "W05",
            "inflows",
            level,
            format!("{:+.1}% (3m avg vs 12m avg)", x * 100.0),
            vec![num("bank_inflow_change", x)],
        );
    }
    if s.settlement_account_closed {
        set.fire(
            "W05",
            "inflows",
            WarningLevel::Red,
            "settlement account closed".into(),
            Vec::new(),
        );
    }
    let electricity_applies = profile.is_none_or(|p| {
        policy
            .verification
            .electricity_industries
            .iter()
            .any(|prefix| p.industry_code.starts_with(prefix.as_str()))
    });
    if electricity_applies {
        if let Some(x) = s.electricity_change {
            let level = w.electricity_change.level(|t| drop(t)(x));
            set.fire(
                "W06",
                "electricity",
                level,
                format!("{:+.1}%", x * 100.0),
                vec![num("electricity_change", x)],
            );
        }
        if s.electricity_supply_cut {
            set.fire("W06", "electricity", WarningLevel::Red, "supply cut".into(), Vec::new());
        }
    }
    let litigation = match s.litigation {
        Litigation::None => WarningLevel::Green,
        Litigation::NewCase => WarningLevel::Yellow,
        Litigation::Material => WarningLevel::Orange,
        Litigation::DishonestOrFrozen => WarningLevel::Red,
    };
    set.fire(
        "W07",
        "litigation",
        litigation,
        format!("{:?}", s.litigation),
        Vec::new(),
    );

    let coverage = collateral_coverage(policy, loan);
    if !loan.collateral.is_empty() && loan.outstanding_principal.is_positive() {
        let lost = loan.collateral.iter().any(|c| c.lost_or_disputed);
        let level = if lost {
            WarningLevel::Red
        } else {
            w.collateral_coverage_below.level(|t| coverage < t)
        };
        let detail = if lost {
            "collateral lost or disputed".to_owned()
        } else {
            format!("coverage {:.0}%", coverage * 100.0)
        };
        set.fire(
            "W09",
            "collateral",
            level,
            detail,
            vec![num("collateral_coverage", coverage)],
        );
    }
    let guarantor = match s.guarantor {
        GuarantorStatus::Stable => WarningLevel::Green,
        GuarantorStatus::Downgraded => WarningLevel::Yellow,
        GuarantorStatus::Overdue => WarningLevel::Orange,
        GuarantorStatus::InsolventOrWithdrawn => WarningLevel::Red,
    };
    set.fire("W10", "guarantor", guarantor, format!("{:?}", s.guarantor), Vec::new());

    if let Some(now) = s.debt_to_assets {
        let mut level = w.debt_to_assets_above.level(|t| now > t);
        if level == WarningLevel::Green
            // A small tolerance so that 0.61 - 0.51 counts as the 10 points it is.
            && s.origination_debt_to_assets.is_some_and(|was| now - was >= w.debt_to_assets_increase_yellow - 1e-9)
        {
            level = WarningLevel::Yellow;
        }
        let mut figures = vec![num("debt_to_assets", now)];
        if let Some(was) = s.origination_debt_to_assets {
            figures.push(num("origination_debt_to_assets", was));
        }
        set.fire("W11", "leverage", level, format!("{:.1}%", now * 100.0), figures);
    }

    let current_grade = scored.as_ref().and_then(|r| r.scorecard.grade_index);
    if let Some(r) = &scored {
        let grade_level = match current_grade {
            Some(g) if w.red_grades.contains(&g) => WarningLevel::Red,
            Some(g) if w.orange_grades.contains(&g) => WarningLevel::Orange,
            None => WarningLevel::Red, // default grade
            Some(_) => notches_down.map_or(WarningLevel::Green, |n| w.grade_notches_down.level(|t| n >= t as i32)),
        };
        set.fire(
            "W12",
            "grade",
            grade_level,
            format!("grade {}", r.scorecard.grade),
            vec![num("score", f64::from(r.scorecard.score))],
        );
    }
    let lenders = s
        .new_lenders_6m
        .map_or(WarningLevel::Green, |n| w.new_lenders_6m.level(|t| n >= t));
    let inquiries = s
        .inquiries_6m
        .map_or(WarningLevel::Green, |n| w.inquiries_6m.level(|t| n >= t));
    set.fire(
        "W13",
        "borrowing",
        lenders.max(inquiries),
        format!(
            "{} new lenders, {} inquiries in 6 months",
            s.new_lenders_6m.unwrap_or(0),
            s.inquiries_6m.unwrap_or(0)
        ),
        Vec::new(),
    );
    if s.other_bank_npl {
        set.fire(
            "W14",
            "other_bank",
            WarningLevel::Red,
            "reported by another bank".into(),
            Vec::new(),
        );
    }
    if s.related_party_default {
        set.fire(
            "W15",
            "related_party",
            w.related_party_default,
            "related party in default".into(),
            Vec::new(),
        );
    }
    let covenants = w.covenant_breaches.level(|t| loan.covenant_breaches >= t);
    set.fire(
        "W16",
        "covenants",
        covenants,
        format!("{} breached", loan.covenant_breaches),
        Vec::new(),
    );

    // A control change is yellow alone, orange with any other signal, red when unreachable.
    let others = set.fired.iter().any(|f| f.level >= WarningLevel::Yellow);
    let control = match s.control_change {
        ControlChange::None => WarningLevel::Green,
        ControlChange::Changed if others => WarningLevel::Orange,
        ControlChange::Changed => WarningLevel::Yellow,
        ControlChange::ControllerUnreachable => WarningLevel::Red,
    };
    set.fire("W08", "control", control, format!("{:?}", s.control_change), Vec::new());

    let signals = set.fired;
    let warning_level = aggregate(&signals);
    observer.finish(
        guard,
        MonitorReport::Signals {
            signals: &signals,
            level: warning_level,
        },
    );

    // Classification: the worst of the dpd mapping and every qualitative trigger.
    let guard = observer.start(MonitorStage::Classification);
    let mut rules: Vec<(LoanClass, Reason)> = Vec::new();
    let rule = |code: &str, detail: String| {
        let mut r = Reason::coded(code, &policy.message(code));
        if !detail.is_empty() {
            r.message = format!("{} ({detail})", r.message);
        }
        r
    };
    let dpd_class = if dpd >= m.loss_from_dpd {
        (LoanClass::Loss, "CL06")
    } else if dpd >= m.doubtful_from_dpd {
        (LoanClass::Doubtful, "CL05")
    } else if dpd >= m.substandard_from_dpd {
        (LoanClass::Substandard, "CL04")
    } else if dpd >= m.special_mention_from_dpd && !(loan.overdue_technical && dpd <= m.technical_dpd_max) {
        (LoanClass::SpecialMention, "CL03")
    } else if dpd > 0 {
        (LoanClass::Normal, "CL02")
    } else {
        (LoanClass::Normal, "CL01")
    };
    rules.push((dpd_class.0, rule(dpd_class.1, format!("{dpd} days past due"))));
    if loan.restructured && !loan.restructuring_observation_passed {
        rules.push((m.restructured_min_class, rule("CL07", String::new())));
        if loan.restructured_from_npl {
            rules.push((m.restructured_from_npl_min_class, rule("CL08", String::new())));
        }
    }
    if loan.credit_impaired {
        rules.push((LoanClass::Substandard, rule("CL09", String::new())));
    }
    if loan.repaid_by_new_borrowing {
        rules.push((LoanClass::SpecialMention, rule("CL10", String::new())));
    }
    if loan.unapproved_purpose_change {
        rules.push((LoanClass::SpecialMention, rule("CL11", String::new())));
    }
    if s.other_bank_npl {
        rules.push((LoanClass::SpecialMention, rule("CL12", String::new())));
    }
    if let Some(share) = loan.share_of_debt_over_90_dpd
        && share > m.debt_over_90_share_substandard
    {
        rules.push((LoanClass::Substandard, rule("CL13", format!("{:.0}%", share * 100.0))));
    }
    if profile.is_some_and(|p| {
        matches!(
            p.registry_status,
            RegistryStatus::Bankruptcy | RegistryStatus::Liquidation
        )
    }) {
        rules.push((m.insolvent_min_class, rule("CL14", String::new())));
    }
    match warning_level {
        WarningLevel::Red => rules.push((m.red_min_class, rule("CL15", "Red".into()))),
        WarningLevel::Orange => rules.push((m.orange_min_class, rule("CL15", "Orange".into()))),
        _ => {}
    }
    // The first rule at the worst class decides (dpd first, then triggers in order).
    let worst = rules.iter().map(|(c, _)| *c).max().unwrap_or(LoanClass::Normal);
    let classification_rule = rules
        .iter()
        .find(|(c, _)| *c == worst)
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| rule("CL01", String::new()));
    let classification = worst;
    observer.finish(
        guard,
        MonitorReport::Classification {
            class: classification,
            rule: &classification_rule,
            rules: rules.len(),
        },
    );

    // IFRS 9 stage.
    let guard = observer.start(MonitorStage::Ifrs9Stage);
    let pd_now = scored.as_ref().map(|r| r.scorecard.pd);
    let sicr_pd = match (pd_now, loan.origination_pd) {
        (Some(now), Some(was)) => now >= was * m.sicr_pd_multiple && now - was >= m.sicr_min_pd_increase,
        _ => false,
    };
    let sicr_grade = notches_down.is_some_and(|n| n >= m.sicr_grade_notches as i32);
    let (stage, stage_code) = if dpd >= m.stage3_from_dpd {
        (3, "ST07")
    } else if loan.credit_impaired || classification.non_performing() {
        (3, "ST08")
    } else if dpd >= m.stage2_from_dpd {
        (2, "ST02")
    } else if sicr_pd {
        (2, "ST03")
    } else if sicr_grade {
        (2, "ST04")
    } else if classification == LoanClass::SpecialMention || warning_level >= WarningLevel::Orange {
        (2, "ST05")
    } else if loan.restructured && !loan.restructuring_observation_passed {
        (2, "ST06")
    } else {
        (1, "ST01")
    };
    let stage_reason = rule(stage_code, String::new());
    observer.finish(
        guard,
        MonitorReport::Ifrs9Stage {
            stage,
            reason: &stage_reason,
        },
    );

    let recommended_actions: Vec<Reason> = w
        .actions
        .get(&warning_level)
        .into_iter()
        .flatten()
        .map(|code| Reason::coded(code, &policy.message(code)))
        .collect();

    // Provisions: regulatory reference rate vs expected credit loss; the larger is required.
    let provision_rate_bps = m.provision_bps.get(&classification).copied().unwrap_or(10_000);
    let regulatory_provision = loan.outstanding_principal.mul_bps(provision_rate_bps);
    let ead = loan
        .outstanding_principal
        .saturating_add(loan.undrawn_commitment.mul_bps(m.undrawn_ccf_bps));
    let one_year_pd = scored
        .as_ref()
        .map(|r| r.scorecard.master_pd_bps as f64 / 10_000.0)
        .or(loan.origination_pd)
        .or_else(|| {
            loan.origination_grade
                .and_then(|g| policy.grades.get(g))
                .map(|g| g.master_pd_bps as f64 / 10_000.0)
        })
        .unwrap_or(m.fallback_pd_bps as f64 / 10_000.0)
        .clamp(0.0, 1.0);
    let pd_for_stage = match stage {
        3 => 1.0,
        2 => {
            let years = (f64::from(loan.remaining_term_months) / 12.0).max(1.0);
            1.0 - (1.0 - one_year_pd).powf(years)
        }
        _ => one_year_pd,
    };
    let collateral: Vec<Collateral> = loan
        .collateral
        .iter()
        .filter(|c| !c.lost_or_disputed)
        .map(|c| Collateral {
            kind: c.kind,
            appraised_value: c.current_value,
            lien_rank: 1,
            prior_liens: c.prior_liens,
            appraised_on: None,
        })
        .collect();
    let lgd = lgd_bps(policy, ead, &collateral);
    let expected_credit_loss = Amount(
        (ead.0 as f64 * pd_for_stage * lgd as f64 / 10_000.0)
            .round()
            .clamp(0.0, i64::MAX as f64) as i64,
    );

    let score = scored.as_ref().map(|r| r.scorecard.score);
    MonitorResult {
        classification,
        classification_rule,
        classification_rules: rules.into_iter().map(|(_, r)| r).collect(),
        ifrs9_stage: stage,
        stage_reason,
        warning_level,
        signals,
        recommended_actions,
        provision_rate_bps,
        regulatory_provision,
        provision_required: regulatory_provision.max(expected_credit_loss),
        expected_credit_loss,
        exposure_at_default: ead,
        collateral_coverage: coverage,
        score,
        grade: scored.as_ref().map(|r| r.scorecard.grade.clone()),
        pd: pd_now,
        score_change: score.zip(loan.origination_score).map(|(now, was)| now - was),
        grade_notches_down: notches_down,
        evaluation_date: date,
    }
}

/// Level = worst signal; two families at Yellow or worse -> at least Orange; two at Orange or
/// worse -> Red.
pub fn aggregate(signals: &[FiredSignal]) -> WarningLevel {
    let worst = signals.iter().map(|s| s.level).max().unwrap_or(WarningLevel::Green);
    let families_at = |min: WarningLevel| {
        let mut families: Vec<&str> = signals
            .iter()
            .filter(|s| s.level >= min)
            .map(|s| s.family.as_str())
            .collect();
        families.sort_unstable();
        families.dedup();
        families.len()
    };
    if families_at(WarningLevel::Orange) >= 2 {
        WarningLevel::Red
    } else if families_at(WarningLevel::Yellow) >= 2 {
        worst.max(WarningLevel::Orange)
    } else {
        worst
    }
}

/// Collateral value after lending haircuts over outstanding principal (0 with no collateral or
/// nothing outstanding).
pub fn collateral_coverage(policy: &Policy, loan: &LoanSnapshot) -> f64 {
    if loan.collateral.is_empty() || !loan.outstanding_principal.is_positive() {
        return 0.0;
    }
    let value = loan
        .collateral
        .iter()
        .filter(|c| !c.lost_or_disputed)
        .fold(Amount::ZERO, |acc, c| {
            let haircut = policy.collateral.get(&c.kind).map_or(10_000, |p| p.lending_haircut_bps);
            let net = Amount(c.current_value.0.saturating_sub(c.prior_liens.0).max(0));
            acc.saturating_add(net.mul_bps(10_000 - haircut))
        });
    value.0 as f64 / loan.outstanding_principal.0 as f64
}
