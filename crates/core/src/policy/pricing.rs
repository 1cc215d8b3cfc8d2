//! `[pricing]`: base rate, discounts, premiums, costs and the RAROC hurdle.

use super::ctx::Ctx;
use super::{Grade, Pricing, parse_iso_date};

/// `[pricing]` as written: the effective date and grade names not yet validated.
pub type PricingFile = Pricing<String, String>;

impl PricingFile {
    pub(super) fn compile(&self, ctx: &mut Ctx, grades: &[Grade]) -> Pricing {
        let effective = parse_iso_date(&self.base_rate_effective_from).unwrap_or_else(|| {
            ctx.err("pricing.base_rate_effective_from", "must be a date YYYY-MM-DD");
            time::Date::MIN
        });
        let secured_discount_grades =
            ctx.grade_indexes("pricing.secured_discount_grades", grades, &self.secured_discount_grades);
        if self.base_rate_name.trim().is_empty() {
            ctx.err("pricing.base_rate_name", "required");
        }
        let bps = |ctx: &mut Ctx, name: &str, value: i64, max: i64| ctx.bps(&format!("pricing.{name}"), value, max);
        Pricing {
            base_rate_name: self.base_rate_name.clone(),
            base_rate_bps: bps(ctx, "base_rate_bps", self.base_rate_bps, 5_000),
            base_rate_effective_from: effective,
            secured_discount_bps: bps(ctx, "secured_discount_bps", self.secured_discount_bps, 1_000),
            secured_discount_grades,
            secured_discount_max_lgd_bps: bps(
                ctx,
                "secured_discount_max_lgd_bps",
                self.secured_discount_max_lgd_bps,
                10_000,
            ),
            tenor_premium_bps_per_year: bps(
                ctx,
                "tenor_premium_bps_per_year",
                self.tenor_premium_bps_per_year,
                1_000,
            ),
            tenor_premium_max_bps: bps(ctx, "tenor_premium_max_bps", self.tenor_premium_max_bps, 5_000),
            tenor_premium_from_months: self.tenor_premium_from_months,
            funding_cost_bps: bps(ctx, "funding_cost_bps", self.funding_cost_bps, 5_000),
            operating_cost_bps: bps(ctx, "operating_cost_bps", self.operating_cost_bps, 5_000),
            risk_weight_bps: bps(ctx, "risk_weight_bps", self.risk_weight_bps, 100_000),
            capital_ratio_bps: self.capital_ratio_bps(ctx),
            raroc_hurdle: ctx.fraction("pricing.raroc_hurdle", self.raroc_hurdle, -1.0, 10.0),
        }
    }

    fn capital_ratio_bps(&self, ctx: &mut Ctx) -> i64 {
        let v = ctx.bps("pricing.capital_ratio_bps", self.capital_ratio_bps, 10_000);
        if v == 0 {
            ctx.err("pricing.capital_ratio_bps", "must be positive");
        }
        v
    }
}
