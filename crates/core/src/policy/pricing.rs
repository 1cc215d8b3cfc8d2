//! `[pricing]`: the dated reference-rate series, discounts, premiums, costs and the RAROC hurdle.

use super::ctx::Ctx;
use super::{BaseRate, Grade, Pricing, parse_iso_date};

/// `[pricing]` as written: the dates and grade names not yet validated.
pub type PricingFile = Pricing<String, String>;

/// The longest term the five-year switch may sit at (the products' terms are far shorter).
const MAX_SWITCH_MONTHS: u32 = 600;

impl PricingFile {
    pub(super) fn compile(&self, ctx: &mut Ctx, grades: &[Grade]) -> Pricing {
        let secured_discount_grades =
            ctx.grade_indexes("pricing.secured_discount_grades", grades, &self.secured_discount_grades);
        if self.base_rate_name.trim().is_empty() {
            ctx.err("pricing.base_rate_name", "required");
        }
        if self.five_year_rate_above_months == 0 || self.five_year_rate_above_months > MAX_SWITCH_MONTHS {
            ctx.err(
                "pricing.five_year_rate_above_months",
                format!("must be between 1 and {MAX_SWITCH_MONTHS} months"),
            );
        }
        let bps = |ctx: &mut Ctx, name: &str, value: i64, max: i64| ctx.bps(&format!("pricing.{name}"), value, max);
        Pricing {
            base_rate_name: self.base_rate_name.clone(),
            base_rates: compile_base_rates(ctx, &self.base_rates),
            five_year_rate_above_months: self.five_year_rate_above_months,
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

/// The series: at least one entry, dates valid and strictly increasing (so exactly one entry is
/// in force on any date from the first), rates within 0..50%.
fn compile_base_rates(ctx: &mut Ctx, entries: &[BaseRate<String>]) -> Vec<BaseRate> {
    if entries.is_empty() {
        ctx.err("pricing.base_rates", "at least one dated rate is required");
    }
    let mut out: Vec<BaseRate> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let base = format!("pricing.base_rates[{i}]");
        let Some(effective_from) = parse_iso_date(&e.effective_from) else {
            ctx.err(format!("{base}.effective_from"), "must be a date YYYY-MM-DD");
            continue;
        };
        if out.last().is_some_and(|prev| prev.effective_from >= effective_from) {
            ctx.err(
                format!("{base}.effective_from"),
                "dates must be in increasing order, each date once",
            );
        }
        out.push(BaseRate {
            effective_from,
            one_year_bps: ctx.bps(&format!("{base}.one_year_bps"), e.one_year_bps, 5_000),
            five_year_bps: ctx.bps(&format!("{base}.five_year_bps"), e.five_year_bps, 5_000),
        });
    }
    out
}
