//! Cross-checks V10..V16 (docs/DOMAIN.md 4.2) and the lineage of the sources a decision used.
//! The base case is the worked example (docs/DOMAIN.md 13): every new check is info there.

mod common;

use common::*;
use riskdecision_core::domain::decision::Evaluation;
use riskdecision_core::domain::figure::FigureValue;
use riskdecision_core::domain::profile::{EnterpriseProfile, Lineage, RoundTrips, SocialInsurance};
use riskdecision_core::domain::verification::Finding;
use riskdecision_core::policy::{Policy, Severity, default_policy_with};
use time::macros::date;

fn decide(p: &EnterpriseProfile) -> Evaluation {
    evaluate(&worked_example_application(), p)
}

fn finding<'e>(e: &'e Evaluation, code: &str) -> &'e Finding {
    e.verification
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code} finding in {:?}", e.verification))
}

fn figure_number(f: &Finding, name: &str) -> f64 {
    match f.figures.iter().find(|x| x.name == name).map(|x| &x.value) {
        Some(FigureValue::Number(x)) => *x,
        other => panic!("{name}: {other:?} in {:?}", f.figures),
    }
}

fn figure_amount(f: &Finding, name: &str) -> i64 {
    match f.figures.iter().find(|x| x.name == name).map(|x| &x.value) {
        Some(FigureValue::Amount(a)) => a.0,
        other => panic!("{name}: {other:?} in {:?}", f.figures),
    }
}

/// The check's severity, and whether it knocked out (K10) or referred (F02) the application.
fn judged(p: &EnterpriseProfile, code: &str) -> (Severity, bool, bool) {
    let e = decide(p);
    let sev = finding(&e, code).severity;
    let k10 = e.knock_outs.iter().any(|r| r.code == "K10" && r.message.contains(code));
    let f02 = e.refer_flags.iter().any(|r| r.code == "F02");
    (sev, k10, f02)
}

#[test]
fn the_worked_example_runs_v10_and_reports_the_other_new_checks_as_not_checked() {
    let e = decide(&worked_example_profile());
    let codes: Vec<&str> = e.verification.iter().map(|f| f.code.as_str()).collect();
    for code in ["V10", "V11", "V12", "V13", "V14", "V15", "V16"] {
        assert_eq!(
            codes.iter().filter(|c| **c == code).count(),
            1,
            "{code} once in {codes:?}"
        );
    }
    // 62,000 / 2,550,000 = 2.43% against the wholesale (F) median of 2%: 1.22x, info.
    let v10 = finding(&e, "V10");
    assert_eq!(v10.severity, Severity::Info);
    assert!(
        (v10.ratio - 62_000.0 / 2_550_000.0 / 0.02).abs() < 1e-12,
        "{}",
        v10.ratio
    );
    assert_eq!(figure_number(v10, "industry_median"), 0.02);
    for code in ["V11", "V12", "V13", "V14", "V15", "V16"] {
        let f = finding(&e, code);
        assert_eq!((f.severity, f.band.as_str()), (Severity::Info, "not checked"), "{f:?}");
    }
    assert!(e.knock_outs.is_empty() && e.refer_flags.is_empty(), "{e:?}");
}

#[test]
fn v10_tax_burden_far_below_the_industry_median_knocks_out() {
    let paid = |yuan: i64| {
        with(|p| {
            if let Some(t) = p.tax.as_mut() {
                t.tax_paid_12m = Some(cny(yuan));
            }
        })
    };
    // 25,000 / 2,550,000 = 0.98%: 0.49x the 2% median, warning -> F02.
    assert_eq!(judged(&paid(25_000), "V10"), (Severity::Warning, false, true));
    // 12,000: 0.24x, critical -> K10.
    let (sev, k10, _) = judged(&paid(12_000), "V10");
    assert_eq!((sev, k10), (Severity::Critical, true));
    let e = decide(&paid(12_000));
    let v10 = finding(&e, "V10");
    assert_eq!(figure_amount(v10, "tax_paid_12m"), cny(12_000).0);
    assert_eq!(figure_amount(v10, "reported_revenue_12m"), cny(2_550_000).0);
    // The longest listed prefix sets the median: C (manufacturing) 3%.
    let factory = with(|p| p.industry_code = "C3360".to_owned());
    assert_eq!(
        figure_number(finding(&decide(&factory), "V10"), "industry_median"),
        0.03
    );
}

fn insured(n: u32) -> EnterpriseProfile {
    with(|p| {
        p.social_insurance = Some(SocialInsurance {
            as_of: date!(2026 - 06 - 10),
            lineage: Lineage::default(),
            insured_employees: n,
        })
    })
}

#[test]
fn v11_declared_headcount_against_social_insurance() {
    // 25 declared.
    assert_eq!(judged(&insured(25), "V11"), (Severity::Info, false, false));
    assert_eq!(judged(&insured(15), "V11"), (Severity::Warning, false, true));
    assert_eq!(judged(&insured(10), "V11").0, Severity::Critical);
    assert!(judged(&insured(10), "V11").1, "2.5x knocks out");
    // Nobody insured counts as one: 25x.
    let e = decide(&insured(0));
    let v11 = finding(&e, "V11");
    assert_eq!((v11.severity, v11.ratio), (Severity::Critical, 25.0));
    assert_eq!(figure_number(v11, "insured_employees"), 0.0);
}

#[test]
fn v08_stale_social_insurance_refers_f05() {
    let mut p = insured(25);
    if let Some(s) = p.social_insurance.as_mut() {
        s.as_of = date!(2026 - 01 - 01);
    }
    let e = decide(&p);
    assert!(
        e.verification
            .iter()
            .any(|f| f.code == "V08" && f.check == "data_age_social_insurance"),
        "{:?}",
        e.verification
    );
}

fn issued(last_three: [i64; 3]) -> EnterpriseProfile {
    with(|p| {
        if let Some(i) = p.invoices.as_mut() {
            i.monthly_issued = [200_000; 6].into_iter().chain(last_three).map(cny).collect();
        }
    })
}

#[test]
fn v12_invoice_spike_against_the_trailing_average() {
    assert_eq!(
        judged(&issued([210_000, 250_000, 590_000]), "V12"),
        (Severity::Info, false, false)
    );
    // 700,000 / 200,000 = 3.5x: warning.
    assert_eq!(judged(&issued([200_000, 700_000, 200_000]), "V12").0, Severity::Warning);
    // 1,100,000 / 200,000 = 5.5x: critical.
    let e = decide(&issued([200_000, 200_000, 1_100_000]));
    let v12 = finding(&e, "V12");
    assert_eq!((v12.severity, v12.ratio), (Severity::Critical, 5.5));
    assert_eq!(figure_amount(v12, "peak_recent_month"), cny(1_100_000).0);
    assert_eq!(figure_amount(v12, "baseline_monthly_average"), cny(200_000).0);
    assert!(e.knock_outs.iter().any(|r| r.code == "K10"));
    // Invoicing from nothing is the top band.
    let dormant = with(|p| {
        if let Some(i) = p.invoices.as_mut() {
            i.monthly_issued = [0; 8].into_iter().chain([300_000]).map(cny).collect();
        }
    });
    assert_eq!(judged(&dormant, "V12").0, Severity::Critical);
    // Eight months are not enough for 3 + 6.
    let short = with(|p| {
        if let Some(i) = p.invoices.as_mut() {
            i.monthly_issued = vec![cny(200_000); 8];
        }
    });
    assert_eq!(finding(&decide(&short), "V12").band, "not checked");
}

fn credit_noted(cancelled: i64) -> EnterpriseProfile {
    with(|p| {
        if let Some(i) = p.invoices.as_mut() {
            i.issued_gross_12m = Some(cny(2_700_000));
            i.credit_notes_and_voids_12m = Some(cny(cancelled));
        }
    })
}

#[test]
fn v13_credit_note_and_void_share() {
    assert_eq!(judged(&credit_noted(100_000), "V13"), (Severity::Info, false, false));
    assert_eq!(judged(&credit_noted(200_000), "V13"), (Severity::Warning, false, true));
    let (sev, k10, _) = judged(&credit_noted(300_000), "V13");
    assert_eq!((sev, k10), (Severity::Critical, true));
}

fn top_buyer(yuan: i64, related: bool) -> EnterpriseProfile {
    with(|p| {
        if let Some(i) = p.invoices.as_mut() {
            i.top_buyer_sales_12m = Some(cny(yuan));
            i.top_buyer_related_party = related;
        }
    })
}

#[test]
fn v14_customer_concentration_is_one_band_worse_with_a_related_party() {
    // Sales 2,500,000.
    assert_eq!(judged(&top_buyer(750_000, false), "V14").0, Severity::Info);
    assert_eq!(judged(&top_buyer(750_000, true), "V14").0, Severity::Warning);
    assert_eq!(
        judged(&top_buyer(1_250_000, false), "V14"),
        (Severity::Warning, false, true)
    );
    assert_eq!(
        judged(&top_buyer(1_900_000, false), "V14"),
        (Severity::Warning, false, true)
    );
    // Above 70% to a related party: critical, K10.
    let e = decide(&top_buyer(1_900_000, true));
    let v14 = finding(&e, "V14");
    assert_eq!(v14.severity, Severity::Critical);
    assert_eq!(v14.band, "> 70% (related party)");
    assert!(e.knock_outs.iter().any(|r| r.code == "K10"));
}

fn round_trips(yuan: i64) -> EnterpriseProfile {
    with(|p| {
        if let Some(b) = p.bank_flows.as_mut() {
            b.round_trips = Some(RoundTrips {
                same_day_round_trip_amount: cny(yuan),
                counterparties: 2,
            });
        }
    })
}

#[test]
fn v15_round_tripping_share_of_inflows() {
    // Inflows 2,499,996 over 12 months.
    assert_eq!(judged(&round_trips(200_000), "V15"), (Severity::Info, false, false));
    assert_eq!(judged(&round_trips(375_000), "V15"), (Severity::Warning, false, true));
    let e = decide(&round_trips(600_000));
    let v15 = finding(&e, "V15");
    assert_eq!(v15.severity, Severity::Critical);
    assert_eq!(figure_amount(v15, "net_inflows"), cny(2_499_996).0);
    assert_eq!(figure_number(v15, "counterparties"), 2.0);
}

fn new_debt(yuan: i64) -> EnterpriseProfile {
    with(|p| p.credit_history.net_new_debt_12m = Some(cny(yuan)))
}

#[test]
fn v16_financing_hunger_against_operating_cash_flow() {
    // Operating cash flow 300,000.
    assert_eq!(judged(&new_debt(-50_000), "V16"), (Severity::Info, false, false));
    assert_eq!(judged(&new_debt(150_000), "V16"), (Severity::Info, false, false));
    assert_eq!(judged(&new_debt(300_000), "V16"), (Severity::Warning, false, true));
    let (sev, k10, _) = judged(&new_debt(400_000), "V16");
    assert_eq!((sev, k10), (Severity::Critical, true));
    // Debt growing with no operating cash: top band.
    let mut p = new_debt(10_000);
    p.financials.operating_cash_flow = cny(0);
    assert_eq!(finding(&decide(&p), "V16").severity, Severity::Critical);
}

#[test]
fn the_evaluation_keeps_the_sources_and_their_lineage() {
    let mut p = insured(25);
    if let Some(t) = p.tax.as_mut() {
        t.lineage = Lineage {
            source: "bank-tax platform".to_owned(),
            fetched_at_ms: Some(1_781_500_000_000),
            authorisation_ref: None,
        };
    }
    p.credit_history.lineage = Lineage {
        source: "PBOC credit reference center".to_owned(),
        fetched_at_ms: Some(1_781_900_000_000),
        authorisation_ref: Some("CONSENT-2026-0001".to_owned()),
    };
    let e = decide(&p);
    let names: Vec<&str> = e.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "financials",
            "tax",
            "invoices",
            "bank_flows",
            "social_insurance",
            "credit_report",
            "legal"
        ]
    );
    let tax = &e.sources[1];
    assert_eq!(
        (tax.as_of, tax.lineage.source.as_str()),
        (date!(2026 - 06 - 15), "bank-tax platform")
    );
    let bureau = &e.sources[5];
    assert_eq!(bureau.lineage.authorisation_ref.as_deref(), Some("CONSENT-2026-0001"));
    assert_eq!(bureau.lineage.fetched_at_ms, Some(1_781_900_000_000));
}

#[test]
fn records_without_sources_or_lineage_still_read() {
    let e = decide(&worked_example_profile());
    let mut json = serde_json::to_value(&e).expect("serialises");
    json.as_object_mut().expect("object").remove("sources");
    let old: Evaluation = serde_json::from_value(json).expect("an old record reads");
    assert!(old.sources.is_empty());
    // A profile stored before lineage and the new source fields reads, and is written the same.
    let p = worked_example_profile();
    let text = serde_json::to_string(&p).expect("serialises");
    assert!(
        !text.contains("lineage") && !text.contains("social_insurance"),
        "{text}"
    );
    let back: EnterpriseProfile = serde_json::from_str(&text).expect("reads");
    assert_eq!(back, p);
}

fn refused(key: &str, value: &str, field: &str) {
    let text = default_policy_with(key, value).unwrap_or_else(|| panic!("{key} set once"));
    let err = Policy::from_toml(&text).expect_err("refused");
    assert!(err.0.iter().any(|e| e.field == field), "{field} not in {:?}", err.0);
}

#[test]
fn bad_cross_check_settings_are_refused_naming_the_field() {
    refused("default_median", "0.0", "verification.tax_burden.default_median");
    refused("default_median", "1.5", "verification.tax_burden.default_median");
    refused("recent_months", "0", "verification.invoice_spike.recent_months");
    refused("baseline_months", "10", "verification.invoice_spike.baseline_months");
    refused("social_insurance", "0", "refer.max_data_age_days.social_insurance");
    let text = policy_text().replace(
        "{ industry = \"C\", median = 0.030 }",
        "{ industry = \"C\", median = -0.03 }",
    );
    let err = Policy::from_toml(&text).expect_err("refused");
    assert!(
        err.0
            .iter()
            .any(|e| e.field == "verification.tax_burden.medians[2].median"),
        "{:?}",
        err.0
    );
    let text = policy_text().replace("{ industry = \"G\",", "{ industry = \"g1\",");
    let err = Policy::from_toml(&text).expect_err("refused");
    assert!(
        err.0
            .iter()
            .any(|e| e.field == "verification.tax_burden.medians[5].industry"),
        "{:?}",
        err.0
    );
    let text = policy_text().replace(
        "{ at_most = 0.10, severity = \"warning\", label = \"[5%, 10%]\" }",
        "{ at_most = 0.01, severity = \"warning\", label = \"[5%, 10%]\" }",
    );
    let err = Policy::from_toml(&text).expect_err("bands out of order");
    assert!(
        err.0
            .iter()
            .any(|e| e.field.starts_with("verification.credit_note_share.bands")),
        "{:?}",
        err.0
    );
}

fn policy_text() -> String {
    riskdecision_core::policy::DEFAULT_POLICY_TOML.to_owned()
}

fn threshold_number(f: &[riskdecision_core::domain::Figure], name: &str) -> Option<f64> {
    match f.iter().find(|x| x.name == name).map(|x| &x.value) {
        Some(FigureValue::Number(x)) => Some(*x),
        _ => None,
    }
}

#[test]
fn findings_and_the_flags_they_raise_show_the_band_edges_they_were_judged_by() {
    // 15 insured of 25 declared: 0.6, in the default policy's warning band of V11.
    let e = decide(&insured(15));
    let v11 = finding(&e, "V11");
    assert_eq!(v11.severity, Severity::Warning, "{v11:?}");
    let from = threshold_number(&v11.thresholds, "band_from").or(threshold_number(&v11.thresholds, "band_above"));
    let to = threshold_number(&v11.thresholds, "band_below").or(threshold_number(&v11.thresholds, "band_at_most"));
    let (Some(from), Some(to)) = (from, to) else {
        panic!("V11 shows no band edges: {:?}", v11.thresholds)
    };
    assert!(from <= v11.ratio && v11.ratio <= to, "{from} <= {} <= {to}", v11.ratio);
    let f02 = e.refer_flags.iter().find(|r| r.code == "F02").expect("F02 raised");
    assert_eq!(
        f02.thresholds, v11.thresholds,
        "the flag shows the finding's thresholds"
    );

    // A count compared with a policy limit shows the limit by its field name.
    let e = decide(&with(|p| p.credit_history.inquiries_6m = 9));
    let v07 = finding(&e, "V07");
    assert_eq!(threshold_number(&v07.thresholds, "inquiries_refer_above"), Some(4.0));
}
