//! docs/DOMAIN.md 13 worked example, end to end through the pure core, to the unit.

mod common;

use common::{
    EVAL_DATE, cny, condition_codes, evaluate, flag_codes, knock_out_codes, policy, reason_codes,
    worked_example_application, worked_example_profile,
};
use riskdecision_core::domain::Amount;
use riskdecision_core::domain::decision::{Outcome, check_application, decide, score_profile};

#[test]
fn worked_example_scores_622_with_the_documented_contributions() {
    let policy = policy();
    let result = score_profile(&worked_example_profile(), &policy, EVAL_DATE);
    let card = &result.scorecard;

    let expected = [
        ("years_in_business", "R01", 46, 55),
        ("verified_revenue", "R02", 44, 53),
        ("revenue_growth", "R03", 46, 51),
        ("net_profit_margin", "R04", 42, 55),
        ("debt_to_assets", "R05", 45, 56),
        ("current_ratio", "R06", 47, 53),
        ("interest_coverage", "R07", 46, 55),
        ("tax_credit_rating", "R08", 48, 60),
        ("controller_credit", "R09", 56, 56),
        ("enterprise_max_dpd_24m", "R10", 58, 58),
        ("industry_risk", "R11", 46, 52),
        ("inflow_stability", "R12", 46, 52),
        ("declared_to_verified_revenue", "R13", 52, 52),
    ];
    assert_eq!(card.contributions.len(), expected.len());
    for (c, (id, code, points, max)) in card.contributions.iter().zip(expected) {
        assert_eq!(
            (
                c.characteristic.as_str(),
                c.reason_code.as_str(),
                c.points,
                c.max_points
            ),
            (id, code, points, max),
            "{c:?}"
        );
    }
    assert_eq!(card.contributions.iter().map(|c| c.points).sum::<i32>(), 622);
    assert_eq!(card.score, 622);
    assert!((card.pd - 0.009_24).abs() < 1e-5, "PD {}", card.pd);
    assert_eq!(card.grade, "G5");
    assert_eq!(card.grade_index, Some(4));
    assert_eq!(card.master_pd_bps, 78);

    // The features behind the bins.
    let f = &result.features;
    assert_eq!(f.years_in_business, 4);
    assert_eq!(f.verified_revenue, Some(cny(2_500_000)));
    assert!((f.revenue_growth.expect("growth") - 0.02).abs() < 1e-4);
    assert!((f.net_profit_margin.expect("margin") - 0.025).abs() < 1e-12);
    assert!((f.debt_to_assets - 0.62).abs() < 1e-12);
    assert!((f.current_ratio.expect("current ratio") - 1.2).abs() < 1e-12);
    assert!((f.interest_coverage.expect("defined") - 3.0).abs() < 1e-12);
    assert!((f.inflow_cv.expect("cv") - 0.45).abs() < 1e-4);
    assert!((f.declared_to_verified.expect("ratio") - 1.05).abs() < 1e-12);
    assert_eq!(f.avg_annual_tax_paid, Some(cny(60_000)));

    // Every cross-check is green: nothing above info.
    assert!(
        result
            .verification
            .iter()
            .all(|v| v.severity == riskdecision_core::policy::Severity::Info),
        "{:#?}",
        result.verification
    );
}

#[test]
fn worked_example_reasons_are_points_below_maximum() {
    let policy = policy();
    let card = score_profile(&worked_example_profile(), &policy, EVAL_DATE).scorecard;
    let got: Vec<(&str, i32)> = card
        .reasons
        .iter()
        .map(|r| (r.code.as_str(), r.max_points - r.points))
        .collect();
    // R01 ties with R02 and R07 at 9; the scorecard order breaks the tie.
    assert_eq!(got, vec![("R04", 13), ("R08", 12), ("R05", 11), ("R01", 9)]);
    assert_eq!(card.reasons[0].characteristic.as_deref(), Some("net_profit_margin"));
    assert_eq!((card.reasons[0].points, card.reasons[0].max_points), (42, 55));
}

#[test]
fn worked_example_decision_to_the_unit() {
    let app = worked_example_application();
    assert!(check_application(&app, &policy()).is_empty());
    let e = evaluate(&app, &worked_example_profile());

    assert_eq!(e.scorecard.score, 622);
    assert_eq!(e.scorecard.grade, "G5");

    // Caps: request, revenue, dscr, tax, secured, product (tax-loan order), then group.
    let caps: Vec<(&str, Amount)> = e.limit.caps.iter().map(|c| (c.name.as_str(), c.amount)).collect();
    assert_eq!(
        caps,
        vec![
            ("request", cny(800_000)),
            ("revenue", cny(750_000)),
            ("dscr", Amount(39_695_072)),
            ("tax", cny(360_000)),
            ("secured", cny(1_000_000)),
            ("product", cny(3_000_000)),
            ("group", cny(10_000_000)),
        ]
    );
    // docs/DOMAIN.md 13.3 rounds the DSCR cap to the yuan: 396,951.
    assert_eq!((Amount(39_695_072).0 + 50) / 100, 396_951);
    assert!(e.limit.caps.iter().all(|c| c.name != "working_capital"));
    let binding: Vec<&str> = e
        .limit
        .caps
        .iter()
        .filter(|c| c.binding)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(binding, vec!["tax"]);
    assert_eq!(e.limit.limit, cny(360_000));
    assert!(!e.limit.below_minimum);

    // A limit below the request is a counter-offer for the limit.
    assert_eq!(e.outcome, Outcome::CounterOffer);
    assert_eq!(e.approved_amount, cny(360_000));
    assert_eq!(reason_codes(&e), vec!["L02", "R04", "R08", "R05", "R01"]);

    let price = e.price.as_ref().expect("G5 is priced");
    assert_eq!(
        (
            price.base_rate_bps,
            price.spread_bps,
            price.secured_discount_bps,
            price.tenor_premium_bps
        ),
        (300, 70, 0, 0)
    );
    assert_eq!(price.rate_bps, 370);
    assert_eq!(e.interest_rate_bps, 370);
    assert_eq!(e.lgd_bps, 4500);
    assert_eq!(e.expected_loss, Amount(126_360));
    assert_eq!(e.expected_loss.to_string(), "1263.60");
    assert!((e.raroc - 0.1205).abs() < 5e-4, "RAROC {}", e.raroc);
    // (13,320 - 5,760 - 2,880 - 1,263.60) / 28,350 exactly.
    assert!((e.raroc - (13_320.0 - 5_760.0 - 2_880.0 - 1_263.60) / 28_350.0).abs() < 1e-9);
    // Coverage after the loan: 300,000 / (100,000 + annual payment on 360,000 over 36 months).
    assert!(
        e.dscr_after > 1.25 && (e.dscr_after - 1.3218).abs() < 1e-3,
        "DSCR {}",
        e.dscr_after
    );

    assert_eq!(e.required_authority, "L0");
    assert!(knock_out_codes(&e).is_empty());
    assert!(flag_codes(&e).is_empty(), "{:?}", e.refer_flags);
    assert_eq!(condition_codes(&e), vec!["C06"]);
    assert_eq!(e.evaluation_date, EVAL_DATE);
    assert_eq!(e.policy_version, "sme-default-1.1.0");
}

#[test]
fn worked_example_is_deterministic() {
    let policy = policy();
    let app = worked_example_application();
    let profile = worked_example_profile();
    let first = decide(&app, &profile, &policy, EVAL_DATE).expect("valid");
    let second = decide(&app, &profile, &policy, EVAL_DATE).expect("valid");
    assert_eq!(first, second);
    let reloaded = riskdecision_core::policy::Policy::embedded_default().expect("valid");
    assert_eq!(first, decide(&app, &profile, &reloaded, EVAL_DATE).expect("valid"));
}
