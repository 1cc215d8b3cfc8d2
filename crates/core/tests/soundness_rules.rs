//! Issue 12, pre-loan decisions: the loopholes a credit officer found, each closed by a rule of
//! the default policy and shown here through the public API (before/after in the test comments).

mod common;

use common::{
    EVAL_DATE, app_with, cny, condition_codes, contribution, date, evaluate, flag_codes, knock_out_codes, policy,
    reason_codes, with, worked_example_application, worked_example_profile,
};
use riskdecision_core::domain::application::{Collateral, CollateralKind, LoanApplication, Product};
use riskdecision_core::domain::decision::{Evaluation, Outcome};
use riskdecision_core::domain::lgd::lgd_bps_on;
use riskdecision_core::domain::profile::{ControllerCredit, EnterpriseProfile, TaxRating};
use riskdecision_core::domain::{Amount, Figure, FigureValue, Reason};
use riskdecision_core::policy::{DEFAULT_POLICY_TOML, Policy};
use time::{Date, Month};

fn item(kind: CollateralKind, value: i64, appraised_on: Option<Date>) -> Collateral {
    Collateral {
        kind,
        appraised_value: cny(value),
        lien_rank: 1,
        prior_liens: Amount::ZERO,
        appraised_on,
    }
}

/// An appraisal two months before the evaluation date: current for every kind.
fn recent() -> Option<Date> {
    Some(date(2026, Month::May, 1))
}

fn find<'a>(reasons: &'a [Reason], code: &str) -> &'a Reason {
    reasons
        .iter()
        .find(|r| r.code == code)
        .unwrap_or_else(|| panic!("{code} in {reasons:#?}"))
}

fn figure<'a>(figures: &'a [Figure], name: &str) -> &'a FigureValue {
    &figures
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("figure {name} in {figures:#?}"))
        .value
}

fn number(figures: &[Figure], name: &str) -> f64 {
    match figure(figures, name) {
        FigureValue::Number(x) => *x,
        other => panic!("{name} is not a number: {other:?}"),
    }
}

fn amount(figures: &[Figure], name: &str) -> Amount {
    match figure(figures, name) {
        FigureValue::Amount(a) => *a,
        other => panic!("{name} is not an amount: {other:?}"),
    }
}

fn text(figures: &[Figure], name: &str) -> String {
    match figure(figures, name) {
        FigureValue::Text(s) => s.clone(),
        other => panic!("{name} is not a text: {other:?}"),
    }
}

fn cap(e: &Evaluation, name: &str) -> Amount {
    e.limit
        .caps
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("cap {name} in {:#?}", e.limit.caps))
        .amount
}

// ------------------------------------------------------------------------------------------------
// 1. K04 and token collateral

#[test]
fn k04_is_not_escaped_with_token_collateral() {
    let c_rated = with(|p| p.tax.as_mut().expect("tax").credit_rating = Some(TaxRating::C));
    // Before: one item worth CNY 1 made the loan "secured": no K04, DECLINE L01 instead.
    let token = app_with(|a| a.collateral = vec![item(CollateralKind::Other, 1, recent())]);
    let e = evaluate(&token, &c_rated);
    assert_eq!(e.outcome, Outcome::Decline);
    assert_eq!(knock_out_codes(&e), vec!["K04"], "{:#?}", e.reasons);
    let k04 = find(&e.knock_outs, "K04");
    assert_eq!(text(&k04.figures, "tax_rating"), "C");
    assert!(number(&k04.figures, "collateral_coverage") < 1e-6);
    assert_eq!(number(&k04.thresholds, "secured_min_coverage"), 0.5);
    assert_eq!(text(&k04.thresholds, "unsecured_knockout_tax_ratings"), "C");

    // Property worth 1,400,000 covers 840,000 after the 40% haircut: 105% of 800,000, secured.
    let covered = app_with(|a| a.collateral = vec![item(CollateralKind::CommercialRealEstate, 1_400_000, recent())]);
    let e = evaluate(&covered, &c_rated);
    assert!(!knock_out_codes(&e).contains(&"K04"), "{:#?}", e.knock_outs);
    // 600,000 after haircuts of 1,000,000 is 60%: still secured at the 50% minimum; 400,000
    // (40%) is not.
    let at_60 = app_with(|a| a.collateral = vec![item(CollateralKind::CommercialRealEstate, 800_000, recent())]);
    assert!(!knock_out_codes(&evaluate(&at_60, &c_rated)).contains(&"K04"));
    let at_40 = app_with(|a| a.collateral = vec![item(CollateralKind::CommercialRealEstate, 533_333, recent())]);
    assert!(knock_out_codes(&evaluate(&at_40, &c_rated)).contains(&"K04"));
}

// ------------------------------------------------------------------------------------------------
// 2. Missing verified revenue

/// A sound, established enterprise without any independent revenue source (no tax, invoice or
/// bank-flow feed): the missing bins still leave it in a lending grade.
fn no_feeds() -> EnterpriseProfile {
    with(|p| {
        p.tax = None;
        p.invoices = None;
        p.bank_flows = None;
        p.established_on = date(2014, Month::March, 1);
        p.financials.net_profit = cny(400_000);
        p.financials.ebit = cny(600_000);
        p.financials.total_liabilities = cny(600_000);
        p.financials.current_assets = cny(2_500_000);
        p.industry_code = "I6510".to_owned();
    })
}

fn property_secured(amount: i64, property: i64) -> LoanApplication {
    LoanApplication {
        product: Product::PropertySecured,
        requested_amount: cny(amount),
        term_months: 60,
        collateral: vec![item(CollateralKind::CommercialRealEstate, property, recent())],
        guarantors: Vec::new(),
        purpose: "workshop".to_owned(),
        existing_group_exposure: Amount::ZERO,
    }
}

#[test]
fn missing_verified_revenue_refers_a_secured_loan_with_the_collateral_cap() {
    // Before: DECLINE L01 (revenue cap 0). After: REFER F08, the limit set by the collateral:
    // 400,000 of commercial property after its 40% haircut is 240,000.
    let e = evaluate(&property_secured(300_000, 400_000), &no_feeds());
    assert_eq!(e.outcome, Outcome::Refer, "{:#?}", e.reasons);
    assert!(flag_codes(&e).contains(&"F08"), "{:#?}", e.refer_flags);
    assert_eq!(cap(&e, "secured"), cny(240_000));
    assert_eq!(cap(&e, "revenue"), cny(240_000), "revenue cap: collateral only, not 0");
    assert_eq!(e.limit.limit, cny(240_000));
    assert_eq!(e.approved_amount, cny(240_000));
    let f08 = find(&e.refer_flags, "F08");
    assert_eq!(text(&f08.figures, "verified_revenue"), "not available");
}

#[test]
fn missing_verified_revenue_grants_nothing_unsecured() {
    // No collateral and no verified revenue: no cap lends on self-declared figures alone.
    let app = app_with(|a| {
        a.product = Product::WorkingCapital;
        a.requested_amount = cny(300_000);
    });
    let e = evaluate(&app, &no_feeds());
    assert_eq!(e.outcome, Outcome::Decline);
    assert_eq!(reason_codes(&e)[0], "L01");
    assert_eq!(cap(&e, "revenue"), Amount::ZERO);
    let l01 = find(&e.reasons, "L01");
    assert!(l01.message.contains("no verified revenue"), "{}", l01.message);
    assert_eq!(amount(&l01.thresholds, "min_limit"), cny(50_000));
    assert_eq!(amount(&l01.figures, "cap.revenue"), Amount::ZERO);
}

// ------------------------------------------------------------------------------------------------
// 3. Interest coverage without interest expense

#[test]
fn interest_coverage_without_interest_is_not_the_best_bin() {
    // Before: any profile without interest expense scored 55 (">= 8 or no interest-bearing debt").
    // Debt service of 100,000 and EBIT 150,000: EBIT / debt service = 1.5 -> [1, 2), 38.
    let serviced = with(|p| p.financials.interest_expense = Amount::ZERO);
    assert_eq!(contribution(&serviced, "interest_coverage").0, 38);
    // No debt at all and a loss: undefined -> the missing bin.
    let loss = with(|p| {
        p.financials.interest_expense = Amount::ZERO;
        p.financials.existing_annual_debt_service = Amount::ZERO;
        p.financials.ebit = Amount(-cny(10_000).0);
    });
    assert_eq!(contribution(&loss, "interest_coverage"), (26, "missing".to_owned()));
    // No debt at all and a profit: no interest-bearing debt, the best bin as the policy says.
    let debt_free = with(|p| {
        p.financials.interest_expense = Amount::ZERO;
        p.financials.existing_annual_debt_service = Amount::ZERO;
    });
    assert_eq!(contribution(&debt_free, "interest_coverage").0, 55);
}

// ------------------------------------------------------------------------------------------------
// 4. Revenue growth from verified sources only

#[test]
fn revenue_growth_ignores_self_declared_statements() {
    // Before: without invoices, growth came from the declared statements (+2.0%, 46 points).
    let p = with(|p| p.invoices = None);
    assert_eq!(contribution(&p, "revenue_growth"), (40, "missing".to_owned()));
    // Invoices with both years still give it.
    assert_eq!(contribution(&worked_example_profile(), "revenue_growth").0, 46);
}

// ------------------------------------------------------------------------------------------------
// 5. Guarantee circles

#[test]
fn f03_fires_for_a_mutual_pair_in_either_encoding() {
    // Before: a circle of 2 without the mutual flag raised nothing.
    let pair = with(|p| p.guarantee_network.circle_size = 2);
    let e = evaluate(&worked_example_application(), &pair);
    assert_eq!(flag_codes(&e), vec!["F03"]);
    let f03 = find(&e.refer_flags, "F03");
    assert_eq!(number(&f03.figures, "circle_size"), 2.0);
    assert_eq!(number(&f03.thresholds, "circle_refer_at"), 3.0);
    let flagged = with(|p| p.guarantee_network.mutual_guarantee = true);
    assert_eq!(
        flag_codes(&evaluate(&worked_example_application(), &flagged)),
        vec!["F03"]
    );
}

// ------------------------------------------------------------------------------------------------
// 6. Appraisal age

fn working_capital_with(property: Collateral) -> LoanApplication {
    app_with(|a| {
        a.product = Product::WorkingCapital;
        a.requested_amount = cny(300_000);
        a.collateral = vec![property];
    })
}

#[test]
fn a_stale_appraisal_takes_the_extra_haircut_and_asks_for_revaluation() {
    let fresh = evaluate(
        &working_capital_with(item(CollateralKind::CommercialRealEstate, 1_000_000, recent())),
        &worked_example_profile(),
    );
    // Appraised 2024-01-01: 29 completed months on 2026-06-30, beyond the 12-month period.
    let stale_item = item(
        CollateralKind::CommercialRealEstate,
        1_000_000,
        Some(date(2024, Month::January, 1)),
    );
    let stale = evaluate(&working_capital_with(stale_item.clone()), &worked_example_profile());
    // 40% lending haircut + 10% for the stale appraisal: 100,000 less in the secured cap.
    assert_eq!(cap(&fresh, "secured").0 - cap(&stale, "secured").0, cny(100_000).0);
    // The LGD recognises 40% + 10% less of the stale property: 1,000,000 covers 600,000 fresh,
    // 500,000 stale, of an exposure of 1,000,000 (the rest at the unsecured 45%).
    let exposure = cny(1_000_000);
    let policy = policy();
    let fresh_item = item(CollateralKind::CommercialRealEstate, 1_000_000, recent());
    assert_eq!(lgd_bps_on(&policy, exposure, &[fresh_item], EVAL_DATE), 3000);
    assert_eq!(
        lgd_bps_on(&policy, exposure, std::slice::from_ref(&stale_item), EVAL_DATE),
        3250
    );
    assert!(!condition_codes(&fresh).contains(&"C08"));
    assert!(
        condition_codes(&stale).contains(&"C08"),
        "{:?}",
        condition_codes(&stale)
    );
    let c08 = find(&stale.conditions, "C08");
    assert_eq!(number(&c08.figures, "collateral[0].appraisal_age_months"), 29.0);
    assert_eq!(
        number(&c08.thresholds, "collateral.commercial_real_estate.revaluation_months"),
        12.0
    );
    // An undated appraisal cannot be shown to be current.
    let undated = evaluate(
        &working_capital_with(item(CollateralKind::CommercialRealEstate, 1_000_000, None)),
        &worked_example_profile(),
    );
    let c08 = find(&undated.conditions, "C08");
    assert_eq!(text(&c08.figures, "collateral[0].appraisal_age_months"), "undated");
}

// ------------------------------------------------------------------------------------------------
// 7. Figures and thresholds on every knock-out and flag

fn knock_out(profile: &EnterpriseProfile, app: &LoanApplication, code: &str) -> Reason {
    let e = evaluate(app, profile);
    find(&e.knock_outs, code).clone()
}

#[test]
fn k07_names_its_trigger() {
    let app = worked_example_application();
    let controller = with(|p| p.controller.credit_standing = ControllerCredit::Defaulted90PlusDpd);
    let k07 = knock_out(&controller, &app, "K07");
    assert_eq!(text(&k07.figures, "trigger"), "controller_defaulted");
    let dpd = with(|p| p.credit_history.max_days_past_due_24m = 95);
    let k07 = knock_out(&dpd, &app, "K07");
    assert_eq!(text(&k07.figures, "trigger"), "max_dpd_24m");
    assert_eq!(number(&k07.figures, "max_days_past_due_24m"), 95.0);
    assert_eq!(number(&k07.thresholds, "knockout_max_dpd_24m"), 90.0);
    let npl = with(|p| p.credit_history.npl_classified_24m = true);
    assert_eq!(
        text(&knock_out(&npl, &app, "K07").figures, "trigger"),
        "npl_classified_24m"
    );
}

#[test]
fn k11_shows_cash_flow_debt_service_and_the_minimum() {
    let p = with(|p| p.financials.operating_cash_flow = cny(90_000));
    let k11 = knock_out(&p, &worked_example_application(), "K11");
    assert_eq!(amount(&k11.figures, "cfads"), cny(90_000));
    assert_eq!(amount(&k11.figures, "debt_service_after"), cny(100_000));
    assert!((number(&k11.figures, "dscr_after") - 0.9).abs() < 1e-12);
    assert_eq!(number(&k11.thresholds, "min_dscr"), 1.0);
}

#[test]
fn leverage_exposure_and_age_knock_outs_show_their_figures() {
    let app = worked_example_application();
    let k12 = knock_out(&with(|p| p.financials.total_liabilities = cny(1_720_000)), &app, "K12");
    assert!((number(&k12.figures, "debt_to_assets") - 0.86).abs() < 1e-12);
    assert_eq!(number(&k12.thresholds, "max_debt_to_assets"), 0.85);

    let k13 = knock_out(
        &with(|p| p.financials.external_guarantees = cny(2_000_000)),
        &app,
        "K13",
    );
    assert_eq!(amount(&k13.figures, "external_guarantees"), cny(2_000_000));
    assert_eq!(amount(&k13.figures, "net_assets"), cny(760_000));
    assert_eq!(number(&k13.thresholds, "max_guarantees_to_net_assets"), 2.0);

    let over = app_with(|a| a.existing_group_exposure = cny(9_500_000));
    let k14 = knock_out(&worked_example_profile(), &over, "K14");
    assert_eq!(amount(&k14.figures, "group_exposure_after"), cny(10_300_000));
    assert_eq!(amount(&k14.thresholds, "max_group_exposure"), cny(10_000_000));

    let k15 = knock_out(&with(|p| p.controller.age = 72), &app, "K15");
    assert_eq!(number(&k15.figures, "controller_age"), 72.0);
    assert_eq!(number(&k15.thresholds, "controller_min_age"), 18.0);
    assert_eq!(number(&k15.thresholds, "controller_max_age"), 70.0);

    let k05 = knock_out(&with(|p| p.legal.unsettled_enforcement = cny(100_000)), &app, "K05");
    assert_eq!(amount(&k05.figures, "unsettled_enforcement"), cny(100_000));
    assert_eq!(number(&k05.thresholds, "max_enforcement_to_net_assets"), 0.10);

    let k03 = knock_out(&with(|p| p.established_on = date(2025, Month::March, 1)), &app, "K03");
    assert_eq!(number(&k03.figures, "years_in_business"), 1.0);
    assert_eq!(number(&k03.thresholds, "min_years_in_business"), 2.0);
}

#[test]
fn flags_and_decision_reasons_show_their_figures() {
    let changed = with(|p| p.controller.changed_on = Some(date(2026, Month::March, 1)));
    let e = evaluate(&worked_example_application(), &changed);
    let f06 = find(&e.refer_flags, "F06");
    assert_eq!(number(&f06.figures, "months_since_change"), 3.0);
    assert_eq!(number(&f06.thresholds, "controller_change_months"), 6.0);

    // The worked example is a counter-offer: L02 shows the request, the limit and the tax cap.
    let e = evaluate(&worked_example_application(), &worked_example_profile());
    let l02 = find(&e.reasons, "L02");
    assert_eq!(amount(&l02.figures, "requested_amount"), cny(800_000));
    assert_eq!(amount(&l02.figures, "cap.tax"), cny(360_000));

    // A G10 profile (as in domain_rules' decline_by_score_band): S01 shows score and grade.
    let poor = with(|p| {
        p.controller.credit_standing = ControllerCredit::Severe61To89Dpd;
        p.credit_history.max_days_past_due_24m = 40;
    });
    let e = evaluate(&worked_example_application(), &poor);
    let s01 = find(&e.reasons, "S01");
    assert_eq!(number(&s01.figures, "score"), f64::from(e.scorecard.score));
    assert_eq!(text(&s01.figures, "grade"), "G10");
    assert_eq!(text(&s01.thresholds, "band"), "decline");
}

#[test]
fn messages_do_not_repeat_policy_numbers() {
    let policy = policy();
    assert!(!policy.message("K07").contains("90"));
    for code in ["K05", "K11", "K12", "K13", "K15", "F04", "F06", "CL02"] {
        let message = policy.message(code);
        assert!(
            !message.chars().any(|c| c.is_ascii_digit()),
            "{code}: {message:?} repeats a number the thresholds carry"
        );
    }
}

// ------------------------------------------------------------------------------------------------
// New policy numbers are validated at load

fn refused(from: &str, to: &str, field: &str) {
    assert!(DEFAULT_POLICY_TOML.contains(from), "{from}");
    let text = DEFAULT_POLICY_TOML.replacen(from, to, 1);
    let errors = Policy::from_toml(&text).expect_err("the bad value is refused");
    assert!(
        errors.0.iter().any(|e| e.field == field),
        "{field} not named in {errors}"
    );
}

#[test]
fn bad_security_and_appraisal_numbers_are_refused() {
    refused(
        "secured_min_coverage = 0.50",
        "secured_min_coverage = 0.0",
        "limits.secured_min_coverage",
    );
    refused(
        "secured_min_coverage = 0.50",
        "secured_min_coverage = 6.0",
        "limits.secured_min_coverage",
    );
    refused(
        "revaluation_months = 12\nstale_appraisal_haircut_bps = 0",
        "revaluation_months = 0\nstale_appraisal_haircut_bps = 0",
        "collateral.cash_deposit.revaluation_months",
    );
    refused(
        "stale_appraisal_haircut_bps = 500",
        "stale_appraisal_haircut_bps = 10001",
        "collateral.government_bond.stale_appraisal_haircut_bps",
    );
}

#[test]
fn interest_coverage_needs_missing_points_now_that_it_can_be_missing() {
    let text = DEFAULT_POLICY_TOML.replacen(
        "reason = \"Low interest coverage (EBIT / interest)\"\nmissing_points = 26\n",
        "reason = \"Low interest coverage (EBIT / interest)\"\n",
        1,
    );
    assert_ne!(text, DEFAULT_POLICY_TOML);
    let errors = Policy::from_toml(&text).expect_err("missing points are required");
    assert!(
        errors.0.iter().any(|e| e.field.ends_with(".missing_points")),
        "{errors}"
    );
}
