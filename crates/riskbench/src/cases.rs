//! One case: our RPC and the echo baseline with messages of the same size, in turns.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prost::Message;
use prost::bytes::Bytes;
use riskdecision::pb;
use serde::Serialize;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

use crate::args::{Args, Case, DECIDE_PATH, Mode, PORTFOLIO_PATH, SCORE_PATH, describe};
use crate::calls::{Body, Target, check_unary, decide_body, parse, unary};
use crate::loops::{Load, RunResult};
use crate::measure::{Tally, measure};
use crate::servers::{Running, connect};
use crate::stats::ratio;
use crate::{BoxError, echo};

#[derive(Debug, Clone, Serialize)]
pub(crate) struct CaseResult {
    pub(crate) case: Case,
    pub(crate) what: &'static str,
    pub(crate) ours: RunResult,
    pub(crate) echo: Option<RunResult>,
    /// ours / echo, calls (items) answered OK per second.
    pub(crate) throughput_ratio: Option<f64>,
    /// ours / echo, p99 latency of the calls answered OK.
    pub(crate) p99_ratio: Option<f64>,
    /// echo / ours, server CPU per call: the throughput ratio on a machine whose cores serve only
    /// the service (no load generator, no other processes).
    pub(crate) server_cpu_ratio: Option<f64>,
}

/// The servers and settings every case of a run shares.
pub(crate) struct Env {
    pub(crate) args: Args,
    pub(crate) load: Load,
    pub(crate) memory: Running,
    pub(crate) redis: Option<(Running, String)>,
    pub(crate) echo: Running,
    pub(crate) run_id: u32,
}

/// Encoded sizes of a request and its answer, bytes.
type Sizes = (usize, usize);

pub(crate) async fn run_case(env: &Env, case: Case) -> Result<Option<CaseResult>, BoxError> {
    let Some(addr) = server_for(env, case) else {
        return Ok(None);
    };
    let channels = connect(addr, env.load.connections).await?;
    let (target, sizes) = match case {
        Case::DecideInline | Case::DecideInlineRedis | Case::DecideIdRedis => {
            decide_target(env, case, channels).await?
        }
        Case::Score | Case::Portfolio => score_target(env, case, channels).await?,
    };
    eprintln!(
        "riskbench: {case:?}: ours (request {} B, answer {} B) ...",
        sizes.0, sizes.1
    );
    let mode = if target.streaming { Mode::Closed } else { env.args.mode };
    let echo = if env.args.no_baseline {
        None
    } else {
        Some(echo_target(env, case, &target, sizes).await?)
    };
    let (ours_tally, echo_tally) = take_turns(env, mode, &target, echo.as_ref().map(|(t, _)| t)).await?;
    let ours = ours_tally.result("ours", mode, env.args.rate, sizes);
    let echo = echo.map(|(_, echo_sizes)| echo_tally.result("echo", mode, env.args.rate, echo_sizes));
    Ok(Some(CaseResult::compare(case, ours, echo)))
}

/// Our server for a case: the in-process one, or the Redis one (`None`, reported, without Redis).
fn server_for(env: &Env, case: Case) -> Option<std::net::SocketAddr> {
    match case {
        Case::DecideInline | Case::Score | Case::Portfolio => Some(env.memory.addr),
        Case::DecideInlineRedis | Case::DecideIdRedis => {
            let addr = env.redis.as_ref().map(|(server, _)| server.addr);
            if addr.is_none() {
                eprintln!(
                    "riskbench: {case:?} skipped: Redis at {} does not answer",
                    env.args.redis_url
                );
            }
            addr
        }
    }
}

async fn decide_target(env: &Env, case: Case, channels: Vec<Channel>) -> Result<(Target, Sizes), BoxError> {
    let file = if case == Case::DecideIdRedis {
        // The profile the by-id example refers to, cached first.
        let put: pb::PutProfileRequest = parse("riskdecision.v1.PutProfileRequest", "put-profile.json")?;
        let mut client = pb::profile_service_client::ProfileServiceClient::new(channels[0].clone());
        client.put_profile(put).await.map_err(|s| format!("PutProfile: {s}"))?;
        "decide-by-id-working-capital.json"
    } else {
        "decide-tax-loan-counter-offer.json"
    };
    let req: pb::DecideRequest = parse("riskdecision.v1.DecideRequest", file)?;
    let target = Target {
        channels,
        path: PathAndQuery::from_static(DECIDE_PATH),
        body: decide_body(&req, env.run_id, case as u8, env.args.id_pool),
        streaming: false,
        seq: Arc::new(AtomicU64::new(0)),
    };
    let check = |d: &pb::Decision| {
        if d.outcome == pb::Outcome::Unspecified as i32 || d.decision_id.is_empty() {
            Err(format!("unexpected decision {d:?}"))
        } else {
            Ok(())
        }
    };
    let sizes = check_unary(&target, env.load.timeout, check).await?;
    Ok((target, sizes))
}

/// Score calls, or ScorePortfolio streams of the same items (sizes are one item's).
async fn score_target(env: &Env, case: Case, channels: Vec<Channel>) -> Result<(Target, Sizes), BoxError> {
    let req: pb::ScoreRequest = parse("riskdecision.v1.ScoreRequest", "score-inline.json")?;
    let unary_target = Target {
        channels,
        path: PathAndQuery::from_static(SCORE_PATH),
        body: Body::Fixed(Bytes::from(req.encode_to_vec())),
        streaming: false,
        seq: Arc::new(AtomicU64::new(0)),
    };
    let check = |s: &pb::ScoreResponse| match &s.error {
        Some(e) => Err(format!("item error {e:?}")),
        None if s.grade.is_empty() => Err("no grade".to_owned()),
        None => Ok(()),
    };
    let sizes = check_unary(&unary_target, env.load.timeout, check).await?;
    if case == Case::Score {
        return Ok((unary_target, sizes));
    }
    let streaming = Target {
        path: PathAndQuery::from_static(PORTFOLIO_PATH),
        streaming: true,
        ..unary_target
    };
    Ok((streaming, sizes))
}

/// The echo baseline with messages of the same encoded sizes as ours, checked once.
async fn echo_target(env: &Env, case: Case, ours: &Target, sizes: Sizes) -> Result<(Target, Sizes), BoxError> {
    let channels = connect(env.echo.addr, env.load.connections).await?;
    let body = echo::request_bytes(sizes.0, sizes.1);
    let check_path = PathAndQuery::from_static(echo::UNARY_PATH);
    let answer = unary(channels[0].clone(), check_path, body.clone(), env.load.timeout)
        .await
        .map_err(|code| format!("echo check call failed with {code}"))?;
    eprintln!(
        "riskbench: {case:?}: echo (request {} B, answer {} B)",
        body.len(),
        answer.len()
    );
    let path = if ours.streaming {
        echo::STREAM_PATH
    } else {
        echo::UNARY_PATH
    };
    let target = Target {
        channels,
        path: PathAndQuery::from_static(path),
        body: Body::Fixed(body.clone()),
        streaming: ours.streaming,
        seq: Arc::new(AtomicU64::new(0)),
    };
    Ok((target, (body.len(), answer.len())))
}

/// Ours and echo take turns in short slices, so a change in the machine's background load falls
/// on both alike; each warms up before its first slice only.
async fn take_turns(env: &Env, mode: Mode, ours: &Target, echo: Option<&Target>) -> Result<(Tally, Tally), BoxError> {
    let load = env.load;
    let rounds = u32::try_from(env.args.rounds).unwrap_or(1).max(1);
    let slice = (load.duration / rounds).max(Duration::from_secs(1));
    let mut ours_tally = Tally::default();
    let mut echo_tally = Tally::default();
    for round in 0..rounds {
        let warmup = if round == 0 { load.warmup } else { Duration::ZERO };
        let slice_load = Load {
            warmup,
            duration: slice,
            ..load
        };
        ours_tally.add(measure(ours, slice_load, mode, env.args.rate).await?);
        if let Some(echo) = echo {
            echo_tally.add(measure(echo, slice_load, mode, env.args.rate).await?);
        }
    }
    Ok((ours_tally, echo_tally))
}

impl CaseResult {
    fn compare(case: Case, ours: RunResult, echo: Option<RunResult>) -> Self {
        let throughput_ratio = echo.as_ref().and_then(|e| ratio(ours.ok_per_sec, e.ok_per_sec));
        let p99_ratio = echo
            .as_ref()
            .and_then(|e| ratio(ours.ok_latency.p99_us, e.ok_latency.p99_us));
        let server_cpu_ratio = echo
            .as_ref()
            .and_then(|e| ratio(e.server_cpu_us_per_call, ours.server_cpu_us_per_call));
        CaseResult {
            case,
            what: describe(case),
            ours,
            echo,
            throughput_ratio,
            p99_ratio,
            server_cpu_ratio,
        }
    }
}
