//! Criterion benchmarks of the pure core (docs/PERFORMANCE.md): one full `decide` with the
//! default policy for every path the example files take (approve, approve with conditions,
//! counter-offer, refer, decline on knock-outs, decline on false revenue), `score_profile`,
//! `monitor` for every loan class, and policy load with validation. The `adapter` group splits
//! the rest of a `Decide` call (protobuf decode, validation and conversion, digests, answer
//! conversion and encode) so the service's own costs can be told from the core's.
//!
//! `cargo bench --bench core` (add `-- decide` to run one group).

// The allocator riskd runs with (src/bin/riskd.rs): the core allocates a few hundred small
// strings per decision, so the allocator is part of what is measured.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use riskdecision::domain::decision::{Decision, decide, score_profile};
use riskdecision::domain::monitoring::{LoanSnapshot, monitor};
use riskdecision::domain::{EnterpriseProfile, LoanApplication};
use riskdecision::grpc::convert;
use riskdecision::grpc::monitor_convert;
use riskdecision::grpc::validate::Validator;
use riskdecision::pb;
use riskdecision::policy::{DEFAULT_POLICY_TOML, Policy, sha256_hex};
use time::Date;
use time::macros::date;

/// The date the example files are dated for.
const BUSINESS_DATE: Date = date!(2026 - 11 - 30);

/// Decide examples and the path each takes.
const DECIDE_EXAMPLES: &[(&str, &str)] = &[
    ("approve", "decide-working-capital-approve.json"),
    (
        "approve_conditions",
        "decide-working-capital-approve-with-conditions.json",
    ),
    ("approve_secured", "decide-property-secured-approve.json"),
    ("counter_offer", "decide-tax-loan-counter-offer.json"),
    ("refer", "decide-equipment-refer.json"),
    ("decline_knockouts", "decide-working-capital-decline-knockout.json"),
    ("decline_false_revenue", "decide-tax-loan-decline-false-revenue.json"),
];

const MONITOR_EXAMPLES: &[(&str, &str)] = &[
    ("normal_rescored", "monitor-normal.json"),
    ("special_mention", "monitor-special-mention.json"),
    ("substandard", "monitor-substandard.json"),
    ("doubtful", "monitor-doubtful.json"),
    ("loss", "monitor-loss.json"),
];

fn example(name: &str) -> String {
    let path = format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn parse<M: Message + Default>(full_name: &str, name: &str) -> M {
    riskdecision::json::from_json(full_name, &example(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn validator(policy: &Policy) -> Validator<'_> {
    Validator::new(&policy.currency, BUSINESS_DATE.next_day().unwrap_or(Date::MAX))
}

fn domain_profile(policy: &Policy, p: &pb::EnterpriseProfile) -> EnterpriseProfile {
    let mut v = validator(policy);
    let profile = convert::profile(&mut v, "profile", p, policy);
    assert!(v.is_clean(), "profile violations: {:?}", v.violations);
    profile.expect("valid profile")
}

/// An example's application and inline profile, converted as the service converts them.
fn decide_inputs(policy: &Policy, name: &str) -> (pb::DecideRequest, LoanApplication, EnterpriseProfile) {
    let req: pb::DecideRequest = parse("riskdecision.v1.DecideRequest", name);
    let app_pb = req.application.as_ref().expect("application");
    let Some(pb::loan_application::Subject::Profile(p)) = &app_pb.subject else {
        panic!("{name}: the benchmarks need an inline profile");
    };
    let profile = domain_profile(policy, p);
    let mut v = validator(policy);
    let app = convert::application(&mut v, "application", app_pb).expect("valid application");
    assert!(v.is_clean(), "{name}: {:?}", v.violations);
    (req, app, profile)
}

/// The cached profiles the by-id monitoring examples refer to.
fn cached_profiles(policy: &Policy) -> Vec<EnterpriseProfile> {
    ["put-profile.json", "put-profile-manufacturer.json"]
        .iter()
        .map(|name| {
            let req: pb::PutProfileRequest = parse("riskdecision.v1.PutProfileRequest", name);
            domain_profile(policy, req.profile.as_ref().expect("profile"))
        })
        .collect()
}

fn monitor_inputs(
    policy: &Policy,
    name: &str,
    cached: &[EnterpriseProfile],
) -> (LoanSnapshot, Option<EnterpriseProfile>) {
    let req: pb::MonitorRequest = parse("riskdecision.v1.MonitorRequest", name);
    let loan = req.loan.as_ref().expect("loan");
    let mut v = validator(policy);
    let snapshot = monitor_convert::snapshot(&mut v, "loan", loan, policy).expect("valid snapshot");
    assert!(v.is_clean(), "{name}: {:?}", v.violations);
    let profile = match &loan.subject {
        Some(pb::loan_snapshot::Subject::Profile(p)) => Some(domain_profile(policy, p)),
        Some(pb::loan_snapshot::Subject::EnterpriseId(id)) => {
            cached.iter().find(|p| p.enterprise_id.as_str() == id.as_str()).cloned()
        }
        None => None,
    };
    (snapshot, profile)
}

fn bench_decide(c: &mut Criterion) {
    let policy = Policy::embedded_default().expect("default policy");
    let mut group = c.benchmark_group("decide");
    group.throughput(Throughput::Elements(1));
    for (path, file) in DECIDE_EXAMPLES {
        let (_, app, profile) = decide_inputs(&policy, file);
        group.bench_with_input(
            BenchmarkId::from_parameter(path),
            &(app, profile),
            |b, (app, profile)| b.iter(|| decide(black_box(app), black_box(profile), &policy, BUSINESS_DATE)),
        );
    }
    group.finish();
}

fn bench_score(c: &mut Criterion) {
    let policy = Policy::embedded_default().expect("default policy");
    let req: pb::ScoreRequest = parse("riskdecision.v1.ScoreRequest", "score-inline.json");
    let Some(pb::score_request::Subject::Profile(p)) = &req.subject else {
        panic!("score-inline.json has an inline profile");
    };
    let profile = domain_profile(&policy, p);
    let manufacturer = cached_profiles(&policy).pop().expect("manufacturer profile");
    let mut group = c.benchmark_group("score_profile");
    group.throughput(Throughput::Elements(1));
    for (name, profile) in [("services", &profile), ("manufacturer", &manufacturer)] {
        group.bench_function(name, |b| {
            b.iter(|| score_profile(black_box(profile), &policy, BUSINESS_DATE))
        });
    }
    group.finish();
}

fn bench_monitor(c: &mut Criterion) {
    let policy = Policy::embedded_default().expect("default policy");
    let cached = cached_profiles(&policy);
    let mut group = c.benchmark_group("monitor");
    group.throughput(Throughput::Elements(1));
    for (class, file) in MONITOR_EXAMPLES {
        let (snapshot, profile) = monitor_inputs(&policy, file, &cached);
        group.bench_function(*class, |b| {
            b.iter(|| monitor(black_box(&snapshot), profile.as_ref(), &policy, BUSINESS_DATE))
        });
    }
    group.finish();
}

fn bench_policy(c: &mut Criterion) {
    let mut group = c.benchmark_group("policy");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("from_toml_default", |b| {
        b.iter(|| Policy::from_toml(black_box(DEFAULT_POLICY_TOML)))
    });
    group.finish();
}

/// The rest of a Decide with an inline profile, step by step (what the service adds to `decide`).
fn bench_adapter(c: &mut Criterion) {
    let policy = Policy::embedded_default().expect("default policy");
    let (req, app, profile) = decide_inputs(&policy, "decide-tax-loan-counter-offer.json");
    let wire = req.encode_to_vec();
    let app_pb = req.application.clone().expect("application");
    let evaluation = decide(&app, &profile, &policy, BUSINESS_DATE).expect("decides");
    let decision = Decision {
        decision_id: "0193b1f6-7f10-7c4e-9a5e-3b7d2c1e4f00".to_owned(),
        request_id: req.request_id.clone(),
        enterprise_id: profile.enterprise_id.to_string(),
        product: app.product,
        requested_amount: app.requested_amount,
        term_months: app.term_months,
        decided_at_ms: 1_796_000_000_000,
        profile_version: 0,
        request_digest: sha256_hex(&app_pb.encode_to_vec()),
        inputs_digest: String::new(),
        evaluation,
        caller: String::new(),
    };

    let mut group = c.benchmark_group("adapter");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode_decide_request", |b| {
        b.iter(|| pb::DecideRequest::decode(black_box(wire.as_slice())))
    });
    group.bench_function("validate_convert_request", |b| {
        b.iter(|| {
            let mut v = validator(&policy);
            let app_pb = black_box(&req).application.as_ref().expect("application");
            let Some(pb::loan_application::Subject::Profile(p)) = &app_pb.subject else {
                unreachable!("inline profile");
            };
            let profile = convert::profile(&mut v, "application.profile", p, &policy);
            let app = convert::application(&mut v, "application", app_pb);
            (profile, app, v.is_clean())
        })
    });
    group.bench_function("request_digest", |b| {
        b.iter(|| sha256_hex(&black_box(&app_pb).encode_to_vec()))
    });
    group.bench_function("inputs_digest", |b| {
        b.iter(|| serde_json::to_vec(&(black_box(&app), black_box(&profile))).map(|bytes| sha256_hex(&bytes)))
    });
    group.bench_function("clone_decision", |b| b.iter(|| black_box(&decision).clone()));
    // What Decide does with its recorded decision: move it into the answer, encode it.
    group.bench_function("decision_to_pb_encode", |b| {
        b.iter_batched(
            || decision.clone(),
            |d| convert::decision_into(&policy.currency, d).encode_to_vec(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_decide,
    bench_score,
    bench_monitor,
    bench_policy,
    bench_adapter
);
criterion_main!(benches);
