//! IFRS 9 stage: the days-past-due backstops, credit impairment, then a significant increase
//! in credit risk since origination (SICR) by PD, by grade or by the watch list.

use time::Date;

use super::{LoanSnapshot, Restructuring, rule_reason};
use crate::domain::Reason;
use crate::domain::figure::Figure;
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

/// The stage (1, 2 or 3) and its reason (ST01-ST08) with the figures and thresholds it read;
/// the first rule that applies decides, stage 3 rules before stage 2 rules.
pub(super) fn ifrs9_stage(loan: &LoanSnapshot, inputs: &StageInputs, policy: &Policy, date: Date) -> (u8, Reason) {
    let m = &policy.monitoring;
    let dpd = loan.days_past_due();
    let days = || vec![Figure::number("days_past_due", f64::from(dpd))];
    let backstop = |key: &str, t: u32| vec![Figure::number(key, f64::from(t))];
    let class = || vec![Figure::text("classification", inputs.class.key())];
    let (stage, code, figures, thresholds) = if dpd >= m.stage3_from_dpd {
        (3, "ST07", days(), backstop("stage3_from_dpd", m.stage3_from_dpd))
    } else if loan.credit_impaired {
        (3, "ST08", vec![Figure::text("credit_impaired", "true")], Vec::new())
    } else if inputs.class >= m.stage3_from_class {
        (
            3,
            "ST08",
            class(),
            vec![Figure::text("stage3_from_class", m.stage3_from_class.key())],
        )
    } else if dpd >= m.stage2_from_dpd {
        (2, "ST02", days(), backstop("stage2_from_dpd", m.stage2_from_dpd))
    } else if let Some((now, was)) = sicr_by_pd(m, inputs.pd_now, loan.origination_pd) {
        let figures = vec![Figure::number("pd", now), Figure::number("origination_pd", was)];
        (2, "ST03", figures, pd_thresholds(m))
    } else if let Some(n) = inputs.notches_down.filter(|n| *n >= m.sicr_grade_notches as i32) {
        let notches = vec![Figure::number("grade_notches_down", f64::from(n))];
        (2, "ST04", notches, backstop("sicr_grade_notches", m.sicr_grade_notches))
    } else if inputs.class >= m.stage2_from_class {
        (
            2,
            "ST05",
            class(),
            vec![Figure::text("stage2_from_class", m.stage2_from_class.key())],
        )
    } else if inputs.warning_level >= m.stage2_from_warning {
        let level = vec![Figure::text("warning_level", level_key(inputs.warning_level))];
        (
            2,
            "ST05",
            level,
            vec![Figure::text("stage2_from_warning", level_key(m.stage2_from_warning))],
        )
    } else if let Some(r) = under_observation(m, loan, date) {
        let figures = vec![Figure::text("observation_start", r.observation_start.to_string())];
        let months = m.restructuring_observation_months;
        (2, "ST06", figures, backstop("restructuring_observation_months", months))
    } else {
        (1, "ST01", Vec::new(), Vec::new())
    };
    (stage, rule_reason(policy, code, figures, thresholds))
}

/// The restructuring whose observation period runs on `date`, if any.
fn under_observation<'a>(m: &Monitoring, loan: &'a LoanSnapshot, date: Date) -> Option<&'a Restructuring> {
    loan.restructuring
        .as_ref()
        .filter(|r| r.under_observation(m.restructuring_observation_months, date))
}

fn pd_thresholds(m: &Monitoring) -> Vec<Figure> {
    vec![
        Figure::number("sicr_pd_multiple", m.sicr_pd_multiple),
        Figure::number("sicr_min_pd_increase", m.sicr_min_pd_increase),
    ]
}

/// The name of a warning level as the policy writes it.
pub(super) fn level_key(level: WarningLevel) -> &'static str {
    match level {
        WarningLevel::Green => "green",
        WarningLevel::Yellow => "yellow",
        WarningLevel::Orange => "orange",
        WarningLevel::Red => "red",
    }
}

/// SICR by PD: the current PD is a multiple of the origination PD *and* higher by an absolute
/// margin (a doubling of a tiny PD alone is noise). The two PDs when it applies.
fn sicr_by_pd(m: &Monitoring, pd_now: Option<f64>, pd_at_origination: Option<f64>) -> Option<(f64, f64)> {
    let (now, was) = pd_now.zip(pd_at_origination)?;
    (now >= was * m.sicr_pd_multiple && now - was >= m.sicr_min_pd_increase).then_some((now, was))
}
