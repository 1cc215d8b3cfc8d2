//! Risk-based price, annuity maths and RAROC (docs/DOMAIN.md 7.4, 8.2-8.4).

use serde::{Deserialize, Serialize};
use time::Date;

use super::Amount;
use super::rulebook::Policy;

/// A priced loan: rate = base rate + grade spread - secured discount + tenor premium.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub rate_bps: i64,
    pub base_rate_bps: i64,
    /// The reference rate priced off, e.g. "LPR 1Y" (empty in records written before it existed).
    #[serde(default)]
    pub base_rate_name: String,
    /// The date from which that rate is in force (absent in records written before it existed).
    #[serde(default)]
    pub base_rate_effective_from: Option<Date>,
    pub spread_bps: i64,
    pub secured_discount_bps: i64,
    pub tenor_premium_bps: i64,
}

/// The reference rate in force for a loan on a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseRateQuote {
    /// e.g. "LPR 1Y".
    pub name: String,
    pub bps: i64,
    pub effective_from: Date,
}

/// Months in a year: the premium is per started year (a calendar fact, not policy).
const MONTHS_PER_YEAR: u32 = 12;

/// Whether a term prices off the five-year rate (else the one-year).
fn five_year_tenor(policy: &Policy, term_months: u32) -> bool {
    term_months > policy.pricing.five_year_rate_above_months
}

/// The rate in force on `date` for a loan of `term_months`: the latest entry of the series
/// effective on or before `date`; `None` before the first entry (nothing to price with).
pub fn base_rate_on(policy: &Policy, date: Date, term_months: u32) -> Option<BaseRateQuote> {
    let p = &policy.pricing;
    let entry = p.base_rates.iter().rev().find(|e| e.effective_from <= date)?;
    let five = five_year_tenor(policy, term_months);
    Some(BaseRateQuote {
        name: format!("{} {}", p.base_rate_name, if five { "5Y" } else { "1Y" }),
        bps: if five { entry.five_year_bps } else { entry.one_year_bps },
        effective_from: entry.effective_from,
    })
}

/// The highest base rate of the series for the term: the conservative stand-in for capacity when
/// no rate is in force on the evaluation date.
pub fn highest_base_rate_bps(policy: &Policy, term_months: u32) -> i64 {
    let five = five_year_tenor(policy, term_months);
    let rates = policy.pricing.base_rates.iter();
    rates
        .map(|e| if five { e.five_year_bps } else { e.one_year_bps })
        .max()
        .unwrap_or(0)
}

/// Tenor premium: per started year beyond the policy's premium-free term, capped.
pub fn tenor_premium_bps(policy: &Policy, term_months: u32) -> i64 {
    let beyond = term_months.saturating_sub(policy.pricing.tenor_premium_from_months);
    let extra_years = i64::from(beyond.div_ceil(MONTHS_PER_YEAR));
    (extra_years * policy.pricing.tenor_premium_bps_per_year).min(policy.pricing.tenor_premium_max_bps)
}

/// Rate for a grade with the base rate in force on `date`. `lgd_bps = None` prices without the
/// secured discount (used for capacity, conservatively, before the loan amount and so its LGD
/// are known). `None` when the grade is not priced or no base rate is in force on `date`.
pub fn price(policy: &Policy, grade_index: usize, lgd_bps: Option<i64>, term_months: u32, date: Date) -> Option<Price> {
    let p = &policy.pricing;
    let spread = policy.grades.get(grade_index)?.spread_bps?;
    let base = base_rate_on(policy, date, term_months)?;
    let discount = match lgd_bps {
        Some(lgd) if p.secured_discount_grades.contains(&grade_index) && lgd <= p.secured_discount_max_lgd_bps => {
            p.secured_discount_bps
        }
        _ => 0,
    };
    let tenor = tenor_premium_bps(policy, term_months);
    Some(Price {
        rate_bps: base.bps + spread - discount + tenor,
        base_rate_bps: base.bps,
        base_rate_name: base.name,
        base_rate_effective_from: Some(base.effective_from),
        spread_bps: spread,
        secured_discount_bps: discount,
        tenor_premium_bps: tenor,
    })
}

/// Principal that one unit of *annual* payment services over `months` at `rate_bps` a year,
/// monthly amortisation: (1 - (1 + r)^-n) / r / 12 with r the monthly rate.
pub fn annuity_factor(rate_bps: i64, months: u32) -> f64 {
    let n = f64::from(months.max(1));
    let r = rate_bps as f64 / 10_000.0 / 12.0;
    if r <= 0.0 {
        return n / 12.0;
    }
    (1.0 - (1.0 + r).powf(-n)) / r / 12.0
}

/// Annual debt service of `principal` amortised over `months` at `rate_bps`, rounded up to the
/// minor unit (conservative for coverage tests).
pub fn annual_payment(principal: Amount, rate_bps: i64, months: u32) -> Amount {
    if principal.0 <= 0 {
        return Amount::ZERO;
    }
    let af = annuity_factor(rate_bps, months);
    Amount((principal.0 as f64 / af).ceil() as i64)
}

/// Debt service coverage: CFADS / annual debt service (infinite when there is none to serve and
/// cash flow is positive, zero when cash flow is not positive).
pub fn dscr(cfads: Amount, debt_service: Amount) -> f64 {
    if cfads.0 <= 0 {
        return 0.0;
    }
    if debt_service.0 <= 0 {
        return f64::INFINITY;
    }
    cfads.0 as f64 / debt_service.0 as f64
}

/// Debt service cover with the new loan: the figures of `dscr_after` (knock-out K11, flag F04).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DebtServiceCover {
    /// Cash flow available for debt service, a year.
    pub cfads: Amount,
    /// Annual debt service of the borrower's existing debt.
    pub existing_debt_service: Amount,
    /// Annual payment of the amount offered, amortised at the capacity rate over the notional
    /// tenor.
    pub new_debt_service: Amount,
    /// The rate the new debt service is computed at (grade rate without secured discount).
    pub capacity_rate_bps: i64,
    /// The notional amortisation tenor of the policy, months.
    pub notional_tenor_months: u32,
    /// CFADS / (existing + new debt service).
    pub dscr_after: f64,
}

/// What RAROC is made of: (rate - funding - operating cost - PD x LGD) / (risk weight x capital
/// ratio), every term in basis points of the exposure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RarocBreakdown {
    pub rate_bps: i64,
    pub funding_cost_bps: i64,
    pub operating_cost_bps: i64,
    pub master_pd_bps: i64,
    pub lgd_bps: i64,
    /// PD x LGD, basis points (fractional).
    pub expected_loss_bps: f64,
    /// rate - funding - operating cost - expected loss, basis points.
    pub margin_bps: f64,
    pub risk_weight_bps: i64,
    pub capital_ratio_bps: i64,
    /// Capital held: risk weight x capital ratio, basis points of the exposure.
    pub capital_bps: f64,
    /// margin / capital, a fraction.
    pub raroc: f64,
    /// The policy's hurdle: below it the price is an exception (P01).
    pub hurdle: f64,
}

/// RAROC with its inputs.
pub fn raroc_breakdown(policy: &Policy, rate_bps: i64, master_pd_bps: i64, lgd_bps: i64) -> RarocBreakdown {
    let p = &policy.pricing;
    let expected_loss_bps = master_pd_bps as f64 * lgd_bps as f64 / 10_000.0;
    let margin_bps = (rate_bps - p.funding_cost_bps - p.operating_cost_bps) as f64 - expected_loss_bps;
    let capital_bps = p.risk_weight_bps as f64 * p.capital_ratio_bps as f64 / 10_000.0;
    RarocBreakdown {
        rate_bps,
        funding_cost_bps: p.funding_cost_bps,
        operating_cost_bps: p.operating_cost_bps,
        master_pd_bps,
        lgd_bps,
        expected_loss_bps,
        margin_bps,
        risk_weight_bps: p.risk_weight_bps,
        capital_ratio_bps: p.capital_ratio_bps,
        capital_bps,
        raroc: margin_bps / capital_bps,
        hurdle: p.raroc_hurdle,
    }
}

/// RAROC = (rate - funding - opex - PD x LGD) / (risk weight x capital ratio), as a fraction.
pub fn raroc(policy: &Policy, rate_bps: i64, master_pd_bps: i64, lgd_bps: i64) -> f64 {
    raroc_breakdown(policy, rate_bps, master_pd_bps, lgd_bps).raroc
}

/// One-year expected loss = PD x LGD x EAD, exact in integers, rounded half up to the minor unit.
pub fn expected_loss(ead: Amount, master_pd_bps: i64, lgd_bps: i64) -> Amount {
    Amount(super::amount::div_round_half_up(
        i128::from(ead.0) * i128::from(master_pd_bps) * i128::from(lgd_bps),
        100_000_000,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annuity_factor_matches_worked_example() {
        // docs/DOMAIN.md 13.3: AF(3.70%, 36) = 2.83536
        assert!((annuity_factor(370, 36) - 2.835_362).abs() < 1e-6);
        assert!((annuity_factor(0, 36) - 3.0).abs() < 1e-12);
    }

    #[test]
    fn expected_loss_is_exact() {
        assert_eq!(expected_loss(Amount::from_major(360_000), 78, 4500), Amount(126_360));
        assert_eq!(expected_loss(Amount::ZERO, 78, 4500), Amount::ZERO);
    }

    #[test]
    fn tenor_premium_starts_where_the_policy_says() {
        let mut policy = Policy::embedded_default().expect("valid");
        assert_eq!(tenor_premium_bps(&policy, 12), 0);
        assert_eq!(tenor_premium_bps(&policy, 13), 10);
        policy.pricing.tenor_premium_from_months = 24;
        assert_eq!(tenor_premium_bps(&policy, 24), 0);
        assert_eq!(tenor_premium_bps(&policy, 25), 10);
        assert_eq!(tenor_premium_bps(&policy, 60), 30);
    }

    #[test]
    fn dscr_edges() {
        assert_eq!(dscr(Amount(0), Amount(10)), 0.0);
        assert_eq!(dscr(Amount(10), Amount(0)), f64::INFINITY);
        assert_eq!(dscr(Amount(125), Amount(100)), 1.25);
    }

    #[test]
    fn annual_payment_inverts_the_annuity_factor() {
        let p = annual_payment(Amount::from_major(360_000), 370, 36);
        // 360,000 / 2.835362 = 126,967.5x, rounded up to the fen.
        assert_eq!(p.0 / 100, 126_967);
        assert!(p.0 % 100 >= 50);
    }
}
