//! Risk-based price, annuity maths and RAROC (docs/DOMAIN.md 7.4, 8.2-8.4).

use serde::{Deserialize, Serialize};

use super::Amount;
use super::rulebook::Policy;

/// A priced loan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub rate_bps: i64,
    pub base_rate_bps: i64,
    pub spread_bps: i64,
    pub secured_discount_bps: i64,
    pub tenor_premium_bps: i64,
}

/// Months in a year: the premium is per started year (a calendar fact, not policy).
const MONTHS_PER_YEAR: u32 = 12;

/// Tenor premium: per started year beyond the policy's premium-free term, capped.
pub fn tenor_premium_bps(policy: &Policy, term_months: u32) -> i64 {
    let beyond = term_months.saturating_sub(policy.pricing.tenor_premium_from_months);
    let extra_years = i64::from(beyond.div_ceil(MONTHS_PER_YEAR));
    (extra_years * policy.pricing.tenor_premium_bps_per_year).min(policy.pricing.tenor_premium_max_bps)
}

/// Rate for a grade. `lgd_bps = None` prices without the secured discount (used for capacity,
/// conservatively, before the loan amount and so its LGD are known).
pub fn price(policy: &Policy, grade_index: usize, lgd_bps: Option<i64>, term_months: u32) -> Option<Price> {
    let p = &policy.pricing;
    let spread = policy.grades.get(grade_index)?.spread_bps?;
    let discount = match lgd_bps {
        Some(lgd) if p.secured_discount_grades.contains(&grade_index) && lgd <= p.secured_discount_max_lgd_bps => {
            p.secured_discount_bps
        }
        _ => 0,
    };
    let tenor = tenor_premium_bps(policy, term_months);
    Some(Price {
        rate_bps: p.base_rate_bps + spread - discount + tenor,
        base_rate_bps: p.base_rate_bps,
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

/// RAROC = (rate - funding - opex - PD x LGD) / (risk weight x capital ratio), as a fraction.
pub fn raroc(policy: &Policy, rate_bps: i64, master_pd_bps: i64, lgd_bps: i64) -> f64 {
    let p = &policy.pricing;
    let el_bps = master_pd_bps as f64 * lgd_bps as f64 / 10_000.0;
    let margin_bps = (rate_bps - p.funding_cost_bps - p.operating_cost_bps) as f64 - el_bps;
    let capital_bps = p.risk_weight_bps as f64 * p.capital_ratio_bps as f64 / 10_000.0;
    margin_bps / capital_bps
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
