//! V10..V16: patterns in independent sources that a declared figure cannot explain away — tax
//! burden against the industry, headcount against social insurance, invoice spikes, credit notes,
//! customer concentration, round-tripping and financing hunger (docs/DOMAIN.md 4.2).
//!
//! Each check reports exactly one finding. When its figures are missing it reports an info
//! finding in the band "not checked" (the officer sees which checks did not run); a missing
//! source as a whole is already referred by V09.

use super::{Finding, amount, banded, number};
use crate::domain::Amount;
use crate::domain::bins::NumericBins;
use crate::domain::features::ratio;
use crate::domain::figure::Figure;
use crate::domain::profile::EnterpriseProfile;
use crate::domain::rulebook::Policy;
use crate::domain::vocabulary::Severity;

/// Runs V10..V16 in code order.
pub(super) fn pattern_checks(profile: &EnterpriseProfile, policy: &Policy) -> Vec<Finding> {
    vec![
        tax_burden(profile, policy),
        headcount(profile, policy),
        invoice_spike(profile, policy),
        credit_note_share(profile, policy),
        customer_concentration(profile, policy),
        round_tripping(profile, policy),
        financing_hunger(profile, policy),
    ]
}

fn not_checked(code: &str, check: &str, missing: &str) -> Finding {
    Finding {
        code: code.to_owned(),
        check: check.to_owned(),
        severity: Severity::Info,
        ratio: 0.0,
        band: "not checked".to_owned(),
        message: format!("Not checked: {missing} not provided"),
        figures: Vec::new(),
        thresholds: Vec::new(),
        refer_flag: "F02".to_owned(),
    }
}

/// The finding of the top band, for a ratio with no meaningful denominator (something out of
/// nothing); the ratio is reported as 0 and the message says why.
fn top_band(code: &str, check: &str, bins: &NumericBins<Severity>, message: String, figures: Vec<Figure>) -> Finding {
    let mut finding = banded(code, check, bins, f64::MAX, message, figures);
    finding.ratio = 0.0;
    finding
}

/// V10: tax paid / revenue in tax returns, relative to the industry's median burden. Too low a
/// burden suggests revenue that exists only on paper or tax that is not paid.
fn tax_burden(profile: &EnterpriseProfile, policy: &Policy) -> Finding {
    const CODE: &str = "V10";
    const CHECK: &str = "tax_burden_vs_industry";
    let cfg = &policy.verification.tax_burden;
    let figures = profile.tax.as_ref().map(|t| (t.tax_paid_12m, t.reported_revenue_12m));
    let (Some(paid), Some(revenue)) = figures.unwrap_or((None, None)) else {
        return not_checked(CODE, CHECK, "tax paid and revenue in tax returns");
    };
    let Some(burden) = ratio(paid, revenue) else {
        return not_checked(CODE, CHECK, "a positive revenue in tax returns");
    };
    let (prefix, median) = cfg.median_for(&profile.industry_code);
    let relative = burden / median;
    banded(
        CODE,
        CHECK,
        &cfg.bands,
        relative,
        format!(
            "Tax burden {:.2}% is {relative:.2}x the industry median {:.2}% ({prefix})",
            burden * 100.0,
            median * 100.0
        ),
        vec![
            amount("tax_paid_12m", paid),
            amount("reported_revenue_12m", revenue),
            number("tax_burden", burden),
            number("industry_median", median),
            Figure::text("industry_prefix", prefix),
        ],
    )
}

/// V11: declared employees / employees insured. Nobody insured counts as one, so that declared
/// staff with no insured employee lands in the top band.
fn headcount(profile: &EnterpriseProfile, policy: &Policy) -> Finding {
    const CODE: &str = "V11";
    const CHECK: &str = "declared_employees_vs_insured";
    let Some(si) = profile.social_insurance.as_ref() else {
        return not_checked(CODE, CHECK, "social-insurance headcount");
    };
    if profile.employees == 0 {
        return not_checked(CODE, CHECK, "declared employees");
    }
    let insured = si.insured_employees;
    let r = f64::from(profile.employees) / f64::from(insured.max(1));
    banded(
        CODE,
        CHECK,
        &policy.verification.headcount,
        r,
        format!("{} employees declared, {insured} insured: {r:.2}x", profile.employees),
        vec![
            number("employees", f64::from(profile.employees)),
            number("insured_employees", f64::from(insured)),
        ],
    )
}

/// V12: the largest of the last `recent_months` of issued invoices against the average of the
/// `baseline_months` before them. Invoicing that starts from nothing is the top band.
fn invoice_spike(profile: &EnterpriseProfile, policy: &Policy) -> Finding {
    const CODE: &str = "V12";
    const CHECK: &str = "invoice_spike";
    let cfg = &policy.verification.invoice_spike;
    let need = cfg.recent_months + cfg.baseline_months;
    let months = profile
        .invoices
        .as_ref()
        .map_or(&[][..], |i| i.monthly_issued.as_slice());
    if months.len() < need {
        return not_checked(CODE, CHECK, &format!("{need} months of issued invoices"));
    }
    let (baseline, recent) = months[months.len() - need..].split_at(cfg.baseline_months);
    let peak = recent.iter().copied().max().unwrap_or(Amount::ZERO);
    let base_sum: i128 = baseline.iter().map(|a| i128::from(a.0)).sum();
    let base_avg = Amount(i64::try_from(base_sum / baseline.len() as i128).unwrap_or(i64::MAX));
    let figures = vec![
        amount("peak_recent_month", peak),
        amount("baseline_monthly_average", base_avg),
        number("recent_months", recent.len() as f64),
        number("baseline_months", baseline.len() as f64),
    ];
    let bins = &cfg.bands;
    if base_sum <= 0 {
        if peak.is_positive() {
            let message = "Invoicing started from nothing: no invoices in the baseline months".to_owned();
            return top_band(CODE, CHECK, bins, message, figures);
        }
        return banded(CODE, CHECK, bins, 0.0, "No invoices issued".to_owned(), figures);
    }
    // peak / (sum / n), exactly in integers up to the final division.
    let r = (i128::from(peak.0) * baseline.len() as i128) as f64 / base_sum as f64;
    let message = format!(
        "Largest of the last {} months of issued invoices is {r:.2}x the average of the {} months before",
        recent.len(),
        baseline.len()
    );
    banded(CODE, CHECK, bins, r, message, figures)
}

/// V13: red-letter (credit note) and voided invoices as a share of gross issued invoices.
fn credit_note_share(profile: &EnterpriseProfile, policy: &Policy) -> Finding {
    const CODE: &str = "V13";
    const CHECK: &str = "credit_note_share";
    let figures = profile
        .invoices
        .as_ref()
        .map(|i| (i.credit_notes_and_voids_12m, i.issued_gross_12m));
    let (Some(cancelled), Some(gross)) = figures.unwrap_or((None, None)) else {
        return not_checked(CODE, CHECK, "gross issued and credit-noted or voided invoices");
    };
    let Some(share) = ratio(cancelled, gross) else {
        return not_checked(CODE, CHECK, "a positive gross of issued invoices");
    };
    banded(
        CODE,
        CHECK,
        &policy.verification.credit_note_share,
        share,
        format!(
            "{:.1}% of issued invoices were credit-noted or voided over 12 months",
            share * 100.0
        ),
        vec![
            amount("credit_notes_and_voids_12m", cancelled),
            amount("issued_gross_12m", gross),
        ],
    )
}

/// V14: the top buyer's share of net invoiced sales. A related-party top buyer lands one band
/// up, and in the top band becomes critical: sales to oneself prove no market.
fn customer_concentration(profile: &EnterpriseProfile, policy: &Policy) -> Finding {
    const CODE: &str = "V14";
    const CHECK: &str = "customer_concentration";
    let Some(inv) = profile.invoices.as_ref() else {
        return not_checked(CODE, CHECK, "invoice data");
    };
    let (Some(top), Some(sales)) = (inv.top_buyer_sales_12m, inv.vat_sales_12m) else {
        return not_checked(CODE, CHECK, "top buyer sales and net invoiced sales");
    };
    let Some(share) = ratio(top, sales) else {
        return not_checked(CODE, CHECK, "positive net invoiced sales");
    };
    let bins = &policy.verification.customer_concentration;
    let related = inv.top_buyer_related_party;
    let mut finding = banded(
        CODE,
        CHECK,
        bins,
        share,
        format!(
            "Top buyer takes {:.1}% of invoiced sales{}",
            share * 100.0,
            if related { " and is a related party" } else { "" }
        ),
        vec![
            amount("top_buyer_sales_12m", top),
            amount("vat_sales_12m", sales),
            Figure::text("top_buyer_related_party", related.to_string()),
        ],
    );
    if related {
        one_band_up(&mut finding, bins, share);
    }
    finding
}

/// Moves a finding to the band after its own; from the top band, one severity up.
fn one_band_up(finding: &mut Finding, bins: &NumericBins<Severity>, value: f64) {
    let own = bins.find(value);
    let index = bins.iter().position(|b| std::ptr::eq(b, own));
    match index.and_then(|i| bins.iter().nth(i + 1)) {
        Some(next) => {
            finding.severity = next.value;
            finding.band = format!("{} (related party)", next.label);
        }
        None => {
            finding.severity = match finding.severity {
                Severity::Info => Severity::Warning,
                Severity::Warning | Severity::Critical => Severity::Critical,
            };
            finding.band = format!("{} (related party)", finding.band);
        }
    }
}

/// V15: inflows that went back out the same day to the counterparty they came from, as a share
/// of the net business inflows of the same months.
fn round_tripping(profile: &EnterpriseProfile, policy: &Policy) -> Finding {
    const CODE: &str = "V15";
    const CHECK: &str = "round_tripping";
    let Some(flows) = profile.bank_flows.as_ref() else {
        return not_checked(CODE, CHECK, "bank flows");
    };
    let Some(trips) = flows.round_trips.as_ref() else {
        return not_checked(CODE, CHECK, "the round-trip summary of the bank flows");
    };
    let inflows_sum: i128 = flows.monthly_inflows.iter().map(|a| i128::from(a.0)).sum();
    let inflows = Amount(i64::try_from(inflows_sum).unwrap_or(i64::MAX));
    let amount_rt = trips.same_day_round_trip_amount;
    let figures = vec![
        amount("same_day_round_trip_amount", amount_rt),
        amount("net_inflows", inflows),
        number("counterparties", f64::from(trips.counterparties)),
    ];
    let bins = &policy.verification.round_tripping;
    let Some(share) = ratio(amount_rt, inflows) else {
        if amount_rt.is_positive() {
            let message = "Money round-trips with no net business inflow at all".to_owned();
            return top_band(CODE, CHECK, bins, message, figures);
        }
        return not_checked(CODE, CHECK, "net business inflows");
    };
    let message = format!(
        "{:.1}% of inflows left the same day to the same counterparty ({} counterparties)",
        share * 100.0,
        trips.counterparties
    );
    banded(CODE, CHECK, bins, share, message, figures)
}

/// V16: net new debt over 12 months against operating cash flow. Debt that grows while the
/// business generates no cash is the top band.
fn financing_hunger(profile: &EnterpriseProfile, policy: &Policy) -> Finding {
    const CODE: &str = "V16";
    const CHECK: &str = "financing_hunger";
    let Some(new_debt) = profile.credit_history.net_new_debt_12m else {
        return not_checked(CODE, CHECK, "net new debt over 12 months");
    };
    let cash_flow = profile.financials.operating_cash_flow;
    let figures = vec![
        amount("net_new_debt_12m", new_debt),
        amount("operating_cash_flow", cash_flow),
    ];
    let bins = &policy.verification.financing_hunger;
    if !new_debt.is_positive() {
        return banded(
            CODE,
            CHECK,
            bins,
            0.0,
            "Debt did not grow over 12 months".to_owned(),
            figures,
        );
    }
    let Some(r) = ratio(new_debt, cash_flow) else {
        let message = "Debt grew while operating cash flow is not positive".to_owned();
        return top_band(CODE, CHECK, bins, message, figures);
    };
    let message = format!("Net new debt over 12 months is {r:.2}x operating cash flow");
    banded(CODE, CHECK, bins, r, message, figures)
}
