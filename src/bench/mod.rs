//! `liverec bench`: runs each job of the daily workflow on generated data as its own process
//! of this binary (so each job's peak RSS is its own), records wall time, rows in / out,
//! rows/s and peak memory, runs the DuckDB peer (bench/duckdb_peer.py) on the same Parquet,
//! checks both did the same work (row counts, item-CF sums), and prints / writes the table.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use chrono::{Days, NaiveDate};
use serde::Serialize;
use serde_json::{Value, json};

use crate::generator::Scale;

mod measure;
pub mod scale_out;

use measure::{measure, measure_run};

pub struct BenchOptions {
    pub scale: Scale,
    /// Measure the cluster's scale-out instead (`scale_out`).
    pub scale_out: bool,
    pub scale_name: String,
    pub data: PathBuf,
    pub cluster: Option<String>,
    pub python: Option<String>,
    pub peer_script: PathBuf,
    pub models: bool,
    /// Runs of each job compared with DuckDB (both sides); the median is reported.
    pub repeat: usize,
}

#[derive(Debug, Serialize)]
pub struct JobFigures {
    pub job: String,
    pub date: NaiveDate,
    /// Wall time of the process.
    pub seconds: f64,
    /// Time inside the job, as the job reports it (no process start-up): what is compared
    /// with DuckDB's query time inside its running process.
    pub job_seconds: Option<f64>,
    /// Every run's in-job seconds when the job was repeated (`--repeat`); the figures above
    /// are the median run's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub job_seconds_runs: Vec<f64>,
    pub peak_rss_mib: f64,
    pub rows_in: u64,
    pub rows_out: u64,
    pub rows_per_s: f64,
    pub duckdb_seconds: Option<f64>,
    pub ratio_to_duckdb: Option<f64>,
    pub same_work: Option<bool>,
}

/// Rows of the Parquet files of `table` for days `from..=to` (from the footers).
fn parquet_rows(root: &Path, table: &str, from: NaiveDate, to: NaiveDate) -> u64 {
    let mut rows = 0;
    let mut day = from;
    while day <= to {
        let dir = root.join(table).join(format!("dt={day}"));
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "parquet")
                && let Ok(file) = std::fs::File::open(&path)
                && let Ok(reader) = parquet::file::reader::SerializedFileReader::new(file)
            {
                use parquet::file::reader::FileReader;
                rows += reader.metadata().file_metadata().num_rows() as u64;
            }
        }
        day = day + Days::new(1);
    }
    rows
}

fn rows_in(input: &Path, job: &str, day: NaiveDate, overrides: &[(String, String)]) -> u64 {
    let windows = match job {
        // Profiles over N = 7 days before each of the 7 label days, labels on each.
        "training_set" => ["watches", "interactions", "exposures"]
            .iter()
            .map(|t| (t.to_string(), day - Days::new(13), day))
            .collect(),
        _ => crate::workflow::fingerprint::input_windows(job, day, overrides).unwrap_or_default(),
    };
    windows
        .iter()
        .map(|(t, from, to)| parquet_rows(input, t, *from, *to))
        .sum()
}

/// The jobs the DuckDB peer does too (on the newest day).
const COMPARED: [&str; 3] = ["heat", "training_set", "itemcf"];

/// A job to measure: name, day, `--set` overrides.
type PlannedJob = (&'static str, NaiveDate, Vec<(String, String)>);

/// `liverec run JOB --date DAY` on the benchmark's input and output (and cluster, if any).
fn job_command(
    exe: &Path,
    job: &str,
    day: NaiveDate,
    input: &Path,
    output: &Path,
    overrides: &[(String, String)],
    opts: &BenchOptions,
) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(["run", job, "--date", &day.to_string()])
        .args(["--input", &input.to_string_lossy()])
        .args(["--output", &output.to_string_lossy()])
        .env("LIVEREC_LOG", "warn");
    for (k, v) in overrides {
        cmd.args(["--set", &format!("{k}={v}")]);
    }
    if let Some(url) = &opts.cluster {
        cmd.args(["--cluster", url]);
    }
    cmd
}

pub fn run(opts: &BenchOptions) -> Result<Value> {
    let exe = std::env::current_exe().context("locating the liverec binary")?;
    let base = opts.data.join(&opts.scale_name);
    let input = base.join("input");
    generate_if_missing(&exe, &input, opts)?;
    let mut days: Vec<NaiveDate> = std::fs::read_dir(input.join("watches"))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("dt=")?.parse().ok())
        .collect();
    days.sort();
    let d = *days.last().context("no watches partitions")?;
    let output = base.join("liverec-out");
    std::fs::remove_dir_all(&output).ok();
    std::fs::create_dir_all(&output)?;
    let run = BenchRun {
        exe: &exe,
        input: &input,
        output: &output,
        opts,
    };
    let quality = run.quality(&days)?;
    if opts.scale_out {
        // Item-CF reads the day's heat.
        run.job("heat", d, &[], d)?;
        let report = scale_out::ScaleOut {
            exe: &exe,
            input: &input,
            output: &output,
            day: d,
            repeat: opts.repeat,
            cluster_parallel_days: 4,
        }
        .run()?;
        return Ok(json!({
            "scale": opts.scale_name,
            "date": d,
            "machine": machine(),
            "scale_out": report,
        }));
    }
    let mut figures = vec![quality];
    for (job, day, overrides) in &plan(d, opts.models) {
        figures.push(run.job(job, *day, overrides, d)?);
    }
    let peer = match &opts.python {
        Some(python) => {
            let peer = run_peer(python, &base, &output, d, opts)?;
            compare(&mut figures, &peer, &output, d);
            peer
        }
        None => Value::Null,
    };
    let peak = figures.iter().map(|f| f.peak_rss_mib).fold(0.0, f64::max);
    Ok(json!({
        "scale": opts.scale_name,
        "date": d,
        "machine": machine(),
        "cluster": opts.cluster,
        "repeat": opts.repeat.max(1),
        "jobs": figures,
        "peak_rss_mib": peak,
        "duckdb": peer,
    }))
}

/// Cores and memory of this machine.
fn machine() -> Value {
    json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "memory_gib": crate::engine::physical_memory().map(|m| m as f64 / (1u64 << 30) as f64),
    })
}

/// Generates the scale's data into `input` unless it is there.
fn generate_if_missing(exe: &Path, input: &Path, opts: &BenchOptions) -> Result<()> {
    if input.join("watches").exists() {
        return Ok(());
    }
    eprintln!(
        "generating --scale {} into {}",
        opts.scale_name,
        input.display()
    );
    // At least 21 days: 7 label days with 7 profile days each, a 14-day item-CF window for
    // the day before the last.
    let days = opts.scale.preset().2.max(21).to_string();
    let (s, _, _) = measure(Command::new(exe).args([
        "generate",
        "--out",
        &input.to_string_lossy(),
        "--scale",
        &opts.scale_name,
        "--days",
        &days,
    ]))?;
    eprintln!("  {s:.1} s");
    Ok(())
}

/// The daily workflow's jobs for the newest day `d` (and the day before, for the recall
/// evaluation).
fn plan(d: NaiveDate, models: bool) -> Vec<PlannedJob> {
    let prev = d - Days::new(1);
    let mut plan: Vec<PlannedJob> = vec![
        ("heat", d, vec![]),
        (
            "training_set",
            d,
            vec![("validation".into(), "last_day".into())],
        ),
        ("itemcf", d, vec![]),
        ("heat", prev, vec![]),
        ("itemcf", prev, vec![]),
        ("eval_recall", prev, vec![]),
    ];
    if models {
        for job in ["train_lr", "train_gbdt", "train_gbdt_lr"] {
            plan.push((job, d, vec![]));
        }
    }
    plan
}

/// Where the measured jobs run.
struct BenchRun<'a> {
    exe: &'a Path,
    input: &'a Path,
    output: &'a Path,
    opts: &'a BenchOptions,
}

impl BenchRun<'_> {
    fn command(&self, job: &str, day: NaiveDate, overrides: &[(String, String)]) -> Command {
        job_command(
            self.exe,
            job,
            day,
            self.input,
            self.output,
            overrides,
            self.opts,
        )
    }

    /// The row checks of every input day, as the nightly `validate` task does for each new
    /// day; the jobs then reuse the recorded checks (as in daily operation).
    fn quality(&self, days: &[NaiveDate]) -> Result<JobFigures> {
        eprintln!("running quality for {} days", days.len());
        let (mut seconds, mut rss, mut job_total) = (0.0, 0.0f64, 0.0);
        for day in days {
            let m = measure_run(self.command("quality", *day, &[]), self.output)?;
            seconds += m.seconds;
            job_total += m.report.seconds;
            rss = rss.max(m.rss);
        }
        let last = *days.last().context("no days")?;
        let input_rows: u64 = crate::contract::INPUT_TABLES
            .iter()
            .map(|t| parquet_rows(self.input, t.name, days[0], last))
            .sum();
        Ok(JobFigures {
            job: format!("quality ({} days)", days.len()),
            date: last,
            seconds,
            job_seconds: Some(job_total),
            job_seconds_runs: Vec::new(),
            peak_rss_mib: rss,
            rows_in: input_rows,
            rows_out: 0,
            rows_per_s: input_rows as f64 / seconds.max(1e-9),
            duckdb_seconds: None,
            ratio_to_duckdb: None,
            same_work: None,
        })
    }

    /// One planned job. The jobs DuckDB is compared on run `repeat` times (a rerun replaces
    /// the outputs; the training set is forced to rebuild its days), the median is reported.
    fn job(
        &self,
        job: &str,
        day: NaiveDate,
        overrides: &[(String, String)],
        d: NaiveDate,
    ) -> Result<JobFigures> {
        let compared = day == d && COMPARED.contains(&job);
        let runs = if compared { self.opts.repeat.max(1) } else { 1 };
        let mut measured = Vec::with_capacity(runs);
        for run in 0..runs {
            let mut overrides = overrides.to_vec();
            if run > 0 && job == "training_set" {
                overrides.push(("force".into(), "true".into()));
            }
            let counter = if runs > 1 {
                format!(" ({}/{runs})", run + 1)
            } else {
                String::new()
            };
            eprintln!("running {job} {day}{counter}");
            measured.push(measure_run(
                self.command(job, day, &overrides),
                self.output,
            )?);
        }
        let all: Vec<f64> = measured.iter().map(|m| m.report.seconds).collect();
        let peak = measured.iter().map(|m| m.rss).fold(0.0, f64::max);
        measured.sort_by(|a, b| a.report.seconds.total_cmp(&b.report.seconds));
        let median = measured.swap_remove(runs / 2);
        let rows_in = if job.starts_with("train_") {
            rows_written_manifest(self.output, d)
        } else {
            rows_in(self.input, job, day, overrides)
        };
        Ok(JobFigures {
            job: job.to_string(),
            date: day,
            seconds: median.seconds,
            job_seconds: Some(median.report.seconds),
            job_seconds_runs: if runs > 1 { all } else { Vec::new() },
            peak_rss_mib: peak,
            rows_in,
            rows_out: median.report.rows_written(),
            rows_per_s: rows_in as f64 / median.seconds.max(1e-9),
            duckdb_seconds: None,
            ratio_to_duckdb: None,
            same_work: None,
        })
    }
}

/// The DuckDB peer on the same input: heat, the training set's profiles + samples, item-CF;
/// `repeat` runs, each its own process (each run pays its own warm-up, as liverec's do:
/// DuckDB's second query in a process is ~20 % faster than its first).
fn run_peer(
    python: &str,
    base: &Path,
    output: &Path,
    d: NaiveDate,
    opts: &BenchOptions,
) -> Result<Value> {
    let peer_out = base.join("duckdb-out");
    std::fs::remove_dir_all(&peer_out).ok();
    eprintln!("running the DuckDB peer");
    // The input days liverec read from their cleaned copies (quarantined rows removed) are
    // read from there by the peer too, so both read the same rows.
    let args = [
        opts.peer_script.to_string_lossy().into_owned(),
        base.join("input").to_string_lossy().into_owned(),
        peer_out.to_string_lossy().into_owned(),
        d.to_string(),
        "--cleaned".to_string(),
        output.to_string_lossy().into_owned(),
    ];
    let mut runs: Vec<Value> = Vec::new();
    let mut rss = 0.0f64;
    for run in 0..opts.repeat.max(1) {
        if opts.repeat > 1 {
            eprintln!("running the DuckDB peer ({}/{})", run + 1, opts.repeat);
        }
        let (_, r, stdout) = measure(Command::new(python).args(&args))?;
        rss = rss.max(r);
        runs.push(serde_json::from_str(&stdout).context("the peer's JSON")?);
    }
    let mut peer = runs[0].clone();
    peer["peak_rss_mib_measured"] = json!(rss);
    if runs.len() > 1 {
        for job in COMPARED {
            let mut secs: Vec<f64> = runs
                .iter()
                .filter_map(|r| r["jobs"][job]["seconds"].as_f64())
                .collect();
            peer["jobs"][job]["runs"] = json!(secs.clone());
            secs.sort_by(f64::total_cmp);
            if let Some(median) = secs.get(secs.len() / 2) {
                peer["jobs"][job]["seconds"] = json!(median);
            }
        }
    }
    Ok(peer)
}

/// Puts the peer's time beside each compared job, with whether both did the same work (row
/// counts, item-CF's co-occurrence sum).
fn compare(figures: &mut [JobFigures], peer: &Value, output: &Path, d: NaiveDate) {
    let ours_rows = |table: &str, from: NaiveDate| parquet_rows(output, table, from, d);
    for f in figures.iter_mut().filter(|f| f.date == d) {
        if !COMPARED.contains(&f.job.as_str()) {
            continue;
        }
        let key = f.job.as_str();
        let p = &peer["jobs"][key];
        let Some(secs) = p["seconds"].as_f64() else {
            continue;
        };
        f.duckdb_seconds = Some(secs);
        f.ratio_to_duckdb = Some(f.job_seconds.unwrap_or(f.seconds) / secs.max(1e-9));
        let r = &p["rows"];
        f.same_work = Some(match key {
            "heat" => r["heat"].as_u64() == Some(ours_rows("heat", d)),
            "training_set" => {
                let first = d - Days::new(6);
                r["samples"].as_u64() == Some(ours_rows("samples", first))
                    && r["exposure_samples"].as_u64() == Some(ours_rows("exposure_samples", first))
            }
            _ => {
                r["itemcf_sim"].as_u64() == Some(ours_rows("itemcf_sim", d))
                    && r["candidates"].as_u64() == Some(ours_rows("candidates", d))
                    && r["sum_cooccurrence"].as_u64() == Some(itemcf_sum(output, d))
            }
        });
    }
}

/// Rows of the training set the train jobs read.
fn rows_written_manifest(output: &Path, d: NaiveDate) -> u64 {
    let path = output
        .join(crate::layout::training_set(d))
        .join(crate::layout::MANIFEST);
    std::fs::read(path)
        .ok()
        .and_then(|b| {
            serde_json::from_slice::<crate::doc::training_set::TrainingSetManifest>(&b).ok()
        })
        .map_or(0, |m| m.rows)
}

/// Σ cooccurrence of our itemcf_sim partition of `d`, read with the parquet crate.
fn itemcf_sum(output: &Path, d: NaiveDate) -> u64 {
    use arrow::array::AsArray;
    let dir = output.join(format!("itemcf_sim/dt={d}"));
    let mut sum = 0i64;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "parquet") {
            continue;
        }
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        let Ok(builder) =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        else {
            continue;
        };
        for batch in builder.build().into_iter().flatten().flatten() {
            if let Some(c) = batch.column_by_name("cooccurrence")
                && let Ok(c) = arrow::compute::cast(c, &arrow::datatypes::DataType::Int64)
            {
                sum += c
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .iter()
                    .flatten()
                    .sum::<i64>();
            }
        }
    }
    sum as u64
}

pub fn print(report: &Value) {
    if let Some(scale_out) = report.get("scale_out") {
        if let Ok(r) = serde_json::from_value::<scale_out::ScaleOutPrint>(scale_out.clone()) {
            scale_out::print(&r);
        }
        return;
    }
    println!(
        "liverec bench --scale {} (day {}){}",
        report["scale"].as_str().unwrap_or(""),
        report["date"].as_str().unwrap_or(""),
        report["cluster"]
            .as_str()
            .map_or(String::new(), |c| format!(" on {c}"))
    );
    println!(
        "{:<18} {:<10} {:>9} {:>9} {:>10} {:>12} {:>12} {:>11} {:>9} {:>7} {:>5}",
        "job",
        "day",
        "seconds",
        "in job s",
        "RSS MiB",
        "rows in",
        "rows out",
        "rows/s",
        "DuckDB s",
        "ratio",
        "same"
    );
    for f in report["jobs"].as_array().into_iter().flatten() {
        let opt = |v: &Value, digits: usize| {
            v.as_f64()
                .map_or("-".to_string(), |x| format!("{x:.digits$}"))
        };
        println!(
            "{:<18} {:<10} {:>9.2} {:>9} {:>10.0} {:>12} {:>12} {:>11.0} {:>9} {:>7} {:>5}",
            f["job"].as_str().unwrap_or(""),
            f["date"].as_str().unwrap_or(""),
            f["seconds"].as_f64().unwrap_or(0.0),
            opt(&f["job_seconds"], 2),
            f["peak_rss_mib"].as_f64().unwrap_or(0.0),
            f["rows_in"].as_u64().unwrap_or(0),
            f["rows_out"].as_u64().unwrap_or(0),
            f["rows_per_s"].as_f64().unwrap_or(0.0),
            opt(&f["duckdb_seconds"], 2),
            opt(&f["ratio_to_duckdb"], 2),
            f["same_work"]
                .as_bool()
                .map_or("-", |b| if b { "yes" } else { "NO" }),
        );
    }
    println!(
        "peak RSS of any job: {:.0} MiB",
        report["peak_rss_mib"].as_f64().unwrap_or(0.0)
    );
}
