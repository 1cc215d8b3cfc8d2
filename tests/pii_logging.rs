//! Personal data never leaves in clear through logs, trace spans or the decision stream.
//!
//! One test (this binary installs the one global subscriber it may have): every log line (JSON,
//! with the span list) and every span field recorded at any level, from every crate, is
//! captured while decisions, scores, monitoring and portfolio calls run over a profile full of
//! personal data, through a server with authentication on and the Redis stores (a unique key
//! prefix on 127.0.0.1:6379, as the other Redis tests). Then none of the personal values may
//! appear in the captured text or in any entry of the decision streams.

mod support;

use std::fmt::Write as _;
use std::io;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use riskdecision::pb;
use riskdecision::pb::decision_service_client::DecisionServiceClient;
use riskdecision::pb::profile_service_client::ProfileServiceClient;
use riskdecision::security::Authenticator;
use riskdecision::security::auth::token_sha256;
use riskdecision::store::{RedisOptions, RedisStores};
use support::redis_helpers::*;
use support::security::bearer;
use support::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::{EnvFilter, Layer};

/// Everything captured: log lines and span fields.
fn captured() -> &'static Arc<Mutex<String>> {
    static BUF: OnceLock<Arc<Mutex<String>>> = OnceLock::new();
    BUF.get_or_init(|| Arc::new(Mutex::new(String::new())))
}

fn append(text: &str) {
    captured().lock().unwrap_or_else(|p| p.into_inner()).push_str(text);
}

struct LineWriter;

impl io::Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        append(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Records every field of every span (at creation and later `record`s) and event.
struct AllFields;

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

impl<S: tracing::Subscriber> Layer<S> for AllFields {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        let mut f = Fields(format!("\nspan {}:", attrs.metadata().name()));
        attrs.record(&mut f);
        append(&f.0);
    }
    fn on_record(&self, _id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut f = Fields("\nspan record:".to_owned());
        values.record(&mut f);
        append(&f.0);
    }
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut f = Fields(format!("\nevent {}:", event.metadata().target()));
        event.record(&mut f);
        append(&f.0);
    }
}

fn install_capture() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let subscriber = tracing_subscriber::registry()
            .with(EnvFilter::new("trace"))
            .with(AllFields)
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(true)
                    .with_writer(|| LineWriter),
            );
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber of this binary");
    });
}

const INDIVIDUAL_BUSINESS: &str = "92330100MA2H7K3L0N";

/// The personal values, and fragments of them long enough to identify.
const PERSONAL: &[&str] = &[
    "王小明",
    "11010519491231002X",
    "11010519491231002x",
    "1101051949123100",
    "11010519491231002Y",
    "13800138000",
    "00138000",
    "6222021234567890123",
    "6222 0212 3456 7890 123",
    "6217000010001234567",
    INDIVIDUAL_BUSINESS,
    "92330100MA2H",
];

fn personal_profile() -> pb::EnterpriseProfile {
    let mut p = worked_profile();
    p.enterprise_id = INDIVIDUAL_BUSINESS.into();
    p.name = "王小明五金店".into();
    let c = p.controller.as_mut().expect("controller");
    c.name = "王小明".into();
    c.id_number = "11010519491231002x".into();
    c.phone = "+86 138 0013 8000".into();
    p.bank_flows.as_mut().expect("flows").settlement_account_numbers =
        vec!["6222 0212 3456 7890 123".into(), "6217000010001234567".into()];
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_stays_out_of_logs_spans_and_the_decision_stream() {
    install_capture();
    let url = local_redis_url();
    let prefix = unique_prefix("pii");
    let mut opts = RedisOptions::new(url.clone());
    opts.prefix = prefix.clone();
    opts.profile_ttl = Duration::from_secs(600);
    opts.decision_retention = Duration::from_secs(600);
    opts.call_timeout = Duration::from_secs(3);
    let stores = RedisStores::open(&opts).expect("redis stores");

    let dir = TempDir::new("pii");
    let auth = format!(
        "[callers]\n\"token:cbs.test\" = [\"core-banking\"]\n\"token:los.test\" = [\"loan-origination\"]\n\"token:ops.test\" = [\"risk-ops\"]\n\
         [[tokens]]\nidentity = \"cbs.test\"\nsha256 = \"{}\"\n[[tokens]]\nidentity = \"los.test\"\nsha256 = \"{}\"\n\
         [[tokens]]\nidentity = \"ops.test\"\nsha256 = \"{}\"\n",
        token_sha256("cbs"),
        token_sha256("los"),
        token_sha256("ops")
    );
    let auth_path = dir.write("auth.toml", &auth);
    let server = TestServer::builder()
        .redis(stores.clone())
        .auth(Arc::new(Authenticator::from_file(&auth_path).expect("auth")))
        .start()
        .await;
    let channel = server.channel().await;
    let mut profiles = ProfileServiceClient::new(channel.clone());
    let mut decisions = DecisionServiceClient::new(channel);
    let profile = personal_profile();

    // Core banking stores the profile and scores it, by id and inline, one by one and as a
    // portfolio, and monitors a loan of it.
    profiles
        .put_profile(bearer(
            pb::PutProfileRequest {
                profile: Some(profile.clone()),
                expected_version: None,
            },
            Some("cbs"),
        ))
        .await
        .expect("put profile");
    let by_id = || pb::ScoreRequest {
        subject: Some(pb::score_request::Subject::EnterpriseId(INDIVIDUAL_BUSINESS.into())),
        ..Default::default()
    };
    let inline = || pb::ScoreRequest {
        subject: Some(pb::score_request::Subject::Profile(profile.clone())),
        ..Default::default()
    };
    decisions
        .score(bearer(by_id(), Some("cbs")))
        .await
        .expect("score by id");
    decisions
        .score(bearer(inline(), Some("cbs")))
        .await
        .expect("score inline");
    let mut stream = decisions
        .score_portfolio(bearer(
            tokio_stream::iter(vec![by_id(), inline(), by_id()]),
            Some("cbs"),
        ))
        .await
        .expect("portfolio")
        .into_inner();
    while let Some(r) = stream.message().await.expect("portfolio item") {
        assert!(r.error.is_none(), "{:?}", r.error);
    }
    let mut monitor = monitor_example("monitor-substandard.json");
    monitor.loan.as_mut().expect("loan").subject =
        Some(pb::loan_snapshot::Subject::EnterpriseId(INDIVIDUAL_BUSINESS.into()));
    decisions.monitor(bearer(monitor, Some("cbs"))).await.expect("monitor");

    // Loan origination decides by id (and retries) and inline.
    let mut by_id_decide = decide_inline("pii-by-id");
    by_id_decide.application.as_mut().expect("application").subject =
        Some(pb::loan_application::Subject::EnterpriseId(INDIVIDUAL_BUSINESS.into()));
    for _ in 0..2 {
        let d = decisions
            .decide(bearer(by_id_decide.clone(), Some("los")))
            .await
            .expect("decide by id")
            .into_inner();
        assert_eq!(d.caller, "token:los.test");
    }
    let mut inline_decide = decide_inline("pii-inline");
    inline_decide.application.as_mut().expect("application").subject =
        Some(pb::loan_application::Subject::Profile(profile.clone()));
    decisions
        .decide(bearer(inline_decide, Some("los")))
        .await
        .expect("decide inline");

    // Risk-ops reads the profile (masked); a bad ID number is refused without being repeated.
    let masked = profiles
        .get_profile(bearer(
            pb::GetProfileRequest {
                enterprise_id: INDIVIDUAL_BUSINESS.into(),
            },
            Some("ops"),
        ))
        .await
        .expect("risk-ops reads")
        .into_inner();
    let c = masked.profile.and_then(|p| p.controller).expect("controller");
    assert_eq!(c.id_number, "110105********002X");
    let mut bad = profile.clone();
    bad.controller.as_mut().expect("controller").id_number = "11010519491231002Y".into();
    let status = decisions
        .score(bearer(
            pb::ScoreRequest {
                subject: Some(pb::score_request::Subject::Profile(bad)),
                ..Default::default()
            },
            Some("cbs"),
        ))
        .await
        .expect_err("bad check character");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(!status.message().contains("11010519491231002Y"), "{}", status.message());
    assert!(violations(&status).contains(&"profile.controller.id_number".to_owned()));

    server.stop().await;
    let entries = stream_fields(&mut raw(&url).await, &stores).await;
    // The test's keys expire with the retention above; remove them now anyway.
    cleanup(&url, &prefix).await;
    let logs = captured().lock().unwrap_or_else(|p| p.into_inner()).clone();

    // What must be there: the caller on the decision log line and span, the stream entries
    // with the masked id and its pseudonym.
    assert!(logs.contains("decision recorded"), "the decision log line was captured");
    assert!(logs.contains("los.test"), "the caller is logged");
    assert_eq!(entries.len(), 2, "two decisions recorded: {entries:?}");
    for e in &entries {
        assert_eq!(e.get("enterprise_id").map(String::as_str), Some("923301********3L0N"));
        assert_eq!(e.get("enterprise_ref").map(String::len), Some(32));
        assert_eq!(e.get("caller").map(String::as_str), Some("token:los.test"));
    }

    // What must not.
    let stream_text = format!("{entries:?}");
    for value in PERSONAL {
        assert!(!logs.contains(value), "{value:?} appears in the logs or spans");
        assert!(!stream_text.contains(value), "{value:?} appears on the decision stream");
    }
    assert!(
        !logs.contains("王小明五金店"),
        "the individual business's name is not logged"
    );
}
