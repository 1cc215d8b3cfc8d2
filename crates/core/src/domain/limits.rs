//! The credit limit: several independent caps, the smallest wins, rounded down (docs/DOMAIN.md
//! 7). Never above the amount requested.

use serde::{Deserialize, Serialize};

use super::Amount;
use super::application::LoanApplication;
use super::features::Features;
use super::pricing::annuity_factor;
use super::profile::EnterpriseProfile;
use super::rulebook::{Policy, ProductPolicy};
use super::security;
use super::vocabulary::CapKind;

/// One computed cap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cap {
    pub name: String,
    pub amount: Amount,
    pub binding: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitOutcome {
    pub caps: Vec<Cap>,
    /// Smallest cap rounded down to the policy's unit.
    pub limit: Amount,
    /// The limit is below the policy minimum (decline L01).
    pub below_minimum: bool,
}

/// Inputs that come from earlier pipeline steps.
pub struct LimitInputs<'a> {
    pub application: &'a LoanApplication,
    pub profile: &'a EnterpriseProfile,
    pub features: &'a Features,
    pub product: &'a ProductPolicy,
    /// Grade index (None for the default grade).
    pub grade_index: Option<usize>,
    /// Rate used to turn spare cash flow into principal (grade rate before collateral discount).
    pub capacity_rate_bps: i64,
}

pub fn compute(policy: &Policy, input: &LimitInputs) -> LimitOutcome {
    let l = &policy.limits;
    let app = input.application;
    let mut caps = vec![cap(
        "request",
        app.requested_amount,
        format!("requested {}", app.requested_amount),
    )];
    caps.extend(
        input
            .product
            .caps
            .iter()
            .filter_map(|kind| product_cap(policy, input, kind)),
    );
    caps.push(cap(
        "group",
        l.group_limit.saturating_sub(app.existing_group_exposure),
        format!(
            "group limit {} - existing group exposure {}",
            l.group_limit, app.existing_group_exposure
        ),
    ));

    // The policy's own caps are rounded down to the unit; a request within them is granted as
    // asked (rounding a request of 300,001 down to 300,000 would be a counter-offer for 1 yuan).
    let (other_index, other_min) = caps
        .iter()
        .enumerate()
        .skip(1)
        .min_by_key(|(i, c)| (c.amount, *i))
        .map_or((0, app.requested_amount), |(i, c)| (i, c.amount));
    let rounded = other_min.floor_to(l.rounding_unit);
    let (binding_index, limit) = if app.requested_amount <= rounded {
        (0, app.requested_amount)
    } else {
        (other_index, rounded)
    };
    caps[binding_index].binding = true;
    LimitOutcome {
        caps,
        limit,
        below_minimum: limit < l.min_limit,
    }
}

/// A cap, never below zero, not (yet) binding.
fn cap(name: &str, amount: Amount, detail: String) -> Cap {
    Cap {
        name: name.to_owned(),
        amount: Amount(amount.0.max(0)),
        binding: false,
        detail,
    }
}

/// One of the caps the product lists, when its inputs allow it.
fn product_cap(policy: &Policy, input: &LimitInputs, kind: &CapKind) -> Option<Cap> {
    let l = &policy.limits;
    let f = input.features;
    Some(match kind {
        CapKind::Revenue => revenue_cap(policy, input),
        CapKind::WorkingCapital => {
            let (amount, detail) = working_capital_cap(input.profile)?;
            cap("working_capital", amount, detail)
        }
        CapKind::Dscr => dscr_cap(policy, input),
        CapKind::Tax => {
            let multiple = f.tax_rating.and_then(|r| l.tax_multiples.get(&r).copied()).unwrap_or(0);
            match f.avg_annual_tax_paid {
                Some(avg) => cap(
                    "tax",
                    Amount(avg.0.saturating_mul(multiple)),
                    format!("{multiple} x average annual tax paid {avg}"),
                ),
                None => cap("tax", Amount::ZERO, "no two-year tax-paid history".to_owned()),
            }
        }
        CapKind::Secured => secured_cap(policy, input),
        CapKind::Product => cap(
            "product",
            input.product.cap?,
            format!("product cap {}", input.application.product.key()),
        ),
    })
}

/// A fraction of verified revenue. Without verified revenue the cap is not available: the bank
/// then lends against collateral only (its value after lending haircuts, no unsecured
/// allowance), and refer flag F08 says why. Missing data never caps at zero by itself.
fn revenue_cap(policy: &Policy, input: &LimitInputs) -> Cap {
    let fraction = input.product.revenue_fraction.unwrap_or(policy.limits.revenue_fraction);
    match input.features.verified_revenue {
        Some(rev) => cap(
            "revenue",
            rev.scale_floor(fraction),
            format!("{fraction:.2} x verified revenue {rev}"),
        ),
        None => {
            let collateral = security::collateral_after_haircuts(
                policy,
                &input.application.collateral,
                input.features.evaluation_date,
            );
            cap(
                "revenue",
                collateral,
                format!("no verified revenue: collateral only, after lending haircuts {collateral}"),
            )
        }
    }
}

/// The principal that spare cash flow above the minimum DSCR can service.
fn dscr_cap(policy: &Policy, input: &LimitInputs) -> Cap {
    let l = &policy.limits;
    let f = input.features;
    let spare = f.cfads.0 as f64 / l.dscr_min - f.existing_debt_service.0 as f64;
    let af = annuity_factor(input.capacity_rate_bps, l.notional_tenor_months);
    let amount = if spare > 0.0 {
        Amount((spare * af).floor().min(i64::MAX as f64) as i64)
    } else {
        Amount::ZERO
    };
    cap(
        "dscr",
        amount,
        format!(
            "(CFADS {} / {:.2} - existing debt service {}) x annuity factor {af:.5} ({} bps, {} months)",
            f.cfads, l.dscr_min, f.existing_debt_service, input.capacity_rate_bps, l.notional_tenor_months
        ),
    )
}

/// Collateral after lending haircuts plus the grade's unsecured allowance.
fn secured_cap(policy: &Policy, input: &LimitInputs) -> Cap {
    let collateral =
        security::collateral_after_haircuts(policy, &input.application.collateral, input.features.evaluation_date);
    let unsecured = match (input.product.unsecured_allowance, input.grade_index) {
        (true, Some(g)) => policy.grades[g].max_unsecured,
        _ => Amount::ZERO,
    };
    cap(
        "secured",
        collateral.saturating_add(unsecured),
        format!("collateral after lending haircuts {collateral} + unsecured allowance {unsecured}"),
    )
}

/// China's working-capital need formula (流动资金贷款需求量测算), when the inputs are on file.
fn working_capital_cap(profile: &EnterpriseProfile) -> Option<(Amount, String)> {
    let fin = &profile.financials;
    let wc = fin.working_capital.as_ref()?;
    let sales = fin.revenue.0 as f64;
    let cogs = wc.cost_of_goods_sold.0 as f64;
    if sales <= 0.0 || cogs <= 0.0 {
        return Some((Amount::ZERO, "no sales or cost of goods sold".to_owned()));
    }
    let days = |avg: Amount, base: f64| 360.0 * avg.0 as f64 / base;
    let cycle = days(wc.avg_inventory, cogs) + days(wc.avg_receivables, sales) - days(wc.avg_payables, cogs)
        + days(wc.avg_prepayments, cogs)
        - days(wc.avg_advances_received, sales);
    let margin = fin.net_profit.0 as f64 / sales;
    let growth = f64::from(wc.expected_sales_growth_bps) / 10_000.0;
    // working capital = sales x (1 - margin) x (1 + growth) / turnover, turnover = 360 / cycle.
    let need = if cycle > 0.0 {
        sales * (1.0 - margin) * (1.0 + growth) * cycle / 360.0
    } else {
        0.0
    };
    let funded = wc.own_funds.0 as f64 + wc.existing_wc_loans.0 as f64 + wc.other_wc_funding.0 as f64;
    let cap = (need - funded).max(0.0).floor().min(i64::MAX as f64) as i64;
    Some((
        Amount(cap),
        format!(
            "working-capital need {} (cash cycle {cycle:.1} days) - own funds, existing and other funding {}",
            Amount(need.floor().min(i64::MAX as f64) as i64),
            Amount(funded.min(i64::MAX as f64) as i64)
        ),
    ))
}
