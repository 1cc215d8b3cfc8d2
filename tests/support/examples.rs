//! The files under `examples/` (dated for [`super::BUSINESS_DATE`]) as requests.

use prost::Message;
use riskdecision::pb;

/// The enterprise of `examples/put-profile.json`.
pub const EXAMPLE_ENTERPRISE: &str = "91110000600037341L";

/// Text of a file under `examples/`.
pub fn example_text(name: &str) -> String {
    let path = format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// A file under `examples/` parsed as the message `full_name` (e.g. `riskdecision.v1.ScoreRequest`).
pub fn example<M: Message + Default>(full_name: &str, name: &str) -> M {
    riskdecision::json::from_json(full_name, &example_text(name))
        .unwrap_or_else(|e| panic!("examples/{name} parses as {full_name}: {e:?}"))
}

pub fn decide_example(name: &str) -> pb::DecideRequest {
    example("riskdecision.v1.DecideRequest", name)
}

pub fn score_example(name: &str) -> pb::ScoreRequest {
    example("riskdecision.v1.ScoreRequest", name)
}

pub fn monitor_example(name: &str) -> pb::MonitorRequest {
    example("riskdecision.v1.MonitorRequest", name)
}

/// A `put-profile*.json` example.
pub fn put_profile_example(name: &str) -> pb::PutProfileRequest {
    example("riskdecision.v1.PutProfileRequest", name)
}

/// `examples/put-profile.json` (enterprise [`EXAMPLE_ENTERPRISE`]).
pub fn put_profile_request() -> pb::PutProfileRequest {
    put_profile_example("put-profile.json")
}

/// The worked-example profile (docs/DOMAIN.md 13) from `examples/put-profile.json`.
pub fn worked_profile() -> pb::EnterpriseProfile {
    put_profile_request().profile.expect("profile present")
}

/// `examples/decide-by-id-working-capital.json` under another request id.
pub fn decide_by_id(request_id: &str) -> pb::DecideRequest {
    let mut req = decide_example("decide-by-id-working-capital.json");
    req.request_id = request_id.to_owned();
    req
}

/// An inline-profile Decide (`examples/decide-working-capital-approve.json`) under another
/// request id.
pub fn decide_inline(request_id: &str) -> pb::DecideRequest {
    let mut req = decide_example("decide-working-capital-approve.json");
    req.request_id = request_id.to_owned();
    req
}

/// The example profile as the domain type, for store-level tests.
pub fn domain_profile() -> riskdecision::domain::EnterpriseProfile {
    // Converted once per test binary (callers take copies); see `loaded_default_policy`.
    static PROFILE: std::sync::OnceLock<riskdecision::domain::EnterpriseProfile> = std::sync::OnceLock::new();
    PROFILE
        .get_or_init(|| {
            let policy = super::loaded_default_policy();
            let pb_profile = worked_profile();
            let mut v = riskdecision::grpc::validate::Validator::new(&policy.policy.currency, time::Date::MAX);
            riskdecision::grpc::convert::profile(&mut v, "profile", &pb_profile, &policy.policy)
                .expect("example profile converts")
        })
        .clone()
}
