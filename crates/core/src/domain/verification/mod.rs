//! Cross-checks of declared information against independent sources (docs/DOMAIN.md 4): revenue vs
//! invoices, tax returns and bank inflows; tax returns vs invoices; electricity intensity; signs
//! of multi-borrowing; stale and missing sources; and the patterns of `patterns` (V10..V16).
//! Warnings refer, criticals knock out (K10).

mod patterns;

use serde::{Deserialize, Serialize};

use super::Amount;
use super::bins::{Bound, NumericBins};
use super::features::{Features, ratio};
use super::profile::EnterpriseProfile;
use super::rulebook::Policy;
use super::vocabulary::Severity;

pub use super::figure::{Figure, FigureValue};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub code: String,
    pub check: String,
    pub severity: Severity,
    pub ratio: f64,
    pub band: String,
    pub message: String,
    pub figures: Vec<Figure>,
    /// The policy thresholds the ratio was judged by: the edges of the band it fell in, or the
    /// limit a count or an age was compared with. Defaulted so that older records still read.
    #[serde(default)]
    pub thresholds: Vec<Figure>,
    /// Refer flag raised when the severity is a warning.
    pub refer_flag: String,
}

fn amount(name: &str, a: Amount) -> Figure {
    Figure::amount(name, a)
}

fn number(name: &str, x: f64) -> Figure {
    Figure::number(name, x)
}

fn banded(
    code: &str,
    check: &str,
    bins: &NumericBins<Severity>,
    value: f64,
    message: String,
    figures: Vec<Figure>,
) -> Finding {
    let bin = bins.find(value);
    Finding {
        code: code.to_owned(),
        check: check.to_owned(),
        severity: bin.value,
        ratio: value,
        band: bin.label.clone(),
        message,
        figures,
        thresholds: band_edges(bins, value),
        refer_flag: "F02".to_owned(),
    }
}

/// The edges of the band a value fell in, named by how the band holds them: `band_from`
/// (value >= x) or `band_above` (value > x) below it, `band_below` (value < x) or
/// `band_at_most` (value <= x) above it. The first band has no lower edge, the last no upper.
fn band_edges<T>(bins: &NumericBins<T>, value: f64) -> Vec<Figure> {
    let bounds: Vec<Bound> = bins.iter().map(|b| b.bound).collect();
    let index = bounds
        .iter()
        .position(|b| b.contains(value))
        .unwrap_or(bounds.len().saturating_sub(1));
    let mut edges = Vec::with_capacity(2);
    match index.checked_sub(1).map(|i| bounds[i]) {
        Some(Bound::Below(x)) => edges.push(number("band_from", x)),
        Some(Bound::AtMost(x)) => edges.push(number("band_above", x)),
        _ => {}
    }
    match bounds.get(index) {
        Some(Bound::Below(x)) => edges.push(number("band_below", *x)),
        Some(Bound::AtMost(x)) => edges.push(number("band_at_most", *x)),
        _ => {}
    }
    edges
}

/// Runs every applicable check. Findings come in a fixed order (by code, then source) so that
/// the same inputs always give the same list.
pub fn verify(profile: &EnterpriseProfile, features: &Features, policy: &Policy) -> Vec<Finding> {
    let sources = Sources::of(profile, policy);
    let mut out = revenue_checks(profile, features, policy, &sources);
    out.extend(electricity_check(profile, policy, &sources));
    out.extend(multi_borrowing(profile, policy));
    out.extend(stale_sources(profile, features, policy));
    out.extend(missing_sources(profile, policy, &sources));
    out.extend(patterns::pattern_checks(profile, policy));
    out
}

/// Independent figures several checks read.
struct Sources {
    invoice_sales: Option<Amount>,
    tax_revenue: Option<Amount>,
    /// The industry is one whose electricity use is checked against revenue.
    electricity_industry: bool,
}

impl Sources {
    fn of(profile: &EnterpriseProfile, policy: &Policy) -> Self {
        Sources {
            invoice_sales: profile.invoices.as_ref().and_then(|i| i.vat_sales_12m),
            tax_revenue: profile.tax.as_ref().and_then(|t| t.reported_revenue_12m),
            electricity_industry: policy
                .verification
                .electricity_industries
                .iter()
                .any(|p| profile.industry_code.starts_with(p.as_str())),
        }
    }
}

/// Declared revenue against invoices (V01), tax returns (V02) and bank inflows (V03); tax returns
/// against invoices (V04).
fn revenue_checks(profile: &EnterpriseProfile, features: &Features, policy: &Policy, s: &Sources) -> Vec<Finding> {
    let v = &policy.verification;
    let declared = features.declared_revenue;
    let mut out = Vec::new();
    if let Some(inv) = s.invoice_sales
        && let Some(r) = ratio(declared, inv)
    {
        out.push(banded(
            "V01",
            "declared_revenue_vs_invoices",
            &v.revenue_vs_invoices,
            r,
            format!("Declared revenue is {r:.2}x VAT output invoices over 12 months"),
            vec![amount("declared_revenue", declared), amount("vat_sales_12m", inv)],
        ));
    }
    if let Some(tax) = s.tax_revenue
        && let Some(r) = ratio(declared, tax)
    {
        out.push(banded(
            "V02",
            "declared_revenue_vs_tax_return",
            &v.revenue_vs_tax,
            r,
            format!("Declared revenue is {r:.2}x revenue reported in tax returns"),
            vec![
                amount("declared_revenue", declared),
                amount("reported_revenue_12m", tax),
            ],
        ));
    }
    out.extend(bank_inflow_check(profile, features, policy));
    if let (Some(tax), Some(inv)) = (s.tax_revenue, s.invoice_sales)
        && let Some(r) = ratio(tax, inv)
    {
        out.push(banded(
            "V04",
            "tax_return_vs_invoices",
            &v.tax_return_vs_invoices,
            r,
            format!("Revenue in tax returns is {r:.2}x VAT output invoices"),
            vec![amount("reported_revenue_12m", tax), amount("vat_sales_12m", inv)],
        ));
    }
    out
}

/// V03: declared revenue against net business inflows, annualised.
fn bank_inflow_check(profile: &EnterpriseProfile, features: &Features, policy: &Policy) -> Option<Finding> {
    let declared = features.declared_revenue;
    let months = profile.bank_flows.as_ref()?.monthly_inflows.len();
    if months < policy.scaling.min_inflow_months {
        return None;
    }
    let sum = features.bank_inflows_12m?;
    // Annualise when fewer than 12 months are on file.
    let annual = Amount(((i128::from(sum.0) * 12) / months as i128).min(i128::from(i64::MAX)) as i64);
    let r = ratio(declared, annual)?;
    Some(banded(
        "V03",
        "declared_revenue_vs_bank_inflows",
        &policy.verification.revenue_vs_bank_inflows,
        r,
        format!("Declared revenue is {r:.2}x net business inflows ({months} months, annualised)"),
        vec![
            amount("declared_revenue", declared),
            amount("bank_inflows_annualised", annual),
            number("months", months as f64),
        ],
    ))
}

/// V05: electricity per unit of revenue against the prior 12 months; a large drop while revenue
/// grows is critical.
fn electricity_check(profile: &EnterpriseProfile, policy: &Policy, s: &Sources) -> Option<Finding> {
    let v = &policy.verification;
    let u = profile.utilities.as_ref().filter(|_| s.electricity_industry)?;
    // Revenue for both years from the same source: invoices when they have both, else statements.
    let (rev_now, rev_prior) = profile
        .invoices
        .as_ref()
        .and_then(|i| Some((i.vat_sales_12m?, i.vat_sales_prior_12m?)))
        .or_else(|| Some((profile.financials.revenue, profile.financials.revenue_prior_year?)))?;
    if !(rev_now.is_positive()
        && rev_prior.is_positive()
        && u.electricity_kwh_12m > 0
        && u.electricity_kwh_prior_12m > 0)
    {
        return None;
    }
    // (kWh_now / rev_now) / (kWh_prior / rev_prior) - 1, with the difference taken exactly
    // in integers so that a change right on a band edge lands on it.
    let kwh_now = i128::from(u.electricity_kwh_12m);
    let kwh_prior = i128::from(u.electricity_kwh_prior_12m);
    let numerator = kwh_now * i128::from(rev_prior.0) - kwh_prior * i128::from(rev_now.0);
    let denominator = kwh_prior * i128::from(rev_now.0);
    let change = numerator as f64 / denominator as f64;
    let mut finding = banded(
        "V05",
        "electricity_intensity",
        &v.electricity_intensity,
        change,
        format!(
            "Electricity per unit of revenue changed {:+.1}% against the prior 12 months",
            change * 100.0
        ),
        vec![
            number("electricity_kwh_12m", u.electricity_kwh_12m as f64),
            number("electricity_kwh_prior_12m", u.electricity_kwh_prior_12m as f64),
            amount("revenue_12m", rev_now),
            amount("revenue_prior_12m", rev_prior),
        ],
    );
    if rev_now > rev_prior && change < v.electricity_critical_drop_with_revenue_up {
        finding.severity = Severity::Critical;
        finding.thresholds.push(number(
            "electricity_critical_drop_with_revenue_up",
            v.electricity_critical_drop_with_revenue_up,
        ));
        finding
            .message
            .push_str(" while revenue grew: production does not support the revenue");
    }
    Some(finding)
}

/// Signs of multi-borrowing: new lenders (V06) and credit report inquiries (V07).
fn multi_borrowing(profile: &EnterpriseProfile, policy: &Policy) -> [Finding; 2] {
    let history = &profile.credit_history;
    let (lenders, inquiries) = (history.new_lenders_6m, history.inquiries_6m);
    let refer_at = policy.refer.new_lenders_refer_at;
    let refer_above = policy.verification.inquiries_refer_above;
    [
        Finding {
            code: "V06".into(),
            check: "new_lenders_6m".into(),
            severity: warning_if(lenders >= refer_at),
            ratio: f64::from(lenders),
            band: format!("refer at >= {refer_at}"),
            message: format!("{lenders} new lenders in the last 6 months"),
            figures: vec![number("new_lenders_6m", f64::from(lenders))],
            thresholds: vec![number("new_lenders_refer_at", f64::from(refer_at))],
            refer_flag: "F07".into(),
        },
        Finding {
            code: "V07".into(),
            check: "credit_inquiries_6m".into(),
            severity: warning_if(inquiries > refer_above),
            ratio: f64::from(inquiries),
            band: format!("refer above {refer_above}"),
            message: format!("{inquiries} credit report inquiries in the last 6 months"),
            figures: vec![number("inquiries_6m", f64::from(inquiries))],
            thresholds: vec![number("inquiries_refer_above", f64::from(refer_above))],
            refer_flag: "F02".into(),
        },
    ]
}

fn warning_if(warn: bool) -> Severity {
    if warn { Severity::Warning } else { Severity::Info }
}

/// Data freshness (F05, V08): every source present is checked against its maximum age.
fn stale_sources(profile: &EnterpriseProfile, features: &Features, policy: &Policy) -> Vec<Finding> {
    let ages = &policy.refer.max_data_age_days;
    let mut sources: Vec<(&str, time::Date, i64)> = vec![
        ("financials", profile.financials.as_of, ages.financials),
        ("credit_report", profile.credit_history.as_of, ages.credit_report),
        ("legal", profile.legal.as_of, ages.legal),
    ];
    sources.extend(profile.tax.as_ref().map(|t| ("tax", t.as_of, ages.tax)));
    sources.extend(profile.invoices.as_ref().map(|i| ("invoices", i.as_of, ages.invoices)));
    sources.extend(
        profile
            .bank_flows
            .as_ref()
            .map(|b| ("bank_flows", b.as_of, ages.bank_flows)),
    );
    sources.extend(
        profile
            .utilities
            .as_ref()
            .map(|u| ("utilities", u.as_of, ages.utilities)),
    );
    sources.extend(
        profile
            .social_insurance
            .as_ref()
            .map(|s| ("social_insurance", s.as_of, ages.social_insurance)),
    );
    let mut out = Vec::new();
    for (name, as_of, max_age) in sources {
        let age = (features.evaluation_date - as_of).whole_days();
        if age > max_age {
            out.push(Finding {
                code: "V08".into(),
                check: format!("data_age_{name}"),
                severity: Severity::Warning,
                ratio: age as f64,
                band: format!("max {max_age} days"),
                message: format!("{name} data is {age} days old (maximum {max_age})"),
                figures: vec![number("age_days", age as f64)],
                thresholds: vec![number(&format!("max_data_age_days.{name}"), max_age as f64)],
                refer_flag: "F05".into(),
            });
        }
    }
    out
}

/// Missing independent sources (F08, V09): the scorecard already scores them conservatively.
fn missing_sources(profile: &EnterpriseProfile, policy: &Policy, s: &Sources) -> Vec<Finding> {
    let mut missing: Vec<&str> = Vec::new();
    if s.invoice_sales.is_none() {
        missing.push("invoices");
    }
    if s.tax_revenue.is_none() && profile.tax.as_ref().and_then(|t| t.credit_rating).is_none() {
        missing.push("tax");
    }
    if profile
        .bank_flows
        .as_ref()
        .is_none_or(|b| b.monthly_inflows.len() < policy.scaling.min_inflow_months)
    {
        missing.push("bank_flows");
    }
    if s.electricity_industry && profile.utilities.is_none() {
        missing.push("utilities");
    }
    missing
        .into_iter()
        .map(|name| Finding {
            code: "V09".into(),
            check: format!("missing_{name}"),
            severity: Severity::Warning,
            ratio: 0.0,
            band: "source required".into(),
            message: format!("No usable {name} data: declared figures cannot be cross-checked against it"),
            figures: vec![Figure::text("source", name)],
            thresholds: Vec::new(),
            refer_flag: "F08".into(),
        })
        .collect()
}
