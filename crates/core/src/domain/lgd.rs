//! Loss given default after collateral, Basel 3.1 F-IRB shape (docs/DOMAIN.md 8.1):
//! E_S = min(C x (1 - H_C), E), LGD* = (LGD_U x E_U + LGD_S x E_S) / E, with several collateral
//! items covering the exposure lowest-LGD first.

use time::Date;

use super::Amount;
use super::application::Collateral;
use super::rulebook::Policy;
use super::security;

/// LGD in basis points for `exposure` secured by `collateral`, at each kind's supervisory
/// haircut (the appraisals taken as current: the monitoring snapshot recognises its collateral).
pub fn lgd_bps(policy: &Policy, exposure: Amount, collateral: &[Collateral]) -> i64 {
    lgd_with_haircuts(policy, exposure, collateral, |c| {
        policy.collateral.get(&c.kind).map(|p| p.supervisory_haircut_bps)
    })
}

/// LGD in basis points for a new loan on `on`: a stale appraisal adds its kind's extra haircut to
/// the supervisory one (docs/DOMAIN.md 8.1).
pub fn lgd_bps_on(policy: &Policy, exposure: Amount, collateral: &[Collateral], on: Date) -> i64 {
    lgd_with_haircuts(policy, exposure, collateral, |c| {
        policy
            .collateral
            .contains_key(&c.kind)
            .then(|| security::supervisory_haircut_bps(policy, c, on))
    })
}

fn lgd_with_haircuts(
    policy: &Policy,
    exposure: Amount,
    collateral: &[Collateral],
    haircut_bps: impl Fn(&Collateral) -> Option<i64>,
) -> i64 {
    let unsecured = policy.unsecured_lgd_bps;
    if exposure.0 <= 0 {
        return unsecured;
    }
    let mut pieces: Vec<(i64, i64)> = collateral
        .iter()
        .filter_map(|c| {
            let params = policy.collateral.get(&c.kind)?;
            let recognised = c.net_value().mul_bps(10_000 - haircut_bps(c)?);
            Some((params.secured_lgd_bps, recognised.0))
        })
        .filter(|(lgd, value)| *value > 0 && *lgd < unsecured)
        .collect();
    pieces.sort_by_key(|(lgd, _)| *lgd);

    let mut remaining = i128::from(exposure.0);
    let mut weighted: i128 = 0;
    for (lgd, value) in pieces {
        if remaining == 0 {
            break;
        }
        let covered = remaining.min(i128::from(value));
        weighted += covered * i128::from(lgd);
        remaining -= covered;
    }
    weighted += remaining * i128::from(unsecured);
    super::amount::div_round_half_up(weighted, i128::from(exposure.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::application::CollateralKind;

    fn property(value: i64) -> Collateral {
        Collateral {
            kind: CollateralKind::CommercialRealEstate,
            appraised_value: Amount::from_major(value),
            lien_rank: 1,
            prior_liens: Amount::ZERO,
            appraised_on: None,
        }
    }

    #[test]
    fn basel31_worked_example() {
        // docs/DOMAIN.md 8.1: E = 1,000,000, commercial property 800,000: E_S = 480,000. With Basel
        // 3.1's LGD_U of 40% that is 30.4%; the default policy keeps the conservative 45%: 33.0%.
        let mut policy = Policy::embedded_default().expect("valid");
        assert_eq!(
            lgd_bps(&policy, Amount::from_major(1_000_000), &[property(800_000)]),
            3300
        );
        policy.unsecured_lgd_bps = 4000;
        assert_eq!(
            lgd_bps(&policy, Amount::from_major(1_000_000), &[property(800_000)]),
            3040
        );
    }

    #[test]
    fn unsecured_and_fully_secured() {
        let policy = Policy::embedded_default().expect("valid");
        assert_eq!(lgd_bps(&policy, Amount::from_major(1_000_000), &[]), 4500);
        assert_eq!(
            lgd_bps(&policy, Amount::from_major(100_000), &[property(800_000)]),
            2000
        );
        let cash = Collateral {
            kind: CollateralKind::CashDeposit,
            appraised_value: Amount::from_major(50_000),
            lien_rank: 1,
            prior_liens: Amount::ZERO,
            appraised_on: None,
        };
        // 50,000 at 0% then 480,000 at 20% of a 1,000,000 exposure, the rest at 45%.
        assert_eq!(
            lgd_bps(&policy, Amount::from_major(1_000_000), &[property(800_000), cash]),
            3075
        );
    }

    #[test]
    fn prior_liens_reduce_recognised_value() {
        let policy = Policy::embedded_default().expect("valid");
        let mut second = property(800_000);
        second.lien_rank = 2;
        second.prior_liens = Amount::from_major(800_000);
        assert_eq!(lgd_bps(&policy, Amount::from_major(1_000_000), &[second]), 4500);
    }
}
