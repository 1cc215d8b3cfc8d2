//! `[verification]`: which sources verify revenue and the severity bands of each cross-check.

use serde::Deserialize;

use super::ctx::Ctx;
use super::{InvoiceSpike, NumericBin, NumericBins, RevenueSource, Severity, TaxBurden, Verification};

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
    pub tax_burden: TaxBurdenFile,
    pub headcount: BandsFile,
    pub invoice_spike: InvoiceSpikeFile,
    pub credit_note_share: BandsFile,
    pub customer_concentration: BandsFile,
    pub round_tripping: BandsFile,
    pub financing_hunger: BandsFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxBurdenFile {
    pub default_median: f64,
    pub medians: Vec<MedianFile>,
    pub bands: Vec<BandFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MedianFile {
    pub industry: String,
    pub median: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceSpikeFile {
    pub recent_months: u32,
    pub baseline_months: u32,
    pub bands: Vec<BandFile>,
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
            tax_burden: self.tax_burden.compile(ctx),
            headcount: b(ctx, "headcount", &self.headcount),
            invoice_spike: self.invoice_spike.compile(ctx),
            credit_note_share: b(ctx, "credit_note_share", &self.credit_note_share),
            customer_concentration: b(ctx, "customer_concentration", &self.customer_concentration),
            round_tripping: b(ctx, "round_tripping", &self.round_tripping),
            financing_hunger: b(ctx, "financing_hunger", &self.financing_hunger),
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

impl TaxBurdenFile {
    fn compile(&self, ctx: &mut Ctx) -> TaxBurden {
        let field = "verification.tax_burden";
        let median = |ctx: &mut Ctx, f: &str, m: f64| {
            if !m.is_finite() || m <= 0.0 || m > 1.0 {
                ctx.err(f, format!("must be a tax burden above 0 and at most 1, got {m}"));
            }
            m
        };
        let default_median = median(ctx, &format!("{field}.default_median"), self.default_median);
        let mut medians = Vec::with_capacity(self.medians.len());
        for (i, m) in self.medians.iter().enumerate() {
            let at = format!("{field}.medians[{i}]");
            if !is_industry_prefix(&m.industry) {
                ctx.err(
                    format!("{at}.industry"),
                    format!(
                        "{:?} is not a GB/T 4754 code prefix (a letter A..T and up to 4 digits)",
                        m.industry
                    ),
                );
            }
            if medians.iter().any(|(p, _): &(String, f64)| *p == m.industry) {
                ctx.err(format!("{at}.industry"), format!("{:?} is listed twice", m.industry));
            }
            medians.push((m.industry.clone(), median(ctx, &format!("{at}.median"), m.median)));
        }
        TaxBurden {
            default_median,
            medians,
            bands: compile_bands(ctx, field, &self.bands),
        }
    }
}

fn is_industry_prefix(code: &str) -> bool {
    let mut chars = code.chars();
    chars.next().is_some_and(|c| ('A'..='T').contains(&c)) && code.len() <= 5 && chars.all(|c| c.is_ascii_digit())
}

impl InvoiceSpikeFile {
    fn compile(&self, ctx: &mut Ctx) -> InvoiceSpike {
        let field = "verification.invoice_spike";
        if !(1..=6).contains(&self.recent_months) {
            ctx.err(format!("{field}.recent_months"), "must be 1..6 months");
        }
        if self.baseline_months < 1 || self.recent_months + self.baseline_months > 12 {
            ctx.err(
                format!("{field}.baseline_months"),
                "must be at least 1, and recent_months + baseline_months at most 12 (a year of invoices)",
            );
        }
        InvoiceSpike {
            recent_months: self.recent_months as usize,
            baseline_months: self.baseline_months as usize,
            bands: compile_bands(ctx, field, &self.bands),
        }
    }
}

impl BandsFile {
    fn compile(&self, ctx: &mut Ctx, field: &str) -> NumericBins<Severity> {
        compile_bands(ctx, field, &self.bands)
    }
}

fn compile_bands(ctx: &mut Ctx, field: &str, bands: &[BandFile]) -> NumericBins<Severity> {
    let mut bins = Vec::new();
    for (j, b) in bands.iter().enumerate() {
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
