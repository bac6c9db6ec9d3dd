//! Running a workflow for one day: fingerprints first, then tasks in dependency order (up to
//! `max_parallel` at once), each skipped when its outputs are committed with the same
//! fingerprint, retried with backoff, bounded by a timeout; state saved after every change.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use chrono::{Days, NaiveDate, Utc};
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::spec::{TaskSpec, WorkflowSpec};
use super::state::{self, LedgerEntry, Lock, OutputRef, RunState, Status, TaskState};
use crate::engine::EngineOptions;
use crate::job::JobSpec;
use crate::runner::{RunRequest, new_run_id, run_job};
use crate::storage::{Location, Storage};

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

fn job_name(t: &TaskSpec) -> String {
    t.job.clone()
}

struct Done {
    outputs: Vec<OutputRef>,
    printed: Vec<String>,
}

/// Runs one attempt of a task.
async fn attempt(req: &WorkflowRequest, t: &TaskSpec, day: NaiveDate) -> Result<Done> {
    let report = run_job(RunRequest {
        job: JobSpec::load(&job_name(t))?,
        date: day,
        input: req.input.clone(),
        output: req.output.clone(),
        overrides: task_overrides(req, t),
        engine: req.engine.clone(),
    })
    .await?;
    Ok(Done {
        outputs: report
            .outputs
            .iter()
            .map(|o| OutputRef {
                table: o.table.clone(),
                location: o.location.clone(),
                rows: o.rows,
            })
            .collect(),
        printed: report.printed,
    })
}

/// A task with retries (backoff doubling) and a time limit per attempt.
async fn run_task(
    req: &WorkflowRequest,
    spec: &WorkflowSpec,
    t: &TaskSpec,
    day: NaiveDate,
) -> (u32, Result<Done>) {
    let mut backoff = spec.retry_backoff_s;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let limit = Duration::from_secs(spec.task_timeout_s);
        let result = match tokio::time::timeout(limit, attempt(req, t, day)).await {
            Ok(r) => r,
            Err(_) => Err(anyhow!("timed out after {} s", spec.task_timeout_s)),
        };
        match result {
            Ok(done) => return (attempts, Ok(done)),
            // A model below the gate will not pass on a second try.
            Err(e) if e.is::<crate::model::train::GateFailed>() => return (attempts, Err(e)),
            Err(e) if attempts <= spec.retries => {
                tracing::warn!(task = %t.name, attempt = attempts, "failed, retrying in {backoff} s: {}", crate::cli::error_chain(&e));
                tokio::time::sleep(Duration::from_secs_f64(backoff)).await;
                backoff *= 2.0;
            }
            Err(e) => return (attempts, Err(e)),
        }
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

/// Runs the workflow for `req.date`. Returns the final state; an error when it failed.
pub async fn run_day(req: &WorkflowRequest) -> Result<RunState> {
    let spec = WorkflowSpec::load(&req.workflow)?;
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
    let input = Storage::open(req.input.clone())?;
    let output = Storage::open(req.output.clone())?;
    let run_id = new_run_id();
    let lock = Lock::acquire(
        &state::run_dir(&output, &spec.name, req.date),
        &run_id,
        req.break_lock,
    )
    .await?;

    // Fingerprints of every task, upstream first.
    let order = spec.order()?;
    let mut fps: HashMap<String, String> = HashMap::new();
    let mut tasks = Vec::new();
    for &i in &order {
        let t = &spec.tasks[i];
        let day = task_day(req.date, t)?;
        // Upstream tasks that write data (not the `quality` check, which only guards the
        // inputs), so that a task of another day's run with the same inputs has the same
        // fingerprint.
        let upstream: Vec<String> = t
            .after
            .iter()
            .filter(|d| {
                spec.task(d)
                    .is_some_and(|u| u.job != crate::quality::QUALITY_JOB)
            })
            .map(|d| fps[d].clone())
            .collect();
        let fp = state::fingerprint(
            &input,
            &job_name(t),
            day,
            &task_overrides(req, t),
            &upstream,
        )
        .await?;
        fps.insert(t.name.clone(), fp.clone());
        tasks.push((
            t.name.clone(),
            TaskState {
                status: Status::Pending,
                job: job_name(t),
                date: day,
                fingerprint: fp,
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
    let mut st = RunState {
        workflow: spec.name.clone(),
        date: req.date,
        run_id: run_id.clone(),
        status: Status::Running,
        started: Utc::now(),
        finished: None,
        reason: None,
        tasks,
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

    let spec_r = &spec;
    let mut running = FuturesUnordered::new();
    let mut failure: Option<String> = None;
    loop {
        // Start (or skip) every task whose dependencies are done, within the bound.
        let mut progressed = true;
        while progressed && failure.is_none() {
            progressed = false;
            for &i in &order {
                let t = &spec.tasks[i];
                if st.task(&t.name).status != Status::Pending
                    || !t
                        .after
                        .iter()
                        .all(|d| matches!(st.task(d).status, Status::Succeeded | Status::Skipped))
                    || running.len() >= spec.max_parallel
                {
                    continue;
                }
                let ts = st.task(&t.name).clone();
                let reusable =
                    match state::ledger_get(&output, &spec.name, &ts.job, ts.date).await? {
                        Some(entry) if !req.force && entry.fingerprint == ts.fingerprint => {
                            state::outputs_present(&entry.outputs)
                                .await?
                                .then_some(entry)
                        }
                        _ => None,
                    };
                if let Some(entry) = reusable {
                    let task = st.task_mut(&t.name);
                    task.status = Status::Skipped;
                    task.outputs = entry.outputs.clone();
                    task.rows = entry.outputs.iter().map(|o| o.rows).sum();
                    log(
                        &bar,
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
                        &bar,
                        &format!("{:<20} started ({} {})", t.name, ts.job, ts.date),
                    );
                    let started = Instant::now();
                    let (name, day) = (t.name.clone(), ts.date);
                    let fut = async move {
                        let (attempts, result) = run_task(req, spec_r, t, day).await;
                        (name, attempts, started.elapsed().as_secs_f64(), result)
                    };
                    running.push(fut);
                }
                progressed = true;
                state::save(&output, &st).await?;
            }
        }
        let Some((name, attempts, seconds, result)) = running.next().await else {
            break;
        };
        let task = st.task_mut(&name);
        task.attempts = attempts;
        task.seconds = Some(seconds);
        match result {
            Ok(done) => {
                task.status = Status::Succeeded;
                task.rows = done.outputs.iter().map(|o| o.rows).sum();
                task.outputs = done.outputs;
                task.printed = done.printed;
                let entry = LedgerEntry {
                    fingerprint: task.fingerprint.clone(),
                    workflow_run: run_id.clone(),
                    outputs: task.outputs.clone(),
                    finished: Utc::now(),
                };
                let (job, day) = (task.job.clone(), task.date);
                log(
                    &bar,
                    &format!("{name:<20} done in {seconds:.1} s, {} rows", task.rows),
                );
                state::ledger_put(&output, &spec.name, &job, day, &entry).await?;
            }
            Err(e) => {
                let msg = crate::cli::error_chain(&e);
                task.status = Status::Failed;
                task.error = Some(msg.clone());
                log(
                    &bar,
                    &format!("{name:<20} FAILED after {attempts} attempt(s): {msg}"),
                );
                failure.get_or_insert(format!("task {name} failed: {msg}"));
            }
        }
        bar.inc(1);
        state::save(&output, &st).await?;
    }
    bar.finish_and_clear();
    st.finished = Some(Utc::now());
    st.status = if failure.is_some() {
        Status::Failed
    } else {
        Status::Succeeded
    };
    st.reason = failure.clone();
    state::save(&output, &st).await?;
    if let Err(e) = super::report::write(&input, &output, &st).await {
        tracing::warn!("cannot write the run report: {e:#}");
    }
    lock.release().await?;
    match failure {
        Some(reason) => Err(anyhow!(reason)),
        None => Ok(st),
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
