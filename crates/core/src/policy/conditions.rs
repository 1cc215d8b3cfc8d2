//! `[[conditions]]`: conditions attached to an approval, and when each applies.

use serde::Deserialize;

use super::ctx::Ctx;
use super::{ConditionRule, Grade};
use crate::domain::application::Product;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionFile {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub grades: Vec<String>,
    #[serde(default)]
    pub products: Vec<String>,
    pub has_collateral: Option<bool>,
    pub stale_appraisal: Option<bool>,
    pub min_amount: Option<i64>,
    pub min_term_months: Option<u32>,
}

pub(super) fn compile_conditions(ctx: &mut Ctx, conditions: &[ConditionFile], grades: &[Grade]) -> Vec<ConditionRule> {
    conditions
        .iter()
        .enumerate()
        .map(|(i, c)| c.compile(ctx, &format!("conditions[{i}]"), grades))
        .collect()
}

impl ConditionFile {
    fn compile(&self, ctx: &mut Ctx, base: &str, grades: &[Grade]) -> ConditionRule {
        if self.code.trim().is_empty() || self.message.trim().is_empty() {
            ctx.err(format!("{base}.code"), "code and message are required");
        }
        let grades = ctx.grade_indexes(&format!("{base}.grades"), grades, &self.grades);
        let mut products = Vec::new();
        for p in &self.products {
            match Product::from_key(p) {
                Some(product) => products.push(product),
                None => ctx.err(format!("{base}.products"), format!("unknown product {p:?}")),
            }
        }
        ConditionRule {
            code: self.code.clone(),
            message: self.message.clone(),
            grades,
            products,
            has_collateral: self.has_collateral,
            stale_appraisal: self.stale_appraisal,
            min_amount: self
                .min_amount
                .map(|a| ctx.positive_amount(&format!("{base}.min_amount"), a)),
            min_term_months: self.min_term_months,
        }
    }
}
