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
use std::time::{Duration, Instant};

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

/// A server on a runtime of one thread of its own, which the test can take away for a while
/// ([`OwnThreadServer::pause`]): what a saturated CPU or the OS scheduling the process out does
/// to the calls already read and queued.
struct OwnThreadServer {
    addr: SocketAddr,
    runtime: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OwnThreadServer {
    fn start(limits: ServerLimits) -> OwnThreadServer {
        let (started, on_start) = std::sync::mpsc::channel();
        let (stop, on_stop) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("server runtime");
            runtime.block_on(async move {
                let server = start(limits).await;
                let _ = started.send((server.addr, tokio::runtime::Handle::current()));
                let _ = on_stop.await;
                server.stop().await;
            });
        });
        let (addr, runtime) = on_start.recv_timeout(PATIENCE).expect("server started");
        OwnThreadServer {
            addr,
            runtime,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Keeps the server's only thread busy for `duration`, starting at once.
    fn pause(&self, duration: Duration) {
        self.runtime.spawn(async move { std::thread::sleep(duration) });
    }

    async fn channel(&self) -> Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect")
    }
}

impl Drop for OwnThreadServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Issue 13, finding 2: a closed loop of 32 callers does not overload the server, so none of
/// its calls may be shed, even when the server loses its thread for twice the queue-delay limit
/// now and then (as a process scheduled out does). Before, every call queued
/// during such a pause was shed: 33 in the review's closed-loop run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_loop_of_32_callers_is_not_shed_across_pauses() {
    // A limit well above the queue 32 callers make in a debug build on a shared machine (32
    // calls of up to about 6 ms each).
    let limits = ServerLimits {
        max_queue_delay: Duration::from_millis(500),
        ..ServerLimits::default()
    };
    let pause = limits.max_queue_delay * 2;
    let server = OwnThreadServer::start(limits);
    let channel = server.channel().await;
    let mut callers = Vec::new();
    for caller in 0..32 {
        let mut client = DecisionServiceClient::new(channel.clone());
        callers.push(tokio::spawn(async move {
            let mut codes = Vec::new();
            for n in 0..25 {
                let mut request = example_decide();
                request.request_id = format!("closed-loop-{caller}-{n}");
                codes.push(client.decide(request).await.map_or_else(|s| s.code(), |_| Code::Ok));
            }
            codes
        }));
    }
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.pause(pause);
        tokio::time::sleep(pause).await;
    }
    let mut codes = Vec::new();
    for caller in callers {
        codes.extend(
            tokio::time::timeout(PATIENCE, caller)
                .await
                .expect("the loop ends")
                .expect("joins"),
        );
    }
    let failed: Vec<_> = codes.iter().filter(|c| **c != Code::Ok).collect();
    assert!(
        failed.is_empty(),
        "{} of {} calls failed: {failed:?}",
        failed.len(),
        codes.len()
    );
}

/// Sends `bursts` bursts of `per_burst` Decides, one burst every `every`, on a new HTTP/2
/// connection with `grpc-timeout` (a bare client: no client-side timer) and reports each call's
/// grpc-status on `answers`.
async fn raw_load(
    addr: SocketAddr,
    tag: String,
    bursts: usize,
    per_burst: usize,
    every: Duration,
    answers: mpsc::Sender<String>,
) {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    // Thousands of answers in flight on one connection: lift the client's own guard against
    // many small DATA frames, which is not what is tested here.
    let (mut client, connection) = h2::client::Builder::new()
        .data_frame_budget(1 << 30)
        .handshake::<_, tonic::codegen::Bytes>(tcp)
        .await
        .expect("h2 handshake");
    tokio::spawn(connection);
    let mut tick = tokio::time::interval(every);
    for n in 0..bursts * per_burst {
        if n % per_burst == 0 {
            tick.tick().await;
        }
        client = match client.ready().await {
            Ok(ready) => ready,
            Err(e) => panic!("connection {tag} closed after {n} calls: {e}"),
        };
        let request = http::Request::builder()
            .method("POST")
            .uri(format!("http://{addr}{DECIDE_PATH}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("grpc-timeout", "300m")
            .body(())
            .expect("request");
        let (response, mut stream) = client.send_request(request, false).expect("send");
        let mut message = example_decide();
        message.request_id = format!("load-{tag}-{n}");
        let encoded = message.encode_to_vec();
        let mut frame = Vec::with_capacity(encoded.len() + 5);
        frame.push(0);
        frame.extend_from_slice(&u32::try_from(encoded.len()).expect("small").to_be_bytes());
        frame.extend_from_slice(&encoded);
        stream.send_data(frame.into(), true).expect("send body");
        let answers = answers.clone();
        tokio::spawn(async move {
            let status = grpc_status(response).await;
            let _ = answers.send(status).await;
        });
    }
}

/// The grpc-status of an answer, from its headers (trailers-only) or its trailers; an HTTP/2
/// error (a reset stream, a closed connection) as `h2: ...`.
async fn grpc_status(response: h2::client::ResponseFuture) -> String {
    let status_of = |headers: &http::HeaderMap| {
        headers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let response = match response.await {
        Ok(response) => response,
        Err(e) => return format!("h2: {e}"),
    };
    if let Some(status) = status_of(response.headers()) {
        return status;
    }
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        if let Err(e) = chunk {
            return format!("h2: {e}");
        }
    }
    match body.trailers().await {
        Ok(trailers) => trailers
            .as_ref()
            .and_then(status_of)
            .unwrap_or_else(|| "no grpc-status".into()),
        Err(e) => format!("h2: {e}"),
    }
}

/// Issue 13, finding 2: calls that the overload kept queued past their callers' deadlines are
/// shed with RESOURCE_EXHAUSTED (back off), not answered DEADLINE_EXCEEDED. 4 connections send
/// a burst of 10 Decides with a 300 ms deadline every 20 ms for 1.2 s, and twice the server
/// loses its thread for 400 ms, so the calls it had read and queued wait longer than their
/// deadlines. Before, the deadline check ran first and answered them DEADLINE_EXCEEDED (26 and
/// 259 of 2,400 in two runs). The client runs on the test's single thread, so that each call's
/// headers and message leave together: a call the server started before its message arrived
/// and then stalled is rightly DEADLINE_EXCEEDED, and not what is tested here.
#[tokio::test]
async fn calls_queued_past_their_deadline_by_overload_are_shed_not_timed_out() {
    let server = OwnThreadServer::start(ServerLimits::default());
    let (answers, mut answered) = mpsc::channel::<String>(1024);
    let started = Instant::now();
    let (bursts, per_burst, connections) = (60, 10, 4);
    let mut senders = Vec::new();
    for connection in 0..connections {
        let load = raw_load(
            server.addr,
            connection.to_string(),
            bursts,
            per_burst,
            Duration::from_millis(20),
            answers.clone(),
        );
        senders.push(tokio::spawn(load));
    }
    drop(answers);
    let collect = tokio::spawn(async move {
        let mut statuses = Vec::new();
        while let Some(status) = answered.recv().await {
            statuses.push(status);
        }
        statuses
    });
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        server.pause(Duration::from_millis(400));
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    for sender in senders {
        tokio::time::timeout(PATIENCE, sender)
            .await
            .expect("sent")
            .expect("joins");
    }
    let statuses = tokio::time::timeout(PATIENCE, collect)
        .await
        .expect("all answered")
        .expect("joins");
    assert!(started.elapsed() < PATIENCE, "stops by itself");
    assert_eq!(statuses.len(), bursts * per_burst * connections, "every call answered");
    let count = |code: Code| statuses.iter().filter(|s| **s == code_number(code)).count();
    let (ok, shed, timed_out) = (
        count(Code::Ok),
        count(Code::ResourceExhausted),
        count(Code::DeadlineExceeded),
    );
    let others: Vec<_> = statuses
        .iter()
        .filter(|s| {
            ![Code::Ok, Code::ResourceExhausted, Code::DeadlineExceeded]
                .map(code_number)
                .contains(s)
        })
        .collect();
    assert!(others.is_empty(), "only OK, shed or timed out: {others:?}");
    assert!(
        shed > 0,
        "the queued calls are shed: {ok} OK, {timed_out} DEADLINE_EXCEEDED"
    );
    assert_eq!(timed_out, 0, "{ok} OK, {shed} RESOURCE_EXHAUSTED");
}
