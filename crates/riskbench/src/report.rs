//! The report: the machine, the load, every case and phase; printed and written as JSON.

use serde::Serialize;

use crate::args::{Args, Mode};
use crate::cases::CaseResult;
use crate::loops::RunResult;
use crate::overload::Overload;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Machine {
    pub(crate) nproc: usize,
    pub(crate) cpu: String,
    pub(crate) mem_total_kib: Option<u64>,
    pub(crate) loadavg_before: String,
    pub(crate) loadavg_after: String,
}

pub(crate) fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

pub(crate) fn mem_total_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    s.lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) machine: Machine,
    pub(crate) mode: Mode,
    pub(crate) rate: Option<u64>,
    pub(crate) connections: u64,
    pub(crate) streams: u64,
    pub(crate) window: u64,
    pub(crate) warmup_secs: u64,
    pub(crate) duration_secs: u64,
    pub(crate) rounds: u64,
    pub(crate) server_threads: u64,
    pub(crate) client_threads: u64,
    pub(crate) max_in_flight: u64,
    pub(crate) max_queue_delay_ms: u64,
    /// `--trace`: our calls were traced (OpenTelemetry on).
    pub(crate) traced: bool,
    /// What the null collector had received when the report was written (`--trace` without an
    /// endpoint): export calls and bytes.
    pub(crate) otlp_received: Option<(u64, u64)>,
    pub(crate) cases: Vec<CaseResult>,
    pub(crate) overload: Option<Overload>,
}

impl Report {
    pub(crate) fn new(
        args: &Args,
        loadavg_before: String,
        otlp_received: Option<(u64, u64)>,
        cases: Vec<CaseResult>,
        overload: Option<Overload>,
    ) -> Self {
        Report {
            machine: Machine {
                nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
                cpu: cpu_model(),
                mem_total_kib: mem_total_kib(),
                loadavg_before,
                loadavg_after: loadavg(),
            },
            mode: if args.overload { Mode::Open } else { args.mode },
            rate: args.rate,
            connections: args.connections,
            streams: args.streams,
            window: args.window,
            warmup_secs: args.warmup,
            duration_secs: args.duration,
            rounds: args.rounds,
            server_threads: args.server_threads,
            client_threads: args.client_threads,
            max_in_flight: args.max_in_flight,
            max_queue_delay_ms: args.max_queue_delay_ms,
            traced: args.trace,
            otlp_received,
            cases,
            overload,
        }
    }
}

pub(crate) fn codes_text(codes: &std::collections::BTreeMap<String, u64>) -> String {
    codes
        .iter()
        .map(|(c, n)| format!("{c}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn row(label: &str, r: &RunResult) -> String {
    format!(
        "  {label:<6} {:>10.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>11.1} {:>11.1}   {}",
        r.ok_per_sec,
        r.ok_latency.p50_us,
        r.ok_latency.p90_us,
        r.ok_latency.p99_us,
        r.ok_latency.p999_us,
        r.ok_latency.max_us,
        r.server_cpu_us_per_call,
        r.client_cpu_us_per_call,
        codes_text(&r.codes)
    )
}

pub(crate) fn print_report(report: &Report) {
    let m = &report.machine;
    println!(
        "machine: {} cores, {}, {} MiB; load average before {} / after {}",
        m.nproc,
        m.cpu,
        m.mem_total_kib.unwrap_or(0) / 1024,
        m.loadavg_before,
        m.loadavg_after
    );
    println!(
        "load: {:?} loop{}, {} connections x {} streams, warm-up {} s, measured {} s in {} turns with echo; server {} threads, client {} threads",
        report.mode,
        report.rate.map(|r| format!(" at {r}/s")).unwrap_or_default(),
        report.connections,
        report.streams,
        report.warmup_secs,
        report.duration_secs,
        report.rounds,
        report.server_threads,
        report.client_threads
    );
    if report.traced {
        match report.otlp_received {
            Some((calls, bytes)) => println!(
                "tracing: on, every sampled call exported to the in-process null collector ({calls} exports, {bytes} bytes so far)"
            ),
            None => println!("tracing: on, exported to OTEL_EXPORTER_OTLP_ENDPOINT"),
        }
    }
    for c in &report.cases {
        print_case(c);
    }
    if let Some(o) = &report.overload {
        print_overload(o);
    }
}

fn print_case(c: &CaseResult) {
    println!();
    println!(
        "{:?}: {} (request {} B, answer {} B)",
        c.case, c.what, c.ours.request_bytes, c.ours.response_bytes
    );
    println!(
        "  {:<6} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11} {:>11}   status",
        "", "ok/s", "p50 us", "p90 us", "p99 us", "p99.9 us", "max us", "srv cpu us", "cli cpu us"
    );
    println!("{}", row("ours", &c.ours));
    if let Some(e) = &c.echo {
        println!("{}", row("echo", e));
    }
    if let (Some(t), Some(p)) = (c.throughput_ratio, c.p99_ratio) {
        println!(
            "  ratio = ours / echo: throughput {t:.2}, p99 {p:.2}; echo / ours server CPU per call {:.2}",
            c.server_cpu_ratio.unwrap_or(0.0)
        );
    }
}

fn print_overload(o: &Overload) {
    println!();
    println!(
        "overload (Decide, inline profile, open loop): sustainable {:.0}/s, RSS before {} KiB",
        o.sustainable_per_sec,
        o.rss_kib_before.unwrap_or(0)
    );
    for p in &o.phases {
        let r = &p.result;
        println!(
            "  {:<16} offered {:>7.0}/s  ok {:>7.0}/s  ok p50 {:>8.0} us  p99 {:>8.0} us  p99.9 {:>8.0} us  all p99 {:>8.0} us  late starts {}  RSS {} KiB  {}",
            p.name,
            r.offered_per_sec.unwrap_or(0.0),
            r.ok_per_sec,
            r.ok_latency.p50_us,
            r.ok_latency.p99_us,
            r.ok_latency.p999_us,
            r.all_latency.p99_us,
            r.late_starts,
            p.rss_kib_after.unwrap_or(0),
            codes_text(&r.codes)
        );
        let secs: Vec<String> = p
            .seconds
            .iter()
            .map(|(ok, failed, p99)| format!("{ok}/{failed}/{:.1}ms", p99 / 1000.0))
            .collect();
        println!("    per second (ok/shed-or-failed/ok p99): {}", secs.join(" "));
        println!(
            "    OK calls timed from when they were sent: p50 {:.0} us  p99 {:.0} us  p99.9 {:.0} us  max {:.0} us",
            p.ok_from_send.p50_us, p.ok_from_send.p99_us, p.ok_from_send.p999_us, p.ok_from_send.max_us
        );
    }
}
