//! `[limits]`: how the credit limit is sized.

use std::collections::BTreeMap;

use super::Limits;
use super::ctx::Ctx;
use crate::domain::profile::TaxRating;

/// `[limits]` as written: money and tax ratings not yet validated.
pub type LimitsFile = Limits<i64, String>;

impl LimitsFile {
    pub(super) fn compile(&self, ctx: &mut Ctx) -> Limits {
        let mut tax_multiples = BTreeMap::new();
        for (k, m) in &self.tax_multiples {
            match TaxRating::parse(k) {
                Some(r) if (0..=100).contains(m) => {
                    tax_multiples.insert(r, *m);
                }
                Some(_) => ctx.err(format!("limits.tax_multiples.{k}"), "must be 0..100"),
                None => ctx.err(format!("limits.tax_multiples.{k}"), "unknown tax rating"),
            }
        }
        if self.rounding_unit <= 0 {
            ctx.err("limits.rounding_unit", "must be positive");
        }
        if !(1..=600).contains(&self.notional_tenor_months) {
            ctx.err("limits.notional_tenor_months", "must be 1..600");
        }
        if !(self.secured_min_coverage > 0.0 && self.secured_min_coverage <= 5.0) {
            ctx.err("limits.secured_min_coverage", "must be above 0 and at most 5");
        }
        Limits {
            secured_min_coverage: self.secured_min_coverage,
            revenue_fraction: ctx.fraction("limits.revenue_fraction", self.revenue_fraction, 0.0, 1.0),
            dscr_min: ctx.fraction("limits.dscr_min", self.dscr_min, 0.1, 10.0),
            notional_tenor_months: self.notional_tenor_months,
            rounding_unit: ctx.positive_amount("limits.rounding_unit", self.rounding_unit),
            min_limit: ctx.positive_amount("limits.min_limit", self.min_limit),
            group_limit: ctx.positive_amount("limits.group_limit", self.group_limit),
            tax_multiples,
        }
    }
}
