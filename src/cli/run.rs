//! `liverec run JOB --date D`: one job for one day.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::args::{EngineArgs, overrides};
use crate::dispatch;
use crate::job::JobSpec;
use crate::params;
use crate::runner::{RunReport, RunRequest};
use crate::storage::Location;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Job name (a file jobs/<name>.toml); see `liverec jobs`.
    job: String,
    /// The day to run for, YYYY-MM-DD.
    #[arg(long)]
    date: String,
    /// Input root holding the event logs (local path or s3:// URL).
    #[arg(long, default_value = "data/input")]
    input: String,
    /// Output root for liverec's tables (local path or s3:// URL).
    #[arg(long, default_value = "data/output")]
    output: String,
    /// Override a job parameter: --set key=value (typed and validated).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Training jobs: the model (lr, gbdt, gbdt_lr); short for --set model=….
    #[arg(long)]
    model: Option<String>,
    /// Also write what the run did as JSON (outputs with rows, inputs read, checks, the
    /// job's own seconds): what scripts and `liverec bench` read.
    #[arg(long, value_name = "FILE")]
    report_json: Option<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
}

/// `--report-json`: the run's report and its time inside the job.
#[derive(serde::Serialize)]
struct ReportJson<'a> {
    #[serde(flatten)]
    report: &'a RunReport,
    /// Seconds inside the job, without process start-up.
    seconds: f64,
    /// Output rows this process encoded into Parquet itself: 0 on a cluster, where the
    /// executors write every output (`writer::exec`).
    rows_written_by_client: u64,
}

pub async fn run(args: RunArgs) -> Result<()> {
    let mut overrides = overrides(&args.set)?;
    if let Some(model) = &args.model {
        overrides.push(("model".into(), model.clone()));
    }
    let started = std::time::Instant::now();
    let report = dispatch::run_job(RunRequest {
        job: JobSpec::load(&args.job)?,
        date: params::parse_date(&args.date).context("--date")?,
        input: Location::parse(&args.input)?,
        output: Location::parse(&args.output)?,
        overrides,
        engine: args.engine.options()?,
    })
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    print_report(&report);
    println!("  time  {seconds:.3} s in the job");
    if let Some(path) = &args.report_json {
        let json = serde_json::to_vec_pretty(&ReportJson {
            report: &report,
            seconds,
            rows_written_by_client: crate::writer::rows_written_here(),
        })?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn print_report(report: &RunReport) {
    println!(
        "job {} for {} (run {})",
        report.job, report.date, report.run_id
    );
    for input in &report.inputs {
        println!(
            "  read  {:<16} {} partition(s), {} file(s){}",
            input.table,
            input.partitions.len(),
            input.files,
            if input.missing.is_empty() {
                String::new()
            } else {
                format!(", {} day(s) missing", input.missing.len())
            }
        );
    }
    for out in &report.outputs {
        println!(
            "  wrote {:<16} {:>10} rows  {}",
            out.table, out.rows, out.location
        );
    }
    for (k, v) in &report.checks {
        println!("  check {k} = {v}");
    }
    for table in &report.printed {
        println!("{table}");
    }
}
