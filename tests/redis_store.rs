//! The Redis stores against a real `redis-server`: the shared one on 127.0.0.1:6379 with a unique
//! key prefix per test, and private servers for the round-trip count and the fault test.
//! Run with `--nocapture` to see the measured round trips and the fault timeline.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use riskdecision::app::{DecisionStore, ProfileStore, Recorded, StoreError};
use riskdecision::pb;
use riskdecision::store::RedisStores;
use riskdecision::store::redis::readiness_probe;
use support::redis_helpers::*;
use support::*;
use tonic::Code;

/// A valid USCC that no test puts in Redis.
const UNCACHED_ENTERPRISE: &str = "91440300MA5FLX5R1W";

fn decide_uncached(request_id: &str) -> pb::DecideRequest {
    let mut r = decide_by_id(request_id);
    if let Some(app) = r.application.as_mut() {
        app.subject = Some(pb::loan_application::Subject::EnterpriseId(UNCACHED_ENTERPRISE.into()));
    }
    r
}

fn score_by_id() -> pb::ScoreRequest {
    pb::ScoreRequest {
        subject: Some(pb::score_request::Subject::EnterpriseId(EXAMPLE_ENTERPRISE.into())),
        ..Default::default()
    }
}

fn inline_score() -> pb::ScoreRequest {
    pb::ScoreRequest {
        subject: Some(pb::score_request::Subject::Profile(
            put_profile_request().profile.expect("profile"),
        )),
        ..Default::default()
    }
}

/// The Redis layout of a profile. What a profile store does (versions, conditional writes,
/// deletes, TTL) is the contract of tests/store_contract.rs, which runs against Redis too.
#[tokio::test]
async fn a_profile_is_stored_as_a_schema_byte_and_json_with_a_ttl() {
    let url = local_redis_url();
    let prefix = unique_prefix("profiles");
    let stores = RedisStores::open(&options(&url, &prefix)).expect("stores");
    let p = &stores.profiles;
    let id = domain_profile().enterprise_id;
    let now = now_ms();
    for expected in 1..=4 {
        let stored = p.put(domain_profile(), None, now).await.expect("put");
        assert_eq!(stored.version, expected);
    }

    // Layout: schema byte + JSON under the profile key with a TTL; the counter has none.
    let mut conn = raw(&url).await;
    let key = format!("{prefix}:profile:{{{}}}", id.as_str());
    let bytes: Vec<u8> = conn.get(&key).await.expect("raw get");
    assert_eq!(bytes[0], 1, "schema byte");
    let json: serde_json::Value = serde_json::from_slice(&bytes[1..]).expect("json after the schema byte");
    assert_eq!(json["version"], 4);
    let ttl: i64 = conn.pttl(&key).await.expect("pttl");
    assert!(ttl > 3_590_000 && ttl <= 3_600_000, "profile PTTL {ttl}");
    let counter_ttl: i64 = conn
        .pttl(format!("{prefix}:profile-version:{{{}}}", id.as_str()))
        .await
        .expect("pttl");
    assert_eq!(counter_ttl, -1, "the version counter does not expire");

    // A value we cannot read is reported as corrupt, not a panic or a miss.
    let _: () = conn.set(&key, b"\x07garbage".as_slice()).await.expect("raw set");
    assert!(matches!(p.get(&id, now).await, Err(StoreError::Corrupt(_))));
    cleanup(&url, &prefix).await;
}

#[tokio::test]
async fn profiles_expire_with_their_ttl() {
    let url = local_redis_url();
    let prefix = unique_prefix("ttl");
    let mut opts = options(&url, &prefix);
    opts.profile_ttl = Duration::from_millis(800);
    let stores = RedisStores::open(&opts).expect("stores");
    let id = domain_profile().enterprise_id;
    let server = TestServer::builder().redis(stores.clone()).start().await;
    let mut profiles = server.profiles().await;
    let mut decisions = server.decisions().await;

    let put = profiles
        .put_profile(put_profile_request())
        .await
        .expect("put")
        .into_inner();
    assert_eq!(put.version, 1);
    let by_id = score_by_id();
    decisions.score(by_id.clone()).await.expect("score while cached");

    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(stores.profiles.get(&id, now_ms()).await, Ok(None), "expired in Redis");
    let miss = decisions.score(by_id).await.expect_err("expired profile");
    assert_eq!(miss.code(), Code::NotFound);
    let get = profiles
        .get_profile(pb::GetProfileRequest {
            enterprise_id: EXAMPLE_ENTERPRISE.into(),
        })
        .await
        .expect_err("expired profile");
    assert_eq!(get.code(), Code::NotFound);

    // Versions continue after expiry.
    let again = profiles
        .put_profile(put_profile_request())
        .await
        .expect("put again")
        .into_inner();
    assert_eq!(again.version, 2);
    server.shutdown().await.expect("serve returns Ok");
    cleanup(&url, &prefix).await;
}

#[tokio::test]
async fn conditional_writes_under_contention_have_exactly_one_winner() {
    let url = local_redis_url();
    let prefix = unique_prefix("contention");
    // Two store instances (two replicas) over one Redis.
    let a = RedisStores::open(&options(&url, &prefix)).expect("stores a");
    let b = RedisStores::open(&options(&url, &prefix)).expect("stores b");
    let now = now_ms();
    a.profiles.put(domain_profile(), None, now).await.expect("seed");

    for round in 1..=5u64 {
        let mut winners = Vec::new();
        let mut conflicts = 0;
        for result in contending_puts(&a, &b, round, now).await {
            match result {
                Ok(stored) => winners.push(stored.version),
                Err(StoreError::VersionConflict { expected, current }) => {
                    assert_eq!((expected, current), (round, round + 1));
                    conflicts += 1;
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(winners, vec![round + 1], "round {round}");
        assert_eq!(conflicts, 19);
    }

    // The same through two riskd servers: ABORTED with the current version for the losers.
    let s1 = TestServer::builder().redis(a.clone()).start().await;
    let s2 = TestServer::builder().redis(b.clone()).start().await;
    let (c1, c2) = (s1.profiles().await, s2.profiles().await);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let mut client = if i % 2 == 0 { c1.clone() } else { c2.clone() };
        let mut req = put_profile_request();
        req.expected_version = Some(6);
        tasks.push(tokio::spawn(async move { client.put_profile(req).await }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("join") {
            Ok(resp) => {
                assert_eq!(resp.into_inner().version, 7);
                ok += 1;
            }
            Err(status) => {
                assert_eq!(status.code(), Code::Aborted, "{status:?}");
                assert_eq!(error_reason(&status).as_deref(), Some("PROFILE_VERSION_MISMATCH"));
            }
        }
    }
    assert_eq!(ok, 1);
    s1.shutdown().await.expect("serve returns Ok");
    s2.shutdown().await.expect("serve returns Ok");
    cleanup(&url, &prefix).await;
}

/// Sum of XLEN over every decision stream of a prefix.
async fn stream_len(conn: &mut redis::aio::MultiplexedConnection, stores: &RedisStores) -> u64 {
    let mut total = 0;
    for key in stores.decisions.stream_keys() {
        let n: u64 = redis::cmd("XLEN").arg(&key).query_async(conn).await.expect("xlen");
        total += n;
    }
    total
}

/// Every stream entry of a prefix, by decision id.
async fn stream_entries(
    conn: &mut redis::aio::MultiplexedConnection,
    stores: &RedisStores,
) -> HashMap<String, HashMap<String, String>> {
    let mut out = HashMap::new();
    for fields in stream_fields(conn, stores).await {
        let id = fields.get("decision_id").cloned().expect("decision_id field");
        assert!(out.insert(id, fields).is_none(), "one entry per decision");
    }
    out
}

#[tokio::test]
async fn hundred_concurrent_identical_decides_through_two_servers_record_one_decision() {
    let url = local_redis_url();
    let prefix = unique_prefix("idem");
    let a = RedisStores::open(&options(&url, &prefix)).expect("stores a");
    let b = RedisStores::open(&options(&url, &prefix)).expect("stores b");
    let s1 = TestServer::builder().redis(a.clone()).start().await;
    let s2 = TestServer::builder().redis(b.clone()).start().await;
    s1.put_example_profile().await;

    let (c1, c2) = (s1.decisions().await, s2.decisions().await);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let mut client = if i % 2 == 0 { c1.clone() } else { c2.clone() };
        tasks.push(tokio::spawn(
            async move { client.decide(decide_by_id("idem-0001")).await },
        ));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.expect("join").expect("decide").into_inner());
    }
    eprintln!(
        "100 concurrent identical Decide through 2 servers: {:?}",
        started.elapsed()
    );
    let first = answers[0].clone();
    assert!(answers.iter().all(|d| *d == first), "all 100 answers identical");

    let mut conn = raw(&url).await;
    assert_eq!(stream_len(&mut conn, &a).await, 1, "exactly one decision event");
    let keys = keys_with_prefix(&mut conn, &prefix).await;
    assert_eq!(keys.iter().filter(|k| k.contains(":idem:")).count(), 1, "{keys:?}");
    assert_eq!(keys.iter().filter(|k| k.contains(":decision:")).count(), 1, "{keys:?}");

    // Both replicas read the record; a retry answers the same; GetDecision by id from either.
    for server in [&s1, &s2] {
        let mut c = server.decisions().await;
        assert_eq!(
            c.decide(decide_by_id("idem-0001")).await.expect("retry").into_inner(),
            first
        );
        let got = get_decision(&mut c, &first.decision_id).await;
        assert_eq!(got, first);
    }

    // The same request id with a different application: ALREADY_EXISTS, on either replica.
    let mut other = decide_by_id("idem-0001");
    if let Some(app) = other.application.as_mut() {
        app.requested_amount = Some(pb::Money {
            currency: "CNY".into(),
            units_minor: 12_300_000,
        });
    }
    for server in [&s1, &s2] {
        let err = server
            .decisions()
            .await
            .decide(other.clone())
            .await
            .expect_err("reused request id");
        assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
        assert_eq!(error_reason(&err).as_deref(), Some("REQUEST_ID_REUSED"));
    }
    assert_eq!(stream_len(&mut conn, &a).await, 1, "still one decision");
    s1.shutdown().await.expect("serve returns Ok");
    s2.shutdown().await.expect("serve returns Ok");
    cleanup(&url, &prefix).await;
}

#[tokio::test]
async fn stream_entries_equal_the_decisions_returned() {
    let url = local_redis_url();
    let prefix = unique_prefix("stream");
    let a = RedisStores::open(&options(&url, &prefix)).expect("stores a");
    let b = RedisStores::open(&options(&url, &prefix)).expect("stores b");
    let s1 = TestServer::builder().redis(a.clone()).start().await;
    let s2 = TestServer::builder().redis(b.clone()).start().await;
    s1.put_example_profile().await;

    let examples = [
        "decide-by-id-working-capital.json",
        "decide-equipment-refer.json",
        "decide-invoice-financing-approve.json",
        "decide-property-secured-approve.json",
        "decide-tax-loan-counter-offer.json",
        "decide-tax-loan-decline-false-revenue.json",
        "decide-working-capital-approve-with-conditions.json",
        "decide-working-capital-approve.json",
        "decide-working-capital-decline-knockout.json",
    ];
    let mut returned = Vec::new();
    for (i, name) in examples.iter().enumerate() {
        let server = if i % 2 == 0 { &s1 } else { &s2 };
        let mut req = decide_example(name);
        req.request_id = format!("stream-{i:04}");
        let d = server
            .decisions()
            .await
            .decide(req.clone())
            .await
            .expect(name)
            .into_inner();
        // A retry adds nothing to the stream.
        assert_eq!(
            server.decisions().await.decide(req).await.expect("retry").into_inner(),
            d
        );
        returned.push(d);
    }

    let mut conn = raw(&url).await;
    let entries = stream_entries(&mut conn, &a).await;
    assert_eq!(entries.len(), returned.len());
    let mut outcomes = BTreeMap::new();
    for d in &returned {
        let e = entries
            .get(&d.decision_id)
            .unwrap_or_else(|| panic!("no stream entry for {}", d.decision_id));
        let outcome = pb::Outcome::try_from(d.outcome).expect("outcome").as_str_name();
        *outcomes.entry(outcome).or_insert(0) += 1;
        let approved = d.approved_amount.as_ref().map_or(0, |m| m.units_minor);
        let requested = d.requested_amount.as_ref().map_or(0, |m| m.units_minor);
        let decided_at = d.decided_at.as_ref().map(ts_ms).expect("decided_at");
        let expected: HashMap<&str, String> = HashMap::from([
            ("decision_id", d.decision_id.clone()),
            ("request_id", d.request_id.clone()),
            // An individual business's USCC is personal data: masked on the stream.
            (
                "enterprise_id",
                riskdecision::pii::enterprise_id_for_logs(&d.enterprise_id).into_owned(),
            ),
            ("outcome", outcome.to_owned()),
            ("grade", d.grade.clone()),
            ("score", d.score.to_string()),
            ("approved_amount_minor", approved.to_string()),
            ("requested_amount_minor", requested.to_string()),
            ("policy_version", d.policy_version.clone()),
            ("profile_version", d.profile_version.to_string()),
            ("decided_at_ms", decided_at.to_string()),
        ]);
        for (field, value) in expected {
            assert_eq!(e.get(field), Some(&value), "{field} of {}", d.decision_id);
        }
        assert_eq!(e.get("inputs_digest").map(String::len), Some(64), "sha-256 hex");
        assert!(
            !e.contains_key("name") && !e.contains_key("profile"),
            "no personal data on the stream"
        );
        // The record behind the event reads back identically.
        let got = get_decision(&mut s2.decisions().await, &d.decision_id).await;
        assert_eq!(&got, d);
    }
    eprintln!("stream entries by outcome: {outcomes:?}");
    assert!(outcomes.len() >= 3, "the examples cover several outcomes: {outcomes:?}");
    s1.shutdown().await.expect("serve returns Ok");
    s2.shutdown().await.expect("serve returns Ok");
    cleanup(&url, &prefix).await;
}

#[tokio::test]
async fn decision_records_keep_for_the_retention_and_read_back_exactly() {
    let url = local_redis_url();
    let prefix = unique_prefix("retention");
    let mut opts = options(&url, &prefix);
    opts.decision_retention = Duration::from_secs(3653 * 86_400); // the 10-year default
    let stores = RedisStores::open(&opts).expect("stores");
    let server = TestServer::builder().redis(stores.clone()).start().await;
    server.put_example_profile().await;
    let d = server
        .decisions()
        .await
        .decide(decide_by_id("keep-0001"))
        .await
        .expect("decide")
        .into_inner();

    let mut conn = raw(&url).await;
    let keys = keys_with_prefix(&mut conn, &prefix).await;
    for kind in [":idem:", ":decision:"] {
        let key = keys.iter().find(|k| k.contains(kind)).expect("key written");
        let ttl: i64 = conn.pttl(key).await.expect("pttl");
        let ten_years_ms = 3653_i64 * 86_400_000;
        assert!(ttl > ten_years_ms - 60_000 && ttl <= ten_years_ms, "{key} PTTL {ttl}");
    }

    // Store level: the record by request id and by decision id are the same decision.
    let recorded = stores
        .decisions
        .by_request("keep-0001")
        .await
        .expect("by_request")
        .expect("recorded");
    assert_eq!(recorded.decision_id, d.decision_id);
    assert_eq!(stores.decisions.get(&d.decision_id).await, Ok(Some(recorded.clone())));
    assert_eq!(stores.decisions.by_request("never-seen").await, Ok(None));
    assert_eq!(stores.decisions.get("not-a-uuid").await, Ok(None));
    assert_eq!(stores.decisions.get(&uuid::Uuid::now_v7().to_string()).await, Ok(None));

    // Non-finite floats (an infinite DSCR) survive the record (CBOR, not JSON).
    let mut infinite = recorded.clone();
    infinite.request_id = "keep-0002".into();
    infinite.decision_id = stores.decisions.new_decision_id("keep-0002");
    infinite.evaluation.dscr_after = f64::INFINITY;
    assert_eq!(
        stores.decisions.record(infinite.clone()).await,
        Ok(Recorded::New(infinite.clone()))
    );
    assert_eq!(
        stores.decisions.get(&infinite.decision_id).await,
        Ok(Some(infinite.clone()))
    );
    // Recording again under the same request id returns the first record.
    let mut twin = infinite.clone();
    twin.decision_id = stores.decisions.new_decision_id("keep-0002");
    assert_eq!(stores.decisions.record(twin).await, Ok(Recorded::Existing(infinite)));
    // An id not issued for the request is refused (its keys would not share a slot).
    let mut foreign = recorded;
    foreign.request_id = "keep-0003".into();
    foreign.decision_id = uuid::Uuid::now_v7().to_string();
    if stores
        .decisions
        .new_decision_id("keep-0003")
        .ends_with(&foreign.decision_id[34..])
    {
        foreign.decision_id.replace_range(34.., "ff");
    }
    assert!(matches!(
        stores.decisions.record(foreign).await,
        Err(StoreError::Corrupt(_))
    ));
    server.shutdown().await.expect("serve returns Ok");
    cleanup(&url, &prefix).await;
}

#[tokio::test]
async fn decide_by_enterprise_id_costs_two_redis_round_trips() {
    let dir = TempDir::new("roundtrips");
    let redis = PrivateRedis::start(&dir.0, &["--appendonly", "no"]);
    let stores = RedisStores::open(&options(&redis.url(), "rt")).expect("stores");
    let server = TestServer::builder().redis(stores).start().await;
    let mut profiles = server.profiles().await;
    let mut decisions = server.decisions().await;
    profiles.put_profile(put_profile_request()).await.expect("put profile");
    // Warm up: load both scripts (EVALSHA -> NOSCRIPT -> SCRIPT LOAD, once per Redis server).
    decisions.decide(decide_by_id("rt-warm")).await.expect("warm-up");
    let _ = decisions.decide(decide_uncached("rt-warm-2")).await;

    let mut monitor = Monitor::start(&redis.url()).await;
    let _ = monitor.until_marker("warm").await;
    let mut measured = Vec::new();
    let cases: [(&str, pb::DecideRequest); 4] = [
        ("Decide by enterprise_id (new request id)", decide_by_id("rt-0001")),
        ("Decide by enterprise_id (retry, same request)", decide_by_id("rt-0001")),
        ("Decide with an inline profile", decide_inline("rt-0002")),
        ("Decide by an enterprise_id not cached", decide_uncached("rt-0003")),
    ];
    for (i, (label, request)) in cases.into_iter().enumerate() {
        let result = decisions.decide(request).await;
        let lines = monitor.until_marker(&format!("case-{i}")).await;
        let sent = client_commands(&lines);
        let code = result
            .as_ref()
            .map_or_else(|s| format!("{:?}", s.code()), |_| "OK".to_owned());
        eprintln!(
            "{label:<46} {code:<9} {} Redis round trip(s), {} commands run by the script",
            sent.len(),
            lines.len() - sent.len()
        );
        for c in &sent {
            eprintln!("    client: {c}");
        }
        measured.push((
            sent.len(),
            sent.iter()
                .map(|c| c.split('"').nth(1).unwrap_or("").to_owned())
                .collect::<Vec<_>>(),
        ));
    }
    assert_eq!(measured[0].1, ["GET", "EVALSHA"], "GET profile + EVALSHA record");
    assert_eq!(
        measured[1].0, 2,
        "a retry: GET profile + EVALSHA record answering the recorded decision"
    );
    assert_eq!(measured[2].0, 1, "inline: EVALSHA record only");
    assert_eq!(measured[3].0, 2, "GET profile (miss) + the request-id lookup");
    server.shutdown().await.expect("serve returns Ok");
}

/// One Decide in the background load of the fault test.
struct Attempt {
    at_ms: u128,
    took: Duration,
    result: Result<pb::Decision, Code>,
}

#[tokio::test]
async fn redis_down_fails_fast_with_unavailable_and_recovers_without_losing_a_returned_decision() {
    let dir = TempDir::new("fault");
    // AOF with fsync on every write: after the kill and restart, the record of every decision a
    // caller received must still be there (--save "" keeps RDB snapshots off).
    let mut redis = PrivateRedis::start(&dir.0, &["--appendonly", "yes", "--appendfsync", "always"]);
    let t = Arc::new(Timeline::new());
    t.at(format!("private redis-server started on {}", redis.addr()));
    let stores = RedisStores::open(&production_options(&redis.url(), "fault")).expect("stores");
    let (ready, _probe) = readiness_probe(&stores, Duration::from_millis(200));
    let server = TestServer::builder()
        .redis(stores.clone())
        .store_readiness(ready)
        .start()
        .await;
    let mut profiles = server.profiles().await;
    let mut decisions = server.decisions().await;
    profiles.put_profile(put_profile_request()).await.expect("put profile");
    wait_health(&server, SERVING, &t).await;

    // Background load: 4 workers deciding by enterprise id with fresh request ids.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attempts = Arc::new(std::sync::Mutex::new(Vec::<Attempt>::new()));
    let mut workers = Vec::new();
    for w in 0..4 {
        let (client, stop, attempts, t) = (decisions.clone(), stop.clone(), attempts.clone(), t.clone());
        workers.push(tokio::spawn(async move {
            let mut client = client;
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let started = Instant::now();
                let result = client.decide(decide_by_id(&format!("fault-{w}-{n:05}"))).await;
                let attempt = Attempt {
                    at_ms: t.elapsed().as_millis(),
                    took: started.elapsed(),
                    result: result.map(tonic::Response::into_inner).map_err(|s| s.code()),
                };
                attempts.lock().unwrap_or_else(|p| p.into_inner()).push(attempt);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;

    // Phase 1: a hung Redis (SIGSTOP): connections stay open, nothing answers. Only the
    // timeouts stand between the callers and a hang.
    t.at("load running: freezing redis-server (SIGSTOP)");
    redis.pause();
    for round in 0..2 {
        let started = Instant::now();
        let status = decisions
            .score(score_by_id())
            .await
            .expect_err("Score by id with Redis hung");
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "took {took:?}");
        let started = Instant::now();
        let status = decisions
            .decide(decide_inline(&format!("hung-{round}")))
            .await
            .expect_err("Decide with Redis hung");
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        let took_decide = started.elapsed();
        assert!(took_decide < Duration::from_secs(3), "took {took_decide:?}");
        let scored = decisions
            .score(inline_score())
            .await
            .expect("inline Score works with Redis hung");
        assert_eq!(scored.into_inner().grade, "G5");
        t.at(format!(
            "hung round {round}: Score by id UNAVAILABLE in {} ms, inline Decide UNAVAILABLE in {} ms, inline Score OK",
            took.as_millis(),
            took_decide.as_millis()
        ));
    }
    wait_health(&server, NOT_SERVING, &t).await;
    redis.resume();
    t.at("redis-server resumed (SIGCONT)");
    wait_health(&server, SERVING, &t).await;
    let started = Instant::now();
    while let Err(status) = decisions.score(score_by_id()).await {
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no recovery within 5 s after SIGCONT"
        );
    }
    t.at(format!(
        "Score by id OK after resume (+{} ms)",
        started.elapsed().as_millis()
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Phase 2: a crash (SIGKILL): connections refused until the restart.
    t.at("load running: killing redis-server (SIGKILL)");
    redis.kill();
    t.at("redis-server killed");

    // While it is down: store-backed calls fail fast with UNAVAILABLE; inline scoring works.
    let by_id = score_by_id();
    let inline = inline_score();
    for round in 0..3 {
        let checks: Vec<(&str, Result<(), tonic::Status>)> = vec![
            (
                "Score by enterprise_id",
                decisions.score(by_id.clone()).await.map(|_| ()),
            ),
            (
                "Decide by enterprise_id",
                decisions
                    .decide(decide_by_id(&format!("down-{round}-a")))
                    .await
                    .map(|_| ()),
            ),
            (
                "Decide with inline profile",
                decisions
                    .decide(decide_inline(&format!("down-{round}-b")))
                    .await
                    .map(|_| ()),
            ),
            (
                "GetProfile",
                profiles
                    .get_profile(pb::GetProfileRequest {
                        enterprise_id: EXAMPLE_ENTERPRISE.into(),
                    })
                    .await
                    .map(|_| ()),
            ),
            (
                "PutProfile",
                profiles.put_profile(put_profile_request()).await.map(|_| ()),
            ),
            (
                "GetDecision",
                decisions
                    .get_decision(pb::GetDecisionRequest {
                        decision_id: uuid::Uuid::now_v7().to_string(),
                    })
                    .await
                    .map(|_| ()),
            ),
        ];
        for (what, result) in checks {
            let status = result.expect_err(what);
            assert_eq!(status.code(), Code::Unavailable, "{what}: {status:?}");
        }
        let started = Instant::now();
        let scored = decisions
            .score(inline.clone())
            .await
            .expect("inline Score works with Redis down")
            .into_inner();
        assert_eq!(scored.grade, "G5");
        t.at(format!(
            "round {round}: 6 store-backed calls UNAVAILABLE; inline Score OK ({} µs)",
            started.elapsed().as_micros()
        ));
    }
    wait_health(&server, NOT_SERVING, &t).await;
    assert_eq!(server.health_status("riskdecision.v1.PolicyService").await, SERVING);
    tokio::time::sleep(Duration::from_millis(600)).await;

    t.at("restarting redis-server on the same port");
    redis.restart();
    t.at("redis-server answers PING again");
    let recovered = {
        let started = Instant::now();
        loop {
            match decisions.score(by_id.clone()).await {
                Ok(_) => break started.elapsed(),
                Err(s) => assert_eq!(s.code(), Code::Unavailable, "{s:?}"),
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "riskd did not reconnect within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    t.at(format!(
        "first Score by enterprise_id OK after restart (+{} ms)",
        recovered.as_millis()
    ));
    wait_health(&server, SERVING, &t).await;
    // Keep the load running long enough after recovery for Decides to succeed again even on a
    // loaded machine (this is a liveness window, not a timing assertion).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        w.await.expect("worker");
    }
    t.at("load stopped");

    // Every call returned, quickly; every failure was UNAVAILABLE; every decision a caller got
    // is on record (GetDecision and the stream) after the crash.
    let attempts = std::mem::take(&mut *attempts.lock().unwrap_or_else(|p| p.into_inner()));
    let ok: Vec<&Attempt> = attempts.iter().filter(|a| a.result.is_ok()).collect();
    let failed: Vec<&Attempt> = attempts.iter().filter(|a| a.result.is_err()).collect();
    let slowest = attempts.iter().map(|a| a.took).max().unwrap_or_default();
    let slowest_failure = failed.iter().map(|a| a.took).max().unwrap_or_default();
    assert!(
        failed
            .iter()
            .all(|a| a.result.as_ref().err() == Some(&Code::Unavailable)),
        "only UNAVAILABLE"
    );
    assert!(slowest < Duration::from_secs(3), "slowest Decide took {slowest:?}");
    assert!(!failed.is_empty(), "some Decides fell into the outage");
    let first_fail = failed.iter().map(|a| a.at_ms).min().unwrap_or(0);
    let last_fail = failed.iter().map(|a| a.at_ms).max().unwrap_or(0);
    let ok_after = ok.iter().filter(|a| a.at_ms > last_fail).count();
    assert!(ok_after > 0, "Decides succeed again after the restart");
    t.at(format!(
        "background Decides: {} total, {} OK ({} after the outage), {} UNAVAILABLE between +{first_fail} and +{last_fail} ms; \
         slowest failure {} ms, slowest call {} ms",
        attempts.len(),
        ok.len(),
        ok_after,
        failed.len(),
        slowest_failure.as_millis(),
        slowest.as_millis()
    ));

    let mut conn = raw(&redis.url()).await;
    let entries = stream_entries(&mut conn, &stores).await;
    for a in &ok {
        let Ok(d) = &a.result else { continue };
        // A returned decision is on record after the crash.
        let got = get_decision(&mut decisions, &d.decision_id).await;
        assert_eq!(&got, d);
        assert!(
            entries.contains_key(&d.decision_id),
            "stream entry for {}",
            d.decision_id
        );
    }
    t.at(format!(
        "all {} returned decisions found on record (GetDecision + stream) after the restart",
        ok.len()
    ));
    server.shutdown().await.expect("serve returns Ok");
}

async fn wait_health(server: &TestServer, want: i32, t: &Timeline) {
    let started = Instant::now();
    while server.health_status("riskdecision.v1.DecisionService").await != want {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "health did not become {want} within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let profile = server.health_status("riskdecision.v1.ProfileService").await;
    assert_eq!(profile, want, "ProfileService follows Redis too");
    let name = if want == SERVING { "SERVING" } else { "NOT_SERVING" };
    t.at(format!(
        "health: DecisionService and ProfileService {name} (+{} ms)",
        started.elapsed().as_millis()
    ));
}

#[tokio::test]
async fn rediss_with_a_private_ca_works_and_an_untrusted_server_fails_fast() {
    let dir = TempDir::new("tls");
    let redis = PrivateRedis::start_tls(&dir.0);
    let url = format!("rediss://localhost:{}", redis.port);
    let trusted = production_options(&url, "tls")
        .with_ca_file(&tls_dir().join("ca.crt"))
        .expect("ca file");
    let stores = RedisStores::open(&trusted).expect("stores");
    // The first PING also makes the TLS connection: on a loaded machine the handshake alone can
    // use up the production budget, so allow a few attempts before judging.
    let mut ping = stores.ping().await;
    for _ in 0..10 {
        if ping.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        ping = stores.ping().await;
    }
    ping.expect("PING over TLS");
    let server = TestServer::builder().redis(stores.clone()).start().await;
    server.put_example_profile().await;
    let d = server
        .decisions()
        .await
        .decide(decide_by_id("tls-0001"))
        .await
        .expect("decide over TLS")
        .into_inner();
    assert_eq!(
        stores.decisions.get(&d.decision_id).await.map(|d| d.is_some()),
        Ok(true)
    );
    server.shutdown().await.expect("serve returns Ok");

    // The system trust store does not know the test CA: refused, quickly, as UNAVAILABLE.
    let untrusted = RedisStores::open(&production_options(&url, "tls")).expect("stores");
    let started = Instant::now();
    let err = untrusted.ping().await.expect_err("untrusted certificate");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

/// Attack review finding 6: a call answered UNAVAILABLE because Redis stalled carries
/// `google.rpc.RetryInfo`, and says to retry with the same request_id; the retry, once Redis is
/// back, returns the decision (the one recorded, if the stalled script ran after all).
#[tokio::test]
async fn unavailable_from_a_stalled_store_carries_retry_info_and_the_retry_returns_one_decision() {
    use tonic_types::StatusExt;
    let dir = TempDir::new("retry-info");
    let redis = PrivateRedis::start(&dir.0, &[]);
    let stores = RedisStores::open(&production_options(&redis.url(), "retry-info")).expect("stores");
    let server = TestServer::builder().redis(stores).start().await;
    let mut decisions = server.decisions().await;
    // Connected and working before the stall.
    decisions
        .decide(decide_inline("retry-info-warm"))
        .await
        .expect("decide");

    redis.pause();
    let status = decisions
        .decide(decide_inline("retry-info-1"))
        .await
        .expect_err("Redis hung");
    redis.resume();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let retry = status
        .get_details_retry_info()
        .expect("RetryInfo in the UNAVAILABLE answer");
    assert!(
        retry
            .retry_delay
            .is_some_and(|d| d > Duration::ZERO && d <= Duration::from_secs(5)),
        "{retry:?}"
    );
    assert!(status.message().contains("same request_id"), "{status:?}");

    // The retry with the same request_id: one decision, whichever call recorded it.
    let started = Instant::now();
    let first = loop {
        match decisions.decide(decide_inline("retry-info-1")).await {
            Ok(d) => break d.into_inner(),
            Err(s) => {
                assert_eq!(s.code(), Code::Unavailable, "{s:?}");
                assert!(started.elapsed() < Duration::from_secs(10), "Redis did not come back");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let again = decisions
        .decide(decide_inline("retry-info-1"))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first.decision_id, again.decision_id);
    server.stop().await;
}
