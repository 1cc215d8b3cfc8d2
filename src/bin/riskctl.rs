//! `riskctl`: a command-line client for people. Reads requests as canonical protobuf JSON (the
//! form grpcurl uses; see `examples/`) and prints answers as JSON.

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use prost::Message;
use riskdecision::json::{from_json, to_json};
use riskdecision::pb;
use riskdecision::pb::decision_service_client::DecisionServiceClient;
use riskdecision::pb::policy_service_client::PolicyServiceClient;
use riskdecision::pb::profile_service_client::ProfileServiceClient;
use tonic::transport::{Channel, Endpoint};
use tonic_types::StatusExt;

#[derive(Debug, Parser)]
#[command(
    name = "riskctl",
    version,
    about = "Command-line client of the risk-decision service"
)]
struct Cli {
    /// Server address.
    #[arg(long, env = "RISKCTL_ADDR", default_value = "http://127.0.0.1:50051", global = true)]
    addr: String,
    /// Deadline for each call, milliseconds (sent as grpc-timeout).
    #[arg(long, default_value_t = 5_000, global = true)]
    timeout_ms: u64,
    /// Print compact JSON on one line.
    #[arg(long, global = true)]
    compact: bool,
    /// PEM CA certificate that signed the server's certificate (for an https:// address).
    #[arg(long, env = "RISKCTL_TLS_CA", global = true)]
    tls_ca: Option<std::path::PathBuf>,
    /// PEM client certificate for mutual TLS (with --tls-key).
    #[arg(long, env = "RISKCTL_TLS_CERT", global = true, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(long, env = "RISKCTL_TLS_KEY", global = true, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Bearer token sent as `authorization: Bearer <token>` (prefer RISKCTL_TOKEN: command
    /// lines are visible to other users).
    #[arg(long, env = "RISKCTL_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Score an enterprise: FILE holds a ScoreRequest ("-" for stdin).
    Score { file: String },
    /// Decide a loan application: FILE holds a DecideRequest ("-" for stdin).
    Decide { file: String },
    /// Monitor a loan: FILE holds a MonitorRequest ("-" for stdin).
    Monitor { file: String },
    /// Monitor a debtor's loans together (debtor-level rule CL19): FILE holds a
    /// MonitorPortfolioRequest ("-" for stdin).
    ///
    /// FILE is one JSON object, `{"loans": [MonitorRequest, ...]}` with 1..1000 loans (the form
    /// grpcurl sends; see examples/monitor-portfolio.json). It is one request, not JSON lines:
    /// the rule needs all of a debtor's loans in the same call. Loans with the same
    /// `enterprise_id` (or inline profile) are one debtor's: when more than the policy's
    /// `debtor_npl_share` of its outstanding claims is non-performing, each of its loans is at
    /// least `debtor_npl_min_class`. Single-loan Monitor files combine with jq:
    /// `jq -s '{loans: .}' a.json b.json | riskctl monitor-portfolio -`.
    ///
    /// The answer goes to stdout as JSON: one item per loan, in request order, with `result`, or
    /// `error` for a loan that could not be monitored (the others still are). A summary goes to
    /// stderr: classes, errors, and the loans whose class the debtor-level rule decided.
    MonitorPortfolio { file: String },
    /// Re-score a portfolio: FILE holds one ScoreRequest per line (JSON lines, "-" for stdin).
    /// Results go to stdout as JSON lines; progress and a summary go to stderr.
    Portfolio { file: String },
    /// Show a recorded decision.
    GetDecision { decision_id: String },
    /// Cache a profile: FILE holds a PutProfileRequest ("-" for stdin).
    PutProfile { file: String },
    /// Show a cached profile.
    GetProfile { enterprise_id: String },
    /// Remove a cached profile.
    DeleteProfile {
        enterprise_id: String,
        /// Succeed when there is nothing to delete.
        #[arg(long)]
        allow_missing: bool,
    },
    /// Show the policy in force.
    Policy {
        /// Include the policy file's text.
        #[arg(long)]
        content: bool,
    },
    /// Validate a candidate policy file (TOML) without loading it.
    ValidatePolicy { file: String },
    /// Check the server's health (exit 0 when SERVING).
    Health,
}

#[derive(Debug)]
enum Failure {
    Usage(String),
    Rpc(tonic::Status),
}

impl From<tonic::Status> for Failure {
    fn from(s: tonic::Status) -> Self {
        Failure::Rpc(s)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("riskctl: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(out) => {
            if !out.is_empty() {
                println!("{out}");
            }
            ExitCode::SUCCESS
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("riskctl: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Rpc(status)) => {
            eprintln!("{}", describe(&status));
            ExitCode::from(1)
        }
    }
}

/// A status with its standard details, as JSON on stderr.
fn describe(status: &tonic::Status) -> String {
    let mut out = serde_json::json!({ "code": format!("{:?}", status.code()), "message": status.message() });
    if let Some(bad) = status.get_details_bad_request() {
        out["field_violations"] = bad
            .field_violations
            .iter()
            .map(|v| serde_json::json!({ "field": v.field, "description": v.description }))
            .collect();
    }
    if let Some(info) = status.get_details_error_info() {
        out["error_info"] =
            serde_json::json!({ "reason": info.reason, "domain": info.domain, "metadata": info.metadata });
    }
    serde_json::to_string_pretty(&out).unwrap_or_else(|_| status.to_string())
}

fn read(file: &str) -> Result<String, Failure> {
    if file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Failure::Usage(format!("reading stdin: {e}")))?;
        Ok(s)
    } else {
        std::fs::read_to_string(file).map_err(|e| Failure::Usage(format!("reading {file}: {e}")))
    }
}

fn parse<M: Message + Default>(name: &str, file: &str) -> Result<M, Failure> {
    from_json(&format!("riskdecision.v1.{name}"), &read(file)?)
        .map_err(|e| Failure::Usage(format!("{file} is not a valid {name}: {e}")))
}

fn render<M: Message>(name: &str, m: &M, compact: bool) -> Result<String, Failure> {
    to_json(&format!("riskdecision.v1.{name}"), m, !compact)
        .map_err(|e| Failure::Usage(format!("rendering {name}: {e}")))
}

/// Per-call settings: the deadline and the bearer token.
struct CallOpts {
    timeout: Duration,
    authorization: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

fn request<T>(message: T, opts: &CallOpts) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.set_timeout(opts.timeout);
    if let Some(auth) = &opts.authorization {
        r.metadata_mut().insert("authorization", auth.clone());
    }
    r
}

fn read_file(what: &str, path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::Usage(format!("cannot read {what} {}: {e}", path.display())))
}

async fn channel(cli: &Cli) -> Result<Channel, Failure> {
    let addr = &cli.addr;
    let mut endpoint =
        Endpoint::from_shared(addr.to_owned()).map_err(|e| Failure::Usage(format!("bad --addr {addr}: {e}")))?;
    if addr.starts_with("https://") {
        let ca = cli
            .tls_ca
            .as_deref()
            .ok_or_else(|| Failure::Usage("an https:// address needs --tls-ca (the server's CA)".to_owned()))?;
        let mut tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(read_file("--tls-ca", ca)?));
        if let (Some(cert), Some(key)) = (&cli.tls_cert, &cli.tls_key) {
            tls = tls.identity(tonic::transport::Identity::from_pem(
                read_file("--tls-cert", cert)?,
                read_file("--tls-key", key)?,
            ));
        }
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| Failure::Usage(format!("TLS settings: {e}")))?;
    } else if cli.tls_ca.is_some() || cli.tls_cert.is_some() {
        return Err(Failure::Usage("TLS flags need an https:// --addr".to_owned()));
    }
    endpoint
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .await
        .map_err(|e| Failure::Rpc(tonic::Status::unavailable(format!("cannot connect to {addr}: {e}"))))
}

async fn run(cli: Cli) -> Result<String, Failure> {
    let authorization = match &cli.token {
        Some(token) => Some(
            format!("Bearer {}", token.trim())
                .parse()
                .map_err(|_| Failure::Usage("the token must be printable ASCII".to_owned()))?,
        ),
        None => None,
    };
    let t = &CallOpts {
        timeout: Duration::from_millis(cli.timeout_ms),
        authorization,
    };
    // Parse input files before connecting, so that a bad file is reported even with no server.
    match &cli.command {
        Cmd::PutProfile { .. } | Cmd::GetProfile { .. } | Cmd::DeleteProfile { .. } => profile_call(&cli, t).await,
        Cmd::Policy { .. } | Cmd::ValidatePolicy { .. } | Cmd::Health => policy_call(&cli, t).await,
        _ => decision_call(&cli, t).await,
    }
}

/// A DecisionService call.
async fn decision_call(cli: &Cli, t: &CallOpts) -> Result<String, Failure> {
    let compact = cli.compact;
    match &cli.command {
        Cmd::Score { file } => {
            let req: pb::ScoreRequest = parse("ScoreRequest", file)?;
            let resp = DecisionServiceClient::new(channel(cli).await?)
                .score(request(req, t))
                .await?;
            render("ScoreResponse", resp.get_ref(), compact)
        }
        Cmd::Decide { file } => {
            let req: pb::DecideRequest = parse("DecideRequest", file)?;
            let resp = DecisionServiceClient::new(channel(cli).await?)
                .decide(request(req, t))
                .await?;
            render("Decision", resp.get_ref(), compact)
        }
        Cmd::Monitor { file } => {
            let req: pb::MonitorRequest = parse("MonitorRequest", file)?;
            let resp = DecisionServiceClient::new(channel(cli).await?)
                .monitor(request(req, t))
                .await?;
            render("MonitorResponse", resp.get_ref(), compact)
        }
        Cmd::MonitorPortfolio { file } => monitor_portfolio(cli, t, file).await,
        Cmd::Portfolio { file } => portfolio(cli, t, file).await,
        Cmd::GetDecision { decision_id } => {
            let req = pb::GetDecisionRequest {
                decision_id: decision_id.clone(),
            };
            let resp = DecisionServiceClient::new(channel(cli).await?)
                .get_decision(request(req, t))
                .await?;
            render("Decision", resp.get_ref(), compact)
        }
        _ => Err(Failure::Usage("not a DecisionService command".to_owned())),
    }
}

/// A ProfileService call.
async fn profile_call(cli: &Cli, t: &CallOpts) -> Result<String, Failure> {
    let compact = cli.compact;
    match &cli.command {
        Cmd::PutProfile { file } => {
            let req: pb::PutProfileRequest = parse("PutProfileRequest", file)?;
            let resp = ProfileServiceClient::new(channel(cli).await?)
                .put_profile(request(req, t))
                .await?;
            render("PutProfileResponse", resp.get_ref(), compact)
        }
        Cmd::GetProfile { enterprise_id } => {
            let req = pb::GetProfileRequest {
                enterprise_id: enterprise_id.clone(),
            };
            let resp = ProfileServiceClient::new(channel(cli).await?)
                .get_profile(request(req, t))
                .await?;
            render("GetProfileResponse", resp.get_ref(), compact)
        }
        Cmd::DeleteProfile {
            enterprise_id,
            allow_missing,
        } => {
            let req = pb::DeleteProfileRequest {
                enterprise_id: enterprise_id.clone(),
                allow_missing: *allow_missing,
            };
            let resp = ProfileServiceClient::new(channel(cli).await?)
                .delete_profile(request(req, t))
                .await?;
            render("DeleteProfileResponse", resp.get_ref(), compact)
        }
        _ => Err(Failure::Usage("not a ProfileService command".to_owned())),
    }
}

/// A PolicyService or health call.
async fn policy_call(cli: &Cli, t: &CallOpts) -> Result<String, Failure> {
    let compact = cli.compact;
    match &cli.command {
        Cmd::Policy { content } => {
            let req = pb::GetPolicyRequest {
                include_content: *content,
            };
            let resp = PolicyServiceClient::new(channel(cli).await?)
                .get_policy(request(req, t))
                .await?;
            render("PolicyInfo", resp.get_ref(), compact)
        }
        Cmd::ValidatePolicy { file } => {
            let req = pb::ValidatePolicyRequest { content: read(file)? };
            let resp = PolicyServiceClient::new(channel(cli).await?)
                .validate_policy(request(req, t))
                .await?;
            render("ValidatePolicyResponse", resp.get_ref(), compact)
        }
        Cmd::Health => {
            let mut client = tonic_health::pb::health_client::HealthClient::new(channel(cli).await?);
            let resp = client
                .check(request(
                    tonic_health::pb::HealthCheckRequest { service: String::new() },
                    t,
                ))
                .await?;
            let status = tonic_health::pb::health_check_response::ServingStatus::try_from(resp.get_ref().status)
                .map_or("UNKNOWN", |s| s.as_str_name());
            if status == "SERVING" {
                Ok(serde_json::json!({ "status": status }).to_string())
            } else {
                Err(Failure::Rpc(tonic::Status::unavailable(format!(
                    "health status {status}"
                ))))
            }
        }
        _ => Err(Failure::Usage("not a PolicyService or health command".to_owned())),
    }
}

/// Sends a MonitorPortfolioRequest, prints the answer and writes a summary to stderr.
async fn monitor_portfolio(cli: &Cli, t: &CallOpts, file: &str) -> Result<String, Failure> {
    let req: pb::MonitorPortfolioRequest = parse("MonitorPortfolioRequest", file).map_err(|e| match e {
        Failure::Usage(msg) => Failure::Usage(format!(
            "{msg}\n(expected one object {{\"loans\": [MonitorRequest, ...]}}; see riskctl monitor-portfolio --help)"
        )),
        other => other,
    })?;
    let resp = DecisionServiceClient::new(channel(cli).await?)
        .monitor_portfolio(request(req, t))
        .await?;
    let summary = monitor_portfolio_summary(resp.get_ref());
    let summary = if cli.compact {
        summary.to_string()
    } else {
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    };
    eprintln!("{summary}");
    render("MonitorPortfolioResponse", resp.get_ref(), cli.compact)
}

/// Counts of a MonitorPortfolio answer: loans per class, errors per status code, and the loans
/// whose class the debtor-level rule (CL19) decided (those the rest of their debtor's claims
/// pulled down).
fn monitor_portfolio_summary(resp: &pb::MonitorPortfolioResponse) -> serde_json::Value {
    use std::collections::BTreeMap;

    let mut classes: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let mut debtor_rule: Vec<&str> = Vec::new();
    for item in &resp.items {
        if let Some(e) = &item.error {
            *errors
                .entry(format!("{:?}", tonic::Code::from_i32(e.code)))
                .or_default() += 1;
        }
        if let Some(r) = &item.result {
            let class = pb::LoanClass::try_from(r.classification).map_or("UNKNOWN", |c| c.as_str_name());
            *classes.entry(class).or_default() += 1;
            if r.classification_rule.as_ref().is_some_and(|rule| rule.code == "CL19") {
                debtor_rule.push(&item.loan_id);
            }
        }
    }
    serde_json::json!({
        "loans": resp.items.len(),
        "monitored": resp.items.len() - errors.values().sum::<usize>(),
        "errors": errors,
        "classes": classes,
        "decided_by_debtor_rule": debtor_rule,
    })
}

/// Streams a JSON-lines portfolio through ScorePortfolio, printing each result as it arrives.
async fn portfolio(cli: &Cli, opts: &CallOpts, file: &str) -> Result<String, Failure> {
    use std::collections::BTreeMap;
    use std::io::{IsTerminal, Write};

    let text = read(file)?;
    let lines: Vec<(usize, &str)> = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).collect();
    let total = lines.len();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let (requests, local_errors) = portfolio_requests(&lines, &mut out)?;
    let sent = requests.len();
    let mut client = DecisionServiceClient::new(channel(cli).await?);
    // No deadline: a portfolio stream runs as long as it has items.
    let mut call = tonic::Request::new(tokio_stream::iter(requests));
    if let Some(auth) = &opts.authorization {
        call.metadata_mut().insert("authorization", auth.clone());
    }
    let mut responses = client.score_portfolio(call).await?.into_inner();
    let progress = std::io::stderr().is_terminal();
    let mut grades: BTreeMap<String, usize> = BTreeMap::new();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let mut severities: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut done = 0usize;
    while let Some(resp) = responses.message().await? {
        done += 1;
        match &resp.error {
            Some(e) => {
                *errors
                    .entry(format!("{:?}", tonic::Code::from_i32(e.code)))
                    .or_default() += 1
            }
            None => {
                *grades.entry(resp.grade.clone()).or_default() += 1;
                for f in &resp.verification {
                    let name = pb::FindingSeverity::try_from(f.severity).map_or("UNKNOWN", |s| s.as_str_name());
                    *severities.entry(name).or_default() += 1;
                }
            }
        }
        let line = to_json("riskdecision.v1.ScoreResponse", &resp, false).map_err(|e| Failure::Usage(e.to_string()))?;
        writeln!(out, "{line}").map_err(|e| Failure::Usage(e.to_string()))?;
        if progress && (done.is_multiple_of(100) || done == sent) {
            let width = 30;
            let filled = (done * width).checked_div(sent).unwrap_or(width).min(width);
            eprint!("\r[{}{}] {done}/{sent}", "#".repeat(filled), "-".repeat(width - filled));
        }
    }
    if progress {
        eprintln!();
    }
    let summary = serde_json::json!({
        "items": total,
        "scored": done - errors.values().sum::<usize>(),
        "errors_from_server": errors,
        "unparsable_lines": local_errors,
        "grades": grades,
        "verification_findings": severities,
    });
    eprintln!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
    if done != sent {
        return Err(Failure::Rpc(tonic::Status::data_loss(format!(
            "{sent} items sent but {done} results received"
        ))));
    }
    Ok(String::new())
}

/// The ScoreRequests of a portfolio's lines; the lines that are not one are reported in line
/// with the results (so nothing is silently dropped), and counted.
fn portfolio_requests(
    lines: &[(usize, &str)],
    out: &mut impl std::io::Write,
) -> Result<(Vec<pb::ScoreRequest>, usize), Failure> {
    let mut requests = Vec::with_capacity(lines.len());
    let mut local_errors = 0usize;
    for (n, line) in lines {
        match from_json::<pb::ScoreRequest>("riskdecision.v1.ScoreRequest", line) {
            Ok(mut req) => {
                if req.item_id.is_empty() {
                    req.item_id = format!("line-{}", n + 1);
                }
                requests.push(req);
            }
            Err(e) => {
                // Not sent: reported in line with the results so nothing is silently dropped.
                local_errors += 1;
                let err = serde_json::json!({ "item_id": format!("line-{}", n + 1), "error": { "code": 3, "message": format!("not a ScoreRequest: {e}") } });
                writeln!(out, "{err}").map_err(|e| Failure::Usage(e.to_string()))?;
            }
        }
    }
    Ok((requests, local_errors))
}
