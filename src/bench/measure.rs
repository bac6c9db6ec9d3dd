//! Measuring one process: wall time, its own peak RSS (wait4), and a `liverec run`'s
//! `--report-json`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// Runs a command, returning (wall seconds, peak RSS in MiB, stdout); fails on a non-zero exit.
pub(super) fn measure(cmd: &mut Command) -> Result<(f64, f64, String)> {
    use std::io::Read;
    let started = Instant::now();
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("starting a benchmark process")?;
    let pid = child.id() as libc::pid_t;
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            r.read_to_string(&mut text).ok();
            text
        })
    };
    let out = reader(Box::new(child.stdout.take().context("stdout")?));
    let err = reader(Box::new(child.stderr.take().context("stderr")?));
    // wait4 reaps the child and gives its own peak RSS (ru_maxrss, KiB on Linux).
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if rc < 0 || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{cmd:?} failed:\n{stderr}");
    }
    Ok((seconds, usage.ru_maxrss as f64 / 1024.0, stdout))
}

/// What `liverec run --report-json` wrote: the part the benchmark reads.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct RunJson {
    /// Seconds inside the job, without process start-up.
    pub seconds: f64,
    pub outputs: Vec<OutputJson>,
    /// Output rows the run's own process encoded (0 on a cluster).
    #[serde(default)]
    pub rows_written_by_client: u64,
}

#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct OutputJson {
    pub rows: u64,
}

impl RunJson {
    pub fn rows_written(&self) -> u64 {
        self.outputs.iter().map(|o| o.rows).sum()
    }
}

/// One measured `liverec run`: wall seconds, peak RSS, and its report.
pub(super) struct Measured {
    pub seconds: f64,
    pub rss: f64,
    pub report: RunJson,
}

/// Runs `liverec run …` with `--report-json` and reads the report.
pub(super) fn measure_run(mut cmd: Command, scratch: &Path) -> Result<Measured> {
    let report_path = scratch.join(format!("run-{}.json", uuid::Uuid::new_v4().simple()));
    cmd.arg("--report-json").arg(&report_path);
    let (seconds, rss, _) = measure(&mut cmd)?;
    let bytes = std::fs::read(&report_path)
        .with_context(|| format!("{cmd:?} wrote no report {}", report_path.display()))?;
    std::fs::remove_file(&report_path).ok();
    let report = serde_json::from_slice(&bytes).context("the run's --report-json")?;
    Ok(Measured {
        seconds,
        rss,
        report,
    })
}
