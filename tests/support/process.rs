//! The `riskd` binary run as a child process, as an operator runs it: the command line the
//! tests start it with, a guard that kills it when a test fails early, and its log lines read
//! on a thread (which also keeps the pipe drained, so the server never blocks on a full one).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long to wait for each log line before giving up.
const PATIENCE: Duration = Duration::from_secs(15);

/// `riskd --listen 127.0.0.1:0 ARGS...` with stdout piped, and without the caller's
/// `REDIS_URL`, `RISKD_STORE` and `RISKD_POLICY`, which would point it at another store or
/// policy; its embedded store in a fresh folder under the temp directory (`--data-dir` in ARGS
/// overrides it).
pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_riskd"));
    cmd.args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("REDIS_URL")
        .env_remove("RISKD_POLICY")
        .env_remove("RISKD_STORE")
        // Each child its own embedded store (the default): the package directory's
        // `riskd-data` would be shared, and redb lets one process open a file.
        .env(
            "RISKD_DATA_DIR",
            std::env::temp_dir().join(super::unique_name("riskd-data")),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

/// [`command`] on the business date the example files are dated for, logging as `log_format`.
pub fn dated(log_format: &str) -> Command {
    command(&["--business-date", super::BUSINESS_DATE_ARG, "--log-format", log_format])
}

/// `riskctl --addr ADDR` (`http://` or `https://`), run in the package directory so that the
/// example paths resolve.
pub fn riskctl(addr: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_riskctl"));
    cmd.arg("--addr").arg(addr).current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

/// The fresh data folder [`command`] gave the child (removed when the child is done).
fn scratch_data_dir(cmd: &Command) -> Option<PathBuf> {
    cmd.get_envs()
        .find(|(k, _)| *k == "RISKD_DATA_DIR")
        .and_then(|(_, v)| v)
        .map(PathBuf::from)
        .filter(|p| p.starts_with(std::env::temp_dir()))
}

/// Runs `cmd` to the end: its exit code (-1 when killed by a signal), stdout and stderr.
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("run the command");
    if let Some(dir) = scratch_data_dir(cmd) {
        let _ = std::fs::remove_dir_all(dir);
    }
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running `riskd`, killed on drop.
pub struct Riskd {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    scratch: Option<PathBuf>,
}

impl Riskd {
    /// Spawns `cmd` (made by [`command`]: stdout must be piped).
    pub fn spawn(cmd: &mut Command) -> Riskd {
        let scratch = scratch_data_dir(cmd);
        let mut child = cmd.spawn().expect("spawn riskd");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Riskd { child, lines, scratch }
    }

    /// The next log line for which `pred` holds; None when stdout closes or a line is too long
    /// in coming.
    pub fn line(&self, pred: impl Fn(&str) -> bool) -> Option<String> {
        loop {
            let line = self.lines.recv_timeout(PATIENCE).ok()?;
            if pred(&line) {
                return Some(line);
            }
        }
    }

    /// The next JSON log line for which `pred` holds, skipping lines that are not JSON.
    pub fn json(&self, pred: impl Fn(&serde_json::Value) -> bool) -> Option<serde_json::Value> {
        loop {
            let line = self.lines.recv_timeout(PATIENCE).ok()?;
            if let Ok(log) = serde_json::from_str(&line)
                && pred(&log)
            {
                return Some(log);
            }
        }
    }

    /// Sends SIGTERM and waits up to `within` for riskd to exit; None if it is still running.
    pub fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("send SIGTERM");
        assert!(sent.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status);
            }
            if started.elapsed() >= within {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Riskd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
