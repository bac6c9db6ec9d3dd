//! `liverec bench --scale-out`: does the cluster make jobs faster as executors are added?
//! Each compared job runs embedded (this machine's cores), then on a cluster of this binary's
//! scheduler and one executor, then two, each executor pinned to its own core
//! (`taskset -c i`, one task slot) as separate hosts would be; scheduler and client run
//! unpinned beside them. Reports the median of `repeat` runs, the speed-up from one to two
//! executors, two executors against embedded, the client's peak RSS and the output rows the
//! client wrote itself (0: every row is written by the executors).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use serde::Serialize;

use super::measure::{Measured, measure_run};

/// The jobs measured, with the settings each mode runs them with.
const JOBS: [&str; 2] = ["itemcf", "training_set"];

/// Where and how the measured runs go.
pub struct ScaleOut<'a> {
    pub exe: &'a Path,
    pub input: &'a Path,
    pub output: &'a Path,
    /// The newest input day (the jobs' `--date`).
    pub day: NaiveDate,
    pub repeat: usize,
    /// Label days built at once by the training set on a cluster (more keep the executors
    /// busy while one day's stages wait on each other).
    pub cluster_parallel_days: u32,
}

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct ScaleOutRow {
    pub job: String,
    pub embedded_s: f64,
    /// Seconds with 1 and 2 pinned executors.
    pub executors_s: Vec<f64>,
    pub speedup_1_to_2: f64,
    pub two_executors_vs_embedded: f64,
    /// Peak RSS of the client process with 1 and 2 executors.
    pub client_peak_rss_mib: Vec<f64>,
    /// Output rows the client encoded itself on the cluster runs (all runs summed).
    pub rows_written_by_client: u64,
    /// Output rows the runs committed (the median run of 2 executors).
    pub rows_written: u64,
}

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct ScaleOutReport {
    pub method: String,
    pub pinned: bool,
    pub repeat: usize,
    pub rows: Vec<ScaleOutRow>,
}

impl ScaleOut<'_> {
    fn command(&self, job: &str, cluster: Option<&str>) -> Command {
        let mut cmd = Command::new(self.exe);
        cmd.args(["run", job, "--date", &self.day.to_string()])
            .args(["--input", &self.input.to_string_lossy()])
            .args(["--output", &self.output.to_string_lossy()])
            .env("LIVEREC_LOG", "warn");
        if job == "training_set" {
            // Rebuild every day (a repeated run would reuse them) and validate on the last.
            cmd.args(["--set", "force=true", "--set", "validation=last_day"]);
            if cluster.is_some() {
                let days = self.cluster_parallel_days.to_string();
                cmd.args(["--set", &format!("parallel_days={days}")]);
            }
        }
        if let Some(url) = cluster {
            cmd.args(["--cluster", url, "--timeout", "1800"]);
        }
        cmd
    }

    /// The median of `repeat` runs (by the job's own seconds), and the peak RSS over them.
    fn median(&self, job: &str, cluster: Option<&str>) -> Result<(Measured, f64, u64)> {
        let mut runs = Vec::new();
        for i in 0..self.repeat.max(1) {
            eprintln!(
                "  {job} {} ({}/{})",
                cluster.map_or("embedded".to_string(), |c| format!("on {c}")),
                i + 1,
                self.repeat.max(1)
            );
            runs.push(measure_run(self.command(job, cluster), self.output)?);
        }
        let peak = runs.iter().map(|m| m.rss).fold(0.0, f64::max);
        let through_client = runs.iter().map(|m| m.report.rows_written_by_client).sum();
        runs.sort_by(|a, b| a.report.seconds.total_cmp(&b.report.seconds));
        let median = runs.swap_remove(runs.len() / 2);
        Ok((median, peak, through_client))
    }

    pub fn run(&self) -> Result<ScaleOutReport> {
        let pinned = has_taskset();
        let mut embedded = Vec::new();
        eprintln!("scale-out: embedded");
        for job in JOBS {
            embedded.push(self.median(job, None)?);
        }
        let mut clustered: Vec<Vec<(Measured, f64, u64)>> = Vec::new();
        for executors in [1usize, 2] {
            let cluster = LocalCluster::start(self.exe, self.output, executors, pinned)?;
            eprintln!("scale-out: {executors} executor(s) at {}", cluster.url);
            let mut runs = Vec::new();
            for job in JOBS {
                runs.push(self.median(job, Some(&cluster.url))?);
            }
            clustered.push(runs);
        }
        let rows = JOBS
            .iter()
            .enumerate()
            .map(|(j, job)| {
                let secs: Vec<f64> = clustered.iter().map(|r| r[j].0.report.seconds).collect();
                let e = embedded[j].0.report.seconds;
                ScaleOutRow {
                    job: job.to_string(),
                    embedded_s: e,
                    speedup_1_to_2: secs[0] / secs[1],
                    two_executors_vs_embedded: secs[1] / e,
                    client_peak_rss_mib: clustered.iter().map(|r| r[j].1).collect(),
                    rows_written_by_client: clustered.iter().map(|r| r[j].2).sum(),
                    rows_written: clustered[1][j].0.report.rows_written(),
                    executors_s: secs,
                }
            })
            .collect();
        Ok(ScaleOutReport {
            method: format!(
                "{} executors, one task slot each{}; scheduler and client unpinned; median of {} run(s); training_set with parallel_days={} on the cluster",
                "1 then 2",
                if pinned {
                    ", executor i pinned to core i (taskset)"
                } else {
                    " (taskset not found: not pinned)"
                },
                self.repeat.max(1),
                self.cluster_parallel_days
            ),
            pinned,
            repeat: self.repeat.max(1),
            rows,
        })
    }
}

/// The report as read back for printing.
pub type ScaleOutPrint = ScaleOutReport;

pub fn print(report: &ScaleOutReport) {
    println!("scale-out: {}", report.method);
    println!(
        "{:<14} {:>10} {:>10} {:>10} {:>9} {:>12} {:>14} {:>14}",
        "job",
        "embedded s",
        "1 exec s",
        "2 exec s",
        "speed-up",
        "2 exec / emb",
        "client RSS MiB",
        "client rows"
    );
    for r in &report.rows {
        println!(
            "{:<14} {:>10.2} {:>10.2} {:>10.2} {:>9.2} {:>12.2} {:>14.0} {:>14}",
            r.job,
            r.embedded_s,
            r.executors_s[0],
            r.executors_s[1],
            r.speedup_1_to_2,
            r.two_executors_vs_embedded,
            r.client_peak_rss_mib.iter().copied().fold(0.0, f64::max),
            r.rows_written_by_client
        );
    }
}

fn has_taskset() -> bool {
    Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A scheduler and `n` executors on loopback, stopped when dropped.
struct LocalCluster {
    url: String,
    children: Vec<Child>,
}

impl LocalCluster {
    fn start(exe: &Path, output: &Path, n: usize, pinned: bool) -> Result<Self> {
        let port = free_port()?;
        let logs = output.join("_bench_cluster");
        std::fs::create_dir_all(&logs)?;
        let log = |name: &str| -> Result<Stdio> {
            Ok(std::fs::File::create(logs.join(format!("{name}.log")))?.into())
        };
        let mut cluster = Self {
            url: format!("df://127.0.0.1:{port}"),
            children: Vec::new(),
        };
        cluster.children.push(
            Command::new(exe)
                .args([
                    "cluster",
                    "scheduler",
                    "--bind",
                    &format!("127.0.0.1:{port}"),
                ])
                .stdout(Stdio::null())
                .stderr(log("scheduler")?)
                .spawn()
                .context("cannot start the scheduler")?,
        );
        for i in 0..n {
            let mut cmd = if pinned {
                let mut c = Command::new("taskset");
                c.args(["-c", &i.to_string()]).arg(exe);
                c
            } else {
                Command::new(exe)
            };
            let flight = free_port()?;
            cmd.args([
                "cluster",
                "executor",
                "--scheduler",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["--port", &flight.to_string(), "--concurrent-tasks", "1"])
            .arg("--work-dir")
            .arg(logs.join(format!("work-{i}")))
            .stdout(Stdio::null())
            .stderr(log(&format!("executor-{i}"))?);
            cluster
                .children
                .push(cmd.spawn().context("cannot start an executor")?);
        }
        let started = Instant::now();
        while registered_executors(port) != n {
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the executors did not register with the scheduler");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(cluster)
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A free port p whose successor is free too (an executor uses two).
fn free_port() -> Result<u16> {
    for _ in 0..100 {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        let p = l.local_addr()?.port();
        if p < 65000 && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return Ok(p);
        }
    }
    bail!("no free port pair on loopback")
}

/// How many executors the scheduler on `port` knows (its REST API).
fn registered_executors(port: u16) -> usize {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let request = "GET /api/executors HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    let mut text = String::new();
    if stream.write_all(request.as_bytes()).is_err() || stream.read_to_string(&mut text).is_err() {
        return 0;
    }
    // One object per executor, each with its own "specification".
    text.matches("\"specification\"").count()
}
