//! Every file under `examples/` parses in the canonical JSON mapping and gives the outcome its
//! name promises; together they cover every product and every outcome.

mod support;

use std::collections::BTreeSet;

use riskdecision::pb;
use support::*;
use tonic::Code;

/// (file, product, outcome, approved yuan, conditions expected)
const DECIDE_EXAMPLES: &[(&str, pb::Product, pb::Outcome, i64, bool)] = &[
    (
        "decide-tax-loan-counter-offer.json",
        pb::Product::TaxLoan,
        pb::Outcome::CounterOffer,
        360_000,
        true,
    ),
    (
        "decide-working-capital-approve.json",
        pb::Product::WorkingCapital,
        pb::Outcome::Approve,
        300_000,
        false,
    ),
    (
        "decide-working-capital-approve-with-conditions.json",
        pb::Product::WorkingCapital,
        pb::Outcome::Approve,
        300_000,
        true,
    ),
    (
        "decide-invoice-financing-approve.json",
        pb::Product::InvoiceFinancing,
        pb::Outcome::Approve,
        350_000,
        true,
    ),
    (
        "decide-equipment-refer.json",
        pb::Product::Equipment,
        pb::Outcome::Refer,
        350_000,
        true,
    ),
    (
        "decide-property-secured-approve.json",
        pb::Product::PropertySecured,
        pb::Outcome::Approve,
        1_500_000,
        true,
    ),
    (
        "decide-working-capital-decline-knockout.json",
        pb::Product::WorkingCapital,
        pb::Outcome::Decline,
        0,
        false,
    ),
    (
        "decide-tax-loan-decline-false-revenue.json",
        pb::Product::TaxLoan,
        pb::Outcome::Decline,
        0,
        false,
    ),
];

#[tokio::test]
async fn decide_examples_give_their_documented_outcomes() {
    let server = start().await;
    let mut client = server.decisions().await;
    let mut products = BTreeSet::new();
    let mut outcomes = BTreeSet::new();
    for &(file, product, outcome, approved, with_conditions) in DECIDE_EXAMPLES {
        let request = decide_example(file);
        let d = client
            .decide(request)
            .await
            .unwrap_or_else(|s| panic!("{file}: {s:?}"))
            .into_inner();
        assert_eq!(d.product, product as i32, "{file}");
        assert_eq!(d.outcome, outcome as i32, "{file}: {:?}", d.reasons);
        assert_eq!(d.approved_amount, Some(cny(approved)), "{file}");
        assert_eq!(!d.conditions.is_empty(), with_conditions, "{file}: {:?}", d.conditions);
        products.insert(product as i32);
        outcomes.insert(outcome as i32);
    }
    assert_eq!(products.len(), 5, "one example per product");
    assert_eq!(outcomes.len(), 4, "one example per outcome");
}

#[tokio::test]
async fn decline_examples_explain_themselves() {
    let server = start().await;
    let mut client = server.decisions().await;
    let ko = client
        .decide(decide_example("decide-working-capital-decline-knockout.json"))
        .await
        .expect("decide")
        .into_inner();
    let codes: Vec<&str> = ko.knock_outs.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, ["K04", "K05"]);
    assert_eq!(
        ko.reasons.first().map(|r| r.code.as_str()),
        Some("K04"),
        "knock-outs lead the reasons"
    );
    assert_eq!(ko.required_authority, "L4", "overriding a knock-out is outside policy");

    let fraud = client
        .decide(decide_example("decide-tax-loan-decline-false-revenue.json"))
        .await
        .expect("decide")
        .into_inner();
    assert_eq!(
        fraud.knock_outs.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(),
        ["K10"]
    );
    let critical: Vec<&str> = fraud
        .verification
        .iter()
        .filter(|f| f.severity == pb::FindingSeverity::Critical as i32)
        .map(|f| f.code.as_str())
        .collect();
    assert!(
        critical.contains(&"V01") && critical.contains(&"V03"),
        "declared revenue vs invoices and bank inflows: {critical:?}"
    );
}

#[tokio::test]
async fn refer_and_conditions_examples_route_to_people() {
    let server = start().await;
    let mut client = server.decisions().await;
    let refer = client
        .decide(decide_example("decide-equipment-refer.json"))
        .await
        .expect("decide")
        .into_inner();
    assert_eq!(refer.grade, "G7");
    assert_eq!(refer.required_authority, "L2");
    assert_eq!(refer.reasons.first().map(|r| r.code.as_str()), Some("S02"));

    let g6 = client
        .decide(decide_example("decide-working-capital-approve-with-conditions.json"))
        .await
        .expect("decide")
        .into_inner();
    assert_eq!(g6.grade, "G6");
    assert_eq!(g6.required_authority, "L1");
    assert_eq!(
        g6.conditions.iter().map(|c| c.code.as_str()).collect::<Vec<_>>(),
        ["C01"]
    );

    let property = client
        .decide(decide_example("decide-property-secured-approve.json"))
        .await
        .expect("decide")
        .into_inner();
    assert!(
        property.verification.iter().any(|f| f.code == "V05"),
        "manufacturer: electricity cross-check runs"
    );
    assert_eq!(
        property.required_authority, "L1",
        "new loan above the straight-through limit"
    );
}

#[tokio::test]
async fn profile_and_score_examples_work_together() {
    let server = start().await;
    let mut profiles = server.profiles().await;
    let mut decisions = server.decisions().await;
    for file in ["put-profile.json", "put-profile-manufacturer.json"] {
        profiles
            .put_profile(put_profile_example(file))
            .await
            .unwrap_or_else(|s| panic!("{file}: {s:?}"));
    }
    for file in ["score-inline.json", "score-by-id.json"] {
        let resp = decisions
            .score(score_example(file))
            .await
            .unwrap_or_else(|s| panic!("{file}: {s:?}"))
            .into_inner();
        assert_eq!((resp.score, resp.grade.as_str()), (622, "G5"), "{file}");
    }
    let by_id = decisions
        .decide(decide_example("decide-by-id-working-capital.json"))
        .await
        .expect("decide by id")
        .into_inner();
    assert_eq!(by_id.outcome, pb::Outcome::Approve as i32);
    assert_eq!(by_id.profile_version, 1);
}

/// `monitor-portfolio.json`, in request order: (loan id, class, deciding rule, IFRS 9 stage).
/// Debtor ...R1W's working-capital loan is 95 days past due (CL04): 1.2M of its 4.6M, above the
/// policy's `debtor_npl_share`, so its two current loans are substandard too (CL19). Debtor
/// ...341L's loans are current and stay normal.
const MONITOR_PORTFOLIO_EXAMPLE: &[(&str, pb::LoanClass, &str, i32)] = &[
    ("LN-2024-002871", pb::LoanClass::Substandard, "CL19", 3),
    ("LN-2026-000101", pb::LoanClass::Normal, "CL01", 1),
    ("LN-2025-003310", pb::LoanClass::Substandard, "CL04", 3),
    ("LN-2026-000377", pb::LoanClass::Substandard, "CL19", 3),
    ("LN-2026-000188", pb::LoanClass::Normal, "CL01", 1),
];

#[tokio::test]
async fn monitor_portfolio_example_gives_each_loan_its_documented_class() {
    let server = start().await;
    let mut profiles = server.profiles().await;
    for file in ["put-profile.json", "put-profile-manufacturer.json"] {
        profiles
            .put_profile(put_profile_example(file))
            .await
            .unwrap_or_else(|s| panic!("{file}: {s:?}"));
    }
    let request: pb::MonitorPortfolioRequest =
        example("riskdecision.v1.MonitorPortfolioRequest", "monitor-portfolio.json");
    let answer = server
        .decisions()
        .await
        .monitor_portfolio(request)
        .await
        .expect("monitor portfolio")
        .into_inner();
    let got: Vec<(&str, i32, &str, i32)> = answer
        .items
        .iter()
        .map(|item| {
            let r = item
                .result
                .as_ref()
                .unwrap_or_else(|| panic!("{}: {:?}", item.loan_id, item.error));
            let rule = r.classification_rule.as_ref().map_or("", |c| c.code.as_str());
            (item.loan_id.as_str(), r.classification, rule, r.ifrs9_stage)
        })
        .collect();
    let expected: Vec<(&str, i32, &str, i32)> = MONITOR_PORTFOLIO_EXAMPLE
        .iter()
        .map(|&(id, class, rule, stage)| (id, class as i32, rule, stage))
        .collect();
    assert_eq!(got, expected);
    // Alone, the two current loans of the defaulting debtor would be normal: only the rule
    // pulled them down.
    let pulled = &answer.items[0]
        .result
        .as_ref()
        .expect("first loan")
        .classification_rules;
    assert_eq!(
        pulled.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(),
        ["CL01", "CL19"]
    );
}

#[tokio::test]
async fn invalid_example_shows_field_violations() {
    let server = start().await;
    let mut client = server.decisions().await;
    let status = client
        .decide(decide_example("decide-invalid.json"))
        .await
        .expect_err("invalid on purpose");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_violations_include(
        &status,
        &[
            "request_id",
            "application.profile.enterprise_id",
            "application.requested_amount.currency",
            "application.requested_amount.units_minor",
            "application.term_months",
        ],
    );
}

#[test]
fn every_example_file_is_covered_by_a_test() {
    let dir = format!("{}/examples", env!("CARGO_MANIFEST_DIR"));
    let mut covered: BTreeSet<&str> = DECIDE_EXAMPLES.iter().map(|e| e.0).collect();
    covered.extend([
        "put-profile.json",
        "put-profile-manufacturer.json",
        "score-inline.json",
        "score-by-id.json",
        "decide-by-id-working-capital.json",
        "decide-invalid.json",
        "monitor-portfolio.json",
        // Covered by tests/monitoring_grpc.rs and tests/cli.rs:
        "monitor-normal.json",
        "monitor-special-mention.json",
        "monitor-substandard.json",
        "monitor-doubtful.json",
        "monitor-loss.json",
        "portfolio.jsonl",
    ]);
    for entry in std::fs::read_dir(&dir).expect("examples dir") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") || name.ends_with(".jsonl") {
            assert!(covered.contains(name.as_str()), "examples/{name} has no test");
        }
    }
}
