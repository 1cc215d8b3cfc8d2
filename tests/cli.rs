//! The real binaries, as a person runs them: `riskd` on an ephemeral port, `riskctl` reading the
//! example files and printing JSON, and a graceful stop on SIGTERM.

mod support;

use std::process::Command;
use std::time::Duration;

use support::process::{self, Riskd};

/// Starts `riskd` on 127.0.0.1:0 and reads the bound address from its first log line.
fn start_riskd() -> (Riskd, String) {
    let riskd = Riskd::spawn(&mut process::dated("json"));
    let first = riskd.line(|_| true).expect("a log line");
    let log: serde_json::Value =
        serde_json::from_str(&first).unwrap_or_else(|e| panic!("JSON log line expected ({e}): {first}"));
    assert_eq!(log["message"], "riskd serving", "{first}");
    assert_eq!(log["policy_version"], "sme-default-1.1.0");
    let addr = log["listen"].as_str().expect("listen field").to_owned();
    (riskd, addr)
}

fn riskctl(addr: &str, args: &[&str]) -> (i32, String, String) {
    process::run(process::riskctl(&format!("http://{addr}")).args(args))
}

#[test]
fn riskctl_talks_to_riskd_and_riskd_stops_on_sigterm() {
    let (mut server, addr) = start_riskd();

    let (code, out, err) = riskctl(&addr, &["decide", "examples/decide-tax-loan-counter-offer.json"]);
    assert_eq!(code, 0, "{err}");
    let decision: serde_json::Value = serde_json::from_str(&out).expect("JSON decision");
    assert_eq!(decision["outcome"], "COUNTER_OFFER");
    assert_eq!(decision["approved_amount"]["units_minor"], "36000000");
    assert_eq!(decision["interest_rate_bps"], 370);

    let id = decision["decision_id"].as_str().expect("id").to_owned();
    let (code, out, _) = riskctl(&addr, &["get-decision", &id, "--compact"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 1, "compact output is one line");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).expect("JSON")["decision_id"],
        id.as_str()
    );

    let (code, out, _) = riskctl(&addr, &["score", "examples/score-inline.json"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).expect("JSON")["score"],
        622
    );

    let (code, _, err) = riskctl(&addr, &["decide", "examples/decide-invalid.json"]);
    assert_eq!(code, 1, "an RPC error exits 1");
    let status: serde_json::Value = serde_json::from_str(&err).expect("JSON error on stderr");
    assert_eq!(status["code"], "InvalidArgument");
    assert!(
        status["field_violations"].as_array().is_some_and(|v| v.len() >= 5),
        "{err}"
    );

    let (code, _, err) = riskctl(&addr, &["decide", "examples/no-such-file.json"]);
    assert_eq!(code, 2, "a usage error exits 2: {err}");

    let (code, out, _) = riskctl(&addr, &["monitor", "examples/monitor-loss.json", "--compact"]);
    assert_eq!(code, 0);
    let monitored: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        (monitored["classification"].as_str(), monitored["ifrs9_stage"].as_i64()),
        (Some("LOSS"), Some(3))
    );

    let (code, _, err) = riskctl(&addr, &["put-profile", "examples/put-profile.json"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = riskctl(&addr, &["portfolio", "examples/portfolio.jsonl"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 7, "one result line per input line");
    let errors = lines.iter().filter(|l| !l["error"].is_null()).count();
    assert_eq!(
        errors, 4,
        "bad check digit, two uncached ids, one unparsable line: {out}"
    );
    let summary_start = err.find('{').expect("summary on stderr");
    let summary: serde_json::Value = serde_json::from_str(&err[summary_start..]).expect("summary JSON");
    assert_eq!(
        (summary["items"].as_u64(), summary["scored"].as_u64()),
        (Some(7), Some(3)),
        "{summary}"
    );

    let (code, out, _) = riskctl(&addr, &["health"]);
    assert_eq!((code, out.trim()), (0, r#"{"status":"SERVING"}"#));

    let (code, out, _) = riskctl(&addr, &["validate-policy", "policies/default.toml"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).expect("JSON")["valid"],
        true
    );

    let status = server
        .terminate(Duration::from_secs(15))
        .expect("riskd did not stop after SIGTERM");
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
}

/// `riskctl monitor-portfolio` sends the example batch to a real `riskd`: the debtor whose
/// working-capital loan is 95 days past due has its two current loans pulled to substandard by
/// the debtor-level rule (CL19), the other debtor stays normal; a summary on stderr names the
/// loans the rule decided; an empty batch prints the server's field violation and exits 1.
#[test]
fn riskctl_monitor_portfolio_shows_the_debtor_level_rule() {
    let (_server, addr) = start_riskd();
    for file in ["examples/put-profile.json", "examples/put-profile-manufacturer.json"] {
        let (code, _, err) = riskctl(&addr, &["put-profile", file]);
        assert_eq!(code, 0, "{file}: {err}");
    }

    let (code, out, err) = riskctl(&addr, &["monitor-portfolio", "examples/monitor-portfolio.json"]);
    assert_eq!(code, 0, "{err}");
    let answer: serde_json::Value = serde_json::from_str(&out).expect("JSON answer on stdout");
    let items = answer["items"].as_array().expect("items");
    let got: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|i| {
            (
                i["loan_id"].as_str().unwrap_or_default(),
                i["result"]["classification"].as_str().unwrap_or_default(),
                i["result"]["classification_rule"]["code"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("LN-2024-002871", "SUBSTANDARD", "CL19"),
            ("LN-2026-000101", "NORMAL", "CL01"),
            ("LN-2025-003310", "SUBSTANDARD", "CL04"),
            ("LN-2026-000377", "SUBSTANDARD", "CL19"),
            ("LN-2026-000188", "NORMAL", "CL01"),
        ]
    );
    let rule = &items[0]["result"]["classification_rule"];
    let named = |list: &str, name: &str| {
        rule[list]
            .as_array()
            .is_some_and(|l| l.iter().any(|f| f["name"] == name))
    };
    assert!(
        named("figures", "npl_share_of_claims") && named("thresholds", "debtor_npl_share"),
        "{rule}"
    );
    let summary: serde_json::Value = serde_json::from_str(&err).expect("JSON summary on stderr");
    assert_eq!(
        summary["decided_by_debtor_rule"],
        serde_json::json!(["LN-2024-002871", "LN-2026-000377"])
    );
    assert_eq!(summary["classes"], serde_json::json!({ "NORMAL": 2, "SUBSTANDARD": 3 }));

    let (code, out, _) = riskctl(
        &addr,
        &["monitor-portfolio", "examples/monitor-portfolio.json", "--compact"],
    );
    assert_eq!((code, out.lines().count()), (0, 1), "compact output is one line");

    let empty = std::env::temp_dir().join(format!("riskctl-empty-batch-{}.json", std::process::id()));
    std::fs::write(&empty, r#"{"loans": []}"#).expect("write");
    let (code, _, err) = riskctl(&addr, &["monitor-portfolio", &empty.to_string_lossy()]);
    let _ = std::fs::remove_file(&empty);
    assert_eq!(code, 1, "an RPC error exits 1: {err}");
    let status: serde_json::Value = serde_json::from_str(&err).expect("JSON error on stderr");
    assert_eq!(status["code"], "InvalidArgument");
    assert_eq!(status["field_violations"][0]["field"], "loans", "{err}");

    // One MonitorRequest per line is not this command's input: said before any call.
    let (code, _, err) = riskctl(&addr, &["monitor-portfolio", "examples/monitor-normal.json"]);
    assert_eq!(code, 2, "a usage error exits 2: {err}");
    assert!(err.contains("{\"loans\": [MonitorRequest, ...]}"), "{err}");
}

#[test]
fn riskd_check_policy_validates_files() {
    let ok = Command::new(env!("CARGO_BIN_EXE_riskd"))
        .args(["check-policy", "policies/default.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run");
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("sme-default-1.1.0"));

    let dir = std::env::temp_dir().join(format!("riskd-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        riskdecision::policy::DEFAULT_POLICY_TOML.replace("min_limit = 50_000", "min_limit = -1"),
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_riskd"))
        .arg("check-policy")
        .arg(&bad)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("limits.min_limit"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The server refuses to start on an invalid policy, naming the field.
    let out = Command::new(env!("CARGO_BIN_EXE_riskd"))
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .arg("--policy")
        .arg(&bad)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("limits.min_limit"));
    let _ = std::fs::remove_dir_all(&dir);
}
