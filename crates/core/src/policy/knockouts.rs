//! `[knockouts]` and `[refer]`: the thresholds of the knock-out rules and of the refer flags.

use super::ctx::Ctx;
use super::{Knockouts, Refer};
use crate::domain::profile::TaxRating;

/// `[knockouts]` as written: tax ratings and money not yet validated.
pub type KnockoutsFile = Knockouts<String, i64>;

/// `[refer]` is read straight into the compiled type; its bounds are checked below.
pub type ReferFile = Refer;

impl KnockoutsFile {
    pub(super) fn compile(&self, ctx: &mut Ctx) -> Knockouts {
        if self.controller_min_age >= self.controller_max_age {
            ctx.err("knockouts.controller_max_age", "must be above controller_min_age");
        }
        let f =
            |ctx: &mut Ctx, name: &str, value: f64, hi: f64| ctx.fraction(&format!("knockouts.{name}"), value, 0.0, hi);
        Knockouts {
            min_years_in_business: self.min_years_in_business,
            knockout_tax_ratings: ratings(ctx, "knockouts.knockout_tax_ratings", &self.knockout_tax_ratings),
            unsecured_knockout_tax_ratings: ratings(
                ctx,
                "knockouts.unsecured_knockout_tax_ratings",
                &self.unsecured_knockout_tax_ratings,
            ),
            max_enforcement_to_net_assets: f(
                ctx,
                "max_enforcement_to_net_assets",
                self.max_enforcement_to_net_assets,
                10.0,
            ),
            max_technical_current_dpd: self.max_technical_current_dpd,
            knockout_max_dpd_24m: self.knockout_max_dpd_24m,
            min_dscr: f(ctx, "min_dscr", self.min_dscr, 10.0),
            max_debt_to_assets: f(ctx, "max_debt_to_assets", self.max_debt_to_assets, 10.0),
            max_guarantees_to_net_assets: f(
                ctx,
                "max_guarantees_to_net_assets",
                self.max_guarantees_to_net_assets,
                100.0,
            ),
            max_group_exposure: ctx.positive_amount("knockouts.max_group_exposure", self.max_group_exposure),
            controller_min_age: self.controller_min_age,
            controller_max_age: self.controller_max_age,
        }
    }
}

fn ratings(ctx: &mut Ctx, field: &str, list: &[String]) -> Vec<TaxRating> {
    list.iter()
        .filter_map(|r| {
            let parsed = TaxRating::parse(r);
            if parsed.is_none() {
                ctx.err(field, format!("unknown tax rating {r:?}; expected A, B, M, C or D"));
            }
            parsed
        })
        .collect()
}

impl ReferFile {
    pub(super) fn compile(&self, ctx: &mut Ctx) -> Refer {
        let a = &self.max_data_age_days;
        for (name, days) in [
            ("financials", a.financials),
            ("tax", a.tax),
            ("invoices", a.invoices),
            ("bank_flows", a.bank_flows),
            ("utilities", a.utilities),
            ("social_insurance", a.social_insurance),
            ("credit_report", a.credit_report),
            ("legal", a.legal),
        ] {
            if !(1..=3650).contains(&days) {
                ctx.err(format!("refer.max_data_age_days.{name}"), "must be 1..3650 days");
            }
        }
        if self.circle_refer_at < 2 {
            ctx.err("refer.circle_refer_at", "must be at least 2");
        }
        ctx.fraction("refer.dscr_refer_below", self.dscr_refer_below, 0.0, 10.0);
        self.clone()
    }
}
