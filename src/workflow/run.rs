//! Running a workflow for one day: fingerprints first, then tasks in dependency order (up to
//! `max_parallel` at once), each skipped when its outputs are committed with the same
//! fingerprint, retried with backoff, bounded by a timeout; state saved after every change.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use chrono::{Days, NaiveDate, Utc};
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::fingerprint;
use super::lock::Lock;
use super::spec::{TaskSpec, WorkflowSpec};
use super::state::{self, LedgerEntry, OutputRef, RunState, Status, TaskState};
use super::task::{self, Outcome, TaskRun};
use crate::engine::EngineOptions;
use crate::error::error_chain;
use crate::job::{JobSpec, QUALITY_JOB};
use crate::signals::{self, Interrupted, Signal};
use crate::storage::{Location, Storage, committed};

#[derive(Clone, Debug)]
pub struct WorkflowRequest {
    pub workflow: String,
    pub date: NaiveDate,
    pub input: Location,
    pub output: Location,
    pub engine: EngineOptions,
    /// Rerun every task even when its outputs are up to date.
    pub force: bool,
    pub break_lock: bool,
    /// `--set` overrides: (task or None for every task whose job declares the key, key, value).
    pub overrides: Vec<(Option<String>, String, String)>,
    /// Overrides the workflow file's per-attempt time limit.
    pub task_timeout_s: Option<u64>,
}

/// A task's parameter overrides: the workflow file's `set`, then the command line's.
fn task_overrides(req: &WorkflowRequest, t: &TaskSpec) -> Vec<(String, String)> {
    let mut out = t.overrides();
    let declared = JobSpec::load(&t.job).map(|j| j.params).unwrap_or_default();
    for (task, key, value) in &req.overrides {
        let applies = match task {
            Some(name) => *name == t.name,
            None => declared.contains_key(key),
        };
        if applies {
            out.retain(|(k, _)| k != key);
            out.push((key.clone(), value.clone()));
        }
    }
    out
}

fn task_day(date: NaiveDate, t: &TaskSpec) -> Result<NaiveDate> {
    let d = if t.day_offset >= 0 {
        date.checked_add_days(Days::new(t.day_offset as u64))
    } else {
        date.checked_sub_days(Days::new(t.day_offset.unsigned_abs()))
    };
    d.with_context(|| format!("task {}: day out of range", t.name))
}

struct Done {
    outputs: Vec<OutputRef>,
    printed: Vec<String>,
}

/// How a task ended after its attempts.
enum TaskEnd {
    Done(Done),
    Failed(String),
    Interrupted(Signal),
}

/// A task with retries (backoff doubling) and a time limit per attempt, each attempt a child
/// process (`task`).
async fn run_task(
    req: &WorkflowRequest,
    spec: &WorkflowSpec,
    t: &TaskSpec,
    day: NaiveDate,
) -> (u32, TaskEnd) {
    let overrides = task_overrides(req, t);
    let mut run = TaskRun {
        name: &t.name,
        job: &t.job,
        day,
        overrides: &overrides,
        input: &req.input,
        output: &req.output,
        engine: &req.engine,
        limit: Duration::from_secs(req.task_timeout_s.unwrap_or(spec.task_timeout_s)),
        attempt: 0,
    };
    let mut backoff = spec.retry_backoff_s;
    let mut attempts = 0;
    loop {
        attempts += 1;
        run.attempt = attempts;
        let (reason, retry) = match task::attempt(&run).await {
            Ok(Outcome::Done { outputs, printed }) => {
                return (attempts, TaskEnd::Done(Done { outputs, printed }));
            }
            Ok(Outcome::Interrupted(s)) => return (attempts, TaskEnd::Interrupted(s)),
            Ok(Outcome::TimedOut) => (format!("timed out after {} s", run.limit.as_secs()), true),
            // A model below the gate will not pass on a second try.
            Ok(Outcome::Failed { reason, retry }) => (reason, retry),
            Err(e) => (error_chain(&e), true),
        };
        if !retry || attempts > spec.retries {
            return (attempts, TaskEnd::Failed(reason));
        }
        tracing::warn!(task = %t.name, attempt = attempts, "failed, retrying in {backoff} s: {reason}");
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs_f64(backoff)) => {}
            s = signals::received() => return (attempts, TaskEnd::Interrupted(s)),
        }
        backoff *= 2.0;
    }
}

/// One plain log line per task event (schedulers read these); above the progress bar when
/// stderr is a terminal.
fn log(bar: &indicatif::ProgressBar, line: &str) {
    let line = format!("[{}] {line}", Utc::now().format("%H:%M:%S"));
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// Refuses `--set` overrides that name no task, or a key no task takes.
fn check_overrides(req: &WorkflowRequest, spec: &WorkflowSpec) -> Result<()> {
    for (task, key, _) in &req.overrides {
        match task {
            Some(name) if spec.task(name).is_none() => {
                bail!(
                    "--set {name}.{key}: no task `{name}` in workflow {}",
                    spec.name
                )
            }
            None if !spec
                .tasks
                .iter()
                .any(|t| JobSpec::load(&t.job).is_ok_and(|j| j.params.contains_key(key))) =>
            {
                bail!(
                    "--set {key}: no task of workflow {} takes `{key}`",
                    spec.name
                )
            }
            _ => {}
        }
    }
    Ok(())
}

/// The overrides of the training set a task follows (for a `train` task's windows).
fn training_set_of(
    req: &WorkflowRequest,
    spec: &WorkflowSpec,
    t: &TaskSpec,
) -> Option<Vec<(String, String)>> {
    t.after
        .iter()
        .filter_map(|d| spec.task(d))
        .find(|u| u.job == "training_set")
        .map(|u| task_overrides(req, u))
}

/// Every task pending, with its day and fingerprint (upstream first).
pub(super) async fn plan(
    req: &WorkflowRequest,
    spec: &WorkflowSpec,
    order: &[usize],
    input: &Storage,
) -> Result<Vec<(String, TaskState)>> {
    let mut fps: HashMap<String, String> = HashMap::new();
    let mut tasks = Vec::new();
    for &i in order {
        let t = &spec.tasks[i];
        let day = task_day(req.date, t)?;
        // Upstream tasks that write data (not the `quality` check, which only guards the
        // inputs), so that a task of another day's run with the same inputs has the same
        // fingerprint.
        let upstream: Vec<String> = t
            .after
            .iter()
            .filter(|d| spec.task(d).is_some_and(|u| u.job != QUALITY_JOB))
            .map(|d| fps[d].clone())
            .collect();
        let set_overrides = training_set_of(req, spec, t);
        let parts = fingerprint::parts(
            input,
            &t.job,
            day,
            &task_overrides(req, t),
            &upstream,
            set_overrides.as_deref(),
        )
        .await?;
        let fp = parts.fingerprint();
        fps.insert(t.name.clone(), fp.clone());
        tasks.push((
            t.name.clone(),
            TaskState {
                status: Status::Pending,
                job: t.job.clone(),
                date: day,
                fingerprint: fp,
                parts: Some(parts),
                attempts: 0,
                started: None,
                seconds: None,
                rows: 0,
                outputs: Vec::new(),
                error: None,
                printed: Vec::new(),
            },
        ));
    }
    Ok(tasks)
}

/// A task's ledger entry, when its outputs are committed with the task's fingerprint and
/// still there (and `--force` is not given).
async fn reusable(
    req: &WorkflowRequest,
    output: &Storage,
    workflow: &str,
    task: &TaskState,
) -> Result<Option<LedgerEntry>> {
    match state::ledger_get(output, workflow, &task.job, task.date).await? {
        Some(entry) if !req.force && entry.fingerprint == task.fingerprint => {
            Ok(state::outputs_present(&entry.outputs)
                .await?
                .then_some(entry))
        }
        _ => Ok(None),
    }
}

/// Runs the workflow for `req.date`. Returns the final state; an error when it failed.
pub async fn run_day(req: &WorkflowRequest) -> Result<RunState> {
    let spec = WorkflowSpec::load(&req.workflow)?;
    check_overrides(req, &spec)?;
    let input = Storage::open(req.input.clone())?;
    let output = Storage::open(req.output.clone())?;
    let run_id = committed::new_run_id();
    let lock = Lock::acquire(
        &state::run_dir(&output, &spec.name, req.date),
        &run_id,
        req.break_lock,
    )
    .await?;

    let order = spec.order()?;
    let mut st = RunState {
        workflow: spec.name.clone(),
        date: req.date,
        run_id: run_id.clone(),
        status: Status::Running,
        started: Utc::now(),
        finished: None,
        reason: None,
        tasks: plan(req, &spec, &order, &input).await?,
    };
    state::save(&output, &st).await?;
    let bar = crate::progress::bar(
        st.tasks.len() as u64,
        &format!("{} {}", spec.name, req.date),
    );
    log(
        &bar,
        &format!(
            "workflow {} for {} (run {run_id}): {} tasks",
            spec.name,
            req.date,
            st.tasks.len()
        ),
    );
    let end = run_tasks(req, &spec, &order, &output, &mut st, &bar).await?;
    bar.finish_and_clear();
    st.finished = Some(Utc::now());
    (st.status, st.reason) = match &end {
        RunEnd::Succeeded => (Status::Succeeded, None),
        RunEnd::Failed(reason) => (Status::Failed, Some(reason.clone())),
        RunEnd::Interrupted(s) => (
            Status::Interrupted,
            Some(format!("interrupted by {}", s.name())),
        ),
    };
    state::save(&output, &st).await?;
    if let Err(e) = super::report::write(&input, &output, &st).await {
        tracing::warn!("cannot write the run report: {e:#}");
    }
    lock.release().await?;
    match end {
        RunEnd::Succeeded => Ok(st),
        RunEnd::Failed(reason) => Err(anyhow!(reason)),
        RunEnd::Interrupted(s) => Err(Interrupted(s).into()),
    }
}

/// How a day's run ended.
enum RunEnd {
    Succeeded,
    /// The first task failure.
    Failed(String),
    Interrupted(Signal),
}

/// The scheduling loop: starts (or skips) every task whose dependencies are done, within
/// `max_parallel`, records each as it finishes; after a failure or a signal starts nothing
/// new and lets the running tasks end (on a signal each stops its child process).
async fn run_tasks(
    req: &WorkflowRequest,
    spec: &WorkflowSpec,
    order: &[usize],
    output: &Storage,
    st: &mut RunState,
    bar: &indicatif::ProgressBar,
) -> Result<RunEnd> {
    let mut running = FuturesUnordered::new();
    let mut failure: Option<String> = None;
    let mut interrupted: Option<Signal> = None;
    loop {
        if interrupted.is_none() {
            interrupted = signals::pending();
        }
        let mut progressed = true;
        while progressed && failure.is_none() && interrupted.is_none() {
            progressed = false;
            for &i in order {
                let t = &spec.tasks[i];
                let ready = st.task(&t.name).status == Status::Pending
                    && t.waits_on()
                        .all(|d| matches!(st.task(d).status, Status::Succeeded | Status::Skipped));
                if !ready || running.len() >= spec.max_parallel {
                    continue;
                }
                let ts = st.task(&t.name).clone();
                if let Some(entry) = reusable(req, output, &spec.name, &ts).await? {
                    let task = st.task_mut(&t.name);
                    task.status = Status::Skipped;
                    task.rows = entry.outputs.iter().map(|o| o.rows).sum();
                    task.outputs = entry.outputs;
                    log(
                        bar,
                        &format!(
                            "{:<20} skipped (outputs up to date, run {})",
                            t.name, entry.workflow_run
                        ),
                    );
                    bar.inc(1);
                } else {
                    let task = st.task_mut(&t.name);
                    task.status = Status::Running;
                    task.started = Some(Utc::now());
                    log(
                        bar,
                        &format!("{:<20} started ({} {})", t.name, ts.job, ts.date),
                    );
                    let started = Instant::now();
                    let (name, day) = (t.name.clone(), ts.date);
                    running.push(async move {
                        let (attempts, end) = run_task(req, spec, t, day).await;
                        (name, attempts, started.elapsed().as_secs_f64(), end)
                    });
                }
                progressed = true;
                state::save(output, st).await?;
            }
        }
        let Some((name, attempts, seconds, end)) = running.next().await else {
            break;
        };
        match finish_task(output, spec, st, bar, &name, attempts, seconds, end).await? {
            TaskEnd::Failed(reason) => {
                failure.get_or_insert(reason);
            }
            TaskEnd::Interrupted(s) => {
                interrupted.get_or_insert(s);
            }
            TaskEnd::Done(_) => {}
        }
        bar.inc(1);
        state::save(output, st).await?;
    }
    Ok(match (interrupted, failure) {
        (Some(s), _) => RunEnd::Interrupted(s),
        (None, Some(reason)) => RunEnd::Failed(reason),
        (None, None) => RunEnd::Succeeded,
    })
}

/// Records a finished task: its outputs in the ledger on success, its error or interruption
/// otherwise. Returns how it ended (a failure's reason as the run gives it).
#[allow(clippy::too_many_arguments)]
async fn finish_task(
    output: &Storage,
    spec: &WorkflowSpec,
    st: &mut RunState,
    bar: &indicatif::ProgressBar,
    name: &str,
    attempts: u32,
    seconds: f64,
    end: TaskEnd,
) -> Result<TaskEnd> {
    let run_id = st.run_id.clone();
    let task = st.task_mut(name);
    task.attempts = attempts;
    task.seconds = Some(seconds);
    match end {
        TaskEnd::Done(done) => {
            task.status = Status::Succeeded;
            task.rows = done.outputs.iter().map(|o| o.rows).sum();
            task.outputs = done.outputs;
            task.printed = done.printed;
            let entry = LedgerEntry {
                fingerprint: task.fingerprint.clone(),
                parts: task.parts.clone(),
                workflow_run: run_id,
                outputs: task.outputs.clone(),
                finished: Utc::now(),
            };
            let (job, day) = (task.job.clone(), task.date);
            log(
                bar,
                &format!("{name:<20} done in {seconds:.1} s, {} rows", task.rows),
            );
            state::ledger_put(output, &spec.name, &job, day, &entry).await?;
            Ok(TaskEnd::Done(Done {
                outputs: Vec::new(),
                printed: Vec::new(),
            }))
        }
        TaskEnd::Failed(msg) => {
            task.status = Status::Failed;
            task.error = Some(msg.clone());
            log(
                bar,
                &format!("{name:<20} FAILED after {attempts} attempt(s): {msg}"),
            );
            Ok(TaskEnd::Failed(format!("task {name} failed: {msg}")))
        }
        TaskEnd::Interrupted(s) => {
            task.status = Status::Interrupted;
            task.error = Some(format!("interrupted by {}", s.name()));
            log(bar, &format!("{name:<20} INTERRUPTED by {}", s.name()));
            Ok(TaskEnd::Interrupted(s))
        }
    }
}

/// Runs `from..=to` day by day, stopping at the first failed day.
pub async fn run_range(req: &WorkflowRequest, to: NaiveDate) -> Result<Vec<RunState>> {
    let mut out = Vec::new();
    let mut day = req.date;
    while day <= to {
        let st = run_day(&WorkflowRequest {
            date: day,
            ..req.clone()
        })
        .await
        .with_context(|| format!("workflow {} for {day}", req.workflow))?;
        out.push(st);
        day = day + Days::new(1);
    }
    Ok(out)
}
