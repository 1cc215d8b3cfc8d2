//! Knock-out rules and refer flags (docs/DOMAIN.md 6). Every rule is evaluated (no short
//! circuit) so that a decline lists all of its causes, in code order.

use super::application::LoanApplication;
use super::features::{Features, completed_months};
use super::figure::Figure;
use super::profile::{ControllerCredit, EnterpriseProfile, RegistryStatus, TaxRating};
use super::rulebook::{Policy, ProductPolicy};
use super::security;
use super::verification::Finding;
use super::vocabulary::{IndustryClass, Severity};
use super::{Amount, Reason};

/// Facts from later pipeline steps that some rules need.
pub struct RuleInputs<'a> {
    pub profile: &'a EnterpriseProfile,
    pub application: &'a LoanApplication,
    pub features: &'a Features,
    pub product: &'a ProductPolicy,
    pub findings: &'a [Finding],
    /// Coverage of all debt service including the new loan at the offered amount.
    pub dscr_after: f64,
    /// Existing debt service plus the new loan's annual payment at the offered amount.
    pub debt_service_after: Amount,
}

fn reason(policy: &Policy, code: &str, detail: String) -> Reason {
    let mut r = Reason::coded(code, &policy.message(code));
    if !detail.is_empty() {
        r.message = format!("{} ({detail})", r.message);
    }
    r
}

/// A reason with the figures it compared and the policy thresholds.
fn shown(policy: &Policy, code: &str, detail: String, figures: Vec<Figure>, thresholds: Vec<Figure>) -> Reason {
    reason(policy, code, detail).with_figures(figures, thresholds)
}

fn ratings_text(ratings: &[TaxRating]) -> String {
    ratings.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}

fn count(n: u32) -> f64 {
    f64::from(n)
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
        let status = format!("{:?}", p.registry_status).to_lowercase();
        let figures = vec![Figure::text("registry_status", status.clone())];
        out.push(shown(
            policy,
            "K02",
            status,
            figures,
            vec![Figure::text("required_status", "active")],
        ));
    }
    let min_years = input.product.min_years_in_business.unwrap_or(k.min_years_in_business);
    if f.years_in_business < min_years {
        out.push(shown(
            policy,
            "K03",
            String::new(),
            vec![Figure::number("years_in_business", count(f.years_in_business))],
            vec![Figure::number("min_years_in_business", count(min_years))],
        ));
    }
    if let Some(rating) = f.tax_rating {
        tax_rating_knock_out(policy, input, rating, out);
    }
}

/// K04: a rating that always knocks out, or one that knocks out an unsecured loan. Secured is
/// judged by coverage after haircuts, not by the collateral list being non-empty.
fn tax_rating_knock_out(policy: &Policy, input: &RuleInputs, rating: TaxRating, out: &mut Vec<Reason>) {
    let k = &policy.knockouts;
    let on = input.features.evaluation_date;
    let coverage = security::coverage(policy, input.application, on);
    let secured = security::is_secured(policy, input.application, on);
    let unsecured_ko = !secured && k.unsecured_knockout_tax_ratings.contains(&rating);
    if k.knockout_tax_ratings.contains(&rating) || unsecured_ko {
        let detail = if unsecured_ko && !k.knockout_tax_ratings.contains(&rating) {
            format!("rating {}, unsecured", rating.as_str())
        } else {
            format!("rating {}", rating.as_str())
        };
        out.push(shown(
            policy,
            "K04",
            detail,
            vec![
                Figure::text("tax_rating", rating.as_str()),
                Figure::number("collateral_coverage", coverage),
            ],
            vec![
                Figure::text("knockout_tax_ratings", ratings_text(&k.knockout_tax_ratings)),
                Figure::text(
                    "unsecured_knockout_tax_ratings",
                    ratings_text(&k.unsecured_knockout_tax_ratings),
                ),
                Figure::number("secured_min_coverage", policy.limits.secured_min_coverage),
            ],
        ));
    }
}

/// K05 dishonest judgment debtors and enforcement, K06 current arrears, K07 past defaults.
fn conduct(policy: &Policy, input: &RuleInputs, out: &mut Vec<Reason>) {
    dishonest_or_enforced(policy, input, out);
    let k = &policy.knockouts;
    let p = input.profile;
    let dpd = p.credit_history.current_days_past_due;
    let technical = p.credit_history.current_overdue_technical;
    let technical_ok = technical && dpd <= k.max_technical_current_dpd;
    if dpd > 0 && !technical_ok {
        out.push(shown(
            policy,
            "K06",
            format!("{dpd} days past due"),
            vec![
                Figure::number("current_days_past_due", count(dpd)),
                Figure::text("technical", technical.to_string()),
            ],
            vec![Figure::number(
                "max_technical_current_dpd",
                count(k.max_technical_current_dpd),
            )],
        ));
    }
    past_default(policy, input, out);
}

/// K05: the enterprise or its controller on the dishonest-debtor list, or unsettled enforcement
/// above the policy's share of net assets.
fn dishonest_or_enforced(policy: &Policy, input: &RuleInputs, out: &mut Vec<Reason>) {
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
        out.push(shown(
            policy,
            "K05",
            who.to_owned(),
            vec![
                Figure::text("enterprise_dishonest_judgment_debtor", listed.0.to_string()),
                Figure::text("controller_dishonest_judgment_debtor", listed.1.to_string()),
                Figure::amount("unsettled_enforcement", p.legal.unsettled_enforcement),
                Figure::amount("net_assets", f.net_assets),
                Figure::number("enforcement_to_net_assets", enforcement_share),
            ],
            vec![Figure::number(
                "max_enforcement_to_net_assets",
                k.max_enforcement_to_net_assets,
            )],
        ));
    }
}

/// K07: which of the past-default triggers fired (worst delay in 24 months, a non-performing
/// classification, the controller in default).
fn past_default(policy: &Policy, input: &RuleInputs, out: &mut Vec<Reason>) {
    let k = &policy.knockouts;
    let p = input.profile;
    let max_dpd = p.credit_history.max_days_past_due_24m;
    let mut triggers = Vec::new();
    if max_dpd >= k.knockout_max_dpd_24m {
        triggers.push("max_dpd_24m");
    }
    if p.credit_history.npl_classified_24m {
        triggers.push("npl_classified_24m");
    }
    if p.controller.credit_standing == ControllerCredit::Defaulted90PlusDpd {
        triggers.push("controller_defaulted");
    }
    if !triggers.is_empty() {
        let list = triggers.join(", ");
        out.push(shown(
            policy,
            "K07",
            list.clone(),
            vec![
                Figure::text("trigger", list),
                Figure::number("max_days_past_due_24m", count(max_dpd)),
                Figure::text("npl_classified_24m", p.credit_history.npl_classified_24m.to_string()),
                Figure::text("controller_credit", p.controller.credit_standing.as_str()),
            ],
            vec![Figure::number("knockout_max_dpd_24m", count(k.knockout_max_dpd_24m))],
        ));
    }
}

/// K08 prohibited industry, K09 sanctions, K10 critical cross-checks, K11 debt service cover.
fn industry_and_checks(policy: &Policy, input: &RuleInputs, out: &mut Vec<Reason>) {
    let p = input.profile;
    if input.features.industry_class == IndustryClass::Prohibited {
        out.push(shown(
            policy,
            "K08",
            p.industry_code.clone(),
            vec![Figure::text("industry_code", p.industry_code.clone())],
            vec![Figure::text("industry_class", IndustryClass::Prohibited.as_str())],
        ));
    }
    if p.legal.sanctions_hit {
        out.push(shown(
            policy,
            "K09",
            String::new(),
            vec![Figure::text("sanctions_hit", "true")],
            Vec::new(),
        ));
    }
    let critical: Vec<&Finding> = input
        .findings
        .iter()
        .filter(|x| x.severity == Severity::Critical)
        .collect();
    if !critical.is_empty() {
        let codes: Vec<&str> = critical.iter().map(|x| x.code.as_str()).collect();
        // The findings carry their own figures; K10 shows which checks and their ratios.
        let figures = critical.iter().map(|x| Figure::number(&x.check, x.ratio)).collect();
        let thresholds = critical
            .iter()
            .map(|x| Figure::text(&x.check, x.band.clone()))
            .collect();
        out.push(shown(
            policy,
            "K10",
            format!("checks {}", codes.join(", ")),
            figures,
            thresholds,
        ));
    }
    if input.dscr_after < policy.knockouts.min_dscr {
        out.push(shown(
            policy,
            "K11",
            String::new(),
            dscr_figures(input),
            vec![Figure::number("min_dscr", policy.knockouts.min_dscr)],
        ));
    }
}

/// CFADS, the debt service with the new loan and the coverage they give.
fn dscr_figures(input: &RuleInputs) -> Vec<Figure> {
    vec![
        Figure::amount("cfads", input.features.cfads),
        Figure::amount("existing_debt_service", input.features.existing_debt_service),
        Figure::amount("debt_service_after", input.debt_service_after),
        Figure::number("dscr_after", input.dscr_after),
    ]
}

/// K12 debt to assets, K13 external guarantees, K14 group exposure, K15 controller's age.
fn leverage_and_exposure(policy: &Policy, input: &RuleInputs, out: &mut Vec<Reason>) {
    let k = &policy.knockouts;
    let p = input.profile;
    let f = input.features;
    if f.debt_to_assets > k.max_debt_to_assets {
        out.push(shown(
            policy,
            "K12",
            String::new(),
            vec![
                Figure::amount("total_liabilities", p.financials.total_liabilities),
                Figure::amount("total_assets", p.financials.total_assets),
                Figure::number("debt_to_assets", f.debt_to_assets),
            ],
            vec![Figure::number("max_debt_to_assets", k.max_debt_to_assets)],
        ));
    }
    external_guarantees(policy, input, out);
    let exposure_after = input
        .application
        .existing_group_exposure
        .saturating_add(input.application.requested_amount);
    if exposure_after > k.max_group_exposure {
        out.push(shown(
            policy,
            "K14",
            String::new(),
            vec![
                Figure::amount("existing_group_exposure", input.application.existing_group_exposure),
                Figure::amount("requested_amount", input.application.requested_amount),
                Figure::amount("group_exposure_after", exposure_after),
            ],
            vec![Figure::amount("max_group_exposure", k.max_group_exposure)],
        ));
    }
    let age = p.controller.age;
    if age < k.controller_min_age || age > k.controller_max_age {
        out.push(shown(
            policy,
            "K15",
            String::new(),
            vec![Figure::number("controller_age", count(age))],
            vec![
                Figure::number("controller_min_age", count(k.controller_min_age)),
                Figure::number("controller_max_age", count(k.controller_max_age)),
            ],
        ));
    }
}

/// K13: external guarantees against net assets (any guarantee knocks out without net assets).
fn external_guarantees(policy: &Policy, input: &RuleInputs, out: &mut Vec<Reason>) {
    let k = &policy.knockouts;
    let f = input.features;
    let guarantees = input.profile.financials.external_guarantees;
    let guarantee_ko = if f.net_assets.0 > 0 {
        guarantees.0 as f64 > k.max_guarantees_to_net_assets * f.net_assets.0 as f64
    } else {
        guarantees.0 > 0
    };
    if guarantee_ko {
        let ratio = if f.net_assets.0 > 0 {
            guarantees.0 as f64 / f.net_assets.0 as f64
        } else {
            f64::INFINITY
        };
        out.push(shown(
            policy,
            "K13",
            String::new(),
            vec![
                Figure::amount("external_guarantees", guarantees),
                Figure::amount("net_assets", f.net_assets),
                Figure::number("guarantees_to_net_assets", ratio),
            ],
            vec![Figure::number(
                "max_guarantees_to_net_assets",
                k.max_guarantees_to_net_assets,
            )],
        ));
    }
}

/// Refer flags, deduplicated by code (a repeated code adds its detail and figures), in code order.
pub fn refer_flags(policy: &Policy, input: &RuleInputs) -> Vec<Reason> {
    let mut out: Vec<Reason> = Vec::new();
    let mut add = |flag: Reason| {
        if let Some(existing) = out.iter_mut().find(|x| x.code == flag.code) {
            let base = policy.message(&flag.code);
            if let Some(detail) = flag.message.strip_prefix(&base).filter(|d| !d.is_empty()) {
                let detail = detail.trim_start_matches(" (").trim_end_matches(')');
                existing.message = format!("{}; {detail}", existing.message);
            }
            existing.figures.extend(flag.figures);
            existing.thresholds.extend(flag.thresholds);
        } else {
            out.push(flag);
        }
    };
    if input.profile.uscc_checksum_mismatch {
        add(shown(
            policy,
            "F01",
            String::new(),
            vec![Figure::text("uscc", input.profile.enterprise_id.as_str())],
            Vec::new(),
        ));
    }
    profile_flags(policy, input, &mut add);
    for finding in input.findings.iter().filter(|x| x.severity == Severity::Warning) {
        add(shown(
            policy,
            &finding.refer_flag,
            finding.check.clone(),
            finding.figures.clone(),
            finding.thresholds.clone(),
        ));
    }
    out.sort_by(|a, b| a.code.cmp(&b.code));
    out
}

/// F03 guarantee circle, F04 thin debt service cover, F06 new controller, F08 no verified revenue.
fn profile_flags(policy: &Policy, input: &RuleInputs, add: &mut impl FnMut(Reason)) {
    let r = &policy.refer;
    let p = input.profile;
    let network = &p.guarantee_network;
    // A mutual pair is a circle of two: either encoding (the flag or the size) refers.
    if network.mutual_guarantee || network.circle_size == 2 || network.circle_size >= r.circle_refer_at {
        add(shown(
            policy,
            "F03",
            format!("circle of {}", network.circle_size.max(2)),
            vec![
                Figure::text("mutual_guarantee", network.mutual_guarantee.to_string()),
                Figure::number("circle_size", count(network.circle_size)),
            ],
            vec![Figure::number("circle_refer_at", count(r.circle_refer_at))],
        ));
    }
    if input.dscr_after >= policy.knockouts.min_dscr && input.dscr_after < r.dscr_refer_below {
        add(shown(
            policy,
            "F04",
            String::new(),
            dscr_figures(input),
            vec![
                Figure::number("min_dscr", policy.knockouts.min_dscr),
                Figure::number("dscr_refer_below", r.dscr_refer_below),
            ],
        ));
    }
    if let Some(changed) = p.controller.changed_on {
        let months = completed_months(changed, input.features.evaluation_date);
        if months < r.controller_change_months {
            add(shown(
                policy,
                "F06",
                String::new(),
                vec![
                    Figure::text("controller_changed_on", changed.to_string()),
                    Figure::number("months_since_change", count(months)),
                ],
                vec![Figure::number(
                    "controller_change_months",
                    count(r.controller_change_months),
                )],
            ));
        }
    }
    if input.features.verified_revenue.is_none() {
        add(shown(
            policy,
            "F08",
            "no verified revenue: revenue cap not available, collateral only".to_owned(),
            vec![Figure::text("verified_revenue", "not available")],
            vec![Figure::text(
                "verified_revenue_sources",
                policy
                    .verification
                    .verified_revenue_sources
                    .iter()
                    .map(|s| format!("{s:?}").to_lowercase())
                    .collect::<Vec<_>>()
                    .join(", "),
            )],
        ));
    }
}
