//! Five-category classification (2023 Measures): the class by days past due, pushed down by
//! every qualitative trigger that applies; the worst class wins.

use super::{LoanSnapshot, rule_reason};
use crate::domain::Reason;
use crate::domain::profile::EnterpriseProfile;
use crate::domain::rulebook::{Monitoring, Policy};
use crate::domain::vocabulary::{LoanClass, WarningLevel};

/// The class, the rule that decided it and every rule that applied (the deciding one included).
pub(super) struct Classification {
    pub class: LoanClass,
    pub rule: Reason,
    pub rules: Vec<Reason>,
}

/// Classifies the loan: the worst of the days-past-due class and every qualitative trigger.
/// The first rule at the worst class decides (days past due first, then the triggers in order).
pub(super) fn classify(
    loan: &LoanSnapshot,
    profile: Option<&EnterpriseProfile>,
    warning_level: WarningLevel,
    policy: &Policy,
) -> Classification {
    let dpd = loan.days_past_due();
    let (dpd_class, dpd_code) = class_by_days_past_due(&policy.monitoring, loan);
    let dpd_rule = rule_reason(policy, dpd_code, &format!("{dpd} days past due"));
    let mut applied = vec![(dpd_class, dpd_rule)];
    for (class, code, detail) in qualitative_triggers(&policy.monitoring, loan, profile, warning_level) {
        applied.push((class, rule_reason(policy, code, &detail)));
    }
    let worst = applied.iter().map(|(class, _)| *class).fold(dpd_class, LoanClass::max);
    let rule = applied
        .iter()
        .find(|(class, _)| *class == worst)
        .map_or_else(|| applied[0].1.clone(), |(_, r)| r.clone());
    Classification {
        class: worst,
        rule,
        rules: applied.into_iter().map(|(_, r)| r).collect(),
    }
}

/// CL01-CL06: the class by days past due. Technical arrears (a few days, flagged as a
/// processing delay) stay normal rather than special mention.
fn class_by_days_past_due(m: &Monitoring, loan: &LoanSnapshot) -> (LoanClass, &'static str) {
    let dpd = loan.days_past_due();
    let technical = loan.overdue_technical && dpd <= m.technical_dpd_max;
    if dpd >= m.loss_from_dpd {
        (LoanClass::Loss, "CL06")
    } else if dpd >= m.doubtful_from_dpd {
        (LoanClass::Doubtful, "CL05")
    } else if dpd >= m.substandard_from_dpd {
        (LoanClass::Substandard, "CL04")
    } else if dpd >= m.special_mention_from_dpd && !technical {
        (LoanClass::SpecialMention, "CL03")
    } else if dpd > 0 {
        (LoanClass::Normal, "CL02")
    } else {
        (LoanClass::Normal, "CL01")
    }
}

/// CL07-CL15: the qualitative triggers that apply, each with the minimum class it forces and
/// a detail for the message (empty for none), in the policy's rule order.
fn qualitative_triggers(
    m: &Monitoring,
    loan: &LoanSnapshot,
    profile: Option<&EnterpriseProfile>,
    warning_level: WarningLevel,
) -> Vec<(LoanClass, &'static str, String)> {
    let mut out = Vec::new();
    let mut trigger = |applies: bool, class: LoanClass, code: &'static str, detail: String| {
        if applies {
            out.push((class, code, detail));
        }
    };
    // A restructured loan stays down until its observation period has passed.
    let under_observation = loan.restructured && !loan.restructuring_observation_passed;
    trigger(under_observation, m.restructured_min_class, "CL07", String::new());
    let from_npl = under_observation && loan.restructured_from_npl;
    trigger(from_npl, m.restructured_from_npl_min_class, "CL08", String::new());
    trigger(loan.credit_impaired, m.credit_impaired_min_class, "CL09", String::new());
    trigger(
        loan.repaid_by_new_borrowing,
        m.repaid_by_new_borrowing_min_class,
        "CL10",
        String::new(),
    );
    trigger(
        loan.unapproved_purpose_change,
        m.unapproved_purpose_change_min_class,
        "CL11",
        String::new(),
    );
    let other_bank_npl = loan.signals.other_bank_npl;
    trigger(other_bank_npl, m.other_bank_npl_min_class, "CL12", String::new());
    if let Some(share) = loan.share_of_debt_over_90_dpd {
        let over = share > m.debt_over_90_share_substandard;
        let detail = format!("{:.0}%", share * 100.0);
        trigger(over, m.debt_over_90_min_class, "CL13", detail);
    }
    let insolvent = profile.is_some_and(|p| m.insolvent_registry_statuses.contains(&p.registry_status));
    trigger(insolvent, m.insolvent_min_class, "CL14", String::new());
    match warning_level {
        WarningLevel::Red => trigger(true, m.red_min_class, "CL15", "Red".into()),
        WarningLevel::Orange => trigger(true, m.orange_min_class, "CL15", "Orange".into()),
        _ => {}
    }
    out
}
