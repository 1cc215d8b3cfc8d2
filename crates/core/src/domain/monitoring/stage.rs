//! IFRS 9 stage: the days-past-due backstops, credit impairment, then a significant increase
//! in credit risk since origination (SICR) by PD, by grade or by the watch list.

use super::{LoanSnapshot, rule_reason};
use crate::domain::Reason;
use crate::domain::rulebook::{Monitoring, Policy};
use crate::domain::vocabulary::{LoanClass, WarningLevel};

/// What the stage reads besides the snapshot: the earlier steps' conclusions.
pub(super) struct StageInputs {
    /// PD of the current profile's score, when a profile was given.
    pub pd_now: Option<f64>,
    /// Grades lost since origination, when both grades are known.
    pub notches_down: Option<i32>,
    pub class: LoanClass,
    pub warning_level: WarningLevel,
}

/// The stage (1, 2 or 3) and its reason (ST01-ST08); the first rule that applies decides,
/// stage 3 rules before stage 2 rules.
pub(super) fn ifrs9_stage(loan: &LoanSnapshot, inputs: &StageInputs, policy: &Policy) -> (u8, Reason) {
    let m = &policy.monitoring;
    let dpd = loan.days_past_due();
    let (stage, code) = if dpd >= m.stage3_from_dpd {
        (3, "ST07")
    } else if loan.credit_impaired || inputs.class >= m.stage3_from_class {
        (3, "ST08")
    } else if dpd >= m.stage2_from_dpd {
        (2, "ST02")
    } else if sicr_by_pd(m, inputs.pd_now, loan.origination_pd) {
        (2, "ST03")
    } else if inputs.notches_down.is_some_and(|n| n >= m.sicr_grade_notches as i32) {
        (2, "ST04")
    } else if inputs.class >= m.stage2_from_class || inputs.warning_level >= m.stage2_from_warning {
        (2, "ST05")
    } else if loan.restructured && !loan.restructuring_observation_passed {
        (2, "ST06")
    } else {
        (1, "ST01")
    };
    (stage, rule_reason(policy, code, ""))
}

/// SICR by PD: the current PD is a multiple of the origination PD *and* higher by an absolute
/// margin (a doubling of a tiny PD alone is noise).
fn sicr_by_pd(m: &Monitoring, pd_now: Option<f64>, pd_at_origination: Option<f64>) -> bool {
    match (pd_now, pd_at_origination) {
        (Some(now), Some(was)) => now >= was * m.sicr_pd_multiple && now - was >= m.sicr_min_pd_increase,
        _ => false,
    }
}
