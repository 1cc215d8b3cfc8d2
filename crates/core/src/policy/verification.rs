//! `[verification]`: which sources verify revenue and the severity bands of each cross-check.

use serde::Deserialize;

use super::ctx::Ctx;
use super::{NumericBin, NumericBins, RevenueSource, Severity, Verification};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationFile {
    pub verified_revenue_sources: Vec<String>,
    pub electricity_industries: Vec<String>,
    pub electricity_critical_drop_with_revenue_up: f64,
    pub inquiries_refer_above: u32,
    pub revenue_vs_invoices: BandsFile,
    pub revenue_vs_tax: BandsFile,
    pub revenue_vs_bank_inflows: BandsFile,
    pub tax_return_vs_invoices: BandsFile,
    pub electricity_intensity: BandsFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandsFile {
    pub bands: Vec<BandFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandFile {
    pub below: Option<f64>,
    pub at_most: Option<f64>,
    pub severity: String,
    pub label: Option<String>,
}

impl VerificationFile {
    pub(super) fn compile(&self, ctx: &mut Ctx) -> Verification {
        let verified_revenue_sources = self.revenue_sources(ctx);
        let b = |ctx: &mut Ctx, name: &str, bands: &BandsFile| bands.compile(ctx, &format!("verification.{name}"));
        Verification {
            verified_revenue_sources,
            electricity_industries: self.electricity_industries.clone(),
            electricity_critical_drop_with_revenue_up: ctx.fraction(
                "verification.electricity_critical_drop_with_revenue_up",
                self.electricity_critical_drop_with_revenue_up,
                -1.0,
                0.0,
            ),
            inquiries_refer_above: self.inquiries_refer_above,
            revenue_vs_invoices: b(ctx, "revenue_vs_invoices", &self.revenue_vs_invoices),
            revenue_vs_tax: b(ctx, "revenue_vs_tax", &self.revenue_vs_tax),
            revenue_vs_bank_inflows: b(ctx, "revenue_vs_bank_inflows", &self.revenue_vs_bank_inflows),
            tax_return_vs_invoices: b(ctx, "tax_return_vs_invoices", &self.tax_return_vs_invoices),
            electricity_intensity: b(ctx, "electricity_intensity", &self.electricity_intensity),
        }
    }

    fn revenue_sources(&self, ctx: &mut Ctx) -> Vec<RevenueSource> {
        let mut sources = Vec::new();
        for (i, s) in self.verified_revenue_sources.iter().enumerate() {
            match s.as_str() {
                "invoices" => sources.push(RevenueSource::Invoices),
                "tax" => sources.push(RevenueSource::Tax),
                _ => ctx.err(
                    format!("verification.verified_revenue_sources[{i}]"),
                    format!("unknown source {s:?}; expected \"invoices\" or \"tax\""),
                ),
            }
        }
        if sources.is_empty() {
            ctx.err(
                "verification.verified_revenue_sources",
                "at least one source is required",
            );
        }
        sources
    }
}

impl BandsFile {
    fn compile(&self, ctx: &mut Ctx, field: &str) -> NumericBins<Severity> {
        let mut bins = Vec::new();
        for (j, b) in self.bands.iter().enumerate() {
            let bfield = format!("{field}.bands[{j}]");
            let bound = ctx.bound(&bfield, b.below, b.at_most);
            let severity = Severity::parse(&b.severity).unwrap_or_else(|| {
                ctx.err(
                    &bfield,
                    format!("unknown severity {:?}; expected info, warning or critical", b.severity),
                );
                Severity::Warning
            });
            bins.push(NumericBin {
                bound,
                value: severity,
                label: b.label.clone().unwrap_or_default(),
            });
        }
        NumericBins::new(bins).unwrap_or_else(|(j, msg)| {
            ctx.err(format!("{field}.bands[{j}]"), msg);
            // Placeholder so compilation goes on collecting errors; an erroneous policy is never returned.
            NumericBins::catch_all(Severity::Info)
        })
    }
}
