//! `liverec workflow run | status`.

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use clap::{Args, Subcommand};

use super::args::{EngineArgs, resolve_date};
use crate::params;
use crate::storage::{Location, Storage};
use crate::workflow::explain;
use crate::workflow::run::{WorkflowRequest, run_day, run_range};
use crate::workflow::state::{self, RunState, Status};

#[derive(Subcommand, Debug)]
pub enum WorkflowCommand {
    /// Run it: `liverec workflow run daily --date 2026-01-15` (or `--date yesterday --tz +08:00`,
    /// or `--from D1 --to D2` for a backfill, day by day). Exit code 0 on success, 1 on
    /// failure with a one-line reason on stderr.
    Run(Box<WorkflowRunArgs>),
    /// Each task's state, attempts, duration and rows for a day, and why a task would run
    /// again now (code, parameters, an upstream task, or input partitions rewritten since).
    Status {
        /// Workflow name (workflows/<name>.toml).
        workflow: String,
        #[arg(long)]
        date: String,
        /// Time zone of relative dates: UTC or an offset like +08:00.
        #[arg(long, default_value = "UTC")]
        tz: String,
        #[arg(long, default_value = "data/input")]
        input: String,
        #[arg(long, default_value = "data/output")]
        output: String,
    },
    /// Outputs built from input partitions that were rewritten or added since (late data),
    /// for each day of a range. Rebuild them with `workflow run --rebuild-stale`.
    Stale {
        /// Workflow name (workflows/<name>.toml).
        workflow: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "UTC")]
        tz: String,
        #[arg(long, default_value = "data/input")]
        input: String,
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
    /// Run only the days (of --date or --from/--to) with outputs built from input partitions
    /// rewritten or added since (see `workflow stale`); the others are left alone.
    #[arg(long)]
    rebuild_stale: bool,
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
            input,
            output,
        } => {
            let date = resolve_date(&date, &tz).context("--date")?;
            let out = Storage::open(Location::parse(&output)?)?;
            match state::load(&out, &workflow, date).await? {
                Some(st) => print_status(&st),
                None => println!("no run of {workflow} for {date} under {}", out.loc),
            }
            let req = plain_request(&workflow, date, &input, &output)?;
            println!("\nnow:");
            for c in explain::check(&req).await? {
                let verdict = if c.reasons.is_empty() {
                    "up to date".to_string()
                } else {
                    format!("would run: {}", c.reasons.join("; "))
                };
                println!("{:<22} {:<10} {verdict}", c.task, c.day);
            }
            Ok(())
        }
        WorkflowCommand::Stale {
            workflow,
            from,
            to,
            tz,
            input,
            output,
        } => {
            let (from, to) = (
                resolve_date(&from, &tz).context("--from")?,
                resolve_date(&to, &tz).context("--to")?,
            );
            let mut any = false;
            for day in from.iter_days().take_while(|d| *d <= to) {
                let req = plain_request(&workflow, day, &input, &output)?;
                for c in explain::check(&req).await? {
                    for change in &c.late_inputs {
                        any = true;
                        println!("{day} {:<22} {} {}: {change}", c.task, c.job, c.day);
                    }
                }
            }
            if !any {
                println!(
                    "no output of {workflow} between {from} and {to} was built from inputs changed since"
                );
            }
            Ok(())
        }
    }
}

/// A request naming only the workflow, day and roots (for checks that run nothing).
fn plain_request(
    workflow: &str,
    date: NaiveDate,
    input: &str,
    output: &str,
) -> Result<WorkflowRequest> {
    Ok(WorkflowRequest {
        workflow: workflow.to_string(),
        date,
        input: Location::parse(input)?,
        output: Location::parse(output)?,
        engine: Default::default(),
        force: false,
        break_lock: false,
        overrides: Vec::new(),
        task_timeout_s: None,
    })
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
    let states = if args.rebuild_stale {
        let mut states = Vec::new();
        for day in first.iter_days().take_while(|d| *d <= last) {
            let day_req = WorkflowRequest {
                date: day,
                ..req.clone()
            };
            let late = explain::check(&day_req)
                .await?
                .iter()
                .any(|c| !c.late_inputs.is_empty());
            if late {
                states.push(run_day(&day_req).await?);
            } else {
                println!("workflow {} for {day}: no stale outputs", req.workflow);
            }
        }
        states
    } else if first == last {
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
