//! Cross-checks of declared information against independent sources (DOMAIN.md 4.2): revenue vs
//! invoices, tax returns and bank inflows; tax returns vs invoices; electricity intensity; signs
//! of multi-borrowing; stale and missing sources. Warnings refer, criticals knock out (K10).

use serde::{Deserialize, Serialize};

use super::Amount;
use super::bins::NumericBins;
use super::features::{Features, ratio};
use super::profile::EnterpriseProfile;
use super::rulebook::Policy;
use super::vocabulary::Severity;

/// A figure that took part in a check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FigureValue {
    Amount(Amount),
    Number(f64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    pub value: FigureValue,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub code: String,
    pub check: String,
    pub severity: Severity,
    pub ratio: f64,
    pub band: String,
    pub message: String,
    pub figures: Vec<Figure>,
    /// Refer flag raised when the severity is a warning.
    pub refer_flag: String,
}

fn amount(name: &str, a: Amount) -> Figure {
    Figure {
        name: name.to_owned(),
        value: FigureValue::Amount(a),
    }
}

fn number(name: &str, x: f64) -> Figure {
    Figure {
        name: name.to_owned(),
        value: FigureValue::Number(x),
    }
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
        refer_flag: "F02".to_owned(),
    }
}

/// Runs every applicable check. Findings come in a fixed order (by code, then source) so that
/// the same inputs always give the same list.
pub fn verify(profile: &EnterpriseProfile, features: &Features, policy: &Policy) -> Vec<Finding> {
    let v = &policy.verification;
    let mut out = Vec::new();
    let declared = features.declared_revenue;

    let invoice_sales = profile.invoices.as_ref().and_then(|i| i.vat_sales_12m);
    let tax_revenue = profile.tax.as_ref().and_then(|t| t.reported_revenue_12m);

    if let Some(inv) = invoice_sales
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
    if let Some(tax) = tax_revenue
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
    if let Some(flows) = &profile.bank_flows {
        let months = flows.monthly_inflows.len();
        if months >= policy.scaling.min_inflow_months
            && let Some(sum) = features.bank_inflows_12m
        {
            // Annualise when fewer than 12 months are on file.
            let annual = Amount(((i128::from(sum.0) * 12) / months as i128).min(i128::from(i64::MAX)) as i64);
            if let Some(r) = ratio(declared, annual) {
                out.push(banded(
                    "V03",
                    "declared_revenue_vs_bank_inflows",
                    &v.revenue_vs_bank_inflows,
                    r,
                    format!("Declared revenue is {r:.2}x net business inflows ({months} months, annualised)"),
                    vec![
                        amount("declared_revenue", declared),
                        amount("bank_inflows_annualised", annual),
                        number("months", months as f64),
                    ],
                ));
            }
        }
    }
    if let (Some(tax), Some(inv)) = (tax_revenue, invoice_sales)
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
    let electricity_industry = v
        .electricity_industries
        .iter()
        .any(|p| profile.industry_code.starts_with(p.as_str()));
    if electricity_industry && let Some(u) = &profile.utilities {
        // Revenue for both years from the same source: invoices when they have both, else statements.
        let revenues = profile
            .invoices
            .as_ref()
            .and_then(|i| Some((i.vat_sales_12m?, i.vat_sales_prior_12m?)))
            .or_else(|| Some((profile.financials.revenue, profile.financials.revenue_prior_year?)));
        if let Some((rev_now, rev_prior)) = revenues
            && rev_now.is_positive()
            && rev_prior.is_positive()
            && u.electricity_kwh_12m > 0
            && u.electricity_kwh_prior_12m > 0
        {
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
                finding
                    .message
                    .push_str(" while revenue grew: production does not support the revenue");
            }
            out.push(finding);
        }
    }

    let history = &profile.credit_history;
    let lenders_warn = history.new_lenders_6m >= policy.refer.new_lenders_refer_at;
    out.push(Finding {
        code: "V06".into(),
        check: "new_lenders_6m".into(),
        severity: if lenders_warn {
            Severity::Warning
        } else {
            Severity::Info
        },
        ratio: f64::from(history.new_lenders_6m),
        band: format!("refer at >= {}", policy.refer.new_lenders_refer_at),
        message: format!("{} new lenders in the last 6 months", history.new_lenders_6m),
        figures: vec![number("new_lenders_6m", f64::from(history.new_lenders_6m))],
        refer_flag: "F07".into(),
    });
    let inquiries_warn = history.inquiries_6m > v.inquiries_refer_above;
    out.push(Finding {
        code: "V07".into(),
        check: "credit_inquiries_6m".into(),
        severity: if inquiries_warn {
            Severity::Warning
        } else {
            Severity::Info
        },
        ratio: f64::from(history.inquiries_6m),
        band: format!("refer above {}", v.inquiries_refer_above),
        message: format!("{} credit report inquiries in the last 6 months", history.inquiries_6m),
        figures: vec![number("inquiries_6m", f64::from(history.inquiries_6m))],
        refer_flag: "F02".into(),
    });

    // Data freshness (F05): every source present is checked against its maximum age.
    let ages = &policy.refer.max_data_age_days;
    let mut sources: Vec<(&str, time::Date, i64)> = vec![
        ("financials", profile.financials.as_of, ages.financials),
        ("credit_report", profile.credit_history.as_of, ages.credit_report),
        ("legal", profile.legal.as_of, ages.legal),
    ];
    if let Some(t) = &profile.tax {
        sources.push(("tax", t.as_of, ages.tax));
    }
    if let Some(i) = &profile.invoices {
        sources.push(("invoices", i.as_of, ages.invoices));
    }
    if let Some(b) = &profile.bank_flows {
        sources.push(("bank_flows", b.as_of, ages.bank_flows));
    }
    if let Some(u) = &profile.utilities {
        sources.push(("utilities", u.as_of, ages.utilities));
    }
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
                figures: vec![number("age_days", age as f64), number("max_age_days", max_age as f64)],
                refer_flag: "F05".into(),
            });
        }
    }

    // Missing independent sources (F08): the scorecard already scores them conservatively.
    let mut missing: Vec<&str> = Vec::new();
    if invoice_sales.is_none() {
        missing.push("invoices");
    }
    if tax_revenue.is_none() && profile.tax.as_ref().and_then(|t| t.credit_rating).is_none() {
        missing.push("tax");
    }
    if profile
        .bank_flows
        .as_ref()
        .is_none_or(|b| b.monthly_inflows.len() < policy.scaling.min_inflow_months)
    {
        missing.push("bank_flows");
    }
    if electricity_industry && profile.utilities.is_none() {
        missing.push("utilities");
    }
    for name in missing {
        out.push(Finding {
            code: "V09".into(),
            check: format!("missing_{name}"),
            severity: Severity::Warning,
            ratio: 0.0,
            band: "source required".into(),
            message: format!("No usable {name} data: declared figures cannot be cross-checked against it"),
            figures: Vec::new(),
            refer_flag: "F08".into(),
        });
    }
    out
}
