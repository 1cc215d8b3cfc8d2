//! `[lgd]` and `[collateral.*]`: loss given default and the parameters of each collateral kind.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::CollateralPolicy;
use super::ctx::Ctx;
use crate::domain::application::CollateralKind;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LgdFile {
    pub unsecured_lgd_bps: i64,
}

/// A collateral kind's entry is read straight into the compiled type; its bounds are checked
/// below.
pub type CollateralFile = CollateralPolicy;

impl LgdFile {
    pub(super) fn compile(&self, ctx: &mut Ctx) -> i64 {
        ctx.bps("lgd.unsecured_lgd_bps", self.unsecured_lgd_bps, 10_000)
    }
}

/// Parameters for every collateral kind, each named by its key.
pub(super) fn compile_collateral(
    ctx: &mut Ctx,
    collateral: &BTreeMap<String, CollateralFile>,
) -> BTreeMap<CollateralKind, CollateralPolicy> {
    let mut out = BTreeMap::new();
    for (key, c) in collateral {
        let base = format!("collateral.{key}");
        let expected = CollateralKind::ALL.map(CollateralKind::key);
        let Some(kind) = ctx.known(&base, CollateralKind::from_key(key), "collateral kind", &expected) else {
            continue;
        };
        for (name, bps) in [
            ("lending_haircut_bps", c.lending_haircut_bps),
            ("secured_lgd_bps", c.secured_lgd_bps),
            ("supervisory_haircut_bps", c.supervisory_haircut_bps),
            ("stale_appraisal_haircut_bps", c.stale_appraisal_haircut_bps),
        ] {
            ctx.bps(&format!("{base}.{name}"), bps, 10_000);
        }
        if !(1..=120).contains(&c.revaluation_months) {
            ctx.err(format!("{base}.revaluation_months"), "must be 1..120 months");
        }
        out.insert(kind, *c);
    }
    for kind in CollateralKind::ALL {
        if !out.contains_key(&kind) {
            ctx.err(
                format!("collateral.{}", kind.key()),
                "missing: every collateral kind needs parameters",
            );
        }
    }
    out
}
