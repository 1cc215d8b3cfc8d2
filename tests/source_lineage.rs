//! Source lineage and the cross-checks V10..V16 through a real server: PutProfile and inline
//! profiles refuse sources without their provider, fetch time or (credit report) authorisation;
//! decisions keep the sources they used; the new source fields round-trip through GetProfile.

mod support;

use riskdecision::pb;
use support::*;
use tonic::Code;

fn put(profile: pb::EnterpriseProfile) -> pb::PutProfileRequest {
    pb::PutProfileRequest {
        profile: Some(profile),
        expected_version: None,
    }
}

fn timestamp(seconds: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds, nanos: 0 }
}

/// 2026-11-20T00:00:00Z.
const NOV_20: i64 = 1_795_132_800;

#[tokio::test]
async fn sources_without_lineage_or_consent_are_refused_naming_the_fields() {
    let server = start().await;
    let mut profiles = server.profiles().await;
    let mut p = worked_profile();
    if let Some(t) = p.tax.as_mut() {
        t.source.clear();
        t.fetched_at = None;
    }
    if let Some(c) = p.credit_history.as_mut() {
        c.authorisation_ref.clear();
    }
    if let Some(b) = p.bank_flows.as_mut() {
        // A year after the business date.
        b.fetched_at = Some(timestamp(NOV_20 + 365 * 86_400));
    }
    if let Some(i) = p.invoices.as_mut() {
        // A month before the invoices' as-of date.
        i.fetched_at = Some(timestamp(NOV_20 - 35 * 86_400));
    }
    if let Some(l) = p.legal.as_mut() {
        l.fetched_at = Some(prost_types::Timestamp {
            seconds: NOV_20,
            nanos: -1,
        });
    }
    if let Some(s) = p.social_insurance.as_mut() {
        s.source = " ".into();
    }
    let status = profiles.put_profile(put(p)).await.expect_err("invalid lineage");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_violations_include(
        &status,
        &[
            "profile.tax.source",
            "profile.tax.fetched_at",
            "profile.credit_history.authorisation_ref",
            "profile.bank_flows.fetched_at",
            "profile.invoices.fetched_at",
            "profile.legal.fetched_at",
            "profile.social_insurance.source",
        ],
    );
    // The declared financials need no lineage.
    let mut p = worked_profile();
    if let Some(f) = p.financials.as_mut() {
        f.source.clear();
        f.fetched_at = None;
    }
    profiles.put_profile(put(p)).await.expect("financials without lineage");
}

#[tokio::test]
async fn inline_profiles_are_held_to_the_same_lineage_rules() {
    let server = start().await;
    let mut decisions = server.decisions().await;
    let mut req = decide_inline("lineage-inline-1");
    let app = req.application.as_mut().expect("application");
    let Some(pb::loan_application::Subject::Profile(p)) = app.subject.as_mut() else {
        panic!("inline profile example");
    };
    if let Some(c) = p.credit_history.as_mut() {
        c.authorisation_ref.clear();
        c.source.clear();
    }
    let status = decisions.decide(req).await.expect_err("no consent");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_violations_include(
        &status,
        &[
            "application.profile.credit_history.authorisation_ref",
            "application.profile.credit_history.source",
        ],
    );
}

#[tokio::test]
async fn the_decision_keeps_the_sources_it_used() {
    let server = start().await;
    let mut decisions = server.decisions().await;
    let decided = decisions
        .decide(decide_inline("lineage-decide-1"))
        .await
        .expect("decides")
        .into_inner();
    let names: Vec<&str> = decided.sources.iter().map(|s| s.name.as_str()).collect();
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
    let bureau = &decided.sources[5];
    assert_eq!(bureau.source, "PBOC Credit Reference Center");
    assert_eq!(bureau.authorisation_ref, "CONSENT-37341L-20261120");
    assert_eq!(bureau.fetched_at, Some(timestamp(NOV_20 + 86_400 + 5_400)));
    assert_eq!(
        bureau.as_of,
        Some(pb::Date {
            year: 2026,
            month: 11,
            day: 20
        })
    );
    let stored = get_decision(&mut decisions, &decided.decision_id).await;
    assert_eq!(stored.sources, decided.sources);
    // The example's new cross-checks all ran and are green.
    for code in ["V10", "V11", "V12", "V13", "V14", "V15", "V16"] {
        let f = decided
            .verification
            .iter()
            .find(|f| f.code == code)
            .unwrap_or_else(|| panic!("{code}"));
        assert_eq!(f.severity, pb::FindingSeverity::Info as i32, "{f:?}");
        assert_ne!(f.band, "not checked", "{f:?}");
        assert!(!f.figures.is_empty(), "{f:?}");
    }
}

#[tokio::test]
async fn a_related_party_top_buyer_with_most_sales_declines_k10_over_the_api() {
    let server = start().await;
    let mut decisions = server.decisions().await;
    let mut req = decide_inline("lineage-v14-1");
    let app = req.application.as_mut().expect("application");
    let Some(pb::loan_application::Subject::Profile(p)) = app.subject.as_mut() else {
        panic!("inline profile example");
    };
    if let Some(i) = p.invoices.as_mut() {
        // 2,000,000 of 2,500,000 (80%) to a related party.
        i.top_buyer_sales_12m = Some(cny(2_000_000));
        i.top_buyer_related_party = true;
    }
    let d = decisions.decide(req).await.expect("decides").into_inner();
    assert_eq!(d.outcome, pb::Outcome::Decline as i32);
    assert!(d.knock_outs.iter().any(|r| r.code == "K10"), "{:?}", d.knock_outs);
    let v14 = d.verification.iter().find(|f| f.code == "V14").expect("V14");
    assert_eq!(v14.severity, pb::FindingSeverity::Critical as i32);
    assert_eq!(v14.band, "> 70% (related party)");
    assert!((v14.ratio - 0.8).abs() < 1e-12);
    let names: Vec<&str> = v14.figures.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["top_buyer_sales_12m", "vat_sales_12m", "top_buyer_related_party"]
    );
}

#[tokio::test]
async fn get_profile_returns_the_new_source_fields() {
    let server = start().await;
    let mut profiles = server.profiles().await;
    let sent = worked_profile();
    profiles.put_profile(put(sent.clone())).await.expect("stored");
    let got = profiles
        .get_profile(pb::GetProfileRequest {
            enterprise_id: sent.enterprise_id.clone(),
        })
        .await
        .expect("found")
        .into_inner()
        .profile
        .expect("profile");
    assert_eq!(got.social_insurance, sent.social_insurance);
    assert_eq!(got.invoices, sent.invoices);
    assert_eq!(got.credit_history, sent.credit_history);
    assert_eq!(got.tax, sent.tax);
    assert_eq!(got.financials, sent.financials);
    assert_eq!(
        got.bank_flows
            .as_ref()
            .map(|b| (&b.round_trips, &b.source, &b.fetched_at)),
        sent.bank_flows
            .as_ref()
            .map(|b| (&b.round_trips, &b.source, &b.fetched_at))
    );
}

#[tokio::test]
async fn every_inline_example_runs_the_new_cross_checks_green() {
    let server = start().await;
    let mut decisions = server.decisions().await;
    for name in [
        "decide-equipment-refer.json",
        "decide-invoice-financing-approve.json",
        "decide-property-secured-approve.json",
        "decide-tax-loan-counter-offer.json",
        "decide-tax-loan-decline-false-revenue.json",
        "decide-working-capital-approve-with-conditions.json",
        "decide-working-capital-approve.json",
        "decide-working-capital-decline-knockout.json",
    ] {
        let d = decisions
            .decide(decide_example(name))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .into_inner();
        for code in ["V10", "V11", "V12", "V13", "V14", "V15", "V16"] {
            let f = d.verification.iter().find(|f| f.code == code);
            let f = f.unwrap_or_else(|| panic!("{name}: {code}"));
            assert_eq!(f.severity, pb::FindingSeverity::Info as i32, "{name}: {f:?}");
            assert_ne!(f.band, "not checked", "{name}: {f:?}");
        }
        assert!(
            d.sources.iter().all(|s| !s.source.is_empty()),
            "{name}: {:?}",
            d.sources
        );
    }
}
