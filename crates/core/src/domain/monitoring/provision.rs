//! Provisions: the regulatory reference rate of the class against the IFRS 9 expected credit
//! loss (EAD x PD for the stage x LGD after collateral); the larger is required.

use super::LoanSnapshot;
use crate::domain::Amount;
use crate::domain::application::Collateral;
use crate::domain::decision::ScoreResult;
use crate::domain::lgd::lgd_bps;
use crate::domain::rulebook::{Monitoring, Policy};
use crate::domain::vocabulary::LoanClass;

/// A calendar fact, not policy: lifetime PDs compound a one-year PD over years.
const MONTHS_PER_YEAR: f64 = 12.0;
const BPS_PER_UNIT: f64 = 10_000.0;

pub(super) struct Provisions {
    pub rate_bps: i64,
    pub regulatory: Amount,
    pub expected_credit_loss: Amount,
    pub exposure_at_default: Amount,
}

/// The regulatory provision of the class and the expected credit loss of the stage.
pub(super) fn provisions(
    loan: &LoanSnapshot,
    scored: Option<&ScoreResult>,
    class: LoanClass,
    stage: u8,
    policy: &Policy,
) -> Provisions {
    let m = &policy.monitoring;
    let rate_bps = m.provision_bps.get(class);
    let ead = exposure_at_default(m, loan);
    let expected_credit_loss = match (stage, loan.assessed_credit_loss) {
        (3, Some(assessed)) => assessed,
        _ => {
            let pd = pd_for_stage(m, stage, one_year_pd(policy, loan, scored), loan.remaining_term_months);
            model_loss(policy, loan, ead, pd)
        }
    };
    Provisions {
        rate_bps,
        regulatory: loan.outstanding_principal.mul_bps(rate_bps),
        expected_credit_loss,
        exposure_at_default: ead,
    }
}

/// EAD x PD x LGD after the recognised collateral.
fn model_loss(policy: &Policy, loan: &LoanSnapshot, ead: Amount, pd: f64) -> Amount {
    let lgd = lgd_bps(policy, ead, &recognised_collateral(loan));
    Amount(
        (ead.0 as f64 * pd * lgd as f64 / BPS_PER_UNIT)
            .round()
            .clamp(0.0, i64::MAX as f64) as i64,
    )
}

/// The expected credit loss of a credit-impaired loan over its exposure at default (the book
/// balance for a fully drawn loan; the undrawn part counts as it counts in the loss), when the loan is stage 3 by days past due, impairment or its class so far:
/// the assessed loss when given, else the model's stage 3 loss. `None` otherwise or with
/// nothing outstanding.
pub(super) fn stage3_loss_ratio(policy: &Policy, loan: &LoanSnapshot, class_so_far: LoanClass) -> Option<f64> {
    let m = &policy.monitoring;
    let impaired =
        loan.days_past_due() >= m.stage3_from_dpd || loan.credit_impaired || class_so_far >= m.stage3_from_class;
    let ead = exposure_at_default(m, loan);
    if !impaired || !ead.is_positive() {
        return None;
    }
    let loss = loan
        .assessed_credit_loss
        .unwrap_or_else(|| model_loss(policy, loan, ead, m.stage3_pd_bps as f64 / BPS_PER_UNIT));
    Some(loss.0 as f64 / ead.0 as f64)
}

/// Outstanding principal plus the undrawn commitment times its credit conversion factor.
fn exposure_at_default(m: &Monitoring, loan: &LoanSnapshot) -> Amount {
    loan.outstanding_principal
        .saturating_add(loan.undrawn_commitment.mul_bps(m.undrawn_ccf_bps))
}

/// The best one-year PD known: the current score's master-scale PD, else the origination PD,
/// else the origination grade's master-scale PD, else the policy's fallback.
fn one_year_pd(policy: &Policy, loan: &LoanSnapshot, scored: Option<&ScoreResult>) -> f64 {
    scored
        .map(|r| r.scorecard.master_pd_bps as f64 / BPS_PER_UNIT)
        .or(loan.origination_pd)
        .or_else(|| {
            loan.origination_grade
                .and_then(|g| policy.grades.get(g))
                .map(|g| g.master_pd_bps as f64 / BPS_PER_UNIT)
        })
        .unwrap_or(policy.monitoring.fallback_pd_bps as f64 / BPS_PER_UNIT)
        .clamp(0.0, 1.0)
}

/// Stage 1 uses the one-year PD; stage 2 the lifetime PD over the remaining term (at least the
/// policy's minimum horizon); stage 3 is credit-impaired, the policy's stage 3 PD.
fn pd_for_stage(m: &Monitoring, stage: u8, one_year_pd: f64, remaining_term_months: u32) -> f64 {
    match stage {
        3 => m.stage3_pd_bps as f64 / BPS_PER_UNIT,
        2 => {
            let months = remaining_term_months.max(m.lifetime_pd_min_months);
            let years = f64::from(months) / MONTHS_PER_YEAR;
            1.0 - (1.0 - one_year_pd).powf(years)
        }
        _ => one_year_pd,
    }
}

/// Collateral that still secures the loan (not lost or disputed), at its current value.
fn recognised_collateral(loan: &LoanSnapshot) -> Vec<Collateral> {
    loan.collateral
        .iter()
        .filter(|c| !c.lost_or_disputed)
        .map(|c| Collateral {
            kind: c.kind,
            appraised_value: c.current_value,
            // Prior liens are deducted explicitly, so the bank's charge counts as first rank.
            lien_rank: 1,
            prior_liens: c.prior_liens,
            appraised_on: None,
        })
        .collect()
}

/// Collateral value after lending haircuts over outstanding principal (0 with no collateral or
/// nothing outstanding). Collateral of a kind the policy does not list counts for nothing, as
/// in the LGD.
pub fn collateral_coverage(policy: &Policy, loan: &LoanSnapshot) -> f64 {
    if loan.collateral.is_empty() || !loan.outstanding_principal.is_positive() {
        return 0.0;
    }
    let value = loan
        .collateral
        .iter()
        .filter(|c| !c.lost_or_disputed)
        .filter_map(|c| policy.collateral.get(&c.kind).map(|p| (c, p.lending_haircut_bps)))
        .fold(Amount::ZERO, |acc, (c, haircut)| {
            let net = Amount(c.current_value.0.saturating_sub(c.prior_liens.0).max(0));
            acc.saturating_add(net.mul_bps(10_000 - haircut))
        });
    value.0 as f64 / loan.outstanding_principal.0 as f64
}
