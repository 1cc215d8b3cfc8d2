//! Monitoring of a profile read through the service: significant increase in credit risk from
//! the example profile (`examples/put-profile.json`). The pure monitoring rules are tested in
//! `crates/core/tests/monitoring_rules.rs`.

mod support;

use riskdecision::domain::Amount;
use riskdecision::domain::monitoring::*;
use riskdecision::policy::WarningLevel;
use support::BUSINESS_DATE as DATE;

fn loan() -> LoanSnapshot {
    LoanSnapshot {
        loan_id: "L1".into(),
        outstanding_principal: Amount::from_major(1_000_000),
        remaining_term_months: 24,
        ..LoanSnapshot::default()
    }
}

#[test]
fn significant_increase_in_credit_risk_from_origination() {
    let loaded = support::loaded_default_policy();
    let p = &loaded.policy;
    // The example profile (`examples/put-profile.json`) read through the service's converters.
    let profile = support::domain_profile();
    // Current score PD is 0.924%: an origination PD of 0.30% is more than doubled and +0.5pp.
    let doubled = monitor(
        &LoanSnapshot {
            origination_pd: Some(0.003),
            ..loan()
        },
        Some(&profile),
        p,
        DATE,
    );
    assert_eq!((doubled.ifrs9_stage, doubled.stage_reason.code.as_str()), (2, "ST03"));
    let small_rise = monitor(
        &LoanSnapshot {
            origination_pd: Some(0.0046),
            ..loan()
        },
        Some(&profile),
        p,
        DATE,
    );
    assert_eq!(small_rise.ifrs9_stage, 1, "doubled but by less than 0.5pp");
    // G5 now; G2 at origination is 3 notches down: SICR and an orange grade signal.
    let g2 = p.grade_index("G2");
    let notches = monitor(
        &LoanSnapshot {
            origination_grade: g2,
            origination_score: Some(670),
            ..loan()
        },
        Some(&profile),
        p,
        DATE,
    );
    assert_eq!(notches.grade_notches_down, Some(3));
    assert_eq!(notches.score_change, Some(-48));
    assert_eq!(notches.stage_reason.code, "ST04");
    assert!(
        notches
            .signals
            .iter()
            .any(|s| s.code == "W12" && s.level == WarningLevel::Orange)
    );
    let g3 = monitor(
        &LoanSnapshot {
            origination_grade: p.grade_index("G3"),
            ..loan()
        },
        Some(&profile),
        p,
        DATE,
    );
    assert!(
        g3.signals
            .iter()
            .any(|s| s.code == "W12" && s.level == WarningLevel::Yellow)
    );
    assert_eq!(g3.score, Some(622));
}
