//! Golden decisions kept as data: each file in `tests/golden/` holds an application, a profile and
//! an evaluation date (the inputs of `decide`) and the evaluation the default policy must give,
//! field by field. A reader can open a case and see what the engine decided and why.
//!
//! `policy_hash` is left out of the files: it changes with any edit of `policies/default.toml`,
//! comments included, and is tested where the policy is loaded. After an intended change of the
//! rules, `GOLDEN_BLESS=1 cargo test -p riskdecision-core --test golden_cases` rewrites the
//! expected evaluations; review the diff before committing it.

use std::path::{Path, PathBuf};

use riskdecision_core::domain::decision::decide;
use riskdecision_core::domain::{EnterpriseProfile, LoanApplication};
use riskdecision_core::policy::{Policy, parse_iso_date};
use serde_json::Value;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn case_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// The evaluation of a case's inputs under the default policy, as the files write it.
fn evaluate(case: &Value, policy: &Policy) -> Value {
    let application: LoanApplication = serde_json::from_value(case["application"].clone()).expect("application");
    let profile: EnterpriseProfile = serde_json::from_value(case["profile"].clone()).expect("profile");
    let date_text = case["evaluation_date"].as_str().expect("evaluation_date");
    let date = parse_iso_date(date_text).expect("evaluation_date is YYYY-MM-DD");
    let evaluation = decide(&application, &profile, policy, date).expect("the application passes its checks");
    let mut actual = serde_json::to_value(&evaluation).expect("serialisable");
    if let Some(fields) = actual.as_object_mut() {
        fields.remove("policy_hash");
    }
    actual
}

/// The top-level fields whose values differ, for a readable failure.
fn differing_fields(expected: &Value, actual: &Value) -> Vec<String> {
    let (Some(e), Some(a)) = (expected.as_object(), actual.as_object()) else {
        return vec!["(whole value)".to_owned()];
    };
    let keys: std::collections::BTreeSet<&String> = e.keys().chain(a.keys()).collect();
    keys.into_iter()
        .filter(|k| e.get(*k) != a.get(*k))
        .map(|k| {
            format!(
                "{k}: expected {} got {}",
                e.get(k).unwrap_or(&Value::Null),
                a.get(k).unwrap_or(&Value::Null)
            )
        })
        .collect()
}

#[test]
fn every_golden_case_gives_its_recorded_decision() {
    let policy = Policy::embedded_default().expect("default policy");
    let bless = std::env::var_os("GOLDEN_BLESS").is_some();
    let files = case_files();
    assert!(files.len() >= 7, "golden cases missing: {files:?}");
    let mut failures = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable case");
        let mut case: Value = serde_json::from_str(&text).expect("case is JSON");
        let actual = evaluate(&case, &policy);
        if bless {
            case["expected"] = actual;
            let pretty = serde_json::to_string_pretty(&case).expect("serialisable") + "\n";
            std::fs::write(&path, pretty).expect("writable case");
        } else if case["expected"] != actual {
            failures.push(format!(
                "{}:\n  {}",
                path.display(),
                differing_fields(&case["expected"], &actual).join("\n  ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "golden decisions changed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn golden_cases_cover_every_outcome() {
    let outcomes: std::collections::BTreeSet<String> = case_files()
        .iter()
        .map(|path| {
            let case: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("readable")).expect("JSON");
            case["expected"]["outcome"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    let all = ["Approve", "CounterOffer", "Refer", "Decline"];
    assert!(
        all.iter().all(|o| outcomes.contains(*o)),
        "outcomes covered: {outcomes:?}"
    );
}
