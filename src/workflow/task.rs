//! One attempt of a workflow task: `liverec run <job> --date D …` as a child process of this
//! binary. A process can be stopped whole — its queries, its label days, a model fit in the
//! middle of a tree — so a task past its deadline, or a workflow told to stop by a signal,
//! leaves nothing running: the child gets SIGTERM (it abandons its staged data and exits),
//! then SIGKILL if it has not ended within a grace period. Nothing it had staged is committed.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::state::OutputRef;
use crate::engine::EngineOptions;
use crate::signals::{self, Signal};
use crate::storage::Location;

/// What to run: a job for a day, with its overrides, on these roots and engine.
pub struct TaskRun<'a> {
    pub name: &'a str,
    pub job: &'a str,
    pub day: NaiveDate,
    pub overrides: &'a [(String, String)],
    pub input: &'a Location,
    pub output: &'a Location,
    pub engine: &'a EngineOptions,
    pub limit: Duration,
    /// 1 for the first attempt (the child sees it as `LIVEREC_ATTEMPT`).
    pub attempt: u32,
}

/// How an attempt ended.
pub enum Outcome {
    Done {
        outputs: Vec<OutputRef>,
        printed: Vec<String>,
    },
    /// Failed; `retry` is false for a result no retry changes (a model below its gate).
    Failed {
        reason: String,
        retry: bool,
    },
    TimedOut,
    Interrupted(Signal),
}

/// The part of `liverec run --report-json` a task records.
#[derive(Deserialize)]
struct Report {
    outputs: Vec<ReportOutput>,
    #[serde(default)]
    printed: Vec<String>,
}

#[derive(Deserialize)]
struct ReportOutput {
    table: String,
    location: String,
    rows: u64,
}

/// How long a child gets to exit on SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(10);

fn command(run: &TaskRun<'_>, report: &std::path::Path) -> Result<Command> {
    let exe = std::env::current_exe().context("cannot find the liverec binary")?;
    let mut cmd = Command::new(exe);
    if let Some(endpoint) = crate::storage::s3::endpoint() {
        cmd.args(["--s3-endpoint", endpoint]);
    }
    cmd.args(["run", run.job, "--date", &run.day.to_string()])
        .args(["--input", run.input.url().as_str()])
        .args(["--output", run.output.url().as_str()])
        .arg("--report-json")
        .arg(report)
        .args(run.engine.to_args());
    for (k, v) in run.overrides {
        cmd.arg("--set").arg(format!("{k}={v}"));
    }
    cmd.env("LIVEREC_ATTEMPT", run.attempt.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // A child outlives no workflow: if this process dies (even by SIGKILL), the child gets
    // SIGTERM and abandons its work.
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec here.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(cmd)
}

/// Runs one attempt: until the child ends, the limit passes, or a signal arrives.
pub async fn attempt(run: &TaskRun<'_>) -> Result<Outcome> {
    let report = std::env::temp_dir().join(format!(
        "liverec-task-{}.json",
        uuid::Uuid::new_v4().simple()
    ));
    let mut child = command(run, &report)?
        .spawn()
        .with_context(|| format!("cannot start task {}", run.name))?;
    // The child's log lines go on to this process's stderr; its last error line is the
    // task's reason when it fails.
    let stderr = child.stderr.take().context("child stderr")?;
    let name = run.name.to_string();
    let relay = tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        let mut last_error = None;
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(reason) = line.strip_prefix("error: ") {
                last_error = Some(reason.to_string());
            } else {
                eprintln!("[{name}] {line}");
            }
        }
        last_error
    });
    let ended = tokio::select! {
        status = child.wait() => Some(status?),
        _ = tokio::time::sleep(run.limit) => None,
        s = signals::received() => {
            stop(&mut child).await;
            std::fs::remove_file(&report).ok();
            return Ok(Outcome::Interrupted(s));
        }
    };
    let Some(status) = ended else {
        stop(&mut child).await;
        std::fs::remove_file(&report).ok();
        return Ok(Outcome::TimedOut);
    };
    let reason = relay.await.unwrap_or_default();
    let outcome = if status.success() {
        let bytes =
            std::fs::read(&report).with_context(|| format!("task {} wrote no report", run.name))?;
        let r: Report = serde_json::from_slice(&bytes).context("a task's --report-json")?;
        Outcome::Done {
            outputs: r
                .outputs
                .into_iter()
                .map(|o| OutputRef {
                    table: o.table,
                    location: o.location,
                    rows: o.rows,
                })
                .collect(),
            printed: r.printed,
        }
    } else {
        let code = status.code();
        match code {
            Some(130) => Outcome::Interrupted(Signal::Interrupt),
            Some(143) => Outcome::Interrupted(Signal::Terminate),
            _ => Outcome::Failed {
                reason: reason.unwrap_or_else(|| format!("exited with {status}")),
                retry: code != Some(i32::from(crate::error::EXIT_GATE_FAILED)),
            },
        }
    };
    std::fs::remove_file(&report).ok();
    Ok(outcome)
}

/// SIGTERM, then SIGKILL after the grace period.
async fn stop(child: &mut Child) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) with a pid of our own child and a valid signal number.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        if tokio::time::timeout(GRACE, child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}
