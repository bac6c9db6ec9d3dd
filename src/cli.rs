//! The `liverec` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::{Days, NaiveDate};
use clap::{Args, Parser, Subcommand};
use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::engine::EngineOptions;
use crate::generator::{self, GenConfig, Scale};
use crate::job::JobSpec;
use crate::params;
use crate::runner::{self, RunReport, RunRequest};
use crate::storage::{Location, Storage};

#[derive(Parser, Debug)]
#[command(
    name = "liverec",
    version,
    about = "Daily batch side of a live-streaming recommender: heat ranking, item-CF recall, \
             leakage-free training sets and ranking baselines on DataFusion",
    long_about = None
)]
pub struct Cli {
    /// Log filter (e.g. info, debug, liverec=debug); RUST_LOG also works.
    #[arg(long, global = true, default_value = "info", env = "LIVEREC_LOG")]
    log: String,
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
    Generate(GenerateArgs),
    /// Run one job for one day, e.g. `liverec run heat --date 2026-01-07 --input data/input
    /// --output data/output`. Outputs are committed atomically as <output>/<table>/dt=D/.
    Run(RunArgs),
    /// Ad-hoc SQL over every input and output table (dt partition pruning, read-only by
    /// default). Without -e/-f, an interactive prompt.
    Sql(SqlArgs),
    /// List the jobs with their parameters and defaults.
    Jobs,
    /// Check every input file of a range of days against the data contract.
    Validate {
        /// Input root (local path or s3:// URL).
        #[arg(long, default_value = "data/input")]
        input: String,
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: String,
        /// Last day, YYYY-MM-DD (default: --from).
        #[arg(long)]
        to: Option<String>,
    },
    /// Generate small demo data into a directory and run the pipeline on it.
    Quickstart(QuickstartArgs),
    /// Run liverec's Ballista cluster: a scheduler and executors carrying liverec's UDFs.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Score Parquet rows with a published model, reading only its artifact folder (the
    /// reference implementation for serving).
    Score {
        /// A model version folder, or a model folder whose LATEST is used
        /// (e.g. data/output/models/gbdt or s3://artifacts/liverec/models/gbdt).
        #[arg(long)]
        model: String,
        /// A Parquet file or a folder of them with the model's feature columns.
        #[arg(long)]
        input: PathBuf,
        /// Parquet file to write: dt, user_id, anchor_id, label (those present) and score.
        #[arg(long)]
        output: PathBuf,
    },
    /// Run a workflow (a DAG of jobs, workflows/<name>.toml) for a day or a range of days,
    /// or show a run's status.
    #[command(subcommand)]
    Workflow(WorkflowCommand),
    /// Benchmark the daily workflow's jobs (wall time, rows, peak RSS each) against DuckDB on
    /// the same generated data; see docs/benchmarks.md.
    Bench {
        #[arg(long, value_enum, default_value = "small")]
        scale: Scale,
        /// Where data is generated (reused when present) and outputs written.
        #[arg(long, default_value = "bench-data")]
        data: PathBuf,
        /// Run the jobs on a cluster (df://HOST:PORT).
        #[arg(long)]
        cluster: Option<String>,
        /// Python for the DuckDB peer (default: $LIVEREC_PYTHON, else python3; without the
        /// duckdb package the peer installs it into a venv of its own); `none` skips the peer.
        #[arg(long, env = "LIVEREC_PYTHON", default_value = "python3")]
        python: String,
        /// The peer script.
        #[arg(long, default_value = "bench/duckdb_peer.py")]
        peer_script: PathBuf,
        /// Skip the three model-training jobs.
        #[arg(long)]
        no_models: bool,
        /// Run each job compared with DuckDB (and the peer's side of it) this many times and
        /// report the median: one run of a 30 ms job on a shared machine is mostly noise.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=50))]
        repeat: u16,
        /// Also write the report here (it is always written to DATA/SCALE/bench.json).
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Import generic user-item interactions (another data set, e.g. a public ratings file)
    /// as the input table item_events/dt=D/, for the jobs itemcf_items and eval_items.
    ImportInteractions {
        /// A local file: .parquet, or delimited text with a header row.
        #[arg(long)]
        source: PathBuf,
        /// Input root to write item_events into (local path or s3:// URL).
        #[arg(long, default_value = "data/input")]
        input: String,
        /// Field separator of a text file (one character; `tab` for a tab).
        #[arg(long, default_value = ",")]
        delimiter: String,
        #[arg(long, default_value = "user_id")]
        user_col: String,
        #[arg(long, default_value = "item_id")]
        item_col: String,
        /// Seconds since 1970-01-01 UTC.
        #[arg(long, default_value = "timestamp")]
        time_col: String,
        /// The weight of an interaction (rating, count, seconds); without it every row
        /// weighs 1.
        #[arg(long)]
        weight_col: Option<String>,
    },
    /// Remove what interrupted runs left under an output root: staging data, and (object
    /// stores) data files of runs that never committed. Only objects older than
    /// --min-age-minutes are removed, so a run still writing keeps its files.
    Cleanup {
        /// Output root (local path or s3:// URL).
        #[arg(long)]
        output: String,
        /// Leave objects younger than this alone.
        #[arg(long, default_value_t = 60)]
        min_age_minutes: u32,
    },
}

#[derive(Subcommand, Debug)]
enum WorkflowCommand {
    /// Run it: `liverec workflow run daily --date 2026-01-15` (or `--date yesterday --tz +08:00`,
    /// or `--from D1 --to D2` for a backfill, day by day). Exit code 0 on success, 1 on
    /// failure with a one-line reason on stderr.
    Run(Box<WorkflowRunArgs>),
    /// Each task's state, attempts, duration and rows for a day.
    Status {
        /// Workflow name (workflows/<name>.toml).
        workflow: String,
        #[arg(long)]
        date: String,
        /// Time zone of relative dates: UTC or an offset like +08:00.
        #[arg(long, default_value = "UTC")]
        tz: String,
        #[arg(long, default_value = "data/output")]
        output: String,
    },
}

#[derive(Args, Debug)]
struct WorkflowRunArgs {
    /// Workflow name (workflows/<name>.toml).
    workflow: String,
    /// The day: YYYY-MM-DD, `today`, `yesterday` or `today-N` (in --tz).
    #[arg(long, conflicts_with = "from", required_unless_present = "from")]
    date: Option<String>,
    /// First day of a backfill (with --to).
    #[arg(long, requires = "to")]
    from: Option<String>,
    /// Last day of a backfill.
    #[arg(long, requires = "from")]
    to: Option<String>,
    /// Time zone of relative dates: UTC or an offset like +08:00.
    #[arg(long, default_value = "UTC")]
    tz: String,
    #[arg(long, default_value = "data/input")]
    input: String,
    #[arg(long, default_value = "data/output")]
    output: String,
    /// Rerun every task even when its outputs are up to date.
    #[arg(long)]
    force: bool,
    /// Remove a lock left by a run that was killed.
    #[arg(long)]
    break_lock: bool,
    /// Parameter override for every task whose job declares KEY (--set max_auc_drop=0.05),
    /// or for one task (--set train_gbdt.trees=300). Part of each task's fingerprint.
    #[arg(long = "set", value_name = "[TASK.]KEY=VALUE")]
    set: Vec<String>,
    #[command(flatten)]
    engine: EngineArgs,
}

/// A day given as YYYY-MM-DD, `today`, `yesterday` or `today-N`, relative ones in `tz`
/// (`UTC` or a fixed offset like `+08:00`).
pub fn resolve_date(text: &str, tz: &str) -> Result<NaiveDate> {
    let offset = if tz.eq_ignore_ascii_case("utc") {
        chrono::FixedOffset::east_opt(0)
    } else {
        tz.parse::<chrono::FixedOffset>().ok()
    }
    .with_context(|| format!("--tz {tz:?}: use UTC or an offset like +08:00"))?;
    let today = chrono::Utc::now().with_timezone(&offset).date_naive();
    let back = |n: u64| {
        today
            .checked_sub_days(Days::new(n))
            .context("date out of range")
    };
    match text {
        "today" => Ok(today),
        "yesterday" => back(1),
        t if t.starts_with("today-") => {
            let n: u64 = t["today-".len()..]
                .parse()
                .with_context(|| format!("{t:?}: expected today-N"))?;
            back(n)
        }
        t => params::parse_date(t),
    }
}

#[derive(Subcommand, Debug)]
enum ClusterCommand {
    /// Start a scheduler (jobs connect with --cluster df://HOST:PORT).
    Scheduler {
        /// Address to listen on; loopback by default, anything else is an explicit choice.
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: std::net::SocketAddr,
        /// Seconds without a heartbeat before an executor is lost and its tasks re-run.
        #[arg(long, default_value_t = 30)]
        executor_timeout: u64,
        /// Turn off Ballista's REST API (job list and job config views).
        #[arg(long)]
        no_rest_api: bool,
    },
    /// Start an executor that registers with a scheduler.
    Executor {
        /// The scheduler, HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:50050")]
        scheduler: String,
        /// Host to listen on and advertise.
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// Arrow Flight port for shuffle data; the gRPC port is PORT+1.
        #[arg(long, default_value_t = 50051)]
        port: u16,
        /// Directory for shuffle files (default: a temporary directory).
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Memory pool of the executor (e.g. 14GiB; default: 70% of RAM).
        #[arg(long)]
        memory: Option<String>,
        /// Tasks run at once (default: cores).
        #[arg(long)]
        concurrent_tasks: Option<usize>,
        /// Heartbeat interval to the scheduler, seconds.
        #[arg(long, default_value_t = 5)]
        heartbeat: u64,
    },
    /// Start a scheduler and N executors on this machine for local trials.
    Up {
        #[arg(long, default_value_t = 2)]
        executors: usize,
        /// Scheduler port; executors use the ports after it.
        #[arg(long, default_value_t = 50050)]
        port: u16,
        /// Root of the executors' work directories.
        #[arg(long, default_value = "/tmp/liverec-cluster")]
        work_dir: PathBuf,
    },
}

#[derive(Args, Debug)]
struct GenerateArgs {
    /// Where to write the tables (local path or URL); tables go to <out>/<table>/dt=D/.
    #[arg(long)]
    out: String,
    /// Size preset; --users/--anchors/--days override it.
    #[arg(long, value_enum, default_value = "small")]
    scale: Scale,
    /// First day, YYYY-MM-DD.
    #[arg(long, default_value = "2026-01-01")]
    start: String,
    #[arg(long)]
    days: Option<u32>,
    #[arg(long)]
    users: Option<u32>,
    #[arg(long)]
    anchors: Option<u32>,
    /// Random seed: the same seed gives identical data files.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Args, Debug, Clone)]
pub struct EngineArgs {
    /// Memory pool for query operators (e.g. 12GiB); spills to disk beyond it.
    /// Default: 60% of RAM, at most 16 GiB.
    #[arg(long)]
    memory: Option<String>,
    /// Directory for spill files (default: the OS temp directory).
    #[arg(long)]
    spill_dir: Option<PathBuf>,
    /// Partitions per query stage (default: number of cores).
    #[arg(long)]
    partitions: Option<usize>,
    /// Run on a liverec cluster: the scheduler's URL, e.g. df://127.0.0.1:50050
    /// (see `liverec cluster`). Without it, everything runs in this process.
    #[arg(long, env = "LIVEREC_CLUSTER")]
    cluster: Option<String>,
    /// Fail a job run that takes longer than this many seconds (nothing is committed).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
}

impl EngineArgs {
    fn options(&self) -> Result<EngineOptions> {
        Ok(EngineOptions {
            memory_limit: self.memory.as_deref().map(parse_bytes).transpose()?,
            spill_dir: self.spill_dir.clone(),
            target_partitions: self.partitions,
            cluster: self.cluster.clone(),
            timeout: self.timeout.map(std::time::Duration::from_secs),
        })
    }
}

#[derive(Args, Debug)]
struct RunArgs {
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
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Args, Debug)]
struct SqlArgs {
    /// Input root (the event logs).
    #[arg(long, default_value = "data/input")]
    input: String,
    /// Output root (liverec's tables).
    #[arg(long, default_value = "data/output")]
    output: String,
    /// Run this statement.
    #[arg(short = 'e', long = "execute", conflicts_with = "file")]
    execute: Option<String>,
    /// Run the statement in this file.
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Result format.
    #[arg(long, value_enum, default_value = "table")]
    format: crate::sql::Format,
    /// File for --format parquet.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Rows shown in the table view.
    #[arg(long, default_value_t = 40)]
    limit: usize,
    /// Allow statements that create, change or drop tables.
    #[arg(long)]
    allow_write: bool,
    /// Print CREATE EXTERNAL TABLE statements for every table (for datafusion-cli) and exit.
    #[arg(long)]
    ddl: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Args, Debug)]
struct QuickstartArgs {
    /// Directory for the demo data (input/ and output/ are created inside).
    #[arg(long, default_value = "data")]
    dir: String,
    #[command(flatten)]
    engine: EngineArgs,
}

/// Parses a byte size such as `1073741824`, `800MB`, `12GiB`, `2G`.
pub fn parse_bytes(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .with_context(|| format!("{text:?} is not a size like 12GiB or 800MB"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        other => bail!("unknown size unit {other:?} in {text:?}"),
    };
    Ok((value * mult) as u64)
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(endpoint) = &cli.s3_endpoint {
        crate::s3::set_endpoint(endpoint);
    }
    init_logging(&cli.log);
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
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, leaving out causes whose text the message before
/// already contains (object_store and DataFusion errors repeat their sources).
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(text.as_str()) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn init_logging(filter: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

async fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Generate(args) => {
            let (users, anchors, days) = args.scale.preset();
            let cfg = GenConfig {
                start: params::parse_date(&args.start)?,
                days: args.days.unwrap_or(days),
                users: args.users.unwrap_or(users),
                anchors: args.anchors.unwrap_or(anchors),
                seed: args.seed,
            };
            let out = Storage::open(Location::parse(&args.out)?)?;
            let report = generator::generate(&cfg, &out).await?;
            println!(
                "generated {} day(s) from {} into {}",
                cfg.days, cfg.start, out.loc
            );
            for (table, rows) in &report.rows {
                println!("  {table:<14} {rows:>12} rows");
            }
            Ok(())
        }
        Command::Run(args) => {
            let mut overrides = args
                .set
                .iter()
                .map(|s| params::parse_override(s))
                .collect::<Result<Vec<_>>>()?;
            if let Some(model) = &args.model {
                overrides.push(("model".into(), model.clone()));
            }
            let started = std::time::Instant::now();
            let report = runner::run_job(RunRequest {
                job: JobSpec::load(&args.job)?,
                date: params::parse_date(&args.date).context("--date")?,
                input: Location::parse(&args.input)?,
                output: Location::parse(&args.output)?,
                overrides,
                engine: args.engine.options()?,
            })
            .await?;
            print_report(&report);
            // The job's own time, without process start-up (`liverec bench` compares it).
            println!(
                "  time  {:.3} s in the job",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Jobs => {
            for name in crate::project::list("jobs/", ".toml") {
                let job = JobSpec::load(&name)?;
                println!("{name}: {}", job.description);
                for (p, spec) in &job.params {
                    let default = spec
                        .default
                        .as_ref()
                        .map(|d| d.to_string())
                        .unwrap_or_else(|| "(required)".into());
                    println!(
                        "    --set {p}=<{:?}> default {default}  {}",
                        spec.ty, spec.doc
                    );
                }
            }
            Ok(())
        }
        Command::Validate { input, from, to } => {
            let from = params::parse_date(&from).context("--from")?;
            let to = match to {
                Some(t) => params::parse_date(&t).context("--to")?,
                None => from,
            };
            let root = Storage::open(Location::parse(&input)?)?;
            let summary = crate::validate::validate_inputs(&root, from, to).await?;
            let mut missing_any = false;
            for t in &summary {
                println!(
                    "{:<14} {:>3} partition(s) {:>4} file(s) {:>12} rows{}",
                    t.table,
                    t.partitions,
                    t.files,
                    t.rows,
                    if t.missing.is_empty() {
                        String::new()
                    } else {
                        missing_any = true;
                        let days: Vec<String> = t.missing.iter().map(|d| d.to_string()).collect();
                        format!("  missing: {}", days.join(", "))
                    }
                );
            }
            if missing_any {
                bail!("some input days are missing under {}", root.loc);
            }
            println!("all files of {from}..{to} match the data contract");
            Ok(())
        }
        Command::Quickstart(args) => quickstart(args).await,
        Command::Cluster(command) => cluster(command).await,
        Command::Sql(args) => {
            let ctx = crate::engine::new_context(&args.engine.options()?).await?;
            // Ad-hoc queries read raw input, where a float column may hold NaN: DataFusion 55
            // would read it as the file's min (= max) statistic (docs/data-quality.md).
            ctx.state_ref()
                .write()
                .config_mut()
                .options_mut()
                .execution
                .collect_statistics = false;
            let input = Storage::open(Location::parse(&args.input)?)?;
            let output = Storage::open(Location::parse(&args.output)?)?;
            let tables = crate::sql::register_all(&ctx, &input, &output).await?;
            if args.ddl {
                print!("{}", crate::sql::ddl(&tables));
                return Ok(());
            }
            let opts = crate::sql::QueryOptions {
                allow_write: args.allow_write,
                format: args.format,
                out: args.out,
                limit: args.limit,
            };
            let statement = match (args.execute, args.file) {
                (Some(q), _) => Some(q),
                (None, Some(f)) => Some(
                    std::fs::read_to_string(&f)
                        .with_context(|| format!("cannot read {}", f.display()))?,
                ),
                (None, None) => None,
            };
            match statement {
                Some(q) => crate::sql::run_query(&ctx, q.trim().trim_end_matches(';'), &opts).await,
                None => crate::sql::repl(&ctx, &tables, &opts).await,
            }
        }
        Command::Score {
            model,
            input,
            output,
        } => {
            let summary = crate::model::score::run(&model, &input, &output).await?;
            println!(
                "scored {} rows with {} -> {}",
                summary.rows,
                summary.version_dir,
                output.display()
            );
            Ok(())
        }
        Command::Workflow(cmd) => workflow(cmd).await,
        Command::Bench {
            scale,
            data,
            cluster,
            python,
            peer_script,
            no_models,
            repeat,
            json,
        } => {
            let scale_name = format!("{scale:?}").to_lowercase();
            let opts = crate::bench::BenchOptions {
                scale,
                scale_name: scale_name.clone(),
                data: data.clone(),
                cluster,
                python: Some(python).filter(|p| p != "none"),
                peer_script,
                models: !no_models,
                repeat: repeat as usize,
            };
            let report = tokio::task::spawn_blocking(move || crate::bench::run(&opts)).await??;
            crate::bench::print(&report);
            let text = serde_json::to_vec_pretty(&report)?;
            let path = data.join(&scale_name).join("bench.json");
            std::fs::write(&path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if let Some(extra) = json {
                std::fs::write(&extra, &text)
                    .with_context(|| format!("cannot write {}", extra.display()))?;
            }
            println!("report: {}", path.display());
            Ok(())
        }
        Command::ImportInteractions {
            source,
            input,
            delimiter,
            user_col,
            item_col,
            time_col,
            weight_col,
        } => {
            let delimiter = match delimiter.as_str() {
                "tab" | "\\t" | "\t" => b'\t',
                d if d.len() == 1 => d.as_bytes()[0],
                d => bail!("--delimiter {d:?}: one character, or `tab`"),
            };
            let spec = crate::import::ImportSpec {
                source,
                delimiter,
                user_col,
                item_col,
                time_col,
                weight_col,
            };
            let out = Storage::open(Location::parse(&input)?)?;
            let done = crate::import::import(&spec, &out).await?;
            println!(
                "imported {} interactions into {} days {}..{} of {}",
                done.rows,
                done.days,
                done.first,
                done.last,
                out.at(crate::contract::ITEM_EVENTS.name).loc
            );
            Ok(())
        }
        Command::Cleanup {
            output,
            min_age_minutes,
        } => {
            let root = Storage::open(Location::parse(&output)?)?;
            let min_age = chrono::Duration::minutes(min_age_minutes.into());
            let done = crate::writer::cleanup(&root, min_age).await?;
            println!(
                "removed {} staging object(s) and {} uncommitted data file(s) under {}; left {} younger than {min_age_minutes} min",
                done.staging, done.unreferenced, root.loc, done.recent
            );
            Ok(())
        }
    }
}

async fn workflow(cmd: WorkflowCommand) -> Result<()> {
    use crate::workflow::run::{WorkflowRequest, run_day, run_range};
    match cmd {
        WorkflowCommand::Run(args) => {
            let (first, last) = match (&args.date, &args.from, &args.to) {
                (Some(d), _, _) => {
                    let d = resolve_date(d, &args.tz).context("--date")?;
                    (d, d)
                }
                (None, Some(f), Some(t)) => (
                    resolve_date(f, &args.tz).context("--from")?,
                    resolve_date(t, &args.tz).context("--to")?,
                ),
                _ => bail!("give --date, or --from and --to"),
            };
            if last < first {
                bail!("--to {last} is before --from {first}");
            }
            let req = WorkflowRequest {
                workflow: args.workflow.clone(),
                date: first,
                input: Location::parse(&args.input)?,
                output: Location::parse(&args.output)?,
                engine: args.engine.options()?,
                force: args.force,
                break_lock: args.break_lock,
                overrides: args
                    .set
                    .iter()
                    .map(|text| {
                        let (key, value) = params::parse_override(text)?;
                        Ok(match key.split_once('.') {
                            Some((task, k)) => (Some(task.to_string()), k.to_string(), value),
                            None => (None, key, value),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            };
            let states = if first == last {
                vec![run_day(&req).await?]
            } else {
                run_range(&req, last).await?
            };
            for st in &states {
                let ran = st
                    .tasks
                    .iter()
                    .filter(|(_, t)| t.status == crate::workflow::state::Status::Succeeded)
                    .count();
                println!(
                    "workflow {} for {}: succeeded ({ran} task(s) run, {} skipped); report {}",
                    st.workflow,
                    st.date,
                    st.tasks.len() - ran,
                    crate::workflow::state::run_dir(
                        &Storage::open(req.output.clone())?,
                        &st.workflow,
                        st.date
                    )
                    .at("report.html")
                    .loc
                );
                for (_, t) in &st.tasks {
                    for line in &t.printed {
                        println!("{line}");
                    }
                }
            }
            Ok(())
        }
        WorkflowCommand::Status {
            workflow,
            date,
            tz,
            output,
        } => {
            let date = resolve_date(&date, &tz).context("--date")?;
            let out = Storage::open(Location::parse(&output)?)?;
            let Some(st) = crate::workflow::state::load(&out, &workflow, date).await? else {
                bail!("no run of {workflow} for {date} under {}", out.loc);
            };
            println!(
                "{} {} run {}: {:?}{}",
                st.workflow,
                st.date,
                st.run_id,
                st.status,
                st.reason
                    .as_ref()
                    .map_or(String::new(), |r| format!(" ({r})"))
            );
            println!(
                "{:<22} {:<14} {:<10} {:<10} {:>8} {:>9} {:>12}",
                "task", "job", "day", "status", "attempts", "seconds", "rows"
            );
            for (name, t) in &st.tasks {
                println!(
                    "{:<22} {:<14} {:<10} {:<10} {:>8} {:>9} {:>12}{}",
                    name,
                    t.job,
                    t.date,
                    format!("{:?}", t.status).to_lowercase(),
                    t.attempts,
                    t.seconds.map_or("-".into(), |s| format!("{s:.1}")),
                    t.rows,
                    t.error.as_ref().map_or(String::new(), |e| format!("  {e}"))
                );
            }
            Ok(())
        }
    }
}

async fn cluster(command: ClusterCommand) -> Result<()> {
    use crate::cluster::{ExecutorOptions, SchedulerOptions, run_executor, run_scheduler};
    match command {
        ClusterCommand::Scheduler {
            bind,
            executor_timeout,
            no_rest_api,
        } => {
            run_scheduler(SchedulerOptions {
                bind,
                executor_timeout_s: executor_timeout,
                rest_api: !no_rest_api,
            })
            .await
        }
        ClusterCommand::Executor {
            scheduler,
            bind,
            port,
            work_dir,
            memory,
            concurrent_tasks,
            heartbeat,
        } => {
            run_executor(ExecutorOptions {
                scheduler,
                bind_host: bind,
                port,
                work_dir,
                memory: memory.as_deref().map(parse_bytes).transpose()?,
                concurrent_tasks,
                heartbeat_s: heartbeat,
            })
            .await
        }
        ClusterCommand::Up {
            executors,
            port,
            work_dir,
        } => {
            let exe = std::env::current_exe().context("cannot find the liverec binary")?;
            let mut pids = Vec::new();
            let scheduler = std::process::Command::new(&exe)
                .args([
                    "cluster",
                    "scheduler",
                    "--bind",
                    &format!("127.0.0.1:{port}"),
                ])
                .spawn()
                .context("cannot start the scheduler")?;
            pids.push(scheduler.id());
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            for i in 0..executors {
                let flight = port + 1 + 2 * i as u16;
                let dir = work_dir.join(format!("executor-{i}"));
                let child = std::process::Command::new(&exe)
                    .args([
                        "cluster",
                        "executor",
                        "--scheduler",
                        &format!("127.0.0.1:{port}"),
                    ])
                    .args(["--port", &flight.to_string()])
                    .arg("--work-dir")
                    .arg(&dir)
                    .spawn()
                    .context("cannot start an executor")?;
                pids.push(child.id());
            }
            let list: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
            println!(
                "liverec cluster up: scheduler df://127.0.0.1:{port}, {executors} executor(s)"
            );
            println!("run jobs with --cluster df://127.0.0.1:{port}");
            println!("stop it with: kill {}", list.join(" "));
            Ok(())
        }
    }
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

async fn quickstart(args: QuickstartArgs) -> Result<()> {
    let dir = Location::parse(&args.dir)?;
    let input = dir.join("input");
    let output = dir.join("output");
    let (users, anchors, _) = Scale::Small.preset();
    // 16 days: a 14-day item-CF window, 7-day profiles, and a next day to evaluate against.
    let days = 16;
    let start = NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date");
    let cfg = GenConfig {
        start,
        days,
        users,
        anchors,
        seed: 42,
    };
    println!("generating demo data ({users} users, {anchors} anchors, {days} days) into {input}");
    generator::generate(&cfg, &Storage::open(input.clone())?).await?;
    // The newest day: the daily workflow trains on the days before it and validates on it.
    let day = start + Days::new(days as u64 - 1);
    let engine = args.engine.options()?;
    let req = crate::workflow::run::WorkflowRequest {
        workflow: "daily".into(),
        date: day,
        input: input.clone(),
        output: output.clone(),
        engine: engine.clone(),
        force: false,
        break_lock: false,
        overrides: Vec::new(),
    };
    let st = crate::workflow::run::run_day(&req).await?;
    for (_, t) in &st.tasks {
        for line in &t.printed {
            println!("{line}");
        }
    }
    println!();

    let ctx = crate::engine::new_context(&engine).await?;
    let heat = output
        .join("heat")
        .join(&crate::storage::partition_name(day));
    ctx.register_parquet("heat", heat.dir_url(), Default::default())
        .await?;
    let top = ctx
        .sql("SELECT rank, anchor_id, category, viewers, gifters, interactors, heat FROM heat ORDER BY rank LIMIT 10")
        .await?
        .collect()
        .await?;
    println!(
        "top anchors by heat on {day}:\n{}",
        pretty_format_batches(&top)?
    );
    println!("\ninputs:  {input}\noutputs: {output}");
    println!(
        "  heat/, itemcf_sim/, candidates/: dt={day} (and the day before)\n  \
         samples/, exposure_samples/, *_profile/: the 7 label days up to {day}\n  \
         training_sets/end={day}/manifest.json; recall of the day before's candidates: metrics/recall/\n  \
         models/lr|gbdt|gbdt_lr/LATEST -> the published version (model.json, report.html, …)\n  \
         runs/daily/dt={day}/report.html: the run report\n\nrerun the day: liverec workflow run daily --date {day} --input {input} --output {output} (every task is skipped)"
    );
    Ok(())
}
