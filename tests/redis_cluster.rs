//! The Redis stores on a real 3-node Redis Cluster started on loopback ports: profiles
//! (conditional writes, TTL, delete) and idempotent decisions through two `riskd` servers, with
//! decision shards spread over the nodes. Run with `--nocapture` to see the layout.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

use riskdecision::app::{ProfileStore, StoreError};
use riskdecision::pb;
use riskdecision::store::RedisStores;
use support::redis_helpers::*;
use support::*;
use tonic::Code;

/// Three masters, no replicas, each with its own port and config file in a temp dir.
struct Cluster {
    nodes: Vec<PrivateRedis>,
    _dir: TempDir,
}

impl Cluster {
    fn start() -> Self {
        let dir = TempDir::new("cluster");
        let config = dir.0.join("nodes-{port}.conf");
        let config = config.to_str().expect("utf-8 temp path").to_owned();
        let nodes: Vec<PrivateRedis> = (0..3)
            .map(|_| {
                PrivateRedis::start(
                    &dir.0,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        &config,
                        "--appendonly",
                        "no",
                    ],
                )
            })
            .collect();
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(nodes.iter().map(PrivateRedis::addr));
        args.extend(["--cluster-replicas".into(), "0".into(), "--cluster-yes".into()]);
        let out = Command::new("redis-cli")
            .args(&args)
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cluster = Cluster { nodes, _dir: dir };
        cluster.wait_ok();
        cluster
    }

    /// Until every node says cluster_state:ok.
    fn wait_ok(&self) {
        let started = Instant::now();
        for node in &self.nodes {
            loop {
                let out = Command::new("redis-cli")
                    .args(["-h", "127.0.0.1", "-p", &node.port.to_string(), "cluster", "info"])
                    .output()
                    .expect("cluster info");
                if String::from_utf8_lossy(&out.stdout).contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "cluster not ok within 30 s"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn url(&self) -> String {
        let hosts: Vec<String> = self.nodes.iter().map(PrivateRedis::addr).collect();
        format!("redis+cluster://{}", hosts.join(","))
    }
}

/// Keys each node holds, by node port.
async fn keys_per_node(cluster: &Cluster) -> BTreeMap<u16, Vec<String>> {
    let mut out = BTreeMap::new();
    for node in &cluster.nodes {
        let mut conn = raw(&node.url()).await;
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await.expect("keys");
        out.insert(node.port, keys);
    }
    out
}

#[tokio::test]
async fn profiles_and_idempotent_decisions_work_on_a_three_node_cluster() {
    let started = Instant::now();
    let cluster = Cluster::start();
    eprintln!("3-node cluster ok after {:?}: {}", started.elapsed(), cluster.url());

    let a = RedisStores::open(&options(&cluster.url(), "riskd")).expect("stores a");
    let b = RedisStores::open(&options(&cluster.url(), "riskd")).expect("stores b");
    assert!(a.is_cluster());
    assert_eq!(a.shards(), 16, "cluster default");
    a.ping().await.expect("ping the cluster");

    // Profiles: versions, conditional writes under contention, delete, TTL.
    let now = now_ms();
    let id = domain_profile().enterprise_id;
    assert_eq!(
        a.profiles.put(domain_profile(), Some(0), now).await.map(|s| s.version),
        Ok(1)
    );
    let mut wins = 0;
    for result in contending_puts(&a, &b, 1, now).await {
        match result {
            Ok(s) => {
                assert_eq!(s.version, 2);
                wins += 1;
            }
            Err(e) => assert_eq!(
                e,
                StoreError::VersionConflict {
                    expected: 1,
                    current: 2
                }
            ),
        }
    }
    assert_eq!(wins, 1, "exactly one conditional write wins");
    assert_eq!(
        b.profiles.get(&id, now).await.map(|p| p.map(|p| p.version)),
        Ok(Some(2))
    );
    let other = riskdecision::domain::Uscc::parse("91440300MA5FLX5R1W").expect("uscc");
    let many = b
        .profiles
        .get_many(&[id.clone(), other], now)
        .await
        .expect("get_many on the cluster");
    assert_eq!(many.get(&id).map(|p| p.version), Some(2));
    assert_eq!(many.len(), 1);
    assert_eq!(b.profiles.delete(&id, now).await, Ok(true));
    assert_eq!(a.profiles.get(&id, now).await, Ok(None));
    let mut short = options(&cluster.url(), "riskd");
    short.profile_ttl = Duration::from_millis(300);
    let short = RedisStores::open(&short).expect("short-ttl stores");
    assert_eq!(
        short.profiles.put(domain_profile(), None, now).await.map(|s| s.version),
        Ok(3)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(a.profiles.get(&id, now).await, Ok(None), "expired");

    // Decisions through two riskd servers.
    let s1 = TestServer::builder().redis(a.clone()).start().await;
    let s2 = TestServer::builder().redis(b.clone()).start().await;
    let put = s1.put_example_profile().await;
    assert_eq!(put.version, 4, "versions continue after delete and expiry");

    let (c1, c2) = (s1.decisions().await, s2.decisions().await);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let mut client = if i % 2 == 0 { c1.clone() } else { c2.clone() };
        tasks.push(tokio::spawn(async move {
            client.decide(decide_by_id("cluster-idem-1")).await
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.expect("join").expect("decide on the cluster").into_inner());
    }
    let first = answers[0].clone();
    assert!(answers.iter().all(|d| *d == first), "all 100 answers identical");

    let mut other = decide_by_id("cluster-idem-1");
    if let Some(app) = other.application.as_mut() {
        app.term_months = 6;
    }
    let reused = c2.clone().decide(other).await.expect_err("reused request id");
    assert_eq!(reused.code(), Code::AlreadyExists);
    // Through the request-id lookup script (the profile of this application is not cached).
    let uncached = |request_id: &str| {
        let mut r = decide_by_id(request_id);
        if let Some(app) = r.application.as_mut() {
            app.subject = Some(pb::loan_application::Subject::EnterpriseId("91440300MA5FLX5R1W".into()));
        }
        r
    };
    let reused = c1
        .clone()
        .decide(uncached("cluster-idem-1"))
        .await
        .expect_err("reused request id");
    assert_eq!(reused.code(), Code::AlreadyExists);
    let missing = c1
        .clone()
        .decide(uncached("cluster-idem-2"))
        .await
        .expect_err("profile not cached");
    assert_eq!(missing.code(), Code::NotFound);

    // More decisions, spread over the shards (and so over the nodes); each readable by id.
    let mut returned = vec![first.clone()];
    for i in 0..30 {
        let mut client = if i % 2 == 0 { c1.clone() } else { c2.clone() };
        let req = if i % 3 == 0 {
            decide_inline(&format!("cluster-{i:03}"))
        } else {
            decide_by_id(&format!("cluster-{i:03}"))
        };
        returned.push(client.decide(req).await.expect("decide").into_inner());
    }
    for d in &returned {
        let got = get_decision(&mut c1.clone(), &d.decision_id).await;
        assert_eq!(&got, d);
    }

    // One stream entry per decision, summed over the 16 shard streams.
    let per_node = keys_per_node(&cluster).await;
    let mut stream_ids = HashSet::new();
    for node in &cluster.nodes {
        let mut conn = raw(&node.url()).await;
        for key in per_node[&node.port]
            .iter()
            .filter(|k| k.starts_with("riskd:decisions:"))
        {
            let entries: Vec<(String, std::collections::HashMap<String, String>)> = redis::cmd("XRANGE")
                .arg(key)
                .arg("-")
                .arg("+")
                .query_async(&mut conn)
                .await
                .expect("xrange");
            for (_, fields) in entries {
                assert!(
                    stream_ids.insert(fields["decision_id"].clone()),
                    "one entry per decision"
                );
            }
        }
    }
    let expected: HashSet<String> = returned.iter().map(|d| d.decision_id.clone()).collect();
    assert_eq!(stream_ids, expected, "stream entries equal the decisions returned");

    // Round trips of a Decide by enterprise id on the Cluster, seen by MONITOR on every node.
    let mut monitors = Vec::new();
    for node in &cluster.nodes {
        let mut m = Monitor::start(&node.url()).await;
        let _ = m.until_marker("rt-warm").await;
        monitors.push(m);
    }
    c1.clone().decide(decide_by_id("cluster-rt-1")).await.expect("decide");
    let mut sent = Vec::new();
    for m in &mut monitors {
        let lines = m.until_marker("rt-done").await;
        sent.extend(
            client_commands(&lines)
                .into_iter()
                .map(|c| c.split('"').nth(1).unwrap_or("").to_owned()),
        );
    }
    // Topology refreshes of the cluster client (CLUSTER SLOTS, PING) are not part of the call.
    sent.retain(|c| c != "CLUSTER" && c != "PING");
    sent.sort();
    eprintln!(
        "Decide by enterprise_id on the Cluster: {} Redis round trip(s): {sent:?}",
        sent.len()
    );
    assert_eq!(sent, ["EVALSHA", "GET"]);
    drop(monitors);

    let layout: BTreeMap<u16, (usize, usize)> = per_node
        .iter()
        .map(|(port, keys)| {
            let decisions = keys.iter().filter(|k| k.starts_with("riskd:decision:")).count();
            let streams = keys.iter().filter(|k| k.starts_with("riskd:decisions:")).count();
            (*port, (decisions, streams))
        })
        .collect();
    eprintln!("decision records and streams per node: {layout:?}");
    assert!(
        layout.values().filter(|(d, _)| *d > 0).count() >= 2,
        "decisions spread over nodes: {layout:?}"
    );
    s1.shutdown().await.expect("serve returns Ok");
    s2.shutdown().await.expect("serve returns Ok");
    eprintln!("cluster test took {:?}", started.elapsed());
}
