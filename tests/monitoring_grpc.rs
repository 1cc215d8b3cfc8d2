//! Monitor and ScorePortfolio over gRPC against a real server.

mod support;

use riskdecision::pb;
use support::*;
use tonic::Code;

async fn put_example_profiles(server: &TestServer) {
    let mut profiles = server.profiles().await;
    for file in ["put-profile.json", "put-profile-manufacturer.json"] {
        profiles
            .put_profile(put_profile_example(file))
            .await
            .expect("put profile");
    }
}

#[tokio::test]
async fn monitor_examples_cover_every_class() {
    let server = start().await;
    put_example_profiles(&server).await;
    let mut client = server.decisions().await;
    let cases = [
        (
            "monitor-normal.json",
            pb::LoanClass::Normal,
            1,
            pb::WarningLevel::Green,
            100,
        ),
        (
            "monitor-special-mention.json",
            pb::LoanClass::SpecialMention,
            2,
            pb::WarningLevel::Orange,
            200,
        ),
        (
            "monitor-substandard.json",
            pb::LoanClass::Substandard,
            3,
            pb::WarningLevel::Red,
            2500,
        ),
        (
            "monitor-doubtful.json",
            pb::LoanClass::Doubtful,
            3,
            pb::WarningLevel::Red,
            5000,
        ),
        (
            "monitor-loss.json",
            pb::LoanClass::Loss,
            3,
            pb::WarningLevel::Red,
            10000,
        ),
    ];
    for (file, class, stage, level, provision) in cases {
        let r = client
            .monitor(monitor_example(file))
            .await
            .unwrap_or_else(|s| panic!("{file}: {s:?}"))
            .into_inner();
        assert_eq!(r.classification, class as i32, "{file}: {:?}", r.classification_rule);
        assert_eq!(r.ifrs9_stage, stage, "{file}");
        assert_eq!(r.warning_level, level as i32, "{file}: {:?}", r.signals);
        assert_eq!(r.provision_rate_bps, provision, "{file}");
        assert_eq!(r.non_performing, stage == 3, "{file}");
        assert!(r.classification_rule.is_some() && r.stage_reason.is_some());
        assert_eq!(
            r.recommended_actions.is_empty(),
            level == pb::WarningLevel::Green,
            "{file}"
        );
        let required = r.provision_required.as_ref().map_or(0, |m| m.units_minor);
        let larger = r
            .regulatory_provision
            .as_ref()
            .map_or(0, |m| m.units_minor)
            .max(r.expected_credit_loss.as_ref().map_or(0, |m| m.units_minor));
        assert_eq!(required, larger, "{file}: the larger of regulatory and ECL");
    }
    // With a profile: current score, grade and change since origination.
    let normal = client
        .monitor(monitor_example("monitor-normal.json"))
        .await
        .expect("normal")
        .into_inner();
    assert_eq!(
        (
            normal.score,
            normal.grade.as_str(),
            normal.score_change,
            normal.grade_notches_down
        ),
        (Some(622), "G5", Some(0), Some(0))
    );
    let by_id = client
        .monitor(monitor_example("monitor-special-mention.json"))
        .await
        .expect("by id")
        .into_inner();
    assert_eq!(by_id.grade, "G1");
    let signals: Vec<&str> = by_id.signals.iter().map(|s| s.code.as_str()).collect();
    assert_eq!(signals, ["W01", "W02"]);
}

#[tokio::test]
async fn monitor_errors() {
    let server = start().await;
    let mut client = server.decisions().await;
    // By id, not cached.
    let missing = client
        .monitor(monitor_example("monitor-special-mention.json"))
        .await
        .expect_err("not cached");
    assert_eq!(missing.code(), Code::NotFound);
    let status = client
        .monitor(pb::MonitorRequest::default())
        .await
        .expect_err("no loan");
    assert_eq!(violations(&status), ["loan"]);
    let mut bad = monitor_example("monitor-substandard.json");
    if let Some(l) = bad.loan.as_mut() {
        l.loan_id.clear();
        l.outstanding_principal = Some(cny(-1));
        l.origination_grade = "G42".into();
        l.share_of_debt_over_90_dpd = Some(1.5);
        if let Some(s) = l.signals.as_mut() {
            s.revenue_change = Some(f64::NAN);
            s.litigation = 77;
        }
    }
    let status = client.monitor(bad).await.expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_violations_include(
        &status,
        &[
            "loan.loan_id",
            "loan.outstanding_principal.units_minor",
            "loan.origination_grade",
            "loan.share_of_debt_over_90_dpd",
            "loan.signals.revenue_change",
            "loan.signals.litigation",
        ],
    );
}

/// A restructuring's dates, the origination coverage, the external downgrade and the other
/// claims are validated, each violation naming its field.
#[tokio::test]
async fn monitor_validates_the_new_snapshot_fields() {
    let server = start().await;
    let mut client = server.decisions().await;
    let mut bad = monitor_example("monitor-substandard.json");
    if let Some(l) = bad.loan.as_mut() {
        l.origination_collateral_coverage = Some(-0.1);
        l.assessed_credit_loss = Some(cny(-5));
        l.restructuring = Some(pb::Restructuring {
            restructured_on: Some(pb::Date {
                year: 2026,
                month: 3,
                day: 1,
            }),
            observation_start: Some(pb::Date {
                year: 2026,
                month: 2,
                day: 1,
            }),
            class_before: 0,
            previous_observation_start: None,
        });
        if let Some(s) = l.signals.as_mut() {
            s.external_rating_notches_down = Some(99);
        }
    }
    bad.other_claims = vec![pb::DebtorClaim {
        loan_id: String::new(),
        class: 9,
        exposure: None,
    }];
    let status = client.monitor(bad).await.expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_violations_include(
        &status,
        &[
            "loan.origination_collateral_coverage",
            "loan.assessed_credit_loss.units_minor",
            "loan.restructuring.class_before",
            "loan.restructuring.observation_start",
            "loan.signals.external_rating_notches_down",
            "other_claims[0].loan_id",
            "other_claims[0].class",
            "other_claims[0].exposure",
        ],
    );
}

fn debtor_loan(loan_id: &str, enterprise_id: &str, yuan: i64, dpd: u32) -> pb::MonitorRequest {
    pb::MonitorRequest {
        loan: Some(pb::LoanSnapshot {
            loan_id: loan_id.into(),
            subject: Some(pb::loan_snapshot::Subject::EnterpriseId(enterprise_id.into())),
            outstanding_principal: Some(cny(yuan)),
            principal_days_past_due: dpd,
            remaining_term_months: 12,
            ..Default::default()
        }),
        other_claims: Vec::new(),
    }
}

/// Monitor applies the debtor-level rule with the other claims it is given; MonitorPortfolio
/// applies it across a debtor's loans in the batch (another debtor's loans untouched), answers
/// in order and reports a bad loan in its own item.
#[tokio::test]
async fn the_debtor_level_rule_through_monitor_and_monitor_portfolio() {
    let server = start().await;
    put_example_profiles(&server).await;
    let mut client = server.decisions().await;
    // Two debtors cached: the manufacturer (...R1W) and the worked example (...341L).
    let (a, b) = ("91440300MA5FLX5R1W", "91110000600037341L");
    let mut single = debtor_loan("A-1", a, 800_000, 0);
    single.other_claims = vec![pb::DebtorClaim {
        loan_id: "A-2".into(),
        class: pb::LoanClass::Doubtful as i32,
        exposure: Some(cny(200_000)),
    }];
    let r = client.monitor(single).await.expect("monitor").into_inner();
    assert_eq!(r.classification, pb::LoanClass::Substandard as i32);
    let rule = r.classification_rule.expect("rule");
    assert_eq!(rule.code, "CL19");
    assert!(rule.thresholds.iter().any(|t| t.name == "debtor_npl_share"), "{rule:?}");

    let mut no_loan = debtor_loan("X", a, 1, 0);
    no_loan.loan = None;
    let loans = vec![
        debtor_loan("A-1", a, 800_000, 0),
        debtor_loan("A-2", a, 200_000, 120), // substandard: 20% of debtor A's claims
        debtor_loan("B-1", b, 500_000, 0),
        no_loan,
        debtor_loan("B-2", b, 5_000_000, 0),
    ];
    let answer = client
        .monitor_portfolio(pb::MonitorPortfolioRequest { loans })
        .await
        .expect("portfolio")
        .into_inner();
    let got: Vec<(u32, &str, i32)> = answer
        .items
        .iter()
        .map(|i| {
            let class = i.result.as_ref().map_or(-1, |r| r.classification);
            (i.index, i.loan_id.as_str(), class)
        })
        .collect();
    use pb::LoanClass::*;
    assert_eq!(
        got,
        [
            (0, "A-1", Substandard as i32),
            (1, "A-2", Substandard as i32),
            (2, "B-1", Normal as i32),
            (3, "", -1),
            (4, "B-2", Normal as i32),
        ]
    );
    let first = answer.items[0].result.as_ref().expect("A-1");
    assert_eq!(
        first.classification_rule.as_ref().map(|r| r.code.as_str()),
        Some("CL19")
    );
    assert_eq!(first.ifrs9_stage, 3);
    let error = answer.items[3]
        .error
        .as_ref()
        .expect("a loan-less item is an item error");
    assert_eq!(error.code, Code::InvalidArgument as i32);

    let too_many = vec![debtor_loan("A-1", a, 1, 0); riskdecision::app::MAX_PORTFOLIO_LOANS + 1];
    let status = client
        .monitor_portfolio(pb::MonitorPortfolioRequest { loans: too_many })
        .await
        .expect_err("over the limit");
    assert_eq!(status.code(), Code::InvalidArgument);
}

/// A policy classifying or staging later than the regulations allow is refused, naming the field.
#[tokio::test]
async fn validate_policy_refuses_regulatory_ceilings() {
    let server = start().await;
    let mut policies = server.policies().await;
    for (key, value) in [
        ("substandard_from_dpd", "120"),
        ("doubtful_from_dpd", "300"),
        ("loss_from_dpd", "400"),
        ("technical_dpd_max", "10"),
        ("stage2_from_dpd", "45"),
        ("stage3_from_dpd", "100"),
    ] {
        let content = riskdecision::policy::default_policy_with(key, value).expect("one line");
        let r = policies
            .validate_policy(pb::ValidatePolicyRequest { content })
            .await
            .expect("validate")
            .into_inner();
        assert!(!r.valid, "{key}");
        let field = format!("monitoring.{key}");
        assert!(
            r.errors.iter().any(|e| e.field == field && e.line > 0),
            "{key}: {:?}",
            r.errors
        );
    }
}

/// 10,000 items, some malformed, some by an uncached id: one answer per item, in order, errors
/// in their own items, the stream never aborts.
#[tokio::test]
async fn score_portfolio_ten_thousand_items_with_bad_ones() {
    let server = start().await;
    put_example_profiles(&server).await;
    let profile = worked_profile();
    let mut bad_profile = worked_profile();
    bad_profile.financials = None;
    let requests: Vec<pb::ScoreRequest> = (0..10_000)
        .map(|i| {
            let subject = match i % 10 {
                3 => Some(pb::score_request::Subject::EnterpriseId("91110000600037341M".into())), // bad check digit
                5 => Some(pb::score_request::Subject::EnterpriseId("92330100MA2H7K3L0N".into())), // not cached
                7 => Some(pb::score_request::Subject::Profile(bad_profile.clone())),              // missing financials
                8 => None,                                                                        // no subject
                0 | 1 => Some(pb::score_request::Subject::EnterpriseId("91440300MA5FLX5R1W".into())),
                _ => Some(pb::score_request::Subject::Profile(profile.clone())),
            };
            pb::ScoreRequest {
                subject,
                item_id: format!("item-{i}"),
            }
        })
        .collect();
    let mut client = server.decisions().await;
    let mut stream = client
        .score_portfolio(tokio_stream::iter(requests))
        .await
        .expect("stream")
        .into_inner();
    let mut n = 0u64;
    let (mut ok, mut invalid, mut not_found) = (0, 0, 0);
    while let Some(r) = stream.message().await.expect("no stream error") {
        assert_eq!(r.sequence, n, "answers come in order");
        assert_eq!(r.item_id, format!("item-{n}"));
        match (n % 10, &r.error) {
            (3 | 7 | 8, Some(e)) => {
                assert_eq!(e.code, Code::InvalidArgument as i32, "item {n}");
                assert!(!e.field_violations.is_empty(), "item {n}");
                invalid += 1;
            }
            (5, Some(e)) => {
                assert_eq!(e.code, Code::NotFound as i32);
                not_found += 1;
            }
            (0 | 1, None) => {
                assert_eq!((r.grade.as_str(), r.profile_version), ("G1", 1));
                ok += 1;
            }
            (_, None) => {
                assert_eq!((r.score, r.grade.as_str()), (622, "G5"), "item {n}");
                ok += 1;
            }
            (k, e) => panic!("item {n} (kind {k}) unexpected error {e:?}"),
        }
        n += 1;
    }
    assert_eq!(n, 10_000);
    assert_eq!((ok, invalid, not_found), (6_000, 3_000, 1_000));
}

/// A client that stops reading does not make the server buffer the whole portfolio: the server
/// stops reading input, and the call still completes once the client reads again.
#[tokio::test]
async fn score_portfolio_respects_flow_control() {
    let server = start().await;
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::ScoreRequest>(1);
    let mut client = server.decisions().await;
    let mut stream = client
        .score_portfolio(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("stream")
        .into_inner();
    let profile = worked_profile();
    let producer = tokio::spawn(async move {
        let mut sent = 0u32;
        for i in 0..20_000 {
            let req = pb::ScoreRequest {
                subject: Some(pb::score_request::Subject::Profile(profile.clone())),
                item_id: format!("{i}"),
            };
            // Give up once the server has stopped taking input for a while: that is the point.
            match tokio::time::timeout(std::time::Duration::from_millis(500), tx.send(req)).await {
                Ok(Ok(())) => sent += 1,
                _ => break,
            }
        }
        (sent, tx)
    });
    let (sent, tx) = producer.await.expect("producer");
    assert!(
        sent < 20_000,
        "with nobody reading responses the server must stop accepting input (accepted {sent})"
    );
    drop(tx);
    let mut received = 0u32;
    while let Some(r) = stream.message().await.expect("stream") {
        assert!(r.error.is_none());
        received += 1;
    }
    assert_eq!(received, sent, "every accepted item is answered");
}
