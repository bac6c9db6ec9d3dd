//! The `liverec` command line: one file per command, each with its arguments and what it
//! does; `args` holds what several share.

mod args;
mod bench;
mod cleanup;
mod cluster;
mod generate;
mod import;
mod jobs;
mod quickstart;
mod run;
mod score;
mod sql;
mod validate;
mod workflow;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

pub use args::{parse_bytes, resolve_date};

use crate::error::{EXIT_GATE_FAILED, error_chain};
use crate::signals;

#[derive(Parser, Debug)]
#[command(
    name = "liverec",
    version,
    about = "Daily batch side of a live-streaming recommender: heat ranking, item-CF recall, \
             leakage-free training sets and ranking baselines on DataFusion",
    long_about = None
)]
pub struct Cli {
    /// Log filter (e.g. info, debug, liverec=debug); RUST_LOG also works. Default: warnings
    /// only (progress and results are printed anyway); `cluster` servers log info.
    #[arg(long, global = true, env = "LIVEREC_LOG")]
    log: Option<String>,
    /// More log lines: -v for info, -vv for debug.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// S3 endpoint for s3:// locations (overrides AWS_ENDPOINT_URL / AWS_ENDPOINT and the
    /// profile's endpoint_url), e.g. http://127.0.0.1:9000 for an S3 gateway.
    #[arg(long, global = true)]
    s3_endpoint: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a synthetic live platform's event logs (the six input tables) as Parquet.
    Generate(generate::GenerateArgs),
    /// Run one job for one day, e.g. `liverec run heat --date 2026-01-07 --input data/input
    /// --output data/output`. Outputs are committed atomically as <output>/<table>/dt=D/.
    Run(run::RunArgs),
    /// Ad-hoc SQL over every input and output table (dt partition pruning, read-only by
    /// default). Without -e/-f, an interactive prompt.
    Sql(sql::SqlArgs),
    /// List the jobs with their parameters and defaults.
    Jobs,
    /// Check every input file of a range of days against the data contract.
    Validate(validate::ValidateArgs),
    /// Generate small demo data into a directory and run the pipeline on it.
    Quickstart(quickstart::QuickstartArgs),
    /// Run liverec's Ballista cluster: a scheduler and executors carrying liverec's UDFs.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Score Parquet rows with a published model, reading only its artifact folder (the
    /// reference implementation for serving).
    Score(score::ScoreArgs),
    /// Run a workflow (a DAG of jobs, workflows/<name>.toml) for a day or a range of days,
    /// or show a run's status.
    #[command(subcommand)]
    Workflow(workflow::WorkflowCommand),
    /// Benchmark the daily workflow's jobs (wall time, rows, peak RSS each) against DuckDB on
    /// the same generated data; see docs/benchmarks.md.
    Bench(bench::BenchArgs),
    /// Import generic user-item interactions (another data set, e.g. a public ratings file)
    /// as the input table item_events/dt=D/, for the jobs itemcf_items and eval_items.
    ImportInteractions(import::ImportArgs),
    /// Remove what interrupted runs left under an output root: staging data, and (object
    /// stores) data files of runs that never committed. Only objects older than
    /// --min-age-minutes are removed, so a run still writing keeps its files.
    Cleanup(cleanup::CleanupArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(endpoint) = &cli.s3_endpoint {
        crate::storage::s3::set_endpoint(endpoint);
    }
    init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run_until_signal(cli.command));
    // Do not wait for blocking work still running (a model fit cut short by a deadline or a
    // signal): the process ends here.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            exit_code(&e)
        }
    }
}

/// Exit codes besides 0: 1 for a failure, 3 for a model the gate did not publish (a result,
/// not worth retrying), 130 / 143 when stopped by SIGINT / SIGTERM.
fn exit_code(e: &anyhow::Error) -> ExitCode {
    if let Some(signals::Interrupted(s)) = e.downcast_ref::<signals::Interrupted>() {
        return ExitCode::from(s.exit_code());
    }
    if e.is::<crate::builtin::GateFailed>() {
        return ExitCode::from(EXIT_GATE_FAILED);
    }
    ExitCode::FAILURE
}

/// Runs a command until it ends or a signal arrives. A workflow watches for signals itself
/// (it stops its tasks, records its state, releases its lock); any other command is dropped
/// where it is, which abandons whatever it had staged.
async fn run_until_signal(command: Command) -> Result<()> {
    if let Err(e) = signals::install() {
        tracing::warn!("cannot listen for signals: {e}");
    }
    if matches!(command, Command::Workflow(_) | Command::Quickstart(_)) {
        return dispatch(command).await;
    }
    tokio::select! {
        done = dispatch(command) => done,
        s = signals::received() => Err(signals::Interrupted(s).into()),
    }
}

/// Warnings by default, info for the cluster's servers; `-v`/`-vv`, `--log` or `RUST_LOG`
/// for more.
fn init_logging(cli: &Cli) {
    let default = match (cli.verbose, &cli.command) {
        (0, Command::Cluster(_)) => "info",
        (0, _) => "warn",
        (1, _) => "info",
        _ => "debug",
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| cli.log.clone())
        .unwrap_or_else(|| default.to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

async fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Generate(args) => generate::run(args).await,
        Command::Run(args) => run::run(args).await,
        Command::Sql(args) => sql::run(args).await,
        Command::Jobs => jobs::run(),
        Command::Validate(args) => validate::run(args).await,
        Command::Quickstart(args) => quickstart::run(args).await,
        Command::Cluster(command) => cluster::run(command).await,
        Command::Score(args) => score::run(args).await,
        Command::Workflow(command) => workflow::run(command).await,
        Command::Bench(args) => bench::run(args).await,
        Command::ImportInteractions(args) => import::run(args).await,
        Command::Cleanup(args) => cleanup::run(args).await,
    }
}
