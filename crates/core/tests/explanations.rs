//! Issue 12, "Explanations" and the LPR: the base rate is the one in force on the evaluation date,
//! and the evaluation carries what the core computed to reach its answer (the debt service cover,
//! the price build-up, the LGD split, the RAROC inputs and why the authority level is what it is).

mod common;

use common::{
    EVAL_DATE, cny, evaluate, evaluate_with, flag_codes, policy, worked_example_application, worked_example_profile,
};
use riskdecision_core::domain::application::{Collateral, CollateralKind, LoanApplication, Product};
use riskdecision_core::domain::authority::AuthorityStep;
use riskdecision_core::domain::decision::{Outcome, decide};
use riskdecision_core::domain::pricing::base_rate_on;
use riskdecision_core::domain::{Amount, Figure};
use riskdecision_core::policy::{DEFAULT_POLICY_TOML, Policy, PolicyErrors};
use time::macros::date;

/// Entries of `[pricing] base_rates` as the policy file writes them: (effective_from, 1-year
/// bps, 5-year bps).
fn rates(entries: &[(&str, i64, i64)]) -> String {
    entries
        .iter()
        .map(|(from, one, five)| {
            format!("{{ effective_from = {from:?}, one_year_bps = {one}, five_year_bps = {five} }}")
        })
        .collect::<Vec<_>>()
        .join(",\n")
}

/// The default policy with its LPR series replaced by `entries` (TOML inline tables).
fn with_base_rates(entries: &str) -> Result<Policy, PolicyErrors> {
    let start = DEFAULT_POLICY_TOML
        .find("base_rates = [")
        .expect("series in the policy");
    let end = start + DEFAULT_POLICY_TOML[start..].find("]\n").expect("series ends") + 2;
    let text = format!(
        "{}base_rates = [{entries}]\n{}",
        &DEFAULT_POLICY_TOML[..start],
        &DEFAULT_POLICY_TOML[end..]
    );
    Policy::from_toml(&text)
}

fn working_capital(amount: i64) -> LoanApplication {
    let mut app = worked_example_application();
    app.product = Product::WorkingCapital;
    app.requested_amount = cny(amount);
    app
}

fn error_fields(err: &PolicyErrors) -> Vec<&str> {
    err.0.iter().map(|e| e.field.as_str()).collect()
}

// ------------------------------------------------------------------------------------------------
// The LPR as a dated series.

#[test]
fn the_rate_in_force_on_the_evaluation_date_prices_the_loan() {
    let policy = with_base_rates(&rates(&[("2026-01-01", 310, 360), ("2026-06-30", 300, 350)])).expect("valid series");
    let app = working_capital(300_000);
    let profile = worked_example_profile();
    let before = decide(&app, &profile, &policy, date!(2026 - 06 - 29)).expect("decided");
    let after = decide(&app, &profile, &policy, EVAL_DATE).expect("decided");
    // G5 spread 70, 12 months: no tenor premium.
    assert_eq!((before.outcome, before.interest_rate_bps), (Outcome::Approve, 380));
    assert_eq!((after.outcome, after.interest_rate_bps), (Outcome::Approve, 370));
    let price = before.price.expect("priced");
    assert_eq!(
        (
            price.base_rate_name.as_str(),
            price.base_rate_bps,
            price.base_rate_effective_from
        ),
        ("LPR 1Y", 310, Some(date!(2026 - 01 - 01)))
    );
    assert_eq!(
        after.price.expect("priced").base_rate_effective_from,
        Some(date!(2026 - 06 - 30))
    );
}

#[test]
fn terms_above_five_years_price_off_the_five_year_rate() {
    let policy = policy();
    let one = base_rate_on(&policy, EVAL_DATE, 60).expect("in force");
    let five = base_rate_on(&policy, EVAL_DATE, 61).expect("in force");
    assert_eq!((one.name.as_str(), one.bps), ("LPR 1Y", 300));
    assert_eq!((five.name.as_str(), five.bps), ("LPR 5Y", 350));
    assert_eq!(five.effective_from, date!(2025 - 05 - 20));
    // The series of the default policy: 3.10% from 2024-10-21 until 2025-05-19.
    let earlier = base_rate_on(&policy, date!(2025 - 05 - 19), 12).expect("in force");
    assert_eq!((earlier.bps, earlier.effective_from), (310, date!(2024 - 10 - 21)));
}

#[test]
fn before_the_first_rate_the_decision_is_referred_to_be_priced_by_a_person() {
    let policy = with_base_rates(&rates(&[("2026-07-01", 300, 350)])).expect("valid series");
    let e = evaluate_with(&working_capital(300_000), &worked_example_profile(), &policy);
    assert_eq!(e.outcome, Outcome::Refer);
    assert_eq!(flag_codes(&e), vec!["P02"]);
    assert_eq!((e.price.as_ref(), e.interest_rate_bps), (None, 0));
    let flag = &e.refer_flags[0];
    assert_eq!(flag.figures, vec![Figure::text("evaluation_date", "2026-06-30")]);
    assert_eq!(
        flag.thresholds,
        vec![Figure::text("base_rates[0].effective_from", "2026-07-01")]
    );
    // Capacity is still sized, conservatively, at the highest rate the policy charges (the
    // series' highest base rate plus the widest spread, 12 months: no premium): a person decides.
    let widest = policy
        .grades
        .iter()
        .filter_map(|g| g.spread_bps)
        .max()
        .expect("priced grades");
    let cover = e.debt_service.as_ref().expect("debt service cover");
    assert_eq!(cover.capacity_rate_bps, 300 + widest);
    assert_eq!(e.approved_amount, cny(300_000));
    assert_eq!(
        e.required_authority, "L1",
        "a refer flag needs a person: not straight-through"
    );
}

#[test]
fn a_bad_series_is_refused_naming_the_entry() {
    let empty = with_base_rates("").expect_err("empty");
    assert!(error_fields(&empty).contains(&"pricing.base_rates"), "{empty:?}");

    let unsorted =
        with_base_rates(&rates(&[("2025-05-20", 300, 350), ("2024-10-21", 310, 360)])).expect_err("unsorted");
    assert!(
        error_fields(&unsorted).contains(&"pricing.base_rates[1].effective_from"),
        "{unsorted:?}"
    );

    let duplicate =
        with_base_rates(&rates(&[("2025-05-20", 300, 350), ("2025-05-20", 310, 360)])).expect_err("duplicate");
    assert!(
        error_fields(&duplicate).contains(&"pricing.base_rates[1].effective_from"),
        "{duplicate:?}"
    );

    let bad = with_base_rates(&rates(&[("2025-02-30", -1, 60000)])).expect_err("bad date and rates");
    let fields = error_fields(&bad);
    assert!(fields.contains(&"pricing.base_rates[0].effective_from"), "{fields:?}");

    let bad = with_base_rates(&rates(&[("2025-05-20", -1, 60000)])).expect_err("bad rates");
    let fields = error_fields(&bad);
    assert!(fields.contains(&"pricing.base_rates[0].one_year_bps"), "{fields:?}");
    assert!(fields.contains(&"pricing.base_rates[0].five_year_bps"), "{fields:?}");
    assert!(bad.0.iter().all(|e| e.line > 0), "errors carry their line: {bad:?}");

    for value in ["0", "601"] {
        let text = riskdecision_core::policy::default_policy_with("five_year_rate_above_months", value)
            .expect("one line sets it");
        let err = Policy::from_toml(&text).expect_err("out of range");
        assert!(
            error_fields(&err).contains(&"pricing.five_year_rate_above_months"),
            "{err:?}"
        );
    }
}

// ------------------------------------------------------------------------------------------------
// What the answer shows.

#[test]
fn the_worked_example_shows_its_cover_price_lgd_raroc_and_authority() {
    // docs/DOMAIN.md 13: tax loan of 800,000, counter-offer of 360,000 at 3.70%.
    let e = evaluate(&worked_example_application(), &worked_example_profile());
    assert_eq!(e.outcome, Outcome::CounterOffer);

    let cover = e.debt_service.expect("debt service cover");
    assert_eq!(cover.cfads, cny(300_000));
    assert_eq!(cover.existing_debt_service, cny(100_000));
    // 360,000 / AF(3.70%, 36) = 126,967.5x, rounded up to the fen.
    assert_eq!(cover.new_debt_service.0 / 100, 126_967);
    assert_eq!((cover.capacity_rate_bps, cover.notional_tenor_months), (370, 36));
    let service = cover.existing_debt_service.0 + cover.new_debt_service.0;
    assert_eq!(cover.dscr_after, cover.cfads.0 as f64 / service as f64);
    assert_eq!(cover.dscr_after, e.dscr_after);

    let price = e.price.expect("priced");
    assert_eq!(
        (
            price.base_rate_name.as_str(),
            price.base_rate_bps,
            price.base_rate_effective_from
        ),
        ("LPR 1Y", 300, Some(date!(2025 - 05 - 20)))
    );
    assert_eq!(
        (price.spread_bps, price.secured_discount_bps, price.tenor_premium_bps),
        (70, 0, 0)
    );
    assert_eq!(
        price.base_rate_bps + price.spread_bps - price.secured_discount_bps + price.tenor_premium_bps,
        price.rate_bps
    );

    let split = e.lgd_split.expect("lgd split");
    assert_eq!((split.exposure, split.unsecured), (cny(360_000), cny(360_000)));
    assert!(split.secured_parts.is_empty());
    assert_eq!((split.unsecured_lgd_bps, split.lgd_bps), (4500, e.lgd_bps));

    let r = e.raroc_breakdown.expect("raroc inputs");
    assert_eq!((r.rate_bps, r.funding_cost_bps, r.operating_cost_bps), (370, 160, 80));
    assert_eq!((r.master_pd_bps, r.lgd_bps), (e.scorecard.master_pd_bps, 4500));
    assert!((r.expected_loss_bps - r.master_pd_bps as f64 * 0.45).abs() < 1e-9);
    assert!((r.margin_bps - (130.0 - r.expected_loss_bps)).abs() < 1e-9);
    assert!((r.capital_bps - 787.5).abs() < 1e-9, "75% x 10.5%");
    assert_eq!(r.raroc, e.raroc);
    assert!((r.raroc - 0.1205).abs() < 5e-5, "docs/DOMAIN.md 13: 12.05%");
    assert_eq!(r.hurdle, 0.10);

    let basis = e.authority_basis.expect("authority basis");
    assert_eq!((basis.limits_level.as_str(), basis.level.as_str()), ("L0", "L0"));
    assert!(basis.passed_over.is_empty());
    assert_eq!(basis.step, AuthorityStep::None);
}

#[test]
fn the_lgd_split_shows_each_secured_part() {
    let mut app = working_capital(300_000);
    app.collateral = vec![Collateral {
        kind: CollateralKind::CommercialRealEstate,
        appraised_value: cny(400_000),
        lien_rank: 1,
        prior_liens: Amount::ZERO,
        appraised_on: Some(date!(2026 - 05 - 01)),
    }];
    let e = evaluate(&app, &worked_example_profile());
    let split = e.lgd_split.expect("lgd split");
    // 400,000 after the 40% supervisory haircut recognises 240,000 at 20%; 60,000 unsecured at 45%.
    assert_eq!(split.secured_parts.len(), 1);
    let part = &split.secured_parts[0];
    assert_eq!(
        (part.kind, part.recognised_value, part.covered, part.lgd_bps),
        (CollateralKind::CommercialRealEstate, cny(240_000), cny(240_000), 2000)
    );
    assert_eq!(split.unsecured, cny(60_000));
    assert_eq!(split.lgd_bps, 2500);
    assert_eq!(e.lgd_bps, 2500);
}

#[test]
fn the_authority_basis_names_the_limits_that_set_the_level() {
    let mut app = working_capital(300_000);
    app.existing_group_exposure = cny(4_000_000);
    let e = evaluate(&app, &worked_example_profile());
    assert_eq!(e.required_authority, "L2");
    let basis = e.authority_basis.expect("basis");
    let stopped: Vec<(&str, &str)> = basis
        .passed_over
        .iter()
        .map(|p| (p.level.as_str(), p.limit.as_str()))
        .collect();
    assert_eq!(
        stopped,
        vec![("L0", "max_total_exposure"), ("L1", "max_total_exposure")]
    );
    assert_eq!(
        basis.passed_over[0].figures,
        vec![Figure::amount("total_exposure", cny(4_300_000))]
    );
    assert_eq!(
        basis.passed_over[0].thresholds,
        vec![Figure::amount("max_total_exposure", cny(3_000_000))]
    );
    assert_eq!(basis.step, AuthorityStep::None);
}

#[test]
fn a_pricing_exception_shows_its_figures_and_the_step_up() {
    let mut strict = policy();
    strict.pricing.raroc_hurdle = 0.125;
    let e = evaluate_with(&working_capital(300_000), &worked_example_profile(), &strict);
    assert_eq!(flag_codes(&e), vec!["P01"]);
    let flag = &e.refer_flags[0];
    assert_eq!(flag.figures, vec![Figure::number("raroc", e.raroc)]);
    assert_eq!(flag.thresholds, vec![Figure::number("raroc_hurdle", 0.125)]);
    let basis = e.authority_basis.expect("basis");
    assert_eq!(basis.step, AuthorityStep::PricingExceptionOneUp);
    assert_eq!((basis.limits_level.as_str(), basis.level.as_str()), ("L1", "L2"));
    assert_eq!(basis.passed_over.len(), 1);
    assert_eq!(basis.passed_over[0].limit, "straight_through");
    assert_eq!(
        basis.passed_over[0].figures,
        vec![Figure::text("needs_person", "refer flags P01")]
    );
}

#[test]
fn a_knock_out_goes_to_the_top_level_and_says_so() {
    let mut profile = worked_example_profile();
    profile.tax.as_mut().expect("fixture has tax").credit_rating =
        Some(riskdecision_core::domain::profile::TaxRating::D);
    let e = evaluate(&working_capital(300_000), &profile);
    assert_eq!(e.outcome, Outcome::Decline);
    let basis = e.authority_basis.expect("basis");
    assert_eq!(basis.step, AuthorityStep::KnockOutOverride);
    assert_eq!(basis.level, "L4");
}

#[test]
fn records_written_before_the_explanations_still_read() {
    let e = evaluate(&worked_example_application(), &worked_example_profile());
    let mut json = serde_json::to_value(&e).expect("serialisable");
    let fields = json.as_object_mut().expect("object");
    for key in ["debt_service", "lgd_split", "raroc_breakdown", "authority_basis"] {
        fields.remove(key);
    }
    let price = fields.get_mut("price").and_then(|p| p.as_object_mut()).expect("price");
    price.remove("base_rate_name");
    price.remove("base_rate_effective_from");
    let old: riskdecision_core::domain::Evaluation = serde_json::from_value(json).expect("old record reads");
    assert_eq!(old.debt_service, None);
    assert_eq!(old.price.expect("price").base_rate_effective_from, None);
}

// ------------------------------------------------------------------------------------------------
// The contract's comments and the policy catalogue say what the code does.

/// A file of the repository, by its path from the root.
fn repo_file(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `//` comment lines right above the line that contains `anchor`, joined.
fn comment_above(text: &str, anchor: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains(anchor))
        .unwrap_or_else(|| panic!("{anchor:?} not found"));
    let mut comment: Vec<&str> = lines[..at]
        .iter()
        .rev()
        .take_while(|l| l.trim_start().starts_with("//"))
        .map(|l| l.trim_start().trim_start_matches('/').trim())
        .collect();
    comment.reverse();
    comment.join(" ")
}

#[test]
fn proto_comments_say_what_the_code_does() {
    use riskdecision_core::domain::decision::score_profile;
    use riskdecision_core::policy::Severity;

    // Every refer flag a warning finding raises is named where WARNING is documented: a profile
    // with stale data, no invoices, many new lenders and many inquiries raises all of them.
    let mut profile = worked_example_profile();
    profile.invoices = None;
    profile.credit_history.new_lenders_6m = 5;
    profile.credit_history.inquiries_6m = 10;
    let later = EVAL_DATE + time::Duration::days(400);
    let findings = score_profile(&profile, &policy(), later).verification;
    let mut flags: Vec<&str> = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .map(|f| f.refer_flag.as_str())
        .collect();
    flags.sort_unstable();
    flags.dedup();
    assert_eq!(flags, ["F02", "F05", "F07", "F08"]);
    let common = repo_file("proto/riskdecision/v1/common.proto");
    let warning = comment_above(&common, "FINDING_SEVERITY_WARNING = 2;");
    for flag in flags {
        assert!(
            warning.contains(flag),
            "WARNING's comment does not name {flag}: {warning}"
        );
    }
    let ratio = comment_above(&common, "double ratio = 4;");
    assert!(ratio.contains("age in days"), "V08's ratio is the age in days: {ratio}");
}

#[test]
fn proto_comments_name_the_leading_codes_error_paths_and_signal_thresholds() {
    // The outcomes name every code that leads their reasons (decision.rs `verdict`).
    let decision = repo_file("proto/riskdecision/v1/decision.proto");
    for (outcome, codes) in [
        ("COUNTER_OFFER = 2;", &["L02"][..]),
        ("REFER = 3;", &["P01", "P02", "S02"][..]),
        ("DECLINE = 4;", &["S01", "L01"][..]),
    ] {
        let doc = comment_above(&decision, outcome);
        for code in codes {
            assert!(doc.contains(code), "{outcome} does not name {code}: {doc}");
        }
    }

    // A policy error's field is shown as the loader writes it.
    let policy_proto = repo_file("proto/riskdecision/v1/policy.proto");
    let field_doc = comment_above(&policy_proto, "string field = 1;");
    let err =
        with_base_rates(&rates(&[("2025-05-20", 300, 350), ("2025-05-20", 310, 360)])).expect_err("duplicate date");
    assert!(field_doc.contains(&format!("\"{}\"", err.0[0].field)), "{field_doc}");
    assert!(!field_doc.contains("characteristics"), "no such path: {field_doc}");

    // A signal's message is the policy's text and what was seen; the thresholds travel apart.
    let monitoring = repo_file("proto/riskdecision/v1/monitoring.proto");
    let message_doc = comment_above(&monitoring, "string message = 4;");
    assert!(!message_doc.contains("with the threshold"), "{message_doc}");
    assert!(message_doc.contains("`thresholds`"), "{message_doc}");
}

/// Rule codes written as string literals in the core's source (`"V12"`, `"CL19"`...): the codes
/// that no policy list names, such as the cross-checks.
fn codes_in_core_source() -> Vec<String> {
    const FAMILIES: &[&str] = &["CL", "ST", "K", "F", "P", "S", "L", "R", "V", "C", "W", "A"];
    let mut files = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    let mut codes = Vec::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            let entries = std::fs::read_dir(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            files.extend(entries.map(|e| e.expect("directory entry").path()));
            continue;
        }
        if path.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        for literal in text.split('"').skip(1).step_by(2) {
            let is_code = FAMILIES.iter().any(|f| {
                literal
                    .strip_prefix(f)
                    .is_some_and(|n| n.len() == 2 && n.chars().all(|c| c.is_ascii_digit()))
            });
            if is_code {
                codes.push(literal.to_owned());
            }
        }
    }
    codes
}

/// Every code the engine, the scorecard, the conditions and the monitoring can return has a row
/// in the catalogue of docs/POLICY.md (a table row that starts with the code).
#[test]
fn the_policy_catalogue_lists_every_code() {
    let policy = policy();
    let doc = repo_file("docs/POLICY.md");
    let mut codes: Vec<String> = riskdecision_core::policy::ENGINE_CODES
        .iter()
        .map(|c| (*c).to_owned())
        .collect();
    codes.extend(policy.messages.keys().cloned());
    codes.extend(policy.scorecard.iter().map(|c| c.reason_code.clone()));
    codes.extend(policy.conditions.iter().map(|c| c.code.clone()));
    codes.extend(codes_in_core_source());
    codes.push("K01".to_owned());
    codes.sort();
    codes.dedup();
    let missing: Vec<&String> = codes
        .iter()
        .filter(|code| !doc.contains(&format!("\n| `{code}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a catalogue row in docs/POLICY.md: {missing:?}"
    );
}

// ------------------------------------------------------------------------------------------------
// Message texts carry no policy numbers: the reasons' thresholds do.

/// Phrases with a digit that a message text may contain, each with why it is not a number of the
/// bank's policy (a regulation's citation or term, or the fixed window of a data field).
const NUMBERS_THAT_ARE_NOT_POLICY: &[(&str, &str)] = &[
    ("IFRS 9 5.5.11", "citation: 30 days past due presumption"),
    ("IFRS 9 B5.5.37", "citation: 90 days past due presumption"),
    ("stage 2", "IFRS 9's name of the stage"),
    ("stage 3", "IFRS 9's name of the stage"),
    (
        "in the last 24 months",
        "window of the credit report fields max_days_past_due_24m and npl_classified_24m",
    ),
    (
        "in the last 6 months",
        "window of the credit report field new_lenders_6m",
    ),
    (
        "90+ days past due",
        "what the input share_of_debt_over_90_dpd measures (2023 Measures: overdue more than 90 days)",
    ),
];

/// Numbers written as words, which would repeat a policy number as surely as digits.
const NUMBER_WORDS: &[&str] = &[
    "once", "twice", "double", "half", "quarter", "one", "two", "three", "four", "five", "six", "seven", "eight",
    "nine", "ten", "twelve", "twenty", "thirty", "fifty", "hundred", "percent",
];

/// What in `text` could state a policy number: a digit or a percent sign outside the allowed
/// phrases and the policy's authority level names (an action may name the level to report to),
/// or a number written as a word.
fn policy_numbers_in(text: &str, level_names: &[String]) -> Vec<String> {
    let mut rest = text.to_owned();
    for (phrase, _why) in NUMBERS_THAT_ARE_NOT_POLICY {
        rest = rest.replace(phrase, " ");
    }
    let words: Vec<String> = rest
        .split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '%' || c == '+'))
        .map(|w| w.trim_end_matches('.').to_owned())
        .filter(|w| !w.is_empty())
        .collect();
    words
        .into_iter()
        .filter(|w| !level_names.contains(w))
        .filter(|w| {
            w.chars().any(|c| c.is_ascii_digit() || c == '%') || NUMBER_WORDS.contains(&w.to_lowercase().as_str())
        })
        .collect()
}

#[test]
fn message_texts_state_no_policy_numbers() {
    let policy = policy();
    let levels: Vec<String> = policy.authority.iter().map(|a| a.level.clone()).collect();
    // The check itself finds what it must (texts the policy once had).
    for (old, found) in [
        ("Reduce the limit by 30%", "30%"),
        ("Demand extra collateral or a guarantor within 30 days", "30"),
        ("Debt service coverage including the new loan below 1.0", "1.0"),
        ("External guarantees above twice net assets", "twice"),
        ("Several new lenders in the last 3 months", "3"),
    ] {
        assert_eq!(policy_numbers_in(old, &levels), [found], "{old}");
    }
    assert!(policy_numbers_in("Report to L3", &levels).is_empty());
    assert!(
        policy_numbers_in("Report to L9", &levels) == ["L9"],
        "not a level of the policy"
    );

    let mut texts: Vec<(String, String)> = policy
        .messages
        .iter()
        .map(|(code, text)| (code.clone(), text.clone()))
        .collect();
    texts.extend(
        policy
            .scorecard
            .iter()
            .map(|c| (c.reason_code.clone(), c.reason.clone())),
    );
    let offending: Vec<String> = texts
        .iter()
        .filter_map(|(code, text)| {
            let numbers = policy_numbers_in(text, &levels);
            (!numbers.is_empty()).then(|| format!("{code} {text:?}: {numbers:?}"))
        })
        .collect();
    assert!(
        offending.is_empty(),
        "message texts that state a number (the reasons' thresholds carry the policy's numbers): {offending:#?}"
    );
}

/// The catalogue's references to docs/DOMAIN.md ("docs/DOMAIN.md 11.5", "DOMAIN.md 8.2-8.4")
/// name sections that exist.
#[test]
fn the_policy_catalogue_points_at_existing_domain_sections() {
    let domain = repo_file("docs/DOMAIN.md");
    let sections: Vec<String> = domain
        .lines()
        .filter(|l| l.starts_with('#'))
        .filter_map(|l| l.trim_start_matches('#').split_whitespace().next())
        .map(|n| n.trim_end_matches('.').to_owned())
        .collect();
    let doc = repo_file("docs/POLICY.md");
    let mut cited = Vec::new();
    for (i, _) in doc.match_indices("DOMAIN.md ") {
        let after = &doc[i + "DOMAIN.md ".len()..];
        let reference: String = after
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-' || c.is_ascii_lowercase())
            .collect();
        let reference = reference.trim_end_matches(['.', '-']);
        for part in reference
            .split('-')
            .filter(|p| p.starts_with(|c: char| c.is_ascii_digit()))
        {
            cited.push(part.to_owned());
        }
    }
    assert!(cited.len() > 10, "references found: {cited:?}");
    let missing: Vec<&String> = cited.iter().filter(|c| !sections.contains(c)).collect();
    assert!(
        missing.is_empty(),
        "docs/POLICY.md cites DOMAIN.md sections that do not exist: {missing:?}"
    );
}
