//! One measured window: the loop it runs, the CPU the servers and the generator spent in it,
//! and slices merged into one result.

use std::time::{Duration, Instant};

use crate::BoxError;
use crate::args::Mode;
use crate::calls::Target;
use crate::loops::{Load, RunResult, closed_loop, open_loop_dispatch, open_loop_drain, streaming_loop};
use crate::stats::Recorder;

/// CPU time (user + system) of this process's threads whose name starts with `prefix`: the
/// servers' runtime threads are "server", the load generator's "client" (Linux /proc).
pub(crate) fn thread_cpu(prefix: &str) -> Duration {
    // Clock ticks per second of /proc's utime and stime (USER_HZ: 100 on Linux).
    const TICKS_PER_SEC: u64 = 100;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let mut ticks = 0u64;
    for task in tasks.flatten().take(10_000) {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ... : comm may hold spaces, so split after the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // After the comm: state is field 3 of stat(5), utime 14 and stime 15.
        let utime = fields.get(11).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        let stime = fields.get(12).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        ticks += utime + stime;
    }
    Duration::from_millis(ticks * 1000 / TICKS_PER_SEC)
}

/// CPU used by the servers and by the load generator during a measured window.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cpu {
    pub(crate) server: Duration,
    pub(crate) client: Duration,
}

/// One measured run: what was recorded, over which window, how many calls started late, and
/// the CPU spent in the measured window.
pub(crate) async fn measure(
    target: &Target,
    load: Load,
    mode: Mode,
    rate: Option<u64>,
) -> Result<(Recorder, Duration, u64, Cpu), BoxError> {
    let from = tokio::time::Instant::now() + load.warmup;
    let to = from + load.duration;
    let sampler = tokio::spawn(async move {
        tokio::time::sleep_until(from).await;
        let (server, client) = (thread_cpu("server"), thread_cpu("client"));
        tokio::time::sleep_until(to).await;
        Cpu {
            server: thread_cpu("server").saturating_sub(server),
            client: thread_cpu("client").saturating_sub(client),
        }
    });
    let (rec, window, late) = if target.streaming {
        (streaming_loop(target, load).await, load.duration, 0)
    } else {
        match (mode, rate) {
            (Mode::Open, Some(rate)) => {
                let run = open_loop_dispatch(target, load, rate).await?;
                open_loop_drain(&run, load).await;
                let rec = run.rec.lock().map(|r| r.clone()).unwrap_or_default();
                (rec, load.duration, run.late)
            }
            _ => {
                let started = Instant::now();
                let rec = closed_loop(target, load).await;
                let window = match load.requests {
                    Some(_) => started.elapsed().saturating_sub(load.warmup),
                    None => load.duration,
                };
                (rec, window, 0)
            }
        }
    };
    let cpu = sampler.await.unwrap_or_default();
    Ok((rec, window, late, cpu))
}

/// Several measured slices of one target, merged.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) rec: Recorder,
    pub(crate) window: Duration,
    pub(crate) late: u64,
    pub(crate) cpu: Cpu,
}

impl Tally {
    pub(crate) fn add(&mut self, (rec, window, late, cpu): (Recorder, Duration, u64, Cpu)) {
        self.rec.merge(&rec);
        self.window += window;
        self.late += late;
        self.cpu.server += cpu.server;
        self.cpu.client += cpu.client;
    }

    pub(crate) fn result(&self, name: &'static str, mode: Mode, rate: Option<u64>, sizes: (usize, usize)) -> RunResult {
        let mut r = RunResult::new(name, mode, &self.rec, self.window);
        r.offered_per_sec = rate.filter(|_| mode == Mode::Open).map(|r| r as f64);
        r.late_starts = self.late;
        r.request_bytes = sizes.0;
        r.response_bytes = sizes.1;
        let calls = self.rec.count().max(1) as f64;
        r.server_cpu_us_per_call = self.cpu.server.as_secs_f64() * 1e6 / calls;
        r.client_cpu_us_per_call = self.cpu.client.as_secs_f64() * 1e6 / calls;
        r
    }
}
