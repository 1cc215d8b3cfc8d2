//! Every rule of the default policy through the public API of the pure core: scorecard bins and
//! their edges, knock-outs, refer flags, outcomes, grades, limits, pricing and authority.

mod common;

use common::{
    EVAL_DATE, app_with, cny, condition_codes, contribution, date, evaluate, evaluate_with, flag_codes,
    knock_out_codes, policy, reason_codes, with, worked_example_application, worked_example_profile,
};
use riskdecision_core::domain::Amount;
use riskdecision_core::domain::application::{Collateral, CollateralKind, LoanApplication, Product};
use riskdecision_core::domain::authority::{AuthorityInputs, required_level};
use riskdecision_core::domain::decision::{Evaluation, Outcome, check_application, decide, score_profile};
use riskdecision_core::domain::pricing::{price, raroc, tenor_premium_bps};
use riskdecision_core::domain::profile::{
    BankFlows, ControllerCredit, EnterpriseProfile, RegistryStatus, TaxRating, Utilities,
};
use time::Month;

// ------------------------------------------------------------------------------------------------
// Helpers

fn points(profile: &EnterpriseProfile, id: &str) -> i32 {
    contribution(profile, id).0
}

fn decide_base(profile: &EnterpriseProfile) -> Evaluation {
    evaluate(&worked_example_application(), profile)
}

/// An unsecured 12-month working-capital loan: no tax-loan condition and no tax cap. For the
/// worked-example profile, amounts up to 390,000 are below every cap.
fn working_capital_app(amount: i64) -> LoanApplication {
    app_with(|a| {
        a.product = Product::WorkingCapital;
        a.requested_amount = cny(amount);
    })
}

fn collateral(kind: CollateralKind, value: i64) -> Collateral {
    Collateral {
        kind,
        appraised_value: cny(value),
        lien_rank: 1,
        prior_liens: Amount::ZERO,
        appraised_on: Some(date(2026, Month::May, 1)),
    }
}

fn two_level_inflows(low_fen: i64, high_fen: i64) -> Vec<Amount> {
    (0..12)
        .map(|m| Amount(if m % 2 == 0 { low_fen } else { high_fen }))
        .collect()
}

fn set_inflows(p: &mut EnterpriseProfile, inflows: Vec<Amount>) {
    let flows = p.bank_flows.as_mut().expect("fixture has bank flows");
    flows.monthly_inflows = inflows;
}

fn set_invoices(p: &mut EnterpriseProfile, now: Option<Amount>, prior: Option<Amount>) {
    let inv = p.invoices.as_mut().expect("fixture has invoices");
    inv.vat_sales_12m = now;
    inv.vat_sales_prior_12m = prior;
}

fn tax_mut(p: &mut EnterpriseProfile) -> &mut riskdecision_core::domain::profile::TaxRecord {
    p.tax.as_mut().expect("fixture has a tax record")
}

// Scorecard tweaks relative to the worked example (622), with their point deltas.
fn years(p: &mut EnterpriseProfile, y: i32) {
    p.established_on = date(2026 - y, Month::June, 30);
}
fn growth_minus_10(p: &mut EnterpriseProfile) {
    set_invoices(p, Some(cny(2_500_000)), Some(cny(2_777_778))); // -6
}
fn margin(p: &mut EnterpriseProfile, net_profit: i64) {
    p.financials.net_profit = cny(net_profit);
}
fn liabilities(p: &mut EnterpriseProfile, yuan: i64) {
    p.financials.total_liabilities = cny(yuan);
}
fn current_assets(p: &mut EnterpriseProfile, yuan: i64) {
    p.financials.current_assets = cny(yuan);
}
fn ebit(p: &mut EnterpriseProfile, yuan: i64) {
    p.financials.ebit = cny(yuan);
}
fn rating(p: &mut EnterpriseProfile, r: Option<TaxRating>) {
    tax_mut(p).credit_rating = r;
}
fn controller(p: &mut EnterpriseProfile, c: ControllerCredit) {
    p.controller.credit_standing = c;
}
fn cv_high(p: &mut EnterpriseProfile) {
    // CV 0.7 >= 0.6: -8
    set_inflows(p, two_level_inflows(6_250_000, 35_416_667));
}

// ------------------------------------------------------------------------------------------------
// Scorecard: each characteristic at each bin edge, and its missing-data bin.

#[test]
fn years_in_business_bins() {
    // (edge in completed years, points just below, points at the edge)
    for (edge, below, at) in [(1, 36, 36), (2, 36, 41), (3, 41, 46), (5, 46, 51), (10, 51, 55)] {
        // One day short of the anniversary: edge - 1 completed years.
        let short = with(|p| p.established_on = date(2026 - edge, Month::July, 1));
        let exact = with(|p| p.established_on = date(2026 - edge, Month::June, 30));
        assert_eq!(points(&short, "years_in_business"), below, "just below {edge} years");
        assert_eq!(points(&exact, "years_in_business"), at, "at {edge} years");
    }
    // Registered after the evaluation date, or today: 0 years, the knock-out bin.
    assert_eq!(points(&with(|p| p.established_on = EVAL_DATE), "years_in_business"), 36);
    assert_eq!(
        points(
            &with(|p| p.established_on = date(2040, Month::January, 1)),
            "years_in_business"
        ),
        36
    );
}

#[test]
fn verified_revenue_bins() {
    for (edge, below, at) in [
        (1_000_000, 40, 44),
        (3_000_000, 44, 48),
        (10_000_000, 48, 51),
        (30_000_000, 51, 53),
    ] {
        let short = with(|p| set_invoices(p, Some(Amount(cny(edge).0 - 1)), None));
        let exact = with(|p| set_invoices(p, Some(cny(edge)), None));
        assert_eq!(points(&short, "verified_revenue"), below, "just below {edge}");
        assert_eq!(points(&exact, "verified_revenue"), at, "at {edge}");
    }
    // Missing: neither invoices nor tax returns give a revenue.
    let missing = with(|p| {
        p.invoices = None;
        tax_mut(p).reported_revenue_12m = None;
    });
    assert_eq!(contribution(&missing, "verified_revenue"), (40, "missing".to_owned()));
    // Invoices missing: verified revenue falls back to the tax return (2,550,000).
    let from_tax = with(|p| p.invoices = None);
    let f = score_profile(&from_tax, &policy(), EVAL_DATE).features;
    assert_eq!(f.verified_revenue, Some(cny(2_550_000)));
    assert_eq!(points(&from_tax, "verified_revenue"), 44);
}

#[test]
fn revenue_growth_bins() {
    // Prior 12 months = 1,000,000.00; growth = now / prior - 1. A 1-fen step moves the ratio 1e-8.
    let prior = cny(1_000_000);
    let at_growth = |now_fen: i64| with(|p| set_invoices(p, Some(Amount(now_fen)), Some(prior)));
    // -20%: below -> 30, at -> 40
    assert_eq!(points(&at_growth(79_999_999), "revenue_growth"), 30);
    assert_eq!(points(&at_growth(80_000_000), "revenue_growth"), 40);
    // -5%: below -> 40, just inside [-5%, 5%) -> 46. (The exact edges -5% and +30% are not
    // asserted: growth is computed as now / prior - 1 in floating point, which moves exactly
    // -5% and +30% across the edge; reported separately.)
    assert_eq!(points(&at_growth(94_999_999), "revenue_growth"), 40);
    assert_eq!(points(&at_growth(95_000_001), "revenue_growth"), 46);
    // +5%: below -> 46, at -> 51
    assert_eq!(points(&at_growth(104_999_999), "revenue_growth"), 46);
    assert_eq!(points(&at_growth(105_000_000), "revenue_growth"), 51);
    // +30% (at most): just inside -> 51, just above -> 45
    assert_eq!(points(&at_growth(129_999_999), "revenue_growth"), 51);
    assert_eq!(points(&at_growth(130_000_001), "revenue_growth"), 45);
    assert_eq!(points(&at_growth(300_000_000), "revenue_growth"), 45);

    // Missing: no prior year anywhere.
    let missing = with(|p| {
        set_invoices(p, Some(cny(2_500_000)), None);
        p.financials.revenue_prior_year = None;
    });
    assert_eq!(contribution(&missing, "revenue_growth"), (40, "missing".to_owned()));
    // Invoices without a prior year: self-declared statements do not stand in (issue 12), even
    // when they show a prior year (2,625,000 / 2,100,000 = +25% would score 51).
    let declared = with(|p| {
        set_invoices(p, Some(cny(2_500_000)), None);
        p.financials.revenue_prior_year = Some(cny(2_100_000));
    });
    assert_eq!(contribution(&declared, "revenue_growth"), (40, "missing".to_owned()));
    // A zero prior year cannot give a growth rate.
    let zero_prior = with(|p| {
        set_invoices(p, Some(cny(2_500_000)), Some(Amount::ZERO));
        p.financials.revenue_prior_year = None;
    });
    assert_eq!(points(&zero_prior, "revenue_growth"), 40);
}

#[test]
fn net_profit_margin_bins() {
    // Declared revenue 2,625,000.00 = 262,500,000 fen.
    let at_profit = |fen: i64| with(|p| p.financials.net_profit = Amount(fen));
    for (edge_fen, below, at) in [
        (0, 30, 42),
        (7_875_000, 42, 48),
        (21_000_000, 48, 53),
        (39_375_000, 53, 55),
    ] {
        assert_eq!(
            points(&at_profit(edge_fen - 1), "net_profit_margin"),
            below,
            "just below {edge_fen}"
        );
        assert_eq!(points(&at_profit(edge_fen), "net_profit_margin"), at, "at {edge_fen}");
    }
    // Missing: no declared revenue to divide by.
    let missing = with(|p| p.financials.revenue = Amount::ZERO);
    assert_eq!(contribution(&missing, "net_profit_margin"), (30, "missing".to_owned()));
}

/// At each edge (yuan), the profile one fen below scores `below` points for the characteristic
/// and the profile at the edge scores `at`.
fn assert_bin_edges(characteristic: &str, edges: &[(i64, i32, i32)], profile_at: impl Fn(i64) -> EnterpriseProfile) {
    for &(edge_yuan, below, at) in edges {
        let edge_fen = cny(edge_yuan).0;
        assert_eq!(
            points(&profile_at(edge_fen - 1), characteristic),
            below,
            "just below {edge_yuan}"
        );
        assert_eq!(points(&profile_at(edge_fen), characteristic), at, "at {edge_yuan}");
    }
}

#[test]
fn debt_to_assets_bins() {
    // Total assets 2,000,000.00.
    let at_liabilities = |fen: i64| with(|p| p.financials.total_liabilities = Amount(fen));
    assert_bin_edges(
        "debt_to_assets",
        &[
            (800_000, 56, 51),
            (1_100_000, 51, 45),
            (1_400_000, 45, 38),
            (1_600_000, 38, 28),
        ],
        at_liabilities,
    );
    // No assets to divide by: treated as the worst bin (the policy's missing points, 28).
    let no_assets = with(|p| p.financials.total_assets = Amount::ZERO);
    assert_eq!(points(&no_assets, "debt_to_assets"), 28);
}

#[test]
fn current_ratio_bins() {
    // Current liabilities 1,000,000.00.
    let at_assets = |fen: i64| with(|p| p.financials.current_assets = Amount(fen));
    assert_bin_edges(
        "current_ratio",
        &[
            (800_000, 34, 41),
            (1_000_000, 41, 47),
            (1_500_000, 47, 51),
            (2_000_000, 51, 53),
        ],
        at_assets,
    );
    // No current liabilities at all: unbounded ratio, the top bin.
    let no_liabilities = with(|p| p.financials.current_liabilities = Amount::ZERO);
    assert_eq!(points(&no_liabilities, "current_ratio"), 53);
}

#[test]
fn interest_coverage_bins() {
    // Interest expense 50,000.00.
    let at_ebit = |fen: i64| with(|p| p.financials.ebit = Amount(fen));
    assert_bin_edges(
        "interest_coverage",
        &[
            (50_000, 26, 38),
            (100_000, 38, 46),
            (200_000, 46, 52),
            (400_000, 52, 55),
        ],
        at_ebit,
    );
    assert_eq!(points(&at_ebit(-cny(10_000).0), "interest_coverage"), 26);
    // No interest-bearing debt: ">= 8 or no interest-bearing debt".
    let no_interest = with(|p| {
        p.financials.interest_expense = Amount::ZERO;
        p.financials.existing_annual_debt_service = Amount::ZERO;
    });
    assert_eq!(points(&no_interest, "interest_coverage"), 55);
}

#[test]
fn tax_credit_rating_bins() {
    for (r, pts) in [
        (TaxRating::A, 60),
        (TaxRating::B, 48),
        (TaxRating::M, 42),
        (TaxRating::C, 25),
        (TaxRating::D, 25),
    ] {
        assert_eq!(points(&with(|p| rating(p, Some(r))), "tax_credit_rating"), pts, "{r:?}");
    }
    assert_eq!(
        contribution(&with(|p| rating(p, None)), "tax_credit_rating"),
        (25, "missing".to_owned())
    );
    assert_eq!(
        contribution(&with(|p| p.tax = None), "tax_credit_rating"),
        (25, "missing".to_owned())
    );
}

#[test]
fn controller_credit_bins() {
    for (c, pts) in [
        (ControllerCredit::Clean, 56),
        (ControllerCredit::ThinFile, 44),
        (ControllerCredit::OneMinorEpisode, 42),
        (ControllerCredit::RepeatedOr31To60Dpd, 30),
        (ControllerCredit::Severe61To89Dpd, 15),
        (ControllerCredit::Defaulted90PlusDpd, 15),
    ] {
        assert_eq!(points(&with(|p| controller(p, c)), "controller_credit"), pts, "{c:?}");
    }
}

#[test]
fn enterprise_max_dpd_bins() {
    let at_dpd = |d: u32| with(|p| p.credit_history.max_days_past_due_24m = d);
    for (edge, below, at) in [(1, 58, 50), (8, 50, 34), (31, 34, 16), (90, 16, 16)] {
        assert_eq!(
            points(&at_dpd(edge - 1), "enterprise_max_dpd_24m"),
            below,
            "just below {edge}"
        );
        assert_eq!(points(&at_dpd(edge), "enterprise_max_dpd_24m"), at, "at {edge}");
    }
    // No delays but under 12 months of history: the "no history" (missing) bin.
    let history = |months: u32| with(|p| p.credit_history.months_of_history = months);
    assert_eq!(
        contribution(&history(11), "enterprise_max_dpd_24m"),
        (46, "missing".to_owned())
    );
    assert_eq!(
        contribution(&history(0), "enterprise_max_dpd_24m"),
        (46, "missing".to_owned())
    );
    assert_eq!(points(&history(12), "enterprise_max_dpd_24m"), 58);
    // A short history with delays is scored on the delays.
    let short_with_delay = with(|p| {
        p.credit_history.months_of_history = 6;
        p.credit_history.max_days_past_due_24m = 10;
    });
    assert_eq!(points(&short_with_delay, "enterprise_max_dpd_24m"), 34);
}

#[test]
fn industry_risk_bins() {
    for (code, pts) in [
        ("I6510", 52),
        ("M7310", 52),
        ("F5100", 46),
        ("C3360", 46),
        ("A0111", 36),
        ("C2520", 36),
        ("C2511", 36),
    ] {
        assert_eq!(
            points(&with(|p| p.industry_code = code.to_owned()), "industry_risk"),
            pts,
            "{code}"
        );
    }
    // Unknown codes are classed "high".
    assert_eq!(
        points(&with(|p| p.industry_code = "T9000".to_owned()), "industry_risk"),
        36
    );
    assert_eq!(points(&with(|p| p.industry_code = String::new()), "industry_risk"), 36);
}

#[test]
fn inflow_stability_bins() {
    // Mean 10,000,000 fen; two levels mean +- d give a population CV of exactly d / mean.
    let cv = |d: i64| with(|p| set_inflows(p, two_level_inflows(10_000_000 - d, 10_000_000 + d)));
    assert_eq!(points(&cv(2_999_999), "inflow_stability"), 52);
    assert_eq!(points(&cv(3_000_000), "inflow_stability"), 46);
    assert_eq!(points(&cv(5_999_999), "inflow_stability"), 46);
    assert_eq!(points(&cv(6_000_000), "inflow_stability"), 38);
    assert_eq!(points(&cv(0), "inflow_stability"), 52);

    // Fewer than 6 months, none at all, or no positive mean: "no data".
    let months = |n: usize| with(|p| set_inflows(p, vec![cny(200_000); n]));
    assert_eq!(contribution(&months(5), "inflow_stability"), (40, "missing".to_owned()));
    assert_eq!(points(&months(6), "inflow_stability"), 52);
    assert_eq!(
        contribution(&with(|p| p.bank_flows = None), "inflow_stability"),
        (40, "missing".to_owned())
    );
    assert_eq!(
        points(&with(|p| set_inflows(p, vec![Amount::ZERO; 12])), "inflow_stability"),
        40
    );
}

#[test]
fn declared_to_verified_revenue_bins() {
    // Verified revenue 2,500,000.00 from invoices; declared revenue varies.
    let declared = |fen: i64| with(|p| p.financials.revenue = Amount(fen));
    let id = "declared_to_verified_revenue";
    // 0.8 (below): below -> 30, at -> 42
    assert_eq!(points(&declared(cny(2_000_000).0 - 1), id), 30);
    assert_eq!(points(&declared(cny(2_000_000).0), id), 42);
    // 0.9 (below): below -> 42, at -> 52
    assert_eq!(points(&declared(cny(2_250_000).0 - 1), id), 42);
    assert_eq!(points(&declared(cny(2_250_000).0), id), 52);
    // 1.1 (at most): at -> 52, above -> 42
    assert_eq!(points(&declared(cny(2_750_000).0), id), 52);
    assert_eq!(points(&declared(cny(2_750_000).0 + 1), id), 42);
    // 1.3 (at most): at -> 42, above -> 30
    assert_eq!(points(&declared(cny(3_250_000).0), id), 42);
    assert_eq!(points(&declared(cny(3_250_000).0 + 1), id), 30);
    // 1.5 (at most): at -> 30, above -> 30 (and knock-out K10, tested below)
    assert_eq!(points(&declared(cny(3_750_000).0), id), 30);
    assert_eq!(points(&declared(cny(3_750_000).0 + 1), id), 30);

    let missing = with(|p| {
        p.invoices = None;
        tax_mut(p).reported_revenue_12m = None;
    });
    assert_eq!(contribution(&missing, id), (30, "missing".to_owned()));
}

#[test]
fn perfect_profile_scores_the_maximum_and_has_no_reasons() {
    let p = with(|p| {
        years(p, 12);
        p.financials.revenue = cny(31_000_000);
        p.financials.net_profit = cny(5_000_000);
        set_invoices(p, Some(cny(31_000_000)), Some(cny(28_000_000)));
        liabilities(p, 600_000);
        current_assets(p, 2_500_000);
        p.financials.interest_expense = Amount::ZERO;
        p.financials.existing_annual_debt_service = Amount::ZERO;
        rating(p, Some(TaxRating::A));
        p.industry_code = "I6510".to_owned();
        set_inflows(p, vec![cny(2_600_000); 12]);
    });
    let card = score_profile(&p, &policy(), EVAL_DATE).scorecard;
    assert_eq!(card.score, 708, "{:#?}", card.contributions);
    assert!(card.reasons.is_empty());
    assert_eq!(card.grade, "G1");
    assert_eq!(card.master_pd_bps, 9);
}

#[test]
fn reasons_rank_by_shortfall_then_scorecard_order_and_stop_at_four() {
    // A thin-file controller (shortfall 12) ties with tax rating B (12): ties follow the
    // scorecard order, so R08 (8th) comes before R09 (9th).
    let p = with(|p| controller(p, ControllerCredit::ThinFile));
    let card = score_profile(&p, &policy(), EVAL_DATE).scorecard;
    let got: Vec<(&str, i32)> = card
        .reasons
        .iter()
        .map(|r| (r.code.as_str(), r.max_points - r.points))
        .collect();
    assert_eq!(got, vec![("R04", 13), ("R08", 12), ("R09", 12), ("R05", 11)]);
    assert_eq!(card.reasons.len(), 4);
    // Characteristics at their maximum never appear.
    assert!(card.reasons.iter().all(|r| r.points < r.max_points));
}

// ------------------------------------------------------------------------------------------------
// Grades: boundaries of the master scale, PD, default grade.

fn grade_of(p: &EnterpriseProfile) -> (i32, String, i64) {
    let card = score_profile(p, &policy(), EVAL_DATE).scorecard;
    (card.score, card.grade, card.master_pd_bps)
}

type Tweak = fn(&mut EnterpriseProfile);
/// Expected score, grade and master PD (bp) of the worked example after the tweaks.
type GradeCase = (i32, &'static str, i64, Vec<Tweak>);

/// Scores at and just below the lower bound of G1..G3 (the worked example scores 622, G5).
fn grade_cases_g1_to_g3() -> Vec<GradeCase> {
    vec![
        // +58: tax A +12, margin 20% +13, debt 30% +11, ICR 10 +9, 10 years +9, current ratio 1.6 +4
        (
            680,
            "G1",
            9,
            vec![
                |p| rating(p, Some(TaxRating::A)),
                |p| margin(p, 525_000),
                |p| liabilities(p, 600_000),
                |p| ebit(p, 500_000),
                |p| years(p, 10),
                |p| current_assets(p, 1_600_000),
            ],
        ),
        // +57: tax A, margin 20%, debt 30%, ICR 10, current ratio 2.5 +6, low-risk industry +6
        (
            679,
            "G2",
            17,
            vec![
                |p| rating(p, Some(TaxRating::A)),
                |p| margin(p, 525_000),
                |p| liabilities(p, 600_000),
                |p| ebit(p, 500_000),
                |p| current_assets(p, 2_500_000),
                |p| p.industry_code = "I6510".to_owned(),
            ],
        ),
        // +43: tax A, margin 20%, debt 30%, ICR 10, current ratio 1.6 +4, growth -10% -6
        (
            665,
            "G2",
            17,
            vec![
                |p| rating(p, Some(TaxRating::A)),
                |p| margin(p, 525_000),
                |p| liabilities(p, 600_000),
                |p| ebit(p, 500_000),
                |p| current_assets(p, 1_600_000),
                growth_minus_10,
            ],
        ),
        // +42: tax A, margin 20%, debt 30%, ICR 5 +6
        (
            664,
            "G3",
            28,
            vec![
                |p| rating(p, Some(TaxRating::A)),
                |p| margin(p, 525_000),
                |p| liabilities(p, 600_000),
                |p| ebit(p, 250_000),
            ],
        ),
        // +28: tax A, debt 30%, 5 years +5
        (
            650,
            "G3",
            28,
            vec![|p| rating(p, Some(TaxRating::A)), |p| liabilities(p, 600_000), |p| {
                years(p, 5)
            }],
        ),
    ]
}

/// Scores at and just below the lower bound of G4..G7 (the worked example scores 622, G5).
fn grade_cases_g4_to_g7() -> Vec<GradeCase> {
    vec![
        // +27: tax A, ICR 10, low-risk industry
        (
            649,
            "G4",
            46,
            vec![|p| rating(p, Some(TaxRating::A)), |p| ebit(p, 500_000), |p| {
                p.industry_code = "I6510".to_owned()
            }],
        ),
        // +13: margin 20%
        (635, "G4", 46, vec![|p| margin(p, 525_000)]),
        // +12: tax A
        (634, "G5", 78, vec![|p| rating(p, Some(TaxRating::A))]),
        // -2: growth -10% -6, current ratio 1.6 +4
        (620, "G5", 78, vec![growth_minus_10, |p| current_assets(p, 1_600_000)]),
        // -3: thin file -12, 10 years +9
        (
            619,
            "G6",
            130,
            vec![|p| controller(p, ControllerCredit::ThinFile), |p| years(p, 10)],
        ),
        // -17: debt 82%
        (605, "G6", 130, vec![|p| liabilities(p, 1_640_000)]),
        // -18: thin file -12, growth -10% -6
        (
            604,
            "G7",
            217,
            vec![|p| controller(p, ControllerCredit::ThinFile), growth_minus_10],
        ),
        // -32: repeated episodes -26, growth -10% -6
        (
            590,
            "G7",
            217,
            vec![
                |p| controller(p, ControllerCredit::RepeatedOr31To60Dpd),
                growth_minus_10,
            ],
        ),
    ]
}

/// Scores at and just below the lower bound of G8..G10 (the worked example scores 622, G5).
fn grade_cases_g8_to_g10() -> Vec<GradeCase> {
    vec![
        // -33: repeated episodes -26, debt 75% -7
        (
            589,
            "G8",
            360,
            vec![|p| controller(p, ControllerCredit::RepeatedOr31To60Dpd), |p| {
                liabilities(p, 1_500_000)
            }],
        ),
        // -47: severe -41, growth -10% -6
        (
            575,
            "G8",
            360,
            vec![|p| controller(p, ControllerCredit::Severe61To89Dpd), growth_minus_10],
        ),
        // -48: severe -41, debt 75% -7
        (
            574,
            "G9",
            641,
            vec![|p| controller(p, ControllerCredit::Severe61To89Dpd), |p| {
                liabilities(p, 1_500_000)
            }],
        ),
        // -67: severe -41, max dpd 8-30 -24, growth -10% -6, current ratio 1.6 +4
        (
            555,
            "G9",
            641,
            vec![
                |p| controller(p, ControllerCredit::Severe61To89Dpd),
                |p| p.credit_history.max_days_past_due_24m = 10,
                growth_minus_10,
                |p| current_assets(p, 1_600_000),
            ],
        ),
        // -68: severe -41, max dpd 8-30 -24, CV >= 0.6 -8, 5 years +5
        (
            554,
            "G10",
            1500,
            vec![
                |p| controller(p, ControllerCredit::Severe61To89Dpd),
                |p| p.credit_history.max_days_past_due_24m = 10,
                cv_high,
                |p| years(p, 5),
            ],
        ),
    ]
}

fn assert_grade_cases(cases: Vec<GradeCase>) {
    for (expected_score, grade, master_pd, tweaks) in cases {
        let mut p = worked_example_profile();
        for t in tweaks {
            t(&mut p);
        }
        assert_eq!(
            grade_of(&p),
            (expected_score, grade.to_owned(), master_pd),
            "score {expected_score}"
        );
    }
}

#[test]
fn grade_boundaries_g1_to_g3() {
    assert_grade_cases(grade_cases_g1_to_g3());
}

#[test]
fn grade_boundaries_g4_to_g7() {
    assert_grade_cases(grade_cases_g4_to_g7());
}

#[test]
fn grade_boundaries_g8_to_g10() {
    assert_grade_cases(grade_cases_g8_to_g10());
}

#[test]
fn score_pd_follows_the_scaling() {
    let policy = policy();
    for (s, pd) in [(680, 0.001_257), (620, 0.009_90), (555, 0.086_9), (700, 0.000_625)] {
        let got = policy.scaling.pd(s);
        assert!((got - pd).abs() / pd < 0.01, "score {s}: {got}");
    }
    let card = score_profile(&worked_example_profile(), &policy, EVAL_DATE).scorecard;
    assert!((card.pd - policy.scaling.pd(622)).abs() < 1e-15);
}

#[test]
fn default_grade_from_91_days_past_due() {
    let at = |d: u32| with(|p| p.credit_history.current_days_past_due = d);
    let card = score_profile(&at(91), &policy(), EVAL_DATE).scorecard;
    assert_eq!(
        (card.grade.as_str(), card.grade_index, card.master_pd_bps),
        ("D", None, 10_000)
    );
    assert_eq!(card.score, 622, "the score itself is unchanged");
    let card = score_profile(&at(90), &policy(), EVAL_DATE).scorecard;
    assert_eq!((card.grade.as_str(), card.grade_index), ("G5", Some(4)));

    let e = decide_base(&at(120));
    assert_eq!(e.outcome, Outcome::Decline);
    assert_eq!(e.scorecard.grade, "D");
    assert!(knock_out_codes(&e).contains(&"K06"));
    assert_eq!(e.required_authority, "L4");
    assert_eq!(e.approved_amount, Amount::ZERO);
    assert_eq!(e.interest_rate_bps, 0);
}

// ------------------------------------------------------------------------------------------------
// Knock-outs: each alone from the clean worked example.

fn assert_knock_out(profile: &EnterpriseProfile, app: &LoanApplication, code: &str) {
    let e = evaluate(app, profile);
    assert_eq!(knock_out_codes(&e), vec![code], "{:#?}", e.knock_outs);
    assert_eq!(e.outcome, Outcome::Decline);
    assert_eq!(
        e.reasons.first().map(|r| r.code.as_str()),
        Some(code),
        "knock-outs lead the reasons"
    );
    assert!(
        e.reasons[1..].iter().all(|r| r.code.starts_with('R')),
        "score reasons follow: {:?}",
        reason_codes(&e)
    );
    assert_eq!(e.approved_amount, Amount::ZERO);
    assert_eq!(e.interest_rate_bps, 0);
    assert!(e.conditions.is_empty());
    assert_eq!(
        e.required_authority, "L4",
        "only the top level may override a knock-out"
    );
}

fn assert_no_knock_out(profile: &EnterpriseProfile, app: &LoanApplication) {
    let e = evaluate(app, profile);
    assert!(e.knock_outs.is_empty(), "{:#?}", e.knock_outs);
}

#[test]
fn clean_base_has_no_knock_outs_or_flags() {
    let e = decide_base(&worked_example_profile());
    assert!(e.knock_outs.is_empty() && e.refer_flags.is_empty());
}

#[test]
fn k02_registry_not_active() {
    let app = worked_example_application();
    for status in [
        RegistryStatus::Revoked,
        RegistryStatus::Deregistered,
        RegistryStatus::Liquidation,
        RegistryStatus::Bankruptcy,
    ] {
        assert_knock_out(&with(|p| p.registry_status = status), &app, "K02");
    }
}

#[test]
fn k03_years_in_business() {
    let tax_loan = worked_example_application();
    // Tax loans need 2 completed years.
    assert_knock_out(
        &with(|p| p.established_on = date(2024, Month::July, 1)),
        &tax_loan,
        "K03",
    );
    assert_no_knock_out(&with(|p| p.established_on = date(2024, Month::June, 30)), &tax_loan);
    // Other products need 1.
    let wc = working_capital_app(300_000);
    assert_no_knock_out(&with(|p| p.established_on = date(2024, Month::July, 1)), &wc);
    assert_no_knock_out(&with(|p| p.established_on = date(2025, Month::June, 30)), &wc);
    assert_knock_out(&with(|p| p.established_on = date(2025, Month::July, 1)), &wc, "K03");
}

#[test]
fn k04_tax_rating() {
    let unsecured = worked_example_application();
    assert_knock_out(&with(|p| rating(p, Some(TaxRating::D))), &unsecured, "K04");
    assert_knock_out(&with(|p| rating(p, Some(TaxRating::C))), &unsecured, "K04");
    assert_no_knock_out(&with(|p| rating(p, Some(TaxRating::M))), &unsecured);
    // C is accepted when collateral is offered; D never is.
    let mut secured = working_capital_app(300_000);
    secured
        .collateral
        .push(collateral(CollateralKind::CashDeposit, 400_000));
    assert_no_knock_out(&with(|p| rating(p, Some(TaxRating::C))), &secured);
    assert_knock_out(&with(|p| rating(p, Some(TaxRating::D))), &secured, "K04");
}

#[test]
fn k05_dishonest_debtor_or_enforcement() {
    let app = worked_example_application();
    assert_knock_out(&with(|p| p.legal.dishonest_judgment_debtor = true), &app, "K05");
    assert_knock_out(&with(|p| p.controller.dishonest_judgment_debtor = true), &app, "K05");
    // Net assets 760,000: enforcement above 10% (76,000) knocks out, 10% exactly does not.
    assert_knock_out(
        &with(|p| p.legal.unsettled_enforcement = Amount(cny(76_000).0 + 1)),
        &app,
        "K05",
    );
    assert_no_knock_out(&with(|p| p.legal.unsettled_enforcement = cny(76_000)), &app);
}

#[test]
fn k06_currently_overdue() {
    let app = worked_example_application();
    assert_knock_out(&with(|p| p.credit_history.current_days_past_due = 1), &app, "K06");
    // A technical overdue is tolerated up to 7 days.
    let technical = |d: u32| {
        with(|p| {
            p.credit_history.current_days_past_due = d;
            p.credit_history.current_overdue_technical = true;
        })
    };
    assert_no_knock_out(&technical(7), &app);
    assert_knock_out(&technical(8), &app, "K06");
}

#[test]
fn k07_ninety_plus_or_npl() {
    let app = worked_example_application();
    assert_knock_out(&with(|p| p.credit_history.max_days_past_due_24m = 90), &app, "K07");
    assert_no_knock_out(&with(|p| p.credit_history.max_days_past_due_24m = 89), &app);
    assert_knock_out(&with(|p| p.credit_history.npl_classified_24m = true), &app, "K07");
    assert_knock_out(
        &with(|p| controller(p, ControllerCredit::Defaulted90PlusDpd)),
        &app,
        "K07",
    );
    assert_no_knock_out(&with(|p| controller(p, ControllerCredit::Severe61To89Dpd)), &app);
}

#[test]
fn k08_prohibited_industry() {
    let app = worked_example_application();
    let e = evaluate(&app, &with(|p| p.industry_code = "C2511".to_owned()));
    assert_eq!(knock_out_codes(&e), vec!["K08"]);
    assert_eq!(e.outcome, Outcome::Decline);
    // A manufacturing code also asks for electricity data (flag F08), which is not a knock-out.
    assert_no_knock_out(&with(|p| p.industry_code = "C2520".to_owned()), &app);
}

#[test]
fn k09_sanctions() {
    assert_knock_out(
        &with(|p| p.legal.sanctions_hit = true),
        &worked_example_application(),
        "K09",
    );
}

#[test]
fn k10_declared_figures_inconsistent() {
    let app = worked_example_application();
    // Declared / verified revenue above 1.5.
    let inflated = with(|p| p.financials.revenue = Amount(cny(3_750_000).0 + 1));
    assert_knock_out(&inflated, &app, "K10");
    // Tax-return revenue more than 15% above invoices (1.16), declared revenue consistent.
    assert_knock_out(
        &with(|p| tax_mut(p).reported_revenue_12m = Some(cny(2_900_000))),
        &app,
        "K10",
    );
    // ... or more than 15% below (0.84).
    assert_knock_out(
        &with(|p| tax_mut(p).reported_revenue_12m = Some(cny(2_100_000))),
        &app,
        "K10",
    );
    // Exactly +-15% is a referral, not a knock-out.
    for reported in [2_875_000, 2_125_000] {
        let e = decide_base(&with(|p| tax_mut(p).reported_revenue_12m = Some(cny(reported))));
        assert!(e.knock_outs.is_empty(), "{reported}: {:?}", e.knock_outs);
        assert!(flag_codes(&e).contains(&"F02"), "{reported}");
    }
    // Declared revenue more than 1.5x bank inflows.
    let thin_inflows = with(|p| set_inflows(p, vec![cny(100_000); 12]));
    assert_knock_out(&thin_inflows, &app, "K10");
}

#[test]
fn k11_debt_service_coverage_below_one() {
    // CFADS below existing debt service: no capacity (offer 0) and coverage 0.9.
    let p = with(|p| p.financials.operating_cash_flow = cny(90_000));
    assert_knock_out(&p, &worked_example_application(), "K11");
    let e = decide_base(&p);
    assert!((e.dscr_after - 0.9).abs() < 1e-12);
}

#[test]
fn k12_debt_to_assets_above_85_percent() {
    let app = worked_example_application();
    assert_knock_out(&with(|p| liabilities(p, 1_720_000)), &app, "K12");
    assert_no_knock_out(&with(|p| liabilities(p, 1_700_000)), &app);
}

#[test]
fn k13_external_guarantees_above_twice_net_assets() {
    let app = worked_example_application();
    // Net assets 760,000.
    assert_knock_out(
        &with(|p| p.financials.external_guarantees = Amount(cny(1_520_000).0 + 1)),
        &app,
        "K13",
    );
    assert_no_knock_out(&with(|p| p.financials.external_guarantees = cny(1_520_000)), &app);
}

#[test]
fn k14_group_exposure_above_ten_million() {
    let over = app_with(|a| a.existing_group_exposure = Amount(cny(9_200_000).0 + 1));
    assert_knock_out(&worked_example_profile(), &over, "K14");
    let at = app_with(|a| a.existing_group_exposure = cny(9_200_000));
    assert_no_knock_out(&worked_example_profile(), &at);
}

#[test]
fn k15_controller_age() {
    let app = worked_example_application();
    assert_knock_out(&with(|p| p.controller.age = 17), &app, "K15");
    assert_no_knock_out(&with(|p| p.controller.age = 18), &app);
    assert_no_knock_out(&with(|p| p.controller.age = 70), &app);
    assert_knock_out(&with(|p| p.controller.age = 71), &app, "K15");
}

#[test]
fn all_knock_outs_are_reported_in_code_order() {
    let p = with(|p| {
        p.controller.age = 75;
        p.legal.sanctions_hit = true;
        p.registry_status = RegistryStatus::Revoked;
    });
    let e = decide_base(&p);
    assert_eq!(knock_out_codes(&e), vec!["K02", "K09", "K15"]);
    assert_eq!(&reason_codes(&e)[..3], &["K02", "K09", "K15"]);
}

// ------------------------------------------------------------------------------------------------
// Refer flags.

fn assert_refer_flag(profile: &EnterpriseProfile, code: &str) -> Evaluation {
    let e = decide_base(profile);
    assert_eq!(flag_codes(&e), vec![code], "{:#?}", e.refer_flags);
    assert!(e.knock_outs.is_empty(), "{:#?}", e.knock_outs);
    assert_eq!(e.outcome, Outcome::Refer);
    assert!(reason_codes(&e).contains(&code));
    assert_eq!(e.approved_amount, cny(360_000), "a referral keeps the offer");
    assert_ne!(e.required_authority, "L0", "a refer flag needs a person");
    e
}

fn assert_no_flags(profile: &EnterpriseProfile) {
    let e = decide_base(profile);
    assert!(e.refer_flags.is_empty(), "{:#?}", e.refer_flags);
}

#[test]
fn f01_uscc_checksum_mismatch() {
    let e = assert_refer_flag(&with(|p| p.uscc_checksum_mismatch = true), "F01");
    assert_eq!(e.required_authority, "L1");
}

#[test]
fn f02_cross_check_referral() {
    // Credit inquiries above 4 in 6 months.
    assert_refer_flag(&with(|p| p.credit_history.inquiries_6m = 5), "F02");
    assert_no_flags(&with(|p| p.credit_history.inquiries_6m = 4));
    // Declared revenue vs bank inflows in (1.3, 1.5]: 2,625,000 / 1,920,000 = 1.367.
    assert_refer_flag(&with(|p| set_inflows(p, vec![cny(160_000); 12])), "F02");
    // Tax return vs invoices off by 5..15%.
    assert_refer_flag(&with(|p| tax_mut(p).reported_revenue_12m = Some(cny(2_700_000))), "F02");
    // Several referring checks give one F02 flag.
    let e = decide_base(&with(|p| {
        p.credit_history.inquiries_6m = 6;
        set_inflows(p, vec![cny(160_000); 12]);
    }));
    assert_eq!(flag_codes(&e), vec!["F02"]);
}

#[test]
fn f03_guarantee_circle() {
    let e = assert_refer_flag(&with(|p| p.guarantee_network.mutual_guarantee = true), "F03");
    assert_eq!(e.required_authority, "L3", "circles go to head office");
    assert_refer_flag(&with(|p| p.guarantee_network.circle_size = 3), "F03");
    // A mutual pair given only as a circle of two refers too (issue 12).
    assert_refer_flag(&with(|p| p.guarantee_network.circle_size = 2), "F03");
    assert_no_flags(&with(|p| p.guarantee_network.circle_size = 1));
}

#[test]
fn f04_coverage_between_one_and_one_and_a_quarter() {
    // CFADS 120,000 against 100,000 existing service: no spare capacity at 1.25, so the offer is 0
    // and coverage stays 1.2. The flag is raised; the empty limit then declines (L01).
    let e = decide_base(&with(|p| p.financials.operating_cash_flow = cny(120_000)));
    assert_eq!(flag_codes(&e), vec!["F04"]);
    assert!(e.knock_outs.is_empty());
    assert!((e.dscr_after - 1.2).abs() < 1e-12);
    assert_eq!(e.outcome, Outcome::Decline);
    assert_eq!(reason_codes(&e)[0], "L01");
    // Coverage exactly 1.0 flags, just below knocks out.
    let e = decide_base(&with(|p| p.financials.operating_cash_flow = cny(100_000)));
    assert_eq!((flag_codes(&e), knock_out_codes(&e)), (vec!["F04"], vec![]));
    let e = decide_base(&with(|p| p.financials.operating_cash_flow = Amount(cny(100_000).0 - 1)));
    assert_eq!((flag_codes(&e), knock_out_codes(&e)), (vec![], vec!["K11"]));
}

#[test]
fn f05_stale_data() {
    // tax 45 days, invoices 45, bank flows 35, credit report 30, legal 30, financials 550.
    let days_before = |n: i64| EVAL_DATE - time::Duration::days(n);
    assert_refer_flag(&with(|p| tax_mut(p).as_of = days_before(46)), "F05");
    assert_no_flags(&with(|p| tax_mut(p).as_of = days_before(45)));
    assert_refer_flag(
        &with(|p| p.invoices.as_mut().expect("invoices").as_of = days_before(46)),
        "F05",
    );
    assert_no_flags(&with(|p| {
        p.invoices.as_mut().expect("invoices").as_of = days_before(45)
    }));
    assert_refer_flag(
        &with(|p| p.bank_flows.as_mut().expect("flows").as_of = days_before(36)),
        "F05",
    );
    assert_no_flags(&with(|p| p.bank_flows.as_mut().expect("flows").as_of = days_before(35)));
    assert_refer_flag(&with(|p| p.credit_history.as_of = days_before(31)), "F05");
    assert_no_flags(&with(|p| p.credit_history.as_of = days_before(30)));
    assert_refer_flag(&with(|p| p.legal.as_of = days_before(31)), "F05");
    assert_refer_flag(&with(|p| p.financials.as_of = days_before(551)), "F05");
    assert_no_flags(&with(|p| p.financials.as_of = days_before(550)));
    // Several stale sources give one F05 flag.
    let e = decide_base(&with(|p| {
        tax_mut(p).as_of = days_before(100);
        p.credit_history.as_of = days_before(100);
    }));
    assert_eq!(flag_codes(&e), vec!["F05"]);
}

#[test]
fn f06_controller_changed_recently() {
    // 5 completed months before 2026-06-30.
    assert_refer_flag(
        &with(|p| p.controller.changed_on = Some(date(2026, Month::January, 1))),
        "F06",
    );
    assert_no_flags(&with(|p| {
        p.controller.changed_on = Some(date(2025, Month::December, 30))
    }));
}

#[test]
fn f07_new_lenders() {
    let e = assert_refer_flag(&with(|p| p.credit_history.new_lenders_6m = 3), "F07");
    assert_eq!(e.required_authority, "L1");
    assert_no_flags(&with(|p| p.credit_history.new_lenders_6m = 2));
}

#[test]
fn f08_missing_sources() {
    // No invoices: revenue is verified from the tax return instead; growth has no verified
    // prior year and takes the missing bin (40 instead of 46).
    let e = assert_refer_flag(&with(|p| p.invoices = None), "F08");
    assert_eq!(e.scorecard.score, 616);
    // Fewer than 6 months of bank flows (scored as "no data" too).
    let short = with(|p| set_inflows(p, vec![cny(210_000); 5]));
    let e = decide_base(&short);
    assert_eq!(flag_codes(&e), vec!["F08"]);
    assert_eq!(e.outcome, Outcome::Refer);
    // No tax record at all.
    let e = decide_base(&with(|p| p.tax = None));
    assert_eq!(flag_codes(&e), vec!["F08"]);
    // Manufacturing without utility data.
    let e = decide_base(&with(|p| p.industry_code = "C3360".to_owned()));
    assert_eq!(flag_codes(&e), vec!["F08"]);
}

#[test]
fn p01_pricing_exception_below_the_hurdle() {
    // Under the default policy no grade's unsecured price falls below the 10% hurdle (8.8).
    let default = policy();
    for g in 0..8 {
        let p = price(&default, g, Some(4500), 12, EVAL_DATE).expect("G1..G8 are priced");
        let r = raroc(&default, p.rate_bps, default.grades[g].master_pd_bps, 4500);
        assert!(
            r >= default.pricing.raroc_hurdle,
            "{}: RAROC {r}",
            default.grades[g].name
        );
    }
    assert!(
        price(&default, 8, Some(4500), 12, EVAL_DATE).is_none()
            && price(&default, 9, Some(4500), 12, EVAL_DATE).is_none(),
        "G9, G10 are not priced"
    );
    // Raise the hurdle above the worked example's 12.05%: pricing exception, one level up.
    let mut strict = policy();
    strict.pricing.raroc_hurdle = 0.125;
    let e = evaluate_with(&worked_example_application(), &worked_example_profile(), &strict);
    assert_eq!(flag_codes(&e), vec!["P01"]);
    assert_eq!(e.outcome, Outcome::Refer);
    assert_eq!(reason_codes(&e)[0], "P01");
    // Needs a person (L1), one level up for the exception (L2).
    assert_eq!(e.required_authority, "L2");
}

// ------------------------------------------------------------------------------------------------
// Outcomes.

#[test]
fn approve_without_conditions() {
    let e = evaluate(&working_capital_app(300_000), &worked_example_profile());
    assert_eq!(e.outcome, Outcome::Approve);
    assert_eq!(e.approved_amount, cny(300_000));
    assert!(e.conditions.is_empty(), "{:?}", e.conditions);
    assert!(reason_codes(&e).iter().all(|c| c.starts_with('R')));
    assert_eq!(e.required_authority, "L0");
    assert_eq!(e.interest_rate_bps, 370);
    let binding: Vec<&str> = e
        .limit
        .caps
        .iter()
        .filter(|c| c.binding)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(binding, vec!["request"]);
    assert!(
        e.limit
            .caps
            .iter()
            .any(|c| c.name == "product" && c.amount == cny(10_000_000))
    );
}

#[test]
fn approve_with_conditions_for_g6_working_capital() {
    let p = with(|p| controller(p, ControllerCredit::ThinFile)); // 610, G6
    let e = evaluate(&working_capital_app(300_000), &p);
    assert_eq!(e.scorecard.grade, "G6");
    assert_eq!(e.outcome, Outcome::Approve);
    assert_eq!(condition_codes(&e), vec!["C01"]);
    assert_eq!(e.interest_rate_bps, 395);
    assert_eq!(e.required_authority, "L1");
    // The G6 unsecured allowance is 500,000.
    assert!(
        e.limit
            .caps
            .iter()
            .any(|c| c.name == "secured" && c.amount == cny(500_000))
    );
}

#[test]
fn g6_tax_loan_refers_by_product_override() {
    let e = decide_base(&with(|p| controller(p, ControllerCredit::ThinFile)));
    assert_eq!(e.scorecard.grade, "G6");
    assert_eq!(e.outcome, Outcome::Refer);
    assert_eq!(reason_codes(&e)[0], "S02");
    assert!(e.refer_flags.is_empty());
    assert_eq!(condition_codes(&e), vec!["C01", "C06"]);
}

#[test]
fn counter_offer_when_the_limit_is_below_the_request() {
    let e = decide_base(&worked_example_profile());
    assert_eq!(e.outcome, Outcome::CounterOffer);
    assert_eq!(e.approved_amount, e.limit.limit);
    assert_eq!(reason_codes(&e)[0], "L02");
    // Asking for exactly the limit is an approval.
    let e = evaluate(
        &app_with(|a| a.requested_amount = cny(360_000)),
        &worked_example_profile(),
    );
    assert_eq!(e.outcome, Outcome::Approve);
    assert_eq!(e.approved_amount, cny(360_000));
    assert_eq!(condition_codes(&e), vec!["C06"]);
}

#[test]
fn refer_band_g7_and_g8() {
    let g7 = with(|p| {
        controller(p, ControllerCredit::ThinFile);
        cv_high(p);
    });
    // G7 has no unsecured allowance: without collateral the secured cap is 0 (decline L01).
    let e = evaluate(&working_capital_app(200_000), &g7);
    assert_eq!((e.scorecard.score, e.scorecard.grade.as_str()), (602, "G7"));
    assert_eq!(
        e.limit.caps.iter().find(|c| c.name == "secured").map(|c| c.amount),
        Some(Amount::ZERO)
    );
    assert_eq!((e.outcome, reason_codes(&e)[0]), (Outcome::Decline, "L01"));
    // With cash collateral: referred to a person.
    let mut app = working_capital_app(200_000);
    app.collateral.push(collateral(CollateralKind::CashDeposit, 300_000));
    let e = evaluate(&app, &g7);
    assert_eq!(e.outcome, Outcome::Refer);
    assert_eq!(e.approved_amount, cny(200_000));
    assert_eq!(reason_codes(&e)[0], "S02");
    assert!(e.refer_flags.is_empty());
    assert_eq!(condition_codes(&e), vec!["C02", "C04"]);
    assert_eq!(e.required_authority, "L2");
    // G7 is eligible for the secured discount (LGD 0): 300 + 140 - 15.
    assert_eq!(e.interest_rate_bps, 425);

    let g8 = with(|p| {
        controller(p, ControllerCredit::RepeatedOr31To60Dpd);
        cv_high(p);
    });
    let mut app = working_capital_app(200_000);
    app.collateral.push(collateral(CollateralKind::CashDeposit, 300_000));
    let e = evaluate(&app, &g8);
    assert_eq!((e.scorecard.score, e.scorecard.grade.as_str()), (588, "G8"));
    assert_eq!(e.outcome, Outcome::Refer);
    assert_eq!(condition_codes(&e), vec!["C03", "C04"]);
    assert_eq!(e.required_authority, "L3");
}

#[test]
fn decline_by_score_band() {
    for (tweak, grade) in [
        (
            Box::new(|p: &mut EnterpriseProfile| {
                controller(p, ControllerCredit::Severe61To89Dpd);
                cv_high(p);
            }) as Box<dyn Fn(&mut EnterpriseProfile)>,
            "G9",
        ),
        (
            Box::new(|p: &mut EnterpriseProfile| {
                controller(p, ControllerCredit::Severe61To89Dpd);
                p.credit_history.max_days_past_due_24m = 40;
            }),
            "G10",
        ),
    ] {
        let mut p = worked_example_profile();
        tweak(&mut p);
        let e = decide_base(&p);
        assert_eq!(e.scorecard.grade, grade);
        assert!(e.knock_outs.is_empty());
        assert_eq!(e.outcome, Outcome::Decline);
        assert_eq!(reason_codes(&e)[0], "S01");
        assert_eq!(e.reasons.len(), 5, "S01 then four score reasons");
        assert_eq!(e.approved_amount, Amount::ZERO);
        assert!(e.price.is_none());
        assert_eq!(e.required_authority, "L4");
    }
}

#[test]
fn decline_for_insufficient_capacity_l01() {
    // Average tax paid 8,000: tax cap 48,000, limit 40,000 < 50,000.
    let p = with_tax_paid(8_000, 8_000);
    let e = decide_base(&p);
    assert_eq!(e.limit.limit, cny(40_000));
    assert!(e.limit.below_minimum);
    assert_eq!(e.outcome, Outcome::Decline);
    assert_eq!(reason_codes(&e)[0], "L01");
    assert!(e.knock_outs.is_empty());
    assert_eq!(e.approved_amount, Amount::ZERO);
    // The exposure needs L0; overriding a decline needs one level more.
    assert_eq!(e.required_authority, "L1");
}

// ------------------------------------------------------------------------------------------------
// Limits: rounding down to 10,000 and the 50,000 minimum.

/// Tax paid set for the tax cap. The revenue in tax returns is dropped so that the tax-burden
/// cross-check (V10) does not judge the small sums these limit tests need.
fn with_tax_paid(now: i64, prior: i64) -> EnterpriseProfile {
    with(|p| {
        tax_mut(p).tax_paid_12m = Some(cny(now));
        tax_mut(p).tax_paid_prior_12m = Some(cny(prior));
        tax_mut(p).reported_revenue_12m = None;
    })
}

#[test]
fn limit_rounds_down_to_ten_thousand() {
    // Average 61,666 x 6 = 369,996 -> 360,000.
    let e = decide_base(&with_tax_paid(61_666, 61_666));
    let tax = e.limit.caps.iter().find(|c| c.name == "tax").expect("tax cap");
    assert_eq!(tax.amount, cny(369_996));
    assert!(tax.binding);
    assert_eq!(e.limit.limit, cny(360_000));
    // An exact multiple stays.
    let e = decide_base(&with_tax_paid(65_000, 65_000));
    assert_eq!(e.limit.limit, cny(390_000));
    // Averages are of the fen amounts: (61,667 + 61,666) / 2 = 61,666.50 -> 369,999 -> 360,000.
    let e = decide_base(&with_tax_paid(61_667, 61_666));
    assert_eq!(
        e.limit.caps.iter().find(|c| c.name == "tax").map(|c| c.amount),
        Some(cny(369_999))
    );
    assert_eq!(e.limit.limit, cny(360_000));
}

#[test]
fn limit_minimum_is_fifty_thousand() {
    // 8,334 x 6 = 50,004 -> 50,000: a counter-offer at the minimum.
    let e = decide_base(&with_tax_paid(8_334, 8_334));
    assert_eq!(e.limit.limit, cny(50_000));
    assert!(!e.limit.below_minimum);
    assert_eq!(e.outcome, Outcome::CounterOffer);
    assert_eq!(e.approved_amount, cny(50_000));
    // 8,333 x 6 = 49,998 -> 40,000: decline L01.
    let e = decide_base(&with_tax_paid(8_333, 8_333));
    assert_eq!(e.limit.limit, cny(40_000));
    assert!(e.limit.below_minimum);
    assert_eq!(e.outcome, Outcome::Decline);
}

#[test]
fn tax_multiples_by_rating() {
    for (r, limit) in [
        (TaxRating::A, 600_000),
        (TaxRating::B, 360_000),
        (TaxRating::M, 180_000),
    ] {
        let e = decide_base(&with(|p| rating(p, Some(r))));
        assert_eq!(
            e.limit.caps.iter().find(|c| c.name == "tax").map(|c| c.amount),
            Some(cny(limit)),
            "{r:?}"
        );
    }
    // No two-year tax history: the tax cap is 0 and the tax loan declines for capacity.
    let e = decide_base(&with(|p| tax_mut(p).tax_paid_prior_12m = None));
    assert_eq!(
        e.limit.caps.iter().find(|c| c.name == "tax").map(|c| c.amount),
        Some(Amount::ZERO)
    );
    assert_eq!(e.outcome, Outcome::Decline);
    assert_eq!(reason_codes(&e)[0], "L01");
}

#[test]
fn group_cap_and_secured_cap() {
    // Existing group exposure reduces the group cap.
    let app = app_with(|a| a.existing_group_exposure = cny(9_800_000));
    let e = evaluate(&app, &worked_example_profile());
    assert_eq!(
        e.limit.caps.iter().find(|c| c.name == "group").map(|c| c.amount),
        Some(cny(200_000))
    );
    assert_eq!(e.limit.limit, cny(200_000));
    // Collateral after the lending haircut adds to the unsecured allowance.
    let mut app = working_capital_app(300_000);
    app.collateral
        .push(collateral(CollateralKind::CommercialRealEstate, 1_000_000)); // 40% haircut
    let e = evaluate(&app, &worked_example_profile());
    assert_eq!(
        e.limit.caps.iter().find(|c| c.name == "secured").map(|c| c.amount),
        Some(cny(1_600_000))
    );
}

// ------------------------------------------------------------------------------------------------
// Pricing: secured discount and tenor premium.

#[test]
fn secured_discount_for_g5_to_g8_with_lgd_at_most_30_percent() {
    let base = worked_example_profile();
    // Cash covering the whole exposure: LGD 0.
    let mut app = working_capital_app(300_000);
    app.collateral.push(collateral(CollateralKind::CashDeposit, 400_000));
    let e = evaluate(&app, &base);
    assert_eq!(e.lgd_bps, 0);
    assert_eq!(e.price.as_ref().map(|p| p.secured_discount_bps), Some(15));
    assert_eq!(e.interest_rate_bps, 355);
    assert_eq!(e.outcome, Outcome::Approve);
    assert_eq!(condition_codes(&e), vec!["C04"]);

    // Residential property 300,000 (supervisory haircut 40%): 180,000 at 20%, 120,000 at 45%.
    let mut app = working_capital_app(300_000);
    app.collateral
        .push(collateral(CollateralKind::ResidentialRealEstate, 300_000));
    let e = evaluate(&app, &base);
    assert_eq!(e.lgd_bps, 3000);
    assert_eq!(e.interest_rate_bps, 355);
    // 290,000: LGD 30.5%, no discount.
    let mut app = working_capital_app(300_000);
    app.collateral
        .push(collateral(CollateralKind::ResidentialRealEstate, 290_000));
    let e = evaluate(&app, &base);
    assert_eq!(e.lgd_bps, 3050);
    assert_eq!(e.price.as_ref().map(|p| p.secured_discount_bps), Some(0));
    assert_eq!(e.interest_rate_bps, 370);

    // G4 is not eligible: 635 with a 20% margin.
    let g4 = with(|p| margin(p, 525_000));
    let mut app = working_capital_app(300_000);
    app.collateral.push(collateral(CollateralKind::CashDeposit, 400_000));
    let e = evaluate(&app, &g4);
    assert_eq!(e.scorecard.grade, "G4");
    assert_eq!(e.interest_rate_bps, 345);

    // Directly: every grade, at the LGD edge.
    let policy = policy();
    for g in 0..8 {
        let eligible = (4..=7).contains(&g);
        let at = price(&policy, g, Some(3000), 12, EVAL_DATE).expect("priced");
        let above = price(&policy, g, Some(3001), 12, EVAL_DATE).expect("priced");
        let unknown = price(&policy, g, None, 12, EVAL_DATE).expect("priced");
        assert_eq!(
            at.secured_discount_bps,
            if eligible { 15 } else { 0 },
            "{}",
            policy.grades[g].name
        );
        assert_eq!(above.secured_discount_bps, 0);
        assert_eq!(unknown.secured_discount_bps, 0);
        assert_eq!(
            at.rate_bps,
            300 + policy.grades[g].spread_bps.expect("spread") - at.secured_discount_bps
        );
    }
}

#[test]
fn tenor_premium_per_started_extra_year_capped() {
    let policy = policy();
    for (months, bps) in [
        (1, 0),
        (12, 0),
        (13, 10),
        (24, 10),
        (25, 20),
        (36, 20),
        (37, 30),
        (48, 30),
        (60, 30),
        (120, 30),
    ] {
        assert_eq!(tenor_premium_bps(&policy, months), bps, "{months} months");
    }
    // Through decide: working capital over 13 and 25 months.
    for (term, rate) in [(12, 370), (13, 380), (24, 380), (25, 390), (36, 390)] {
        let mut app = working_capital_app(300_000);
        app.term_months = term;
        let e = evaluate(&app, &worked_example_profile());
        assert_eq!(e.interest_rate_bps, rate, "{term} months");
        assert_eq!(e.price.as_ref().map(|p| p.tenor_premium_bps), Some(rate - 370));
        // Loans over a year carry financial covenants.
        assert_eq!(condition_codes(&e).contains(&"C07"), term > 12, "{term} months");
    }
}

// ------------------------------------------------------------------------------------------------
// Authority matrix.

#[test]
fn authority_levels() {
    let policy = policy();
    let level = |grade: Option<usize>, new: i64, total: i64, person: bool, min: usize| {
        let inputs = AuthorityInputs {
            grade_index: grade,
            new_amount: cny(new),
            total_exposure: cny(total),
            needs_person: person,
            min_level: min,
        };
        policy.authority[required_level(&policy, &inputs)].level.clone()
    };
    let g = |name: &str| policy.grade_index(name);
    assert_eq!(level(g("G1"), 1_000_000, 3_000_000, false, 0), "L0");
    assert_eq!(level(g("G5"), 1_000_000, 3_000_000, false, 0), "L0");
    assert_eq!(level(g("G5"), 1_000_001, 1_000_001, false, 0), "L1");
    assert_eq!(level(g("G5"), 500_000, 3_000_001, false, 0), "L2");
    assert_eq!(level(g("G5"), 500_000, 500_000, true, 0), "L1");
    assert_eq!(level(g("G6"), 500_000, 500_000, false, 0), "L1");
    assert_eq!(level(g("G6"), 500_000, 3_000_001, false, 0), "L2");
    assert_eq!(level(g("G7"), 500_000, 500_000, false, 0), "L2");
    assert_eq!(level(g("G7"), 500_000, 5_000_000, false, 0), "L2");
    assert_eq!(level(g("G7"), 500_000, 5_000_001, false, 0), "L3");
    assert_eq!(level(g("G8"), 500_000, 500_000, false, 0), "L3");
    assert_eq!(level(g("G8"), 500_000, 10_000_000, false, 0), "L3");
    assert_eq!(level(g("G8"), 500_000, 10_000_001, false, 0), "L4");
    assert_eq!(level(g("G9"), 500_000, 500_000, false, 0), "L4");
    assert_eq!(level(None, 500_000, 500_000, false, 0), "L4");
    assert_eq!(level(g("G1"), 500_000, 500_000, true, 3), "L3");

    // Through decide: exposure after the loan drives the level.
    let e = evaluate(
        &app_with(|a| a.existing_group_exposure = cny(2_640_000)),
        &worked_example_profile(),
    );
    assert_eq!(
        (e.outcome, e.required_authority.as_str()),
        (Outcome::CounterOffer, "L0")
    ); // 3,000,000 total
    let e = evaluate(
        &app_with(|a| a.existing_group_exposure = cny(2_700_000)),
        &worked_example_profile(),
    );
    assert_eq!(e.required_authority, "L2"); // 3,060,000
    let e = evaluate(
        &app_with(|a| a.existing_group_exposure = cny(4_700_000)),
        &worked_example_profile(),
    );
    assert_eq!(e.required_authority, "L3"); // 5,060,000
}

// ------------------------------------------------------------------------------------------------
// Product rules.

#[test]
fn term_outside_the_product_range_is_an_application_problem() {
    let policy = policy();
    for term in [0, 13, 24] {
        let app = app_with(|a| a.term_months = term);
        let problems = check_application(&app, &policy);
        assert_eq!(
            problems.iter().map(|p| p.field).collect::<Vec<_>>(),
            vec!["application.term_months"],
            "{term}"
        );
        assert!(problems[0].message.contains("1..12"), "{}", problems[0].message);
        let err = decide(&app, &worked_example_profile(), &policy, EVAL_DATE).expect_err("rejected");
        assert_eq!(err, problems);
    }
    for term in [1, 12] {
        assert!(check_application(&app_with(|a| a.term_months = term), &policy).is_empty());
    }
    // Equipment: 6..60 months.
    let mut equipment = app_with(|a| a.product = Product::Equipment);
    equipment
        .collateral
        .push(collateral(CollateralKind::Machinery, 1_000_000));
    equipment.term_months = 5;
    assert_eq!(
        check_application(&equipment, &policy)
            .iter()
            .map(|p| p.field)
            .collect::<Vec<_>>(),
        vec!["application.term_months"]
    );
    equipment.term_months = 60;
    assert!(check_application(&equipment, &policy).is_empty());
    equipment.term_months = 61;
    assert_eq!(check_application(&equipment, &policy).len(), 1);
}

#[test]
fn required_collateral_missing_is_an_application_problem() {
    let policy = policy();
    let fields = |app: &LoanApplication| {
        check_application(app, &policy)
            .iter()
            .map(|p| p.field)
            .collect::<Vec<_>>()
    };

    let mut equipment = app_with(|a| a.product = Product::Equipment);
    assert_eq!(fields(&equipment), vec!["application.collateral"]);
    equipment
        .collateral
        .push(collateral(CollateralKind::ResidentialRealEstate, 1_000_000));
    assert_eq!(fields(&equipment), vec!["application.collateral"], "wrong kind");
    equipment.collateral.push(collateral(CollateralKind::Vehicle, 500_000));
    assert!(fields(&equipment).is_empty());

    let mut invoice = app_with(|a| a.product = Product::InvoiceFinancing);
    assert_eq!(fields(&invoice), vec!["application.collateral"]);
    invoice
        .collateral
        .push(collateral(CollateralKind::Receivables, 500_000));
    assert!(fields(&invoice).is_empty());

    // Both problems at once.
    let property = app_with(|a| {
        a.product = Product::PropertySecured;
        a.term_months = 11;
    });
    assert_eq!(
        fields(&property),
        vec!["application.term_months", "application.collateral"]
    );
    let problems = decide(&property, &worked_example_profile(), &policy, EVAL_DATE).expect_err("rejected");
    assert!(
        problems[1].message.contains("residential_real_estate"),
        "{}",
        problems[1].message
    );

    // Tax loans and working capital need no collateral.
    assert!(fields(&worked_example_application()).is_empty());
    assert!(fields(&working_capital_app(300_000)).is_empty());
}

#[test]
fn equipment_loan_end_to_end() {
    // Machinery 1,000,000: lending haircut 60% -> secured cap 400,000, no unsecured allowance.
    let mut app = app_with(|a| {
        a.product = Product::Equipment;
        a.requested_amount = cny(500_000);
        a.term_months = 60;
    });
    app.collateral.push(collateral(CollateralKind::Machinery, 1_000_000));
    let e = evaluate(&app, &worked_example_profile());
    assert_eq!(
        e.limit.caps.iter().find(|c| c.name == "secured").map(|c| c.amount),
        Some(cny(400_000))
    );
    // Capacity is priced at the grade rate with the tenor premium (4.00%), before any discount:
    // (240,000 - 100,000) x AF(4.00%, 36) = 140,000 x 2.82256 = 395,158.9x -> 390,000.
    let dscr = e.limit.caps.iter().find(|c| c.name == "dscr").expect("dscr cap");
    assert!(dscr.binding && dscr.amount.0 / 100 == 395_158, "{dscr:?}");
    assert_eq!(e.limit.limit, cny(390_000));
    assert_eq!(e.outcome, Outcome::CounterOffer);
    // 390,000 covered by 600,000 recognised at 25%: LGD 25%, G5 secured discount, +30 tenor.
    assert_eq!(e.lgd_bps, 2500);
    assert_eq!(e.interest_rate_bps, 300 + 70 - 15 + 30);
    assert_eq!(condition_codes(&e), vec!["C04", "C07"]);
}

#[test]
fn six_months_of_bank_flows_are_annualised() {
    // Six months (the minimum) of 208,333 are annualised to 2,499,996 for the bank-inflow
    // cross-check (ratio 1.05, green) and have a CV of 0 (52 points).
    let p = with(|p| {
        p.bank_flows = Some(BankFlows {
            as_of: date(2026, Month::June, 15),
            lineage: Default::default(),
            monthly_inflows: vec![cny(208_333); 6],
            outflow_12m: None,
            settlement_account_numbers: Vec::new(),
            round_trips: None,
        })
    });
    let e = decide_base(&p);
    assert!(e.refer_flags.is_empty(), "{:?}", e.refer_flags);
    let v03 = e
        .verification
        .iter()
        .find(|v| v.code == "V03")
        .expect("bank-inflow check runs");
    assert!((v03.ratio - 2_625_000.0 / 2_499_996.0).abs() < 1e-12, "{}", v03.ratio);
    assert_eq!(points(&p, "inflow_stability"), 52);
}

#[test]
fn k10_electricity_intensity_collapse_while_revenue_grows() {
    // Manufacturing (C3360, medium): the electricity check applies and needs utility data.
    let factory = |kwh_now: u64, kwh_prior: u64, prior_sales: i64| {
        with(|p| {
            p.industry_code = "C3360".to_owned();
            p.utilities = Some(Utilities {
                as_of: date(2026, Month::June, 1),
                lineage: Default::default(),
                electricity_kwh_12m: kwh_now,
                electricity_kwh_prior_12m: kwh_prior,
            });
            set_invoices(p, Some(cny(2_500_000)), Some(cny(prior_sales)));
        })
    };
    // Same intensity: green, nothing raised.
    assert_no_flags(&factory(100_000, 98_039, 2_450_980));
    // kWh per yuan down 51% while revenue grew 2%: production does not support the revenue.
    assert_knock_out(
        &factory(100_000, 200_000, 2_450_980),
        &worked_example_application(),
        "K10",
    );
    // The same drop with revenue falling is only a referral.
    let e = decide_base(&factory(100_000, 200_000, 2_600_000));
    assert!(e.knock_outs.is_empty(), "{:?}", e.knock_outs);
    assert_eq!(flag_codes(&e), vec!["F02"]);
    // Intensity up 30%: referral.
    let e = decide_base(&factory(130_000, 98_039, 2_450_980));
    assert_eq!(flag_codes(&e), vec!["F02"]);
}

#[test]
fn f02_declared_revenue_vs_invoices_and_tax_return() {
    // Declared 3,000,000: 1.2x invoices and 1.18x the tax return, both in the referral band.
    let e = decide_base(&with(|p| p.financials.revenue = cny(3_000_000)));
    assert!(e.knock_outs.is_empty());
    assert_eq!(flag_codes(&e), vec!["F02"]);
    assert_eq!(e.outcome, Outcome::Refer);
    let warned: Vec<&str> = e
        .verification
        .iter()
        .filter(|v| v.severity == riskdecision_core::policy::Severity::Warning)
        .map(|v| v.code.as_str())
        .collect();
    assert_eq!(warned, vec!["V01", "V02"]);
    // Declared 0.85x invoices is a referral too (band [0.8, 0.9)).
    let e = decide_base(&with(|p| p.financials.revenue = cny(2_125_000)));
    assert_eq!(flag_codes(&e), vec!["F02"]);
}

// ------------------------------------------------------------------------------------------------
// Edges found by review: exact bin edges of growth rates, request rounding, missing liquidity data.

#[test]
fn growth_exactly_on_an_edge_lands_on_it() {
    // -5.00% is in [-5%, 5%) and +30.00% in [5%, 30%]: computed exactly, not as now/prior - 1.
    let minus_5 = with(|p| set_invoices(p, Some(cny(2_375_000)), Some(cny(2_500_000))));
    assert_eq!(contribution(&minus_5, "revenue_growth"), (46, "[-5%, 5%)".to_owned()));
    let plus_30 = with(|p| set_invoices(p, Some(cny(3_250_000)), Some(cny(2_500_000))));
    assert_eq!(points(&plus_30, "revenue_growth"), 51);
    let plus_30b = with(|p| set_invoices(p, Some(cny(2_600_000)), Some(cny(2_000_000))));
    assert_eq!(points(&plus_30b, "revenue_growth"), 51);
}

#[test]
fn a_request_within_every_cap_is_granted_exactly() {
    for amount in [300_001, 84_890] {
        let e = evaluate(&working_capital_app(amount), &worked_example_profile());
        assert_eq!(e.outcome, Outcome::Approve, "{amount}");
        assert_eq!(e.approved_amount, cny(amount));
        assert!(e.limit.caps[0].binding, "the request is the binding cap");
    }
}

#[test]
fn a_request_below_the_minimum_loan_is_an_input_error() {
    let problems = check_application(&working_capital_app(45_000), &policy());
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].field, "application.requested_amount.units_minor");
    assert!(
        decide(
            &working_capital_app(45_000),
            &worked_example_profile(),
            &policy(),
            EVAL_DATE
        )
        .is_err()
    );
    assert!(check_application(&working_capital_app(50_000), &policy()).is_empty());
}

#[test]
fn no_current_assets_and_no_current_liabilities_is_missing_data() {
    let none = with(|p| {
        p.financials.current_assets = Amount::ZERO;
        p.financials.current_liabilities = Amount::ZERO;
    });
    assert_eq!(contribution(&none, "current_ratio"), (34, "missing".to_owned()));
    let no_liabilities = with(|p| p.financials.current_liabilities = Amount::ZERO);
    assert_eq!(
        points(&no_liabilities, "current_ratio"),
        53,
        "assets and no current liabilities: very liquid"
    );
}
