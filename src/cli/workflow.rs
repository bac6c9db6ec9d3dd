//! `liverec workflow run | status`.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use super::args::{EngineArgs, resolve_date};
use crate::params;
use crate::storage::{Location, Storage};
use crate::workflow::run::{WorkflowRequest, run_day, run_range};
use crate::workflow::state::{self, RunState, Status};

#[derive(Subcommand, Debug)]
pub enum WorkflowCommand {
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
pub struct WorkflowRunArgs {
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
    /// Time limit of each task attempt, seconds (default: the workflow file's task_timeout_s).
    /// An attempt past it is stopped (nothing of it committed) and retried like a failure.
    #[arg(long, value_name = "SECONDS")]
    task_timeout: Option<u64>,
    #[command(flatten)]
    engine: EngineArgs,
}

pub async fn run(cmd: WorkflowCommand) -> Result<()> {
    match cmd {
        WorkflowCommand::Run(args) => run_workflow(*args).await,
        WorkflowCommand::Status {
            workflow,
            date,
            tz,
            output,
        } => {
            let date = resolve_date(&date, &tz).context("--date")?;
            let out = Storage::open(Location::parse(&output)?)?;
            let Some(st) = state::load(&out, &workflow, date).await? else {
                bail!("no run of {workflow} for {date} under {}", out.loc);
            };
            print_status(&st);
            Ok(())
        }
    }
}

/// `[TASK.]KEY=VALUE` overrides.
fn task_overrides(set: &[String]) -> Result<Vec<(Option<String>, String, String)>> {
    set.iter()
        .map(|text| {
            let (key, value) = params::parse_override(text)?;
            Ok(match key.split_once('.') {
                Some((task, k)) => (Some(task.to_string()), k.to_string(), value),
                None => (None, key, value),
            })
        })
        .collect()
}

async fn run_workflow(args: WorkflowRunArgs) -> Result<()> {
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
        overrides: task_overrides(&args.set)?,
        task_timeout_s: args.task_timeout,
    };
    let states = if first == last {
        vec![run_day(&req).await?]
    } else {
        run_range(&req, last).await?
    };
    let output = Storage::open(req.output.clone())?;
    for st in &states {
        let ran = st
            .tasks
            .iter()
            .filter(|(_, t)| t.status == Status::Succeeded)
            .count();
        println!(
            "workflow {} for {}: succeeded ({ran} task(s) run, {} skipped); report {}",
            st.workflow,
            st.date,
            st.tasks.len() - ran,
            state::run_dir(&output, &st.workflow, st.date)
                .at(crate::layout::REPORT)
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

fn print_status(st: &RunState) {
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
}
