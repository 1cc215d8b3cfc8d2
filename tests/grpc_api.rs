//! Every RPC and every error row of the README's error table, against a real server on an ephemeral
//! port with the generated tonic clients.

mod support;

use riskdecision::pb;
use support::*;
use tonic::Code;

fn decide(request_id: &str, application: pb::LoanApplication) -> pb::DecideRequest {
    pb::DecideRequest {
        request_id: request_id.into(),
        application: Some(application),
    }
}

fn worked_application() -> pb::LoanApplication {
    decide_example("decide-tax-loan-counter-offer.json")
        .application
        .expect("application")
}

#[tokio::test]
async fn health_reports_every_service_serving() {
    let server = start().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    for service in [
        "",
        "riskdecision.v1.DecisionService",
        "riskdecision.v1.ProfileService",
        "riskdecision.v1.PolicyService",
    ] {
        let resp = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health check");
        assert_eq!(
            resp.into_inner().status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service:?}"
        );
    }
    let unknown = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "nope.Service".into(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn reflection_lists_our_services() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let server = start().await;
    let mut client = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection")
        .into_inner();
    let reply = stream.message().await.expect("reply").expect("one message");
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("unexpected reply {reply:?}")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "riskdecision.v1.DecisionService",
        "riskdecision.v1.ProfileService",
        "riskdecision.v1.PolicyService",
        "grpc.health.v1.Health",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
}

#[tokio::test]
async fn score_inline_profile_reproduces_the_worked_example() {
    let server = start().await;
    let mut client = server.decisions().await;
    let resp = client
        .score(pb::ScoreRequest {
            subject: Some(pb::score_request::Subject::Profile(worked_profile())),
            item_id: String::new(),
        })
        .await
        .expect("score")
        .into_inner();
    assert_eq!(resp.score, 622);
    assert_eq!(resp.grade, "G5");
    assert!((resp.pd - 0.009_244).abs() < 1e-5, "pd {}", resp.pd);
    assert!((resp.master_pd - 0.0078).abs() < 1e-12);
    let codes: Vec<&str> = resp.reasons.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, ["R04", "R08", "R05", "R01"]);
    assert_eq!(resp.contributions.len(), 13);
    assert_eq!(resp.policy_version, "sme-default-1.1.0");
    assert_eq!(resp.profile_version, 0);
    assert_eq!(
        resp.evaluation_date,
        Some(pb::Date {
            year: 2026,
            month: 11,
            day: 30
        })
    );
    assert!(
        resp.verification
            .iter()
            .all(|f| f.severity == pb::FindingSeverity::Info as i32),
        "{:?}",
        resp.verification
    );
}

#[tokio::test]
async fn score_and_decide_by_id_need_a_cached_profile() {
    let server = start().await;
    let mut decisions = server.decisions().await;
    let mut profiles = server.profiles().await;
    let by_id = || pb::ScoreRequest {
        subject: Some(pb::score_request::Subject::EnterpriseId("91110000600037341L".into())),
        item_id: String::new(),
    };

    let miss = decisions.score(by_id()).await.expect_err("not cached yet");
    assert_eq!(miss.code(), Code::NotFound);
    assert_eq!(error_reason(&miss).as_deref(), Some("PROFILE_NOT_FOUND"));
    let mut app = worked_application();
    app.subject = Some(pb::loan_application::Subject::EnterpriseId("91110000600037341L".into()));
    let miss = decisions
        .decide(decide("by-id-miss", app.clone()))
        .await
        .expect_err("not cached yet");
    assert_eq!(miss.code(), Code::NotFound);

    let put = profiles
        .put_profile(pb::PutProfileRequest {
            profile: Some(worked_profile()),
            expected_version: None,
        })
        .await
        .expect("put")
        .into_inner();
    assert_eq!(put.version, 1);
    let scored = decisions.score(by_id()).await.expect("score by id").into_inner();
    assert_eq!((scored.score, scored.profile_version), (622, 1));
    let decided = decisions
        .decide(decide("by-id-hit", app))
        .await
        .expect("decide by id")
        .into_inner();
    assert_eq!(decided.outcome, pb::Outcome::CounterOffer as i32);
    assert_eq!(decided.profile_version, 1);
}

#[tokio::test]
async fn decide_worked_example_is_a_counter_offer_and_is_recorded() {
    let server = start().await;
    let mut client = server.decisions().await;
    let d = client
        .decide(decide("golden-1", worked_application()))
        .await
        .expect("decide")
        .into_inner();
    assert_eq!(d.outcome, pb::Outcome::CounterOffer as i32);
    assert_eq!(d.approved_amount, Some(cny(360_000)));
    assert_eq!(d.requested_amount, Some(cny(800_000)));
    assert_eq!(d.interest_rate_bps, 370);
    assert_eq!(
        d.expected_loss,
        Some(pb::Money {
            currency: "CNY".into(),
            units_minor: 126_360
        })
    );
    assert_eq!(d.required_authority, "L0");
    assert_eq!(d.grade, "G5");
    assert_eq!(d.score, 622);
    assert_eq!(d.lgd_bps, 4500);
    assert!((d.raroc - 0.1205).abs() < 5e-4, "raroc {}", d.raroc);
    assert!(d.knock_outs.is_empty() && d.refer_flags.is_empty());
    let caps: Vec<(&str, i64, bool)> = d
        .limit_caps
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.amount.as_ref().map_or(-1, |m| m.units_minor),
                c.binding,
            )
        })
        .collect();
    assert_eq!(
        caps,
        [
            ("request", 80_000_000, false),
            ("revenue", 75_000_000, false),
            ("dscr", 39_695_072, false),
            ("tax", 36_000_000, true),
            ("secured", 100_000_000, false),
            ("product", 300_000_000, false),
            ("group", 1_000_000_000, false),
        ]
    );
    assert_eq!(d.reasons.first().map(|r| r.code.as_str()), Some("L02"));
    assert_eq!(
        d.conditions.iter().map(|c| c.code.as_str()).collect::<Vec<_>>(),
        ["C06"]
    );
    assert_eq!(d.policy_version, "sme-default-1.1.0");
    assert_eq!(d.policy_hash.len(), 64);
    assert_eq!(d.inputs_digest.len(), 64);
    assert!(
        uuid::Uuid::parse_str(&d.decision_id).is_ok_and(|u| u.get_version_num() == 7),
        "{}",
        d.decision_id
    );

    let fetched = get_decision(&mut client, &d.decision_id).await;
    assert_eq!(fetched, d, "GetDecision returns the recorded decision exactly");
}

/// Issue 12 "Explanations": the answer shows the debt service cover, the price build-up with the
/// LPR in force, the LGD split, the RAROC inputs and why the authority level is what it is; the
/// recorded decision gives them back.
#[tokio::test]
async fn decide_answer_explains_cover_price_lgd_raroc_and_authority() {
    let server = start().await;
    let mut client = server.decisions().await;
    let d = client
        .decide(decide("explain-1", worked_application()))
        .await
        .expect("decide")
        .into_inner();
    let cover = d.debt_service.as_ref().expect("debt service cover");
    assert_eq!(cover.cfads, Some(cny(300_000)));
    assert_eq!(cover.existing_debt_service, Some(cny(100_000)));
    let new_service = cover.new_debt_service.as_ref().map_or(0, |m| m.units_minor);
    assert_eq!(new_service / 100, 126_967, "360,000 over AF(3.70%, 36)");
    assert_eq!((cover.capacity_rate_bps, cover.notional_tenor_months), (370, 36));
    assert!((cover.dscr_after - 300_000.0 / (100_000.0 + new_service as f64 / 100.0)).abs() < 1e-9);

    let price = d.price.as_ref().expect("price build-up");
    assert_eq!(price.base_rate_name, "LPR 1Y");
    assert_eq!(price.base_rate_bps, 300);
    assert_eq!(
        price.base_rate_effective_from,
        Some(pb::Date {
            year: 2025,
            month: 5,
            day: 20
        })
    );
    assert_eq!(
        (
            price.grade_spread_bps,
            price.secured_discount_bps,
            price.tenor_premium_bps,
            price.rate_bps
        ),
        (70, 0, 0, 370)
    );
    assert_eq!(price.rate_bps, d.interest_rate_bps);

    let split = d.lgd_split.as_ref().expect("lgd split");
    assert_eq!(
        (split.exposure.clone(), split.unsecured.clone()),
        (Some(cny(360_000)), Some(cny(360_000)))
    );
    assert!(split.secured_parts.is_empty());
    assert_eq!((split.unsecured_lgd_bps, split.lgd_bps), (4500, d.lgd_bps));

    let r = d.raroc_inputs.as_ref().expect("raroc inputs");
    assert_eq!(
        (r.rate_bps, r.funding_cost_bps, r.operating_cost_bps, r.lgd_bps),
        (370, 160, 80, 4500)
    );
    assert_eq!((r.risk_weight_bps, r.capital_ratio_bps), (7500, 1050));
    assert!((r.capital_bps - 787.5).abs() < 1e-9);
    assert_eq!((r.raroc, r.hurdle), (d.raroc, 0.10));

    let basis = d.authority_basis.as_ref().expect("authority basis");
    assert_eq!((basis.limits_level.as_str(), basis.level.as_str()), ("L0", "L0"));
    assert_eq!(basis.step, pb::AuthorityStep::None as i32);
    assert!(basis.passed_over.is_empty());

    // With CNY 4,000,000 already lent to the group, the total exposure passes over L0 and L1.
    let mut big = worked_application();
    big.existing_group_exposure = Some(cny(4_000_000));
    let d = client
        .decide(decide("explain-2", big))
        .await
        .expect("decide")
        .into_inner();
    assert_eq!(d.required_authority, "L2");
    let basis = d.authority_basis.as_ref().expect("authority basis");
    let stopped: Vec<(&str, &str)> = basis
        .passed_over
        .iter()
        .map(|p| (p.level.as_str(), p.limit.as_str()))
        .collect();
    assert_eq!(stopped, [("L0", "max_total_exposure"), ("L1", "max_total_exposure")]);
    let first = &basis.passed_over[0];
    assert_eq!(first.figures[0].name, "total_exposure");
    assert_eq!(
        first.figures[0].value,
        Some(pb::compared_figure::Value::Amount(cny(4_360_000)))
    );
    assert_eq!(
        first.thresholds[0].value,
        Some(pb::compared_figure::Value::Amount(cny(3_000_000)))
    );
    let fetched = get_decision(&mut client, &d.decision_id).await;
    assert_eq!(fetched, d, "the recorded decision keeps its explanations");
}

#[tokio::test]
async fn decide_is_idempotent_by_request_id() {
    let server = start().await;
    let mut client = server.decisions().await;
    let first = client
        .decide(decide("idem-1", worked_application()))
        .await
        .expect("first")
        .into_inner();
    let retry = client
        .decide(decide("idem-1", worked_application()))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(retry, first, "a retry returns the recorded decision unchanged");

    let mut other = worked_application();
    other.requested_amount = Some(cny(700_000));
    let reused = client
        .decide(decide("idem-1", other))
        .await
        .expect_err("different application");
    assert_eq!(reused.code(), Code::AlreadyExists);
    assert_eq!(error_reason(&reused).as_deref(), Some("REQUEST_ID_REUSED"));

    // Concurrent identical requests: one decision, everyone gets it.
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let mut c = server.decisions().await;
        tasks.push(tokio::spawn(async move {
            c.decide(decide("idem-concurrent", worked_application()))
                .await
                .map(|r| r.into_inner().decision_id)
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        ids.insert(t.await.expect("join").expect("decide"));
    }
    assert_eq!(ids.len(), 1, "exactly one decision for one request id: {ids:?}");
}

#[tokio::test]
async fn decisions_are_deterministic_across_request_ids() {
    let server = start().await;
    let mut client = server.decisions().await;
    let a = client
        .decide(decide("det-a", worked_application()))
        .await
        .expect("a")
        .into_inner();
    let b = client
        .decide(decide("det-b", worked_application()))
        .await
        .expect("b")
        .into_inner();
    assert_ne!(a.decision_id, b.decision_id);
    let strip = |mut d: pb::Decision| {
        d.decision_id.clear();
        d.request_id.clear();
        d.decided_at = None;
        d
    };
    assert_eq!(strip(a), strip(b), "same inputs and policy give the same decision");
}

async fn expect_invalid(server: &TestServer, request: pb::DecideRequest, field: &str) {
    let mut client = server.decisions().await;
    let status = client.decide(request).await.expect_err("must be rejected");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let fields = violations(&status);
    assert!(
        fields.iter().any(|f| f == field),
        "expected a violation on {field}, got {fields:?}"
    );
}

#[tokio::test]
async fn every_invalid_field_is_named() {
    let server = start().await;

    let mut bad_uscc = worked_application();
    if let Some(pb::loan_application::Subject::Profile(p)) = bad_uscc.subject.as_mut() {
        p.enterprise_id = "91110000600037341M".into();
    }
    expect_invalid(&server, decide("v1", bad_uscc), "application.profile.enterprise_id").await;

    let mut bad_format = worked_application();
    bad_format.subject = Some(pb::loan_application::Subject::EnterpriseId("9111000060003734".into()));
    expect_invalid(&server, decide("v2", bad_format), "application.enterprise_id").await;

    let mut negative = worked_application();
    negative.requested_amount = Some(pb::Money {
        currency: "CNY".into(),
        units_minor: -100,
    });
    expect_invalid(
        &server,
        decide("v3", negative),
        "application.requested_amount.units_minor",
    )
    .await;

    let mut zero = worked_application();
    zero.requested_amount = Some(pb::Money {
        currency: "CNY".into(),
        units_minor: 0,
    });
    expect_invalid(&server, decide("v4", zero), "application.requested_amount.units_minor").await;

    let mut currency = worked_application();
    currency.requested_amount = Some(pb::Money {
        currency: "XYZ".into(),
        units_minor: 100,
    });
    expect_invalid(&server, decide("v5", currency), "application.requested_amount.currency").await;

    let mut lower = worked_application();
    lower.requested_amount = Some(pb::Money {
        currency: "cny".into(),
        units_minor: 100,
    });
    expect_invalid(&server, decide("v6", lower), "application.requested_amount.currency").await;

    let mut term = worked_application();
    term.term_months = 24; // tax loans run at most 12 months
    expect_invalid(&server, decide("v7", term), "application.term_months").await;

    let mut no_term = worked_application();
    no_term.term_months = 0;
    expect_invalid(&server, decide("v8", no_term), "application.term_months").await;

    let mut no_subject = worked_application();
    no_subject.subject = None;
    expect_invalid(&server, decide("v9", no_subject), "application.subject").await;

    expect_invalid(&server, decide("", worked_application()), "request_id").await;
    expect_invalid(&server, decide("has space", worked_application()), "request_id").await;
    expect_invalid(
        &server,
        pb::DecideRequest {
            request_id: "v10".into(),
            application: None,
        },
        "application",
    )
    .await;

    let mut no_product = worked_application();
    no_product.product = 0;
    expect_invalid(&server, decide("v11", no_product), "application.product").await;

    let mut unknown_product = worked_application();
    unknown_product.product = 99;
    expect_invalid(&server, decide("v12", unknown_product), "application.product").await;

    let mut needs_collateral = worked_application();
    needs_collateral.product = pb::Product::PropertySecured as i32;
    needs_collateral.term_months = 60;
    expect_invalid(&server, decide("v13", needs_collateral), "application.collateral").await;

    let mut bad_date = worked_application();
    if let Some(pb::loan_application::Subject::Profile(p)) = bad_date.subject.as_mut() {
        p.established_on = Some(pb::Date {
            year: 2023,
            month: 2,
            day: 30,
        });
    }
    expect_invalid(
        &server,
        decide("v14", bad_date),
        "application.profile.established_on.day",
    )
    .await;

    let mut future = worked_application();
    if let Some(pb::loan_application::Subject::Profile(p)) = future.subject.as_mut()
        && let Some(c) = p.credit_history.as_mut()
    {
        c.as_of = Some(pb::Date {
            year: 2027,
            month: 1,
            day: 1,
        });
    }
    expect_invalid(
        &server,
        decide("v15", future),
        "application.profile.credit_history.as_of",
    )
    .await;

    let mut bad_collateral = worked_application();
    bad_collateral.collateral.push(pb::Collateral {
        r#type: 0,
        appraised_value: Some(cny(-1)),
        lien_rank: 2,
        prior_liens: None,
        appraised_on: None,
    });
    let mut client = server.decisions().await;
    let status = client
        .decide(decide("v16", bad_collateral))
        .await
        .expect_err("invalid collateral");
    assert_violations_include(
        &status,
        &[
            "application.collateral[0].type",
            "application.collateral[0].appraised_value.units_minor",
            "application.collateral[0].prior_liens",
        ],
    );

    // Several problems at once are all reported.
    let mut many = worked_application();
    many.term_months = 0;
    many.purpose.clear();
    many.requested_amount = None;
    let status = client.decide(decide("", many)).await.expect_err("many");
    assert_violations_include(
        &status,
        &[
            "request_id",
            "application.term_months",
            "application.purpose",
            "application.requested_amount",
        ],
    );
}

#[tokio::test]
async fn profile_fields_are_validated_too() {
    let server = start().await;
    let mut profiles = server.profiles().await;
    let mut p = worked_profile();
    p.registry_status = 0;
    p.industry_code = "c33".into();
    p.name.clear();
    if let Some(f) = p.financials.as_mut() {
        f.total_assets = Some(cny(0));
        f.interest_expense = None;
    }
    if let Some(t) = p.tax.as_mut() {
        t.credit_rating = "AA".into();
    }
    if let Some(c) = p.controller.as_mut() {
        c.credit_standing = 0;
        c.age = 0;
    }
    if let Some(b) = p.bank_flows.as_mut() {
        b.monthly_inflows.push(cny(1));
    }
    let status = profiles
        .put_profile(pb::PutProfileRequest {
            profile: Some(p),
            expected_version: None,
        })
        .await
        .expect_err("invalid profile");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_violations_include(
        &status,
        &[
            "profile.registry_status",
            "profile.name",
            "profile.financials.total_assets.units_minor",
            "profile.financials.interest_expense",
            "profile.tax.credit_rating",
            "profile.controller.credit_standing",
            "profile.controller.age",
            "profile.bank_flows.monthly_inflows",
        ],
    );
    let status = profiles
        .put_profile(pb::PutProfileRequest {
            profile: None,
            expected_version: None,
        })
        .await
        .expect_err("no profile");
    assert_eq!(violations(&status), ["profile"]);
}

#[tokio::test]
async fn profile_cache_versions_and_conditional_writes() {
    let server = start().await;
    let mut profiles = server.profiles().await;
    let put = |expected| pb::PutProfileRequest {
        profile: Some(worked_profile()),
        expected_version: expected,
    };

    // Create-only write.
    assert_eq!(
        profiles
            .put_profile(put(Some(0)))
            .await
            .expect("create")
            .into_inner()
            .version,
        1
    );
    let stale = profiles.put_profile(put(Some(0))).await.expect_err("exists already");
    assert_eq!(stale.code(), Code::Aborted);
    assert_eq!(error_reason(&stale).as_deref(), Some("PROFILE_VERSION_MISMATCH"));
    {
        use tonic_types::StatusExt;
        let info = stale.get_details_error_info().expect("error info");
        assert_eq!(info.metadata.get("current_version").map(String::as_str), Some("1"));
    }
    assert_eq!(
        profiles
            .put_profile(put(Some(1)))
            .await
            .expect("cas")
            .into_inner()
            .version,
        2
    );
    assert_eq!(
        profiles
            .put_profile(put(None))
            .await
            .expect("blind write")
            .into_inner()
            .version,
        3
    );

    let got = profiles
        .get_profile(pb::GetProfileRequest {
            enterprise_id: "9111 0000 6000 3734 1l".into(),
        })
        .await
        .expect("get (normalised id)")
        .into_inner();
    assert_eq!(got.version, 3);
    let mut sent = worked_profile();
    sent.guarantee_network = Some(pb::GuaranteeNetwork::default());
    if let Some(legal) = sent.legal.as_mut() {
        legal.unsettled_enforcement.get_or_insert(cny(0));
    }
    assert_eq!(got.profile, Some(sent), "the cached profile reads back as stored");

    let deleted = profiles
        .delete_profile(pb::DeleteProfileRequest {
            enterprise_id: "91110000600037341L".into(),
            allow_missing: false,
        })
        .await
        .expect("delete");
    assert!(deleted.into_inner().deleted);
    let again = profiles
        .delete_profile(pb::DeleteProfileRequest {
            enterprise_id: "91110000600037341L".into(),
            allow_missing: false,
        })
        .await
        .expect_err("gone");
    assert_eq!(again.code(), Code::NotFound);
    let tolerant = profiles
        .delete_profile(pb::DeleteProfileRequest {
            enterprise_id: "91110000600037341L".into(),
            allow_missing: true,
        })
        .await
        .expect("allow missing");
    assert!(!tolerant.into_inner().deleted);
    let missing = profiles
        .get_profile(pb::GetProfileRequest {
            enterprise_id: "91110000600037341L".into(),
        })
        .await
        .expect_err("gone");
    assert_eq!(missing.code(), Code::NotFound);
    // Versions keep rising after a delete, so a stale writer cannot mistake a new profile for its own.
    assert_eq!(
        profiles
            .put_profile(put(Some(0)))
            .await
            .expect("recreate")
            .into_inner()
            .version,
        4
    );

    let bad = profiles
        .get_profile(pb::GetProfileRequest {
            enterprise_id: "not-an-id".into(),
        })
        .await
        .expect_err("bad id");
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert_eq!(violations(&bad), ["enterprise_id"]);
}

#[tokio::test]
async fn profiles_expire_after_their_ttl() {
    let server = TestServer::builder()
        .profile_ttl(std::time::Duration::from_millis(200))
        .start()
        .await;
    let mut profiles = server.profiles().await;
    profiles
        .put_profile(pb::PutProfileRequest {
            profile: Some(worked_profile()),
            expected_version: None,
        })
        .await
        .expect("put");
    assert!(
        profiles
            .get_profile(pb::GetProfileRequest {
                enterprise_id: "91110000600037341L".into()
            })
            .await
            .is_ok()
    );
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let gone = profiles
        .get_profile(pb::GetProfileRequest {
            enterprise_id: "91110000600037341L".into(),
        })
        .await
        .expect_err("expired");
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn get_decision_errors() {
    let server = start().await;
    let mut client = server.decisions().await;
    let unknown = client
        .get_decision(pb::GetDecisionRequest {
            decision_id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(error_reason(&unknown).as_deref(), Some("DECISION_NOT_FOUND"));
    for bad in ["", "not a uuid!", &"a".repeat(100)] {
        let status = client
            .get_decision(pb::GetDecisionRequest {
                decision_id: bad.into(),
            })
            .await
            .expect_err("bad id");
        assert_eq!(status.code(), Code::InvalidArgument, "{bad:?}");
        assert_eq!(violations(&status), ["decision_id"]);
    }
}

#[tokio::test]
async fn policy_service_describes_and_validates() {
    let server = start().await;
    let mut client = server.policies().await;
    let info = client
        .get_policy(pb::GetPolicyRequest { include_content: true })
        .await
        .expect("get policy")
        .into_inner();
    assert_eq!(info.version, "sme-default-1.1.0");
    assert_eq!(
        info.hash,
        riskdecision::policy::sha256_hex(riskdecision::policy::DEFAULT_POLICY_TOML.as_bytes())
    );
    assert_eq!(info.currency, "CNY");
    assert_eq!(info.products.len(), 5);
    assert_eq!(info.grades.first().map(String::as_str), Some("G1"));
    assert_eq!(info.content, riskdecision::policy::DEFAULT_POLICY_TOML);

    let ok = client
        .validate_policy(pb::ValidatePolicyRequest {
            content: info.content.clone(),
        })
        .await
        .expect("validate")
        .into_inner();
    assert!(ok.valid && ok.errors.is_empty());
    assert_eq!(ok.hash, info.hash);

    let broken = info
        .content
        .replace("spread_bps = 70", "spread_bps = -70")
        .replace("version = \"sme-default-1.1.0\"", "version = \"candidate-2\"");
    let bad = client
        .validate_policy(pb::ValidatePolicyRequest { content: broken })
        .await
        .expect("validate")
        .into_inner();
    assert!(!bad.valid);
    assert_eq!(bad.version, "candidate-2");
    let e = bad
        .errors
        .iter()
        .find(|e| e.field == "grades[4].spread_bps")
        .expect("names the field");
    assert!(e.line > 0, "{e:?}");

    let syntax = client
        .validate_policy(pb::ValidatePolicyRequest {
            content: "version = \n".into(),
        })
        .await
        .expect("validate")
        .into_inner();
    assert!(!syntax.valid && syntax.errors[0].line == 1, "{syntax:?}");

    let empty = client
        .validate_policy(pb::ValidatePolicyRequest { content: "  ".into() })
        .await
        .expect_err("empty");
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert_eq!(violations(&empty), ["content"]);
}

/// Malformed values of every kind come back as INVALID_ARGUMENT (or a decision), never INTERNAL,
/// UNKNOWN or a dropped connection.
#[tokio::test]
async fn hostile_input_never_yields_internal() {
    let server = start().await;
    let mut client = server.decisions().await;
    let mut cases: Vec<pb::LoanApplication> = Vec::new();
    let base = worked_application();
    let with_profile = |f: &dyn Fn(&mut pb::EnterpriseProfile)| {
        let mut a = base.clone();
        if let Some(pb::loan_application::Subject::Profile(p)) = a.subject.as_mut() {
            f(p);
        }
        a
    };
    cases.push(with_profile(&|p| p.registry_status = i32::MAX));
    cases.push(with_profile(&|p| {
        p.established_on = Some(pb::Date {
            year: i32::MIN,
            month: i32::MAX,
            day: -1,
        })
    }));
    cases.push(with_profile(&|p| {
        p.enterprise_id = "９１１１００００６０００３７３４１Ｌ".into()
    }));
    cases.push(with_profile(&|p| p.name = "\u{0}".repeat(10)));
    cases.push(with_profile(&|p| {
        if let Some(f) = p.financials.as_mut() {
            f.revenue = Some(pb::Money {
                currency: "CNY".into(),
                units_minor: i64::MAX,
            });
            f.net_profit = Some(pb::Money {
                currency: "CNY".into(),
                units_minor: i64::MIN,
            });
        }
    }));
    cases.push(with_profile(&|p| {
        if let Some(f) = p.financials.as_mut() {
            f.total_liabilities = Some(cny(1_000_000_000_000));
            f.operating_cash_flow = Some(cny(-1_000_000_000_000));
            f.external_guarantees = Some(cny(9_999_999_999_999));
        }
    }));
    cases.push(with_profile(&|p| {
        if let Some(c) = p.credit_history.as_mut() {
            c.max_days_past_due_24m = u32::MAX;
            c.current_days_past_due = u32::MAX;
        }
    }));
    cases.push(with_profile(&|p| {
        if let Some(u) = p.utilities.as_mut() {
            u.electricity_kwh_12m = u64::MAX;
        }
        p.industry_code = "C".into();
        p.utilities = Some(pb::Utilities {
            as_of: Some(pb::Date {
                year: 2026,
                month: 11,
                day: 1,
            }),
            electricity_kwh_12m: u64::MAX,
            electricity_kwh_prior_12m: 1,
            source: "State Grid meter data".into(),
            fetched_at: Some(prost_types::Timestamp {
                seconds: 1_795_132_800,
                nanos: 0,
            }),
        });
    }));
    cases.push(with_profile(&|p| {
        if let Some(b) = p.bank_flows.as_mut() {
            b.monthly_inflows = vec![cny(0); 12];
        }
        if let Some(f) = p.financials.as_mut() {
            f.revenue = Some(cny(0));
            f.current_liabilities = Some(cny(0));
            f.interest_expense = Some(cny(0));
        }
    }));
    let mut huge = base.clone();
    huge.requested_amount = Some(pb::Money {
        currency: "CNY".into(),
        units_minor: i64::MAX,
    });
    huge.existing_group_exposure = Some(pb::Money {
        currency: "CNY".into(),
        units_minor: i64::MAX,
    });
    cases.push(huge);
    let mut collateral = base.clone();
    collateral.collateral = vec![
        pb::Collateral {
            r#type: 3,
            appraised_value: Some(cny(1_000_000_000_000)),
            lien_rank: 1,
            prior_liens: None,
            appraised_on: None
        };
        25
    ];
    cases.push(collateral);

    for (i, app) in cases.into_iter().enumerate() {
        match client.decide(decide(&format!("hostile-{i}"), app)).await {
            Ok(d) => assert!(d.into_inner().outcome != 0, "case {i}: a decision must have an outcome"),
            Err(status) => assert_eq!(status.code(), Code::InvalidArgument, "case {i}: {status:?}"),
        }
    }
}

#[tokio::test]
async fn shutdown_is_graceful_and_later_calls_fail_unavailable() {
    let server = start().await;
    let channel = server.channel().await;
    let mut client = pb::decision_service_client::DecisionServiceClient::new(channel);
    client
        .decide(decide("before-shutdown", worked_application()))
        .await
        .expect("served before shutdown");
    server.shutdown().await.expect("server stops cleanly");
    let after = client
        .decide(decide("after-shutdown", worked_application()))
        .await
        .expect_err("no server");
    assert_eq!(after.code(), Code::Unavailable, "{after:?}");
}

/// Attack review finding 4: a request tonic cannot read because of the caller is answered
/// INVALID_ARGUMENT, never INTERNAL (which pages on-call for a client's bug).
#[tokio::test]
async fn unreadable_requests_are_invalid_argument_not_internal() {
    use prost::Message as _;
    use support::raw_grpc::{DECIDE_PATH, Ending, frame, message_frame, nested_groups, raw_call};
    let server = start().await;
    let valid = decide("unreadable-0", worked_application()).encode_to_vec();
    let len = |b: &[u8]| u32::try_from(b.len()).expect("small");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // A field tag with wire type 7, which protobuf does not have.
        ("not protobuf", message_frame(&[0x0f, 0x01, 0x02])),
        (
            "groups nested past the recursion limit",
            message_frame(&nested_groups(150)),
        ),
        ("compression flag 2", frame(2, len(&valid), &valid)),
        (
            "compression flag 1 without grpc-encoding",
            frame(1, len(&valid), &valid),
        ),
        ("a frame cut short", frame(0, len(&valid), &valid[..10])),
        ("a header cut short", vec![0, 0, 0]),
        ("no message at all", Vec::new()),
    ];
    for (what, body) in cases {
        let answer = raw_call(server.addr, DECIDE_PATH, body, Ending::End)
            .await
            .expect("an answer");
        assert_eq!(
            answer.status.as_deref(),
            Some("3"),
            "{what}: INVALID_ARGUMENT expected, got {answer:?}"
        );
    }
    // A ScorePortfolio stream whose item is not protobuf ends INVALID_ARGUMENT (was OK).
    let answer = raw_call(
        server.addr,
        "/riskdecision.v1.DecisionService/ScorePortfolio",
        message_frame(&[0x0f, 0x01, 0x02]),
        Ending::End,
    )
    .await
    .expect("an answer");
    assert_eq!(answer.status.as_deref(), Some("3"), "{answer:?}");
    // The same bytes, well framed, are still served.
    let answer = raw_call(server.addr, DECIDE_PATH, message_frame(&valid), Ending::End)
        .await
        .expect("an answer");
    assert_eq!(answer.status.as_deref(), Some("0"), "{answer:?}");
}

/// Attack review finding 5: many bad fields (and long bad values) give a bounded
/// `grpc-status-details-bin`: C-core clients refuse trailers over 8 KiB and would report
/// RESOURCE_EXHAUSTED instead of INVALID_ARGUMENT. The first violations are named, a last one
/// says how many more were left out.
#[tokio::test]
async fn field_violations_are_capped_so_the_trailer_stays_under_8_kib() {
    let server = start().await;
    let mut client = server.decisions().await;
    let mut app = worked_application();
    let long_currency = "X".repeat(400);
    app.collateral = (0..20)
        .map(|_| pb::Collateral {
            r#type: 0,
            appraised_value: Some(pb::Money {
                currency: long_currency.clone(),
                units_minor: -1,
            }),
            lien_rank: 12,
            prior_liens: None,
            appraised_on: Some(pb::Date {
                year: 1,
                month: 13,
                day: 40,
            }),
        })
        .collect();
    app.guarantors = (0..20)
        .map(|_| pb::Guarantor {
            r#type: 0,
            reference: String::new(),
        })
        .collect();
    let status = client
        .decide(decide("many-bad-fields", app))
        .await
        .expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    // The trailer is the details in base64 (4 characters per 3 bytes), next to grpc-message.
    let trailer = status.details().len().div_ceil(3) * 4;
    assert!(
        trailer + status.message().len() < 8 * 1024,
        "grpc-status-details-bin of {trailer} bytes and a message of {}",
        status.message().len()
    );
    use tonic_types::StatusExt;
    let bad = status.get_details_bad_request().expect("BadRequest details");
    let fields: Vec<&str> = bad.field_violations.iter().map(|v| v.field.as_str()).collect();
    assert!(fields.contains(&"application.collateral[0].type"), "{fields:?}");
    let last = bad.field_violations.last().expect("violations");
    assert!(
        last.description.contains("more invalid fields left out"),
        "the last violation counts the rest: {last:?}"
    );
    assert!(
        bad.field_violations
            .iter()
            .all(|v| v.description.chars().count() <= 200),
        "descriptions are bounded"
    );
}
