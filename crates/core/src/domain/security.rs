//! What the collateral of an application is worth to the bank (docs/DOMAIN.md 8.1): each item's
//! value after its lending haircut, a stale appraisal's extra haircut, and the coverage of the
//! requested amount that decides whether a loan counts as secured. One place, so that the limit,
//! the knock-outs, the conditions and the LGD judge the same collateral the same way.

use time::Date;

use super::Amount;
use super::application::{Collateral, LoanApplication};
use super::features::completed_months;
use super::figure::Figure;
use super::rulebook::Policy;

/// A full haircut, in basis points.
const FULL_HAIRCUT_BPS: i64 = 10_000;

/// How old an item's appraisal is against its kind's revaluation period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppraisalAge {
    /// Completed months since the appraisal; `None` when the appraisal is undated.
    pub age_months: Option<u32>,
    pub revaluation_months: u32,
}

impl AppraisalAge {
    /// Older than the period, or undated (an undated appraisal cannot be shown to be current).
    pub fn is_stale(self) -> bool {
        self.age_months.is_none_or(|age| age > self.revaluation_months)
    }
}

/// The age of an item's appraisal on the evaluation date.
pub fn appraisal_age(policy: &Policy, item: &Collateral, on: Date) -> AppraisalAge {
    AppraisalAge {
        age_months: item.appraised_on.map(|d| completed_months(d, on)),
        revaluation_months: policy.collateral.get(&item.kind).map_or(0, |p| p.revaluation_months),
    }
}

/// The extra haircut a stale appraisal takes (0 when current).
fn stale_extra_bps(policy: &Policy, item: &Collateral, on: Date) -> i64 {
    let params = policy.collateral.get(&item.kind);
    if appraisal_age(policy, item, on).is_stale() {
        params.map_or(0, |p| p.stale_appraisal_haircut_bps)
    } else {
        0
    }
}

/// The lending haircut of an item, the stale extra included, at most 100%.
pub fn lending_haircut_bps(policy: &Policy, item: &Collateral, on: Date) -> i64 {
    let base = policy
        .collateral
        .get(&item.kind)
        .map_or(FULL_HAIRCUT_BPS, |p| p.lending_haircut_bps);
    (base + stale_extra_bps(policy, item, on)).min(FULL_HAIRCUT_BPS)
}

/// The supervisory haircut H_C of an item (for the LGD), the stale extra included, at most 100%.
pub fn supervisory_haircut_bps(policy: &Policy, item: &Collateral, on: Date) -> i64 {
    let base = policy
        .collateral
        .get(&item.kind)
        .map_or(FULL_HAIRCUT_BPS, |p| p.supervisory_haircut_bps);
    (base + stale_extra_bps(policy, item, on)).min(FULL_HAIRCUT_BPS)
}

/// The sum of every item's value after its lending haircut (prior liens deducted first).
pub fn collateral_after_haircuts(policy: &Policy, collateral: &[Collateral], on: Date) -> Amount {
    collateral.iter().fold(Amount::ZERO, |acc, c| {
        acc.saturating_add(
            c.net_value()
                .mul_bps(FULL_HAIRCUT_BPS - lending_haircut_bps(policy, c, on)),
        )
    })
}

/// Collateral after haircuts over the requested amount (0 for a request of nothing).
pub fn coverage(policy: &Policy, app: &LoanApplication, on: Date) -> f64 {
    let collateral = collateral_after_haircuts(policy, &app.collateral, on);
    if app.requested_amount.0 > 0 {
        collateral.0 as f64 / app.requested_amount.0 as f64
    } else {
        0.0
    }
}

/// Secured means covered, after haircuts, to the policy's minimum share of the request: a token
/// item offered beside the application does not make it secured.
pub fn is_secured(policy: &Policy, app: &LoanApplication, on: Date) -> bool {
    coverage(policy, app, on) >= policy.limits.secured_min_coverage
}

/// The figures of the items whose appraisal is stale: age (or "undated") and period, by item.
pub fn stale_appraisal_figures(policy: &Policy, collateral: &[Collateral], on: Date) -> (Vec<Figure>, Vec<Figure>) {
    let mut figures = Vec::new();
    let mut thresholds = Vec::new();
    for (i, item) in collateral.iter().enumerate() {
        let age = appraisal_age(policy, item, on);
        if !age.is_stale() {
            continue;
        }
        let name = format!("collateral[{i}].appraisal_age_months");
        figures.push(match age.age_months {
            Some(months) => Figure::number(&name, f64::from(months)),
            None => Figure::text(&name, "undated"),
        });
        thresholds.push(Figure::number(
            &format!("collateral.{}.revaluation_months", item.kind.key()),
            f64::from(age.revaluation_months),
        ));
    }
    (figures, thresholds)
}

/// Whether any item's appraisal is stale.
pub fn any_stale_appraisal(policy: &Policy, collateral: &[Collateral], on: Date) -> bool {
    collateral.iter().any(|c| appraisal_age(policy, c, on).is_stale())
}
