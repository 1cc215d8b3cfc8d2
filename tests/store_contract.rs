//! One contract for the store ports, run against every backend: the in-process store, the
//! embedded store (redb in a temp folder) and Redis (the shared 127.0.0.1:6379 with a unique key
//! prefix per test). What a backend must do is written once here; each backend adds only how to
//! open it. Backend-specific behaviour (Redis key layout, embedded restart) has its own tests.

mod support;

use std::sync::Arc;
use std::time::Duration;

use riskdecision::app::{DecisionStore, ProfileStore, Recorded, StoreError};
use riskdecision::domain::{Decision, Uscc};
use riskdecision::store::{EmbeddedOptions, EmbeddedStores, MemoryDecisionStore, MemoryProfileStore, RedisStores};
use support::redis_helpers::{local_redis_url, options, unique_prefix};
use support::*;

/// A valid USCC that no test stores.
const OTHER_ENTERPRISE: &str = "91440300MA5FLX5R1W";

/// Lifetimes a backend is opened with.
#[derive(Clone, Copy)]
struct Lifetimes {
    profile_ttl: Duration,
    retention: Duration,
}

const LONG: Lifetimes = Lifetimes {
    profile_ttl: Duration::from_secs(3600),
    retention: Duration::from_secs(3600),
};

/// A backend under test: its stores and what to clean up after.
struct Backend<P, D> {
    profiles: Arc<P>,
    decisions: Arc<D>,
    _cleanup: Cleanup,
}

enum Cleanup {
    None,
    // Held for its Drop: removes the folder.
    #[allow(dead_code)]
    Dir(TempDir),
    Redis(String),
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Cleanup::Redis(prefix) = self {
            let prefix = prefix.clone();
            // Keys expire with the short test retention anyway; this removes them at once.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    rt.block_on(support::redis_helpers::cleanup(&local_redis_url(), &prefix));
                }
            })
            .join();
        }
    }
}

fn in_memory(l: Lifetimes) -> Backend<MemoryProfileStore, MemoryDecisionStore> {
    Backend {
        profiles: Arc::new(MemoryProfileStore::new(l.profile_ttl)),
        decisions: Arc::new(MemoryDecisionStore::new()),
        _cleanup: Cleanup::None,
    }
}

fn embedded(
    l: Lifetimes,
) -> Backend<riskdecision::store::EmbeddedProfileStore, riskdecision::store::EmbeddedDecisionStore> {
    let dir = TempDir::new("contract-embedded");
    let mut opts = EmbeddedOptions::new(dir.0.join("data"));
    opts.profile_ttl = l.profile_ttl;
    opts.decision_retention = l.retention;
    let stores = EmbeddedStores::open(&opts).expect("open the embedded store");
    Backend {
        profiles: Arc::new(stores.profiles),
        decisions: Arc::new(stores.decisions),
        _cleanup: Cleanup::Dir(dir),
    }
}

fn redis_server(
    l: Lifetimes,
) -> Backend<riskdecision::store::RedisProfileStore, riskdecision::store::RedisDecisionStore> {
    let prefix = unique_prefix("contract");
    let mut opts = options(&local_redis_url(), &prefix);
    opts.profile_ttl = l.profile_ttl;
    opts.decision_retention = l.retention;
    let stores = RedisStores::open(&opts).expect("open the Redis stores");
    Backend {
        profiles: Arc::new(stores.profiles),
        decisions: Arc::new(stores.decisions),
        _cleanup: Cleanup::Redis(prefix),
    }
}

/// A real decision (the example Decide through a server over a private embedded store), to
/// record again under other ids.
async fn template_decision() -> Decision {
    let dir = TempDir::new("contract-template");
    let stores = EmbeddedStores::open(&EmbeddedOptions::new(dir.0.join("data"))).expect("open");
    let server = TestServer::builder()
        .stores(stores.profiles.clone(), stores.decisions.clone())
        .start()
        .await;
    server.put_example_profile().await;
    server
        .decisions()
        .await
        .decide(decide_by_id("template-0001"))
        .await
        .expect("decide");
    server.stop().await;
    stores
        .decisions
        .by_request("template-0001")
        .await
        .expect("read back")
        .expect("recorded")
}

/// `template` under a new request id, with an id the store issued for it.
fn fresh<D: DecisionStore>(d: &D, template: &Decision, request_id: &str) -> Decision {
    let mut out = template.clone();
    out.request_id = request_id.to_owned();
    out.decision_id = d.new_decision_id(request_id);
    out
}

async fn profiles_round_trip_with_versions_that_never_go_back<P: ProfileStore>(p: &P) {
    let id = domain_profile().enterprise_id;
    let other = Uscc::parse(OTHER_ENTERPRISE).expect("uscc");
    let now = now_ms();
    assert_eq!(p.get(&id, now).await, Ok(None));
    let v1 = p.put(domain_profile(), None, now).await.expect("put 1");
    assert_eq!(
        (v1.version, v1.stored_at_ms, v1.expires_at_ms),
        (1, now, now + 3_600_000)
    );
    let v2 = p.put(domain_profile(), None, now + 1).await.expect("put 2");
    assert_eq!(v2.version, 2);
    assert_eq!(p.get(&id, now).await, Ok(Some(v2.clone())));
    assert_eq!(p.read(&id, now).await, Ok(Some(v2.clone())));

    let many = p
        .get_many(&[id.clone(), other.clone(), id.clone()], now)
        .await
        .expect("get_many");
    assert_eq!(many.len(), 1);
    assert_eq!(many.get(&id), Some(&v2));
    assert!(p.get_many(&[], now).await.expect("empty").is_empty());

    // Conditional writes: create-only fails while one exists, the right version wins.
    assert_eq!(
        p.put(domain_profile(), Some(0), now).await,
        Err(StoreError::VersionConflict {
            expected: 0,
            current: 2
        })
    );
    assert_eq!(p.put(domain_profile(), Some(2), now).await.map(|s| s.version), Ok(3));

    // Delete keeps the counter: the next write continues the sequence.
    assert_eq!(p.delete(&id, now).await, Ok(true));
    assert_eq!(p.delete(&id, now).await, Ok(false));
    assert_eq!(p.get(&id, now).await, Ok(None));
    assert_eq!(
        p.put(domain_profile(), Some(3), now).await,
        Err(StoreError::VersionConflict {
            expected: 3,
            current: 0
        })
    );
    assert_eq!(p.put(domain_profile(), Some(0), now).await.map(|s| s.version), Ok(4));
}

/// Opened with a 300 ms profile TTL.
async fn profiles_expire_and_versions_continue<P: ProfileStore>(p: &P) {
    let id = domain_profile().enterprise_id;
    let v1 = p.put(domain_profile(), None, now_ms()).await.expect("put");
    assert_eq!(v1.expires_at_ms - v1.stored_at_ms, 300);
    assert!(p.get(&id, now_ms()).await.expect("get").is_some());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(p.get(&id, now_ms()).await, Ok(None), "expired");
    assert!(
        p.get_many(std::slice::from_ref(&id), now_ms())
            .await
            .expect("many")
            .is_empty()
    );
    // An expired profile is absent for a create-only write; the version still goes on.
    assert_eq!(
        p.put(domain_profile(), Some(0), now_ms()).await.map(|s| s.version),
        Ok(2)
    );
}

async fn conditional_puts_have_exactly_one_winner<P: ProfileStore>(p: Arc<P>) {
    let now = now_ms();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.put(domain_profile(), Some(0), now).await })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        match t.await.expect("join") {
            Ok(s) => {
                assert_eq!(s.version, 1);
                wins += 1;
            }
            Err(StoreError::VersionConflict {
                expected: 0,
                current: 1,
            }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(wins, 1);
}

async fn decisions_insert_if_absent_and_read_back_exactly<D: DecisionStore>(d: &D, template: &Decision) {
    let first = fresh(d, template, "contract-0001");
    assert_eq!(d.by_request("contract-0001").await, Ok(None));
    assert_eq!(d.record(first.clone()).await, Ok(Recorded::New(first.clone())));
    assert_eq!(d.by_request("contract-0001").await, Ok(Some(first.clone())));
    assert_eq!(d.get(&first.decision_id).await, Ok(Some(first.clone())));
    // A second decision under the same request id gets the first back; nothing is replaced.
    let mut twin = fresh(d, template, "contract-0001");
    twin.inputs_digest = "another".into();
    assert_eq!(d.record(twin.clone()).await, Ok(Recorded::Existing(first.clone())));
    assert_eq!(d.get(&twin.decision_id).await, Ok(None));
    assert_eq!(d.by_request("never-seen").await, Ok(None));
    assert_eq!(d.get("not-a-uuid").await, Ok(None));
    assert_eq!(d.get(&d.new_decision_id("never-seen")).await, Ok(None));
    // Non-finite floats (an infinite DSCR) survive the record.
    let mut infinite = fresh(d, template, "contract-0002");
    infinite.evaluation.dscr_after = f64::INFINITY;
    assert_eq!(d.record(infinite.clone()).await, Ok(Recorded::New(infinite.clone())));
    assert_eq!(d.get(&infinite.decision_id).await, Ok(Some(infinite)));
}

async fn concurrent_records_of_one_request_keep_one_decision<D: DecisionStore>(d: Arc<D>, template: &Decision) {
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let d = d.clone();
            let decision = fresh(&*d, template, "contract-race");
            tokio::spawn(async move { d.record(decision).await })
        })
        .collect();
    let mut new = Vec::new();
    let mut existing = Vec::new();
    for t in tasks {
        match t.await.expect("join").expect("record") {
            Recorded::New(x) => new.push(x),
            Recorded::Existing(x) => existing.push(x),
        }
    }
    assert_eq!(new.len(), 1, "exactly one decision is recorded");
    assert!(
        existing.iter().all(|x| *x == new[0]),
        "every twin gets the recorded one"
    );
    assert_eq!(d.by_request("contract-race").await, Ok(Some(new[0].clone())));
}

/// Opened with a 300 ms decision retention: the record and its idempotency key go together, and
/// the request id is free again afterwards.
async fn decisions_expire_after_the_retention<D: DecisionStore>(d: &D, template: &Decision) {
    let first = fresh(d, template, "contract-retained");
    assert_eq!(d.record(first.clone()).await, Ok(Recorded::New(first.clone())));
    assert_eq!(d.get(&first.decision_id).await, Ok(Some(first.clone())));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(d.get(&first.decision_id).await, Ok(None), "record expired");
    assert_eq!(
        d.by_request("contract-retained").await,
        Ok(None),
        "idempotency key expired"
    );
    let again = fresh(d, template, "contract-retained");
    assert_eq!(d.record(again.clone()).await, Ok(Recorded::New(again.clone())));
    assert_eq!(d.by_request("contract-retained").await, Ok(Some(again)));
}

const SHORT: Lifetimes = Lifetimes {
    profile_ttl: Duration::from_millis(300),
    retention: Duration::from_millis(300),
};

/// The contract for one backend: `$open(Lifetimes) -> Backend`.
macro_rules! contract {
    ($backend:ident $(, $retention:ident)?) => {
        mod $backend {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn profiles_round_trip_with_versions_that_never_go_back() {
                let b = super::$backend(LONG);
                super::profiles_round_trip_with_versions_that_never_go_back(&*b.profiles).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn profiles_expire_and_versions_continue() {
                let b = super::$backend(SHORT);
                super::profiles_expire_and_versions_continue(&*b.profiles).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn conditional_puts_have_exactly_one_winner() {
                let b = super::$backend(LONG);
                super::conditional_puts_have_exactly_one_winner(b.profiles.clone()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn decisions_insert_if_absent_and_read_back_exactly() {
                let b = super::$backend(LONG);
                let t = template_decision().await;
                super::decisions_insert_if_absent_and_read_back_exactly(&*b.decisions, &t).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_records_of_one_request_keep_one_decision() {
                let b = super::$backend(LONG);
                let t = template_decision().await;
                super::concurrent_records_of_one_request_keep_one_decision(b.decisions.clone(), &t).await;
            }

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $retention() {
                    let b = super::$backend(SHORT);
                    let t = template_decision().await;
                    super::decisions_expire_after_the_retention(&*b.decisions, &t).await;
                }
            )?
        }
    };
}

// The in-process store has no retention: it keeps decisions for the life of the process (it is
// for tests and `--store memory`, which logs that it is not durable).
contract!(in_memory);
contract!(embedded, decisions_expire_after_the_retention);
contract!(redis_server, decisions_expire_after_the_retention);
