//! `[products.*]`: the products the bank offers, their terms, caps and collateral.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ctx::Ctx;
use super::{Band, CapKind, Grade, ProductPolicy};
use crate::domain::application::{CollateralKind, Product};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductFile {
    pub min_term_months: u32,
    pub max_term_months: u32,
    pub cap: Option<i64>,
    pub caps: Vec<String>,
    pub min_years_in_business: Option<u32>,
    pub revenue_fraction: Option<f64>,
    #[serde(default = "default_true")]
    pub unsecured_allowance: bool,
    #[serde(default)]
    pub required_collateral: Vec<String>,
    #[serde(default)]
    pub band_overrides: BTreeMap<String, String>,
}

fn default_true() -> bool {
    true
}

/// Every product named by its key; at least one.
pub(super) fn compile_products(
    ctx: &mut Ctx,
    products: &BTreeMap<String, ProductFile>,
    grades: &[Grade],
) -> BTreeMap<Product, ProductPolicy> {
    let mut out = BTreeMap::new();
    for (key, p) in products {
        let base = format!("products.{key}");
        let expected = Product::ALL.map(Product::key);
        let Some(product) = ctx.known(&base, Product::from_key(key), "product", &expected) else {
            continue;
        };
        out.insert(product, p.compile(ctx, &base, grades));
    }
    if out.is_empty() {
        ctx.err("products", "the policy must offer at least one product");
    }
    out
}

impl ProductFile {
    fn compile(&self, ctx: &mut Ctx, base: &str, grades: &[Grade]) -> ProductPolicy {
        if self.min_term_months == 0 || self.min_term_months > self.max_term_months || self.max_term_months > 600 {
            ctx.err(
                format!("{base}.max_term_months"),
                "need 1 <= min_term_months <= max_term_months <= 600",
            );
        }
        let caps = self.caps(ctx, base);
        let cap = self.cap.map(|c| ctx.positive_amount(&format!("{base}.cap"), c));
        if caps.contains(&CapKind::Product) && cap.is_none() {
            ctx.err(format!("{base}.cap"), "required when caps include \"product\"");
        }
        ProductPolicy {
            min_term_months: self.min_term_months,
            max_term_months: self.max_term_months,
            cap,
            caps,
            min_years_in_business: self.min_years_in_business,
            revenue_fraction: self
                .revenue_fraction
                .map(|v| ctx.fraction(&format!("{base}.revenue_fraction"), v, 0.0, 1.0)),
            unsecured_allowance: self.unsecured_allowance,
            required_collateral: self.required_collateral(ctx, base),
            band_overrides: self.band_overrides(ctx, base, grades),
        }
    }

    fn caps(&self, ctx: &mut Ctx, base: &str) -> Vec<CapKind> {
        let mut caps = Vec::new();
        for (i, c) in self.caps.iter().enumerate() {
            match CapKind::ALL.into_iter().find(|k| k.key() == c) {
                Some(k) if !caps.contains(&k) => caps.push(k),
                Some(_) => ctx.err(format!("{base}.caps[{i}]"), format!("cap {c:?} listed twice")),
                None => ctx.err(
                    format!("{base}.caps[{i}]"),
                    format!(
                        "unknown cap {c:?}; expected one of {:?}",
                        CapKind::ALL.map(CapKind::key)
                    ),
                ),
            }
        }
        caps
    }

    fn required_collateral(&self, ctx: &mut Ctx, base: &str) -> Vec<CollateralKind> {
        let mut kinds = Vec::new();
        for (i, k) in self.required_collateral.iter().enumerate() {
            match CollateralKind::from_key(k) {
                Some(kind) => kinds.push(kind),
                None => ctx.err(
                    format!("{base}.required_collateral[{i}]"),
                    format!("unknown collateral kind {k:?}"),
                ),
            }
        }
        kinds
    }

    /// Grade index -> band.
    fn band_overrides(&self, ctx: &mut Ctx, base: &str, grades: &[Grade]) -> BTreeMap<usize, Band> {
        let mut overrides = BTreeMap::new();
        for (grade, band) in &self.band_overrides {
            let field = format!("{base}.band_overrides.{grade}");
            match (grades.iter().position(|g| &g.name == grade), Band::parse(band)) {
                (Some(g), Some(b)) => {
                    overrides.insert(g, b);
                }
                (None, _) => ctx.err(field, "unknown grade"),
                (_, None) => ctx.err(field, format!("unknown band {band:?}")),
            }
        }
        overrides
    }
}
