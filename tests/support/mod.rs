//! What every test binary under `tests/` shares: one server builder ([`server`]), one loader of
//! the example files ([`examples`]), the business date they are dated for, the default policy,
//! a scratch directory, money in yuan and the error details of a status. Further modules for the
//! tests that need them: [`redis_helpers`] (the shared and private Redis servers), [`process`]
//! (the `riskd` binary as a child process) and [`security`] (certificates, tokens, every RPC).
//!
//! The crate's own paths (`AppState`, `LoadedPolicy`, `now_ms`) are named only here and in
//! [`server`], so that moving them in `src/` changes the tests in one place.

// Each test binary (`mod support;`) uses only part of this module tree; what one binary does not
// use would otherwise warn as dead code there.
#![allow(dead_code)]

pub mod examples;
pub mod process;
pub mod raw_grpc;
pub mod redis_helpers;
pub mod security;
pub mod server;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tonic::transport::Channel;

// Re-exported so that a test needs only `use support::*;` (unused in some binaries).
#[allow(unused_imports)]
pub use examples::*;
use riskdecision::app::LoadedPolicy;
use riskdecision::pb;
use riskdecision::pb::decision_service_client::DecisionServiceClient;
use riskdecision::policy::{DEFAULT_POLICY_TOML, Policy};
#[allow(unused_imports)]
pub use server::*;

/// The date the example files are dated for.
pub const BUSINESS_DATE: time::Date = time::macros::date!(2026 - 11 - 30);

/// [`BUSINESS_DATE`] as `riskd --business-date` takes it.
pub const BUSINESS_DATE_ARG: &str = "2026-11-30";

/// The embedded default policy, as `riskd` loads it without `--policy`.
pub fn loaded_default_policy() -> Arc<LoadedPolicy> {
    // Loaded once per test binary: helpers call this per item (e.g. twenty contending writes),
    // and a debug-build policy load is slow enough to starve a single-threaded test runtime.
    static LOADED: std::sync::OnceLock<Arc<LoadedPolicy>> = std::sync::OnceLock::new();
    LOADED
        .get_or_init(|| {
            Arc::new(LoadedPolicy {
                policy: Policy::from_toml(DEFAULT_POLICY_TOML).expect("default policy is valid"),
                source: "embedded".into(),
                loaded_at_ms: 0,
                content: DEFAULT_POLICY_TOML.into(),
            })
        })
        .clone()
}

/// The service's clock (milliseconds since the Unix epoch).
pub fn now_ms() -> i64 {
    riskdecision::app::now_ms()
}

/// An amount in whole yuan.
pub fn cny(yuan: i64) -> pb::Money {
    pb::Money {
        currency: "CNY".into(),
        units_minor: yuan * 100,
    }
}

/// Field paths of a status's BadRequest details.
pub fn violations(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// The reason of a status's ErrorInfo details.
pub fn error_reason(status: &tonic::Status) -> Option<String> {
    use tonic_types::StatusExt;
    status.get_details_error_info().map(|i| i.reason)
}

/// Every field path of `expected` is among the BadRequest details of `status`.
pub fn assert_violations_include(status: &tonic::Status, expected: &[&str]) {
    let fields = violations(status);
    for f in expected {
        assert!(fields.iter().any(|x| x == f), "{f} missing in {fields:?}");
    }
}

/// The recorded decision `decision_id` (GetDecision must answer it).
pub async fn get_decision(client: &mut DecisionServiceClient<Channel>, decision_id: &str) -> pb::Decision {
    client
        .get_decision(pb::GetDecisionRequest {
            decision_id: decision_id.to_owned(),
        })
        .await
        .unwrap_or_else(|s| panic!("GetDecision {decision_id}: {s:?}"))
        .into_inner()
}

/// A name no other test (or run) uses: `t-{name}-{pid}-{nanos}-{n}`.
pub fn unique_name(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "t-{name}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(unique_name(name));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// Writes `text` to `name` in the directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
