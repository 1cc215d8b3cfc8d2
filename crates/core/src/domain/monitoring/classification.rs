//! Five-category classification (2023 Measures): the class by days past due, pushed down by
//! every qualitative trigger that applies; the worst class wins. Every rule's reason carries
//! the figures it read and the policy thresholds it compared them with.

use time::Date;

use super::provision::stage3_loss_ratio;
use super::{LoanSnapshot, Restructuring, rule_reason};
use crate::domain::Reason;
use crate::domain::figure::Figure;
use crate::domain::profile::EnterpriseProfile;
use crate::domain::rulebook::{Monitoring, Policy};
use crate::domain::vocabulary::{LoanClass, WarningLevel};

/// The class, the rule that decided it and every rule that applied (the deciding one included).
pub(super) struct Classification {
    pub class: LoanClass,
    pub rule: Reason,
    pub rules: Vec<Reason>,
}

/// A rule that applied: the minimum class it forces, its code, figures and thresholds.
struct Applied {
    class: LoanClass,
    code: &'static str,
    figures: Vec<Figure>,
    thresholds: Vec<Figure>,
}

fn applied(class: LoanClass, code: &'static str, figures: Vec<Figure>, thresholds: Vec<Figure>) -> Applied {
    Applied {
        class,
        code,
        figures,
        thresholds,
    }
}

fn class_figure(name: &str, class: LoanClass) -> Figure {
    Figure::text(name, class.key())
}

fn flag(name: &str) -> Figure {
    Figure::text(name, "true")
}

/// Classifies the loan: the worst of the days-past-due class and every qualitative trigger,
/// then the expected-loss and debtor-level rules, which read the class so far. The first rule
/// at the worst class decides (days past due first, then the triggers in order).
pub(super) fn classify(
    loan: &LoanSnapshot,
    profile: Option<&EnterpriseProfile>,
    warning_level: WarningLevel,
    policy: &Policy,
    date: Date,
) -> Classification {
    let m = &policy.monitoring;
    let mut rules = vec![class_by_days_past_due(m, loan)];
    rules.extend(restructuring_rules(m, loan, date));
    rules.extend(qualitative_triggers(m, loan, profile, warning_level));
    rules.extend(external_downgrade(m, loan));
    rules.extend(expected_loss_rule(policy, loan, worst(&rules)));
    rules.extend(debtor_rule(m, loan, worst(&rules)));
    let class = worst(&rules);
    let reasons: Vec<(LoanClass, Reason)> = rules
        .into_iter()
        .map(|a| (a.class, rule_reason(policy, a.code, a.figures, a.thresholds)))
        .collect();
    let rule = reasons
        .iter()
        .find(|(c, _)| *c == class)
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| rule_reason(policy, "CL01", Vec::new(), Vec::new()));
    Classification {
        class,
        rule,
        rules: reasons.into_iter().map(|(_, r)| r).collect(),
    }
}

fn worst(rules: &[Applied]) -> LoanClass {
    rules.iter().map(|a| a.class).fold(LoanClass::Normal, LoanClass::max)
}

/// CL01-CL06: the class by days past due. Technical arrears (a few days, flagged as a
/// processing delay) stay normal rather than special mention.
fn class_by_days_past_due(m: &Monitoring, loan: &LoanSnapshot) -> Applied {
    let dpd = loan.days_past_due();
    let figures = vec![Figure::number("days_past_due", f64::from(dpd))];
    let at =
        |class, code, key: &str, t: u32| applied(class, code, figures.clone(), vec![Figure::number(key, f64::from(t))]);
    if dpd >= m.loss_from_dpd {
        at(LoanClass::Loss, "CL06", "loss_from_dpd", m.loss_from_dpd)
    } else if dpd >= m.doubtful_from_dpd {
        at(LoanClass::Doubtful, "CL05", "doubtful_from_dpd", m.doubtful_from_dpd)
    } else if dpd >= m.substandard_from_dpd {
        at(
            LoanClass::Substandard,
            "CL04",
            "substandard_from_dpd",
            m.substandard_from_dpd,
        )
    } else if dpd >= m.special_mention_from_dpd && !loan.technical_delay(m.technical_dpd_max) {
        let mut a = at(
            LoanClass::SpecialMention,
            "CL03",
            "special_mention_from_dpd",
            m.special_mention_from_dpd,
        );
        a.thresholds.push(Figure::number(
            "substandard_from_dpd",
            f64::from(m.substandard_from_dpd),
        ));
        a
    } else if dpd > 0 {
        at(LoanClass::Normal, "CL02", "technical_dpd_max", m.technical_dpd_max)
    } else {
        applied(LoanClass::Normal, "CL01", figures, Vec::new())
    }
}

/// CL09-CL15: the qualitative triggers that apply, each with the minimum class it forces, in
/// the policy's rule order.
fn qualitative_triggers(
    m: &Monitoring,
    loan: &LoanSnapshot,
    profile: Option<&EnterpriseProfile>,
    warning_level: WarningLevel,
) -> Vec<Applied> {
    let mut out = Vec::new();
    let mut trigger = |applies: bool, class: LoanClass, code, figure: Figure, key: &str| {
        if applies {
            out.push(applied(class, code, vec![figure], vec![class_figure(key, class)]));
        }
    };
    let impaired = loan.credit_impaired;
    trigger(
        impaired,
        m.credit_impaired_min_class,
        "CL09",
        flag("credit_impaired"),
        "credit_impaired_min_class",
    );
    trigger(
        loan.repaid_by_new_borrowing,
        m.repaid_by_new_borrowing_min_class,
        "CL10",
        flag("repaid_by_new_borrowing"),
        "repaid_by_new_borrowing_min_class",
    );
    trigger(
        loan.unapproved_purpose_change,
        m.unapproved_purpose_change_min_class,
        "CL11",
        flag("unapproved_purpose_change"),
        "unapproved_purpose_change_min_class",
    );
    let other_bank = loan.signals.other_bank_npl;
    trigger(
        other_bank,
        m.other_bank_npl_min_class,
        "CL12",
        flag("other_bank_npl"),
        "other_bank_npl_min_class",
    );
    if let Some(share) = loan
        .share_of_debt_over_90_dpd
        .filter(|s| *s > m.debt_over_90_share_substandard)
    {
        out.push(applied(
            m.debt_over_90_min_class,
            "CL13",
            vec![Figure::number("share_of_debt_over_90_dpd", share)],
            vec![
                Figure::number("debt_over_90_share_substandard", m.debt_over_90_share_substandard),
                class_figure("debt_over_90_min_class", m.debt_over_90_min_class),
            ],
        ));
    }
    if let Some(p) = profile.filter(|p| m.insolvent_registry_statuses.contains(&p.registry_status)) {
        let status = Figure::text("registry_status", format!("{:?}", p.registry_status).to_lowercase());
        out.push(applied(
            m.insolvent_min_class,
            "CL14",
            vec![status],
            vec![class_figure("insolvent_min_class", m.insolvent_min_class)],
        ));
    }
    let by_level = match warning_level {
        WarningLevel::Red => Some(("red_min_class", m.red_min_class, "red")),
        WarningLevel::Orange => Some(("orange_min_class", m.orange_min_class, "orange")),
        _ => None,
    };
    if let Some((key, class, level)) = by_level {
        let figures = vec![Figure::text("warning_level", level)];
        out.push(applied(class, "CL15", figures, vec![class_figure(key, class)]));
    }
    out
}

/// CL07, CL08 and CL16: a restructured loan while its observation period runs (decided from
/// the dates on `date`, not a flag). A loan non-performing before keeps its class (no upgrade
/// during the observation); one restructured again within the previous observation period is
/// at least doubtful.
fn restructuring_rules(m: &Monitoring, loan: &LoanSnapshot, date: Date) -> Vec<Applied> {
    let months = m.restructuring_observation_months;
    let Some(r) = loan
        .restructuring
        .as_ref()
        .filter(|r| r.under_observation(months, date))
    else {
        return Vec::new();
    };
    let observation = restructuring_figures(r);
    let months_threshold = Figure::number("restructuring_observation_months", f64::from(months));
    let with_class = |key: &str, class| vec![months_threshold.clone(), class_figure(key, class)];
    let mut out = vec![applied(
        m.restructured_min_class,
        "CL07",
        observation.clone(),
        with_class("restructured_min_class", m.restructured_min_class),
    )];
    if r.class_before.non_performing() {
        let class = r.class_before.max(m.restructured_from_npl_min_class);
        let thresholds = with_class("restructured_from_npl_min_class", m.restructured_from_npl_min_class);
        out.push(applied(class, "CL08", observation.clone(), thresholds));
    }
    if r.restructured_again(months) {
        let thresholds = with_class("restructured_again_min_class", m.restructured_again_min_class);
        out.push(applied(m.restructured_again_min_class, "CL16", observation, thresholds));
    }
    out
}

fn restructuring_figures(r: &Restructuring) -> Vec<Figure> {
    let mut figures = vec![
        Figure::text("restructured_on", r.restructured_on.to_string()),
        Figure::text("observation_start", r.observation_start.to_string()),
        class_figure("class_before_restructuring", r.class_before),
    ];
    if let Some(prev) = r.previous_observation_start {
        figures.push(Figure::text("previous_observation_start", prev.to_string()));
    }
    figures
}

/// CL18: a sharp downgrade of the external rating since origination.
fn external_downgrade(m: &Monitoring, loan: &LoanSnapshot) -> Option<Applied> {
    let notches = loan.signals.external_rating_notches_down?;
    let threshold = i32::try_from(m.external_downgrade_notches).unwrap_or(i32::MAX);
    (notches >= threshold).then(|| {
        applied(
            m.external_downgrade_min_class,
            "CL18",
            vec![Figure::number("external_rating_notches_down", f64::from(notches))],
            vec![
                Figure::number("external_downgrade_notches", f64::from(m.external_downgrade_notches)),
                class_figure("external_downgrade_min_class", m.external_downgrade_min_class),
            ],
        )
    })
}

/// CL17: a credit-impaired (stage 3) loan whose expected credit loss is a large share of the
/// outstanding principal is doubtful or loss, by the policy's ratios.
fn expected_loss_rule(policy: &Policy, loan: &LoanSnapshot, class_so_far: LoanClass) -> Option<Applied> {
    let m = &policy.monitoring;
    let ratio = stage3_loss_ratio(policy, loan, class_so_far)?;
    let (class, key, threshold) = if ratio >= m.ecl_ratio_loss {
        (LoanClass::Loss, "ecl_ratio_loss", m.ecl_ratio_loss)
    } else if ratio >= m.ecl_ratio_doubtful {
        (LoanClass::Doubtful, "ecl_ratio_doubtful", m.ecl_ratio_doubtful)
    } else {
        return None;
    };
    Some(applied(
        class,
        "CL17",
        vec![Figure::number("expected_loss_ratio", ratio)],
        vec![Figure::number(key, threshold)],
    ))
}

/// CL19: when more than the policy's share of the debtor's claims at the bank (this loan, at
/// its class so far, and the other claims given) is non-performing, every claim is at least
/// the policy's class. Only with other claims given: alone, a loan's own class says it all.
fn debtor_rule(m: &Monitoring, loan: &LoanSnapshot, class_so_far: LoanClass) -> Option<Applied> {
    if loan.other_claims.is_empty() {
        return None;
    }
    let own = (class_so_far, loan.outstanding_principal);
    let claims = loan.other_claims.iter().map(|c| (c.class, c.exposure)).chain([own]);
    let (npl, total) = claims.fold((0i128, 0i128), |(npl, total), (class, exposure)| {
        let x = i128::from(exposure.0.max(0));
        (if class.non_performing() { npl + x } else { npl }, total + x)
    });
    if total == 0 {
        return None;
    }
    let share = npl as f64 / total as f64;
    (share > m.debtor_npl_share).then(|| {
        applied(
            m.debtor_npl_min_class,
            "CL19",
            vec![
                Figure::number("npl_share_of_claims", share),
                Figure::number("debtor_claims", (loan.other_claims.len() + 1) as f64),
            ],
            vec![
                Figure::number("debtor_npl_share", m.debtor_npl_share),
                class_figure("debtor_npl_min_class", m.debtor_npl_min_class),
            ],
        )
    })
}
