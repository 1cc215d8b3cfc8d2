//! Properties of the pure core over randomised variations of the docs/DOMAIN.md 13 worked example:
//! the offer never exceeds the request or the limit, decisions are deterministic, and making one
//! risk input worse never improves the score or the outcome.

mod common;

use common::{EVAL_DATE, cny, policy, worked_example_application, worked_example_profile};
use proptest::prelude::*;
use riskdecision_core::domain::Amount;
use riskdecision_core::domain::application::{Collateral, CollateralKind, LoanApplication, Product};
use riskdecision_core::domain::decision::{Evaluation, Outcome, decide};
use riskdecision_core::domain::profile::{ControllerCredit, EnterpriseProfile, TaxRating};
use riskdecision_core::policy::Policy;

/// Best first: Approve < CounterOffer < Refer < Decline.
fn rank(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Approve => 0,
        Outcome::CounterOffer => 1,
        Outcome::Refer => 2,
        Outcome::Decline => 3,
    }
}

/// A variation of the worked example. Amounts in yuan, ratios in basis points.
#[derive(Debug, Clone)]
struct Case {
    product: Product,
    requested: i64,
    term_months: u32,
    collateral: Option<(CollateralKind, i64)>,
    existing_group_exposure: i64,
    verified_revenue: i64,
    declared_to_verified_bps: i64,
    growth_bps: i64,
    margin_bps: i64,
    total_liabilities: i64,
    current_assets: i64,
    ebit: i64,
    tax_rating: Option<TaxRating>,
    tax_paid: (i64, i64),
    controller: ControllerCredit,
    max_dpd: u32,
    current_dpd: u32,
    technical: bool,
    months_of_history: u32,
    new_lenders: u32,
    inquiries: u32,
    cfads: i64,
    existing_debt_service: i64,
    years: i32,
}

type LoanDraw = (Product, i64, u32, Option<(CollateralKind, i64)>, i64);
type FinancialsDraw = (i64, i64, i64, i64, i64, i64, i64, i64, i64);
type CreditDraw = (
    Option<TaxRating>,
    (i64, i64),
    ControllerCredit,
    u32,
    u32,
    bool,
    u32,
    u32,
    u32,
    i32,
);

/// Product, requested amount, term, optional collateral (kind, value) and group exposure.
fn loan() -> impl Strategy<Value = LoanDraw> {
    (
        prop_oneof![Just(Product::TaxLoan), Just(Product::WorkingCapital)],
        // Mostly whole multiples of the 10,000 rounding unit, so that a request can be met in full.
        prop_oneof![2 => (5i64..=50).prop_map(|k| k * 10_000), 1 => (50i64..=300).prop_map(|k| k * 10_000), 1 => 50_000i64..=3_000_000],
        1u32..=12,
        proptest::option::weighted(
            0.3,
            (
                prop::sample::select(CollateralKind::ALL.to_vec()),
                10_000i64..=2_000_000,
            ),
        ),
        prop_oneof![3 => Just(0i64), 1 => 0i64..=9_000_000],
    )
}

/// Verified revenue, declared/verified (bp), growth (bp), margin (bp), liabilities, current
/// assets, EBIT, CFADS and existing debt service.
fn financials() -> impl Strategy<Value = FinancialsDraw> {
    (
        500_000i64..=20_000_000,
        prop_oneof![4 => 9_200i64..=10_800, 1 => 8_500i64..=12_000],
        -3_000i64..=4_000,
        -500i64..=2_000,
        prop_oneof![4 => 0i64..=1_600_000, 1 => 0i64..=1_900_000],
        500_000i64..=2_500_000,
        -50_000i64..=600_000,
        prop_oneof![4 => 150_000i64..=900_000, 1 => 0i64..=150_000],
        0i64..=150_000,
    )
}

/// Tax rating, tax paid (two years), controller record, worst and current days past due,
/// technical flag, months of history, new lenders, inquiries and years in business.
fn credit() -> impl Strategy<Value = CreditDraw> {
    (
        prop_oneof![
            3 => Just(Some(TaxRating::A)),
            4 => Just(Some(TaxRating::B)),
            2 => Just(Some(TaxRating::M)),
            1 => Just(Some(TaxRating::C)),
            1 => Just(Some(TaxRating::D)),
            1 => Just(None),
        ],
        (10_000i64..=200_000, 10_000i64..=200_000),
        prop_oneof![4 => Just(ControllerCredit::Clean), 3 => prop::sample::select(ControllerCredit::ALL.to_vec())],
        prop_oneof![4 => Just(0u32), 1 => 0u32..=120],
        prop_oneof![9 => Just(0u32), 1 => 0u32..=100],
        any::<bool>(),
        12u32..=60,
        prop_oneof![4 => 0u32..=2, 1 => 0u32..=4],
        prop_oneof![4 => 0u32..=4, 1 => 0u32..=7],
        1i32..=15,
    )
}

fn case() -> impl Strategy<Value = Case> {
    (loan(), financials(), credit()).prop_map(
        |(
            (product, requested, term_months, collateral, existing_group_exposure),
            (
                verified_revenue,
                declared_to_verified_bps,
                growth_bps,
                margin_bps,
                total_liabilities,
                current_assets,
                ebit,
                cfads,
                existing_debt_service,
            ),
            (
                tax_rating,
                tax_paid,
                controller,
                max_dpd,
                current_dpd,
                technical,
                months_of_history,
                new_lenders,
                inquiries,
                years,
            ),
        )| Case {
            product,
            requested,
            term_months,
            collateral,
            existing_group_exposure,
            verified_revenue,
            declared_to_verified_bps,
            growth_bps,
            margin_bps,
            total_liabilities,
            current_assets,
            ebit,
            tax_rating,
            tax_paid,
            controller,
            max_dpd,
            current_dpd,
            technical,
            months_of_history,
            new_lenders,
            inquiries,
            cfads,
            existing_debt_service,
            years,
        },
    )
}

impl Case {
    fn application(&self) -> LoanApplication {
        let mut app = worked_example_application();
        app.product = self.product;
        app.requested_amount = cny(self.requested);
        app.term_months = self.term_months;
        app.existing_group_exposure = cny(self.existing_group_exposure);
        if let Some((kind, value)) = self.collateral {
            app.collateral.push(Collateral {
                kind,
                appraised_value: cny(value),
                lien_rank: 1,
                prior_liens: Amount::ZERO,
                appraised_on: None,
            });
        }
        app
    }

    fn profile(&self) -> EnterpriseProfile {
        let mut p = worked_example_profile();
        let declared = self.verified_revenue * self.declared_to_verified_bps / 10_000;
        p.established_on =
            time::Date::from_calendar_date(2026 - self.years, time::Month::March, 1).expect("valid date");
        p.financials.revenue = cny(declared);
        p.financials.net_profit = cny(declared * self.margin_bps / 10_000);
        p.financials.total_liabilities = cny(self.total_liabilities);
        p.financials.current_assets = cny(self.current_assets);
        p.financials.ebit = cny(self.ebit);
        p.financials.operating_cash_flow = cny(self.cfads);
        p.financials.existing_annual_debt_service = cny(self.existing_debt_service);
        if let Some(inv) = p.invoices.as_mut() {
            inv.vat_sales_12m = Some(cny(self.verified_revenue));
            inv.vat_sales_prior_12m = Some(cny(self.verified_revenue * 10_000 / (10_000 + self.growth_bps)));
        }
        if let Some(tax) = p.tax.as_mut() {
            tax.credit_rating = self.tax_rating;
            tax.reported_revenue_12m = Some(cny(self.verified_revenue * 102 / 100));
            tax.tax_paid_12m = Some(cny(self.tax_paid.0));
            tax.tax_paid_prior_12m = Some(cny(self.tax_paid.1));
        }
        if let Some(flows) = p.bank_flows.as_mut() {
            // Inflows in line with declared revenue, CV 0.45.
            let month = declared / 12;
            flows.monthly_inflows = (0..12)
                .map(|m| {
                    cny(if m % 2 == 0 {
                        month * 55 / 100
                    } else {
                        month * 145 / 100
                    })
                })
                .collect();
        }
        p.controller.credit_standing = self.controller;
        let h = &mut p.credit_history;
        h.max_days_past_due_24m = self.max_dpd.max(self.current_dpd);
        h.current_days_past_due = self.current_dpd;
        h.current_overdue_technical = self.technical;
        h.months_of_history = self.months_of_history;
        h.new_lenders_6m = self.new_lenders;
        h.inquiries_6m = self.inquiries;
        p
    }
}

fn run(policy: &Policy, app: &LoanApplication, profile: &EnterpriseProfile) -> Evaluation {
    decide(app, profile, policy, EVAL_DATE).expect("terms 1..12 and unsecured-capable products always pass the checks")
}

/// One way of making a single risk input worse.
#[derive(Debug, Clone)]
enum Worsen {
    CurrentDpd(u32),
    MaxDpd(u32),
    Liabilities(i64),
    TaxRating(usize),
    Controller(usize),
}

fn worsen() -> impl Strategy<Value = Worsen> {
    prop_oneof![
        (1u32..=120).prop_map(Worsen::CurrentDpd),
        (1u32..=120).prop_map(Worsen::MaxDpd),
        (1i64..=1_500_000).prop_map(Worsen::Liabilities),
        (1usize..=4).prop_map(Worsen::TaxRating),
        (1usize..=5).prop_map(Worsen::Controller),
    ]
}

/// Applies the worsening; `None` when it does not apply (already at the worst, or no rating).
fn apply(p: &EnterpriseProfile, w: &Worsen) -> Option<EnterpriseProfile> {
    let mut q = p.clone();
    match *w {
        Worsen::CurrentDpd(d) => {
            let h = &mut q.credit_history;
            h.current_days_past_due += d;
            h.max_days_past_due_24m = h.max_days_past_due_24m.max(h.current_days_past_due);
        }
        Worsen::MaxDpd(d) => q.credit_history.max_days_past_due_24m += d,
        Worsen::Liabilities(yuan) => {
            q.financials.total_liabilities = q.financials.total_liabilities.saturating_add(cny(yuan))
        }
        Worsen::TaxRating(steps) => {
            let tax = q.tax.as_mut()?;
            let now = tax.credit_rating?;
            let i = TaxRating::ALL.iter().position(|r| *r == now)?;
            let worse = *TaxRating::ALL.get(i + steps)?;
            tax.credit_rating = Some(worse);
        }
        Worsen::Controller(steps) => {
            let now = q.controller.credit_standing;
            let i = ControllerCredit::ALL.iter().position(|c| *c == now)?;
            q.controller.credit_standing = *ControllerCredit::ALL.get(i + steps)?;
        }
    }
    Some(q)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn offer_never_exceeds_request_or_limit(c in case()) {
        let policy = policy();
        let app = c.application();
        let e = run(&policy, &app, &c.profile());
        let ceiling = app.requested_amount.min(e.limit.limit);
        prop_assert!(e.approved_amount <= ceiling, "approved {} > min(request, limit) {}", e.approved_amount, ceiling);
        prop_assert!(e.approved_amount >= Amount::ZERO);
        match e.outcome {
            Outcome::Decline => prop_assert_eq!(e.approved_amount, Amount::ZERO),
            Outcome::Approve => prop_assert_eq!(e.approved_amount, app.requested_amount),
            Outcome::CounterOffer => {
                prop_assert_eq!(e.approved_amount, e.limit.limit);
                prop_assert!(e.approved_amount < app.requested_amount);
            }
            Outcome::Refer => prop_assert_eq!(e.approved_amount, ceiling),
        }
        // The limit is the request itself or a multiple of 10,000 (the policy's caps are rounded
        // down, a request within them is not) and, unless declined for capacity, at least 50,000.
        prop_assert!(e.limit.limit == app.requested_amount || e.limit.limit.0 % cny(10_000).0 == 0);
        if e.outcome != Outcome::Decline {
            prop_assert!(e.limit.limit >= cny(50_000));
            prop_assert!(e.knock_outs.is_empty());
        }
        prop_assert_eq!(e.limit.caps.iter().filter(|cap| cap.binding).count(), 1);
    }

    #[test]
    fn decisions_are_deterministic(c in case()) {
        let policy = policy();
        let app = c.application();
        let profile = c.profile();
        let first = run(&policy, &app, &profile);
        let second = run(&policy, &app, &profile);
        prop_assert_eq!(&first, &second);
        let reloaded = Policy::embedded_default().expect("valid");
        prop_assert_eq!(&first, &run(&reloaded, &app.clone(), &profile.clone()));
    }

    #[test]
    fn worsening_one_risk_input_never_helps(c in case(), w in worsen()) {
        let policy = policy();
        let app = c.application();
        let before_profile = c.profile();
        let Some(after_profile) = apply(&before_profile, &w) else {
            return Ok(());
        };
        let before = run(&policy, &app, &before_profile);
        let after = run(&policy, &app, &after_profile);
        prop_assert!(
            after.scorecard.score <= before.scorecard.score,
            "{:?}: score {} -> {}", w, before.scorecard.score, after.scorecard.score
        );
        prop_assert!(
            rank(after.outcome) >= rank(before.outcome),
            "{:?}: outcome {:?} -> {:?}\nbefore reasons {:?}\nafter reasons {:?}",
            w, before.outcome, after.outcome,
            before.reasons.iter().map(|r| &r.code).collect::<Vec<_>>(),
            after.reasons.iter().map(|r| &r.code).collect::<Vec<_>>()
        );
        prop_assert!(
            after.approved_amount <= before.approved_amount,
            "{:?}: approved {} -> {}", w, before.approved_amount, after.approved_amount
        );
    }

    #[test]
    fn worsening_from_the_worked_example_never_helps(w in worsen(), requested in 50_000i64..=1_500_000) {
        let policy = policy();
        let mut app = worked_example_application();
        app.requested_amount = cny(requested);
        let base = worked_example_profile();
        let Some(worse) = apply(&base, &w) else {
            return Ok(());
        };
        let before = run(&policy, &app, &base);
        let after = run(&policy, &app, &worse);
        prop_assert!(after.scorecard.score <= before.scorecard.score, "{:?}", w);
        prop_assert!(rank(after.outcome) >= rank(before.outcome), "{:?}: {:?} -> {:?}", w, before.outcome, after.outcome);
    }
}
