//! Loss given default after collateral, Basel 3.1 F-IRB shape (docs/DOMAIN.md 8.1):
//! E_S = min(C x (1 - H_C), E), LGD* = (LGD_U x E_U + LGD_S x E_S) / E, with several collateral
//! items covering the exposure lowest-LGD first.

use serde::{Deserialize, Serialize};
use time::Date;

use super::Amount;
use super::application::{Collateral, CollateralKind};
use super::rulebook::Policy;
use super::security;

/// One collateral item's share of the exposure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecuredPart {
    pub kind: CollateralKind,
    /// Value recognised for LGD: net of prior liens, after the supervisory haircut (and, for a new
    /// loan, the extra haircut of a stale appraisal).
    pub recognised_value: Amount,
    /// Part of the exposure it covers (E_S of this item).
    pub covered: Amount,
    pub lgd_bps: i64,
}

/// How LGD* is made: the secured parts, lowest LGD first, then the unsecured rest at LGD_U.
/// lgd_bps = (sum of covered x lgd + unsecured x unsecured_lgd) / exposure, rounded half up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LgdSplit {
    pub exposure: Amount,
    pub secured_parts: Vec<SecuredPart>,
    /// E_U: the exposure no collateral covers.
    pub unsecured: Amount,
    pub unsecured_lgd_bps: i64,
    pub lgd_bps: i64,
}

/// LGD in basis points for `exposure` secured by `collateral`, at each kind's supervisory
/// haircut (the appraisals taken as current: the monitoring snapshot recognises its collateral).
pub fn lgd_bps(policy: &Policy, exposure: Amount, collateral: &[Collateral]) -> i64 {
    lgd_split(policy, exposure, collateral).lgd_bps
}

/// LGD for `exposure` secured by `collateral`, with its secured and unsecured parts, at each
/// kind's supervisory haircut.
pub fn lgd_split(policy: &Policy, exposure: Amount, collateral: &[Collateral]) -> LgdSplit {
    split_with_haircuts(policy, exposure, collateral, |c| {
        policy.collateral.get(&c.kind).map(|p| p.supervisory_haircut_bps)
    })
}

/// LGD in basis points for a new loan on `on`: a stale appraisal adds its kind's extra haircut to
/// the supervisory one (docs/DOMAIN.md 8.1).
pub fn lgd_bps_on(policy: &Policy, exposure: Amount, collateral: &[Collateral], on: Date) -> i64 {
    lgd_split_on(policy, exposure, collateral, on).lgd_bps
}

/// [`lgd_split`] for a new loan on `on`, stale appraisals taking their extra haircut.
pub fn lgd_split_on(policy: &Policy, exposure: Amount, collateral: &[Collateral], on: Date) -> LgdSplit {
    split_with_haircuts(policy, exposure, collateral, |c| {
        policy
            .collateral
            .contains_key(&c.kind)
            .then(|| security::supervisory_haircut_bps(policy, c, on))
    })
}

fn split_with_haircuts(
    policy: &Policy,
    exposure: Amount,
    collateral: &[Collateral],
    haircut_bps: impl Fn(&Collateral) -> Option<i64>,
) -> LgdSplit {
    let unsecured = policy.unsecured_lgd_bps;
    let mut split = LgdSplit {
        exposure,
        secured_parts: Vec::new(),
        unsecured: Amount(exposure.0.max(0)),
        unsecured_lgd_bps: unsecured,
        lgd_bps: unsecured,
    };
    if exposure.0 <= 0 {
        return split;
    }
    let mut pieces: Vec<(i64, i64, CollateralKind)> = collateral
        .iter()
        .filter_map(|c| {
            let params = policy.collateral.get(&c.kind)?;
            let recognised = c.net_value().mul_bps(10_000 - haircut_bps(c)?);
            Some((params.secured_lgd_bps, recognised.0, c.kind))
        })
        .filter(|(lgd, value, _)| *value > 0 && *lgd < unsecured)
        .collect();
    pieces.sort_by_key(|(lgd, _, _)| *lgd);

    let mut remaining = exposure.0;
    let mut weighted: i128 = 0;
    for (lgd, value, kind) in pieces {
        if remaining == 0 {
            break;
        }
        let covered = remaining.min(value);
        weighted += i128::from(covered) * i128::from(lgd);
        remaining -= covered;
        split.secured_parts.push(SecuredPart {
            kind,
            recognised_value: Amount(value),
            covered: Amount(covered),
            lgd_bps: lgd,
        });
    }
    weighted += i128::from(remaining) * i128::from(unsecured);
    split.unsecured = Amount(remaining);
    split.lgd_bps = super::amount::div_round_half_up(weighted, i128::from(exposure.0));
    split
}

#[cfg(test)]
mod tests {
    use super::*;

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
            lgd_bps(
                &policy,
                Amount::from_major(1_000_000),
                &[property(800_000), cash.clone()]
            ),
            3075
        );
        let split = lgd_split(&policy, Amount::from_major(1_000_000), &[property(800_000), cash]);
        let covered: Vec<(CollateralKind, i64, i64)> = split
            .secured_parts
            .iter()
            .map(|p| (p.kind, p.covered.0 / 100, p.lgd_bps))
            .collect();
        assert_eq!(
            covered,
            vec![
                (CollateralKind::CashDeposit, 50_000, 0),
                (CollateralKind::CommercialRealEstate, 480_000, 2000)
            ]
        );
        assert_eq!(
            (split.unsecured, split.unsecured_lgd_bps),
            (Amount::from_major(470_000), 4500)
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
