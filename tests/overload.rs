//! Overload and deadline behaviour of the tower layers around the server, by status code only
//! (no timings): a call over the process-wide in-flight limit is shed with RESOURCE_EXHAUSTED
//! and the server serves again once the slot is free; a call whose deadline passes, the
//! caller's `grpc-timeout` or the server's cap, is answered DEADLINE_EXCEEDED, never CANCELLED,
//! INTERNAL or a hang.
//!
//! No test-only hooks: a call occupies the server simply by being a Decide whose request message
//! has not arrived yet (HTTP/2 headers sent, body held open), as a slow client's would. The
//! deadline tests use a bare HTTP/2 client, because tonic's client runs its own timer for
//! `grpc-timeout` and would report CANCELLED itself, racing the server's answer.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use prost::Message;
use riskdecision::pb;
use riskdecision::pb::decision_service_client::DecisionServiceClient;
use riskdecision::server::ServerLimits;
use support::{TestServer, decide_example, score_example};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::codegen::http;
use tonic::transport::Channel;

const DECIDE_PATH: &str = "/riskdecision.v1.DecisionService/Decide";
/// Bounds every wait in these tests: a hang fails instead of blocking the suite.
const PATIENCE: Duration = Duration::from_secs(30);

async fn start(limits: ServerLimits) -> TestServer {
    TestServer::builder().limits(limits).start().await
}

fn example_decide() -> pb::DecideRequest {
    decide_example("decide-tax-loan-counter-offer.json")
}

fn example_score() -> pb::ScoreRequest {
    score_example("score-inline.json")
}

type Answer = Result<tonic::Response<pb::Decision>, tonic::Status>;

/// A unary Decide whose request message is held back until something is sent on the returned
/// sender: the server has started the call and waits for its body.
fn held_decide(channel: Channel) -> (mpsc::Sender<pb::DecideRequest>, tokio::task::JoinHandle<Answer>) {
    let (tx, rx) = mpsc::channel::<pb::DecideRequest>(1);
    let call = tokio::spawn(async move {
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let codec = tonic_prost::ProstCodec::<pb::DecideRequest, pb::Decision>::default();
        grpc.client_streaming(
            tonic::Request::new(ReceiverStream::new(rx)),
            http::uri::PathAndQuery::from_static(DECIDE_PATH),
            codec,
        )
        .await
    });
    (tx, call)
}

#[tokio::test]
async fn calls_over_the_in_flight_limit_are_shed_and_service_resumes_when_the_slot_frees() {
    let server = start(ServerLimits {
        max_in_flight: 1,
        request_timeout: Duration::from_secs(60),
        ..ServerLimits::default()
    })
    .await;
    let (body, held) = held_decide(server.channel().await);

    // The held call takes the only slot as soon as the server starts on it; until then a
    // probe may still get through, so probe until one is shed (bounded).
    let mut client = DecisionServiceClient::new(server.channel().await);
    let mut shed = None;
    for _ in 0..500 {
        match client.score(example_score()).await {
            Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(status) => {
                shed = Some(status);
                break;
            }
        }
    }
    let shed = shed.expect("a call over the in-flight limit is shed");
    assert!(
        matches!(shed.code(), Code::ResourceExhausted | Code::Unavailable),
        "shed with {shed:?}"
    );

    // The held call completes normally once its message arrives...
    body.send(example_decide()).await.expect("server still reading");
    drop(body);
    let decision = tokio::time::timeout(PATIENCE, held)
        .await
        .expect("held call answered")
        .expect("joins")
        .expect("held call succeeds")
        .into_inner();
    assert_eq!(decision.outcome, pb::Outcome::CounterOffer as i32);

    // ...and its slot is free again.
    client
        .score(example_score())
        .await
        .expect("served again after the overload");
}

#[tokio::test]
async fn the_server_cap_ends_a_call_without_a_deadline_with_deadline_exceeded() {
    let server = start(ServerLimits {
        request_timeout: Duration::from_millis(100),
        ..ServerLimits::default()
    })
    .await;
    let (body, held) = held_decide(server.channel().await);
    let status = tokio::time::timeout(PATIENCE, held)
        .await
        .expect("answered, not hung")
        .expect("joins")
        .expect_err("the cap passes before the message arrives");
    drop(body);
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
}

/// A bare HTTP/2 call to Decide with `grpc-timeout`: the body is `message` (and the stream
/// stays open when there is none). Returns the grpc-status the server answers with.
async fn raw_decide(addr: SocketAddr, grpc_timeout: &str, message: Option<&pb::DecideRequest>) -> String {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (client, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(connection);
    let mut client = client.ready().await.expect("h2 ready");
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{DECIDE_PATH}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", grpc_timeout)
        .body(())
        .expect("request");
    let (response, mut stream) = client.send_request(request, false).expect("send");
    if let Some(message) = message {
        let encoded = message.encode_to_vec();
        let mut frame = Vec::with_capacity(encoded.len() + 5);
        frame.push(0); // not compressed
        frame.extend_from_slice(&u32::try_from(encoded.len()).expect("small").to_be_bytes());
        frame.extend_from_slice(&encoded);
        stream.send_data(frame.into(), true).expect("send body");
    }
    let response = tokio::time::timeout(PATIENCE, response)
        .await
        .expect("answered, not hung")
        .expect("response");
    let status_of = |headers: &http::HeaderMap| {
        headers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    // A trailers-only answer carries the status in its headers; otherwise it is in the trailers.
    if let Some(status) = status_of(response.headers()) {
        return status;
    }
    let mut body = response.into_body();
    while let Some(chunk) = tokio::time::timeout(PATIENCE, body.data()).await.expect("body") {
        let _ = chunk.expect("data");
    }
    let trailers = tokio::time::timeout(PATIENCE, body.trailers())
        .await
        .expect("trailers")
        .expect("trailers read")
        .expect("trailers present");
    drop(stream);
    status_of(&trailers).expect("grpc-status")
}

fn code_number(code: Code) -> String {
    (code as i32).to_string()
}

#[tokio::test]
async fn a_caller_deadline_that_passes_is_answered_deadline_exceeded() {
    let server = start(ServerLimits::default()).await;
    // The message never comes; the caller's 100 ms pass while the server waits for it.
    let status = raw_decide(server.addr, "100m", None).await;
    assert_eq!(status, code_number(Code::DeadlineExceeded));
}

#[tokio::test]
async fn a_deadline_already_too_short_is_answered_without_running_the_call() {
    let server = start(ServerLimits::default()).await;
    let status = raw_decide(server.addr, "500u", Some(&example_decide())).await;
    assert_eq!(status, code_number(Code::DeadlineExceeded));
}

#[tokio::test]
async fn a_call_within_its_deadline_is_answered_normally() {
    let server = start(ServerLimits::default()).await;
    assert_eq!(
        raw_decide(server.addr, "30S", Some(&example_decide())).await,
        code_number(Code::Ok)
    );
    let mut client = DecisionServiceClient::new(server.channel().await);
    let mut request = tonic::Request::new(example_decide());
    request.set_timeout(Duration::from_secs(30));
    let decision = client.decide(request).await.expect("decided").into_inner();
    assert_eq!(decision.outcome, pb::Outcome::CounterOffer as i32);
}

#[tokio::test]
async fn an_old_connection_is_not_mistaken_for_a_queued_call() {
    // The queueing clock starts when HTTP/2 accepts each call, not when the connection opened:
    // a call on a connection older than the limit is served.
    let server = start(ServerLimits {
        max_queue_delay: Duration::from_millis(100),
        ..ServerLimits::default()
    })
    .await;
    let mut client = DecisionServiceClient::new(server.channel().await);
    client.score(example_score()).await.expect("first call");
    tokio::time::sleep(Duration::from_millis(300)).await;
    client
        .score(example_score())
        .await
        .expect("a call on a connection older than the limit");
}
