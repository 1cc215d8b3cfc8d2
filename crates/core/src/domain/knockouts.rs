//! Knock-out rules and refer flags (docs/DOMAIN.md 6). Every rule is evaluated (no short
//! circuit) so that a decline lists all of its causes, in code order.

use super::Reason;
use super::application::LoanApplication;
use super::features::{Features, completed_months};
use super::profile::{EnterpriseProfile, RegistryStatus};
use super::rulebook::{Policy, ProductPolicy};
use super::verification::Finding;
use super::vocabulary::{IndustryClass, Severity};

/// Facts from later pipeline steps that some rules need.
pub struct RuleInputs<'a> {
    pub profile: &'a EnterpriseProfile,
    pub application: &'a LoanApplication,
    pub features: &'a Features,
    pub product: &'a ProductPolicy,
    pub findings: &'a [Finding],
    /// Coverage of all debt service including the new loan at the offered amount.
    pub dscr_after: f64,
}

fn reason(policy: &Policy, code: &str, detail: String) -> Reason {
    let mut r = Reason::coded(code, &policy.message(code));
    if !detail.is_empty() {
        r.message = format!("{} ({detail})", r.message);
    }
    r
}

/// Every knock-out that applies, in code order.
pub fn knock_outs(policy: &Policy, input: &RuleInputs) -> Vec<Reason> {
    let mut out = Vec::new();
    standing(policy, input, &mut out);
    conduct(policy, input, &mut out);
    industry_and_checks(policy, input, &mut out);
    leverage_and_exposure(policy, input, &mut out);
    out
}

/// K02 registry status, K03 years in business, K04 tax rating.
fn standing(policy: &Policy, input: &RuleInputs, out: &mut Vec<Reason>) {
    let k = &policy.knockouts;
    let p = input.profile;
    let f = input.features;
    if p.registry_status != RegistryStatus::Active {
        out.push(reason(policy, "K02", format!("{:?}", p.registry_status).to_lowercase()));
    }
    let min_years = input.product.min_years_in_business.unwrap_or(k.min_years_in_business);
    if f.years_in_business < min_years {
        out.push(reason(
            policy,
            "K03",
            format!("{} completed years, minimum {min_years}", f.years_in_business),
        ));
    }
    if let Some(rating) = f.tax_rating {
        let unsecured_ko = !input.application.is_secured() && k.unsecured_knockout_tax_ratings.contains(&rating);
        if k.knockout_tax_ratings.contains(&rating) || unsecured_ko {
            out.push(reason(policy, "K04", format!("rating {}", rating.as_str())));
        }
    }
}

/// K05 dishonest judgment debtors and enforcement, K06 current arrears, K07 past defaults.
fn conduct(policy: &Policy, input: &RuleInputs, out: &mut Vec<Reason>) {
    let k = &policy.knockouts;
    let p = input.profile;
    let f = input.features;
    let enforcement_share = if f.net_assets.0 > 0 {
        p.legal.unsettled_enforcement.0 as f64 / f.net_assets.0 as f64
    } else if p.legal.unsettled_enforcement.0 > 0 {
        f64::INFINITY
    } else {
        0.0
    };
    let listed = (
        p.legal.dishonest_judgment_debtor,
        p.controller.dishonest_judgment_debtor,
    );
    if listed.0 || listed.1 || enforcement_share > k.max_enforcement_to_net_assets {
        let who = match listed {
            (true, true) => "enterprise and actual controller listed",
            (true, false) => "enterprise listed",
            (false, true) => "actual controller listed",
            (false, false) => "unsettled enforcement",
        };
        out.push(reason(policy, "K05", who.to_owned()));
    }
    let dpd = p.credit_history.current_days_past_due;
    let technical_ok = p.credit_history.current_overdue_technical && dpd <= k.max_technical_current_dpd;
    if dpd > 0 && !technical_ok {
        out.push(reason(policy, "K06", format!("{dpd} days past due")));
    }
    if p.credit_history.max_days_past_due_24m >= k.knockout_max_dpd_24m
        || p.credit_history.npl_classified_24m
        || p.controller.credit_standing == super::profile::ControllerCredit::Defaulted90PlusDpd
    {
        out.push(reason(policy, "K07", String::new()));
    }
}

/// K08 prohibited industry, K09 sanctions, K10 critical cross-checks, K11 debt service cover.
fn industry_and_checks(policy: &Policy, input: &RuleInputs, out: &mut Vec<Reason>) {
    let p = input.profile;
    if input.features.industry_class == IndustryClass::Prohibited {
        out.push(reason(policy, "K08", p.industry_code.clone()));
    }
    if p.legal.sanctions_hit {
        out.push(reason(policy, "K09", String::new()));
    }
    let critical: Vec<&str> = input
        .findings
        .iter()
        .filter(|x| x.severity == Severity::Critical)
        .map(|x| x.code.as_str())
        .collect();
    if !critical.is_empty() {
        out.push(reason(policy, "K10", format!("checks {}", critical.join(", "))));
    }
    if input.dscr_after < policy.knockouts.min_dscr {
        out.push(reason(policy, "K11", format!("DSCR {:.2}", input.dscr_after)));
    }
}

/// K12 debt to assets, K13 external guarantees, K14 group exposure, K15 controller's age.
fn leverage_and_exposure(policy: &Policy, input: &RuleInputs, out: &mut Vec<Reason>) {
    let k = &policy.knockouts;
    let p = input.profile;
    let f = input.features;
    if f.debt_to_assets > k.max_debt_to_assets {
        out.push(reason(policy, "K12", format!("{:.1}%", f.debt_to_assets * 100.0)));
    }
    let guarantees = p.financials.external_guarantees;
    let guarantee_ko = if f.net_assets.0 > 0 {
        guarantees.0 as f64 > k.max_guarantees_to_net_assets * f.net_assets.0 as f64
    } else {
        guarantees.0 > 0
    };
    if guarantee_ko {
        out.push(reason(policy, "K13", String::new()));
    }
    let exposure_after = input
        .application
        .existing_group_exposure
        .saturating_add(input.application.requested_amount);
    if exposure_after > k.max_group_exposure {
        out.push(reason(policy, "K14", format!("{exposure_after}")));
    }
    let age = p.controller.age;
    if age < k.controller_min_age || age > k.controller_max_age {
        out.push(reason(policy, "K15", format!("age {age}")));
    }
}

/// Refer flags, deduplicated by code, in code order.
pub fn refer_flags(policy: &Policy, input: &RuleInputs) -> Vec<Reason> {
    let r = &policy.refer;
    let p = input.profile;
    let mut out: Vec<Reason> = Vec::new();
    let mut add = |code: &str, detail: String| {
        if let Some(existing) = out.iter_mut().find(|x| x.code == code) {
            if !detail.is_empty() {
                existing.message = format!("{}; {detail}", existing.message);
            }
        } else {
            out.push(reason(policy, code, detail));
        }
    };

    if p.uscc_checksum_mismatch {
        add("F01", String::new());
    }
    let network = &p.guarantee_network;
    if network.mutual_guarantee || network.circle_size >= r.circle_refer_at {
        add("F03", format!("circle of {}", network.circle_size.max(2)));
    }
    if input.dscr_after >= policy.knockouts.min_dscr && input.dscr_after < r.dscr_refer_below {
        add("F04", format!("DSCR {:.2}", input.dscr_after));
    }
    if let Some(changed) = p.controller.changed_on
        && completed_months(changed, input.features.evaluation_date) < r.controller_change_months
    {
        add("F06", String::new());
    }
    for finding in input.findings.iter().filter(|x| x.severity == Severity::Warning) {
        add(&finding.refer_flag, finding.check.clone());
    }
    out.sort_by(|a, b| a.code.cmp(&b.code));
    out
}
