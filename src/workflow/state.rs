//! Workflow run state next to the outputs (`<output>/runs/<workflow>/`):
//! - `dt=D/state.json`: each task's status, attempts, duration, rows, error (rewritten
//!   atomically after every change);
//! - `dt=D/LOCK`: held while a run of that workflow and day is active (`lock`);
//! - `ledger/<job>/dt=<day>.json`: the fingerprint a job's committed outputs were built
//!   from, so a task with the same fingerprint is skipped — also by another day's run
//!   (`day_offset` tasks reuse what yesterday's run committed).

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::layout;
use crate::storage::{Location, Storage};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Running,
    Succeeded,
    Skipped,
    Failed,
    /// Stopped by SIGINT / SIGTERM (nothing of the attempt in flight was committed).
    Interrupted,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OutputRef {
    pub table: String,
    pub location: String,
    pub rows: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskState {
    pub status: Status,
    pub job: String,
    pub date: NaiveDate,
    pub fingerprint: String,
    /// What the fingerprint is made of (written to the ledger when the task succeeds).
    #[serde(default, skip_serializing)]
    pub parts: Option<super::fingerprint::Parts>,
    pub attempts: u32,
    pub started: Option<DateTime<Utc>>,
    pub seconds: Option<f64>,
    pub rows: u64,
    pub outputs: Vec<OutputRef>,
    pub error: Option<String>,
    /// The job's printed summary (metrics tables).
    #[serde(default)]
    pub printed: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunState {
    pub workflow: String,
    pub date: NaiveDate,
    pub run_id: String,
    pub status: Status,
    pub started: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    /// In the workflow's task order.
    pub tasks: Vec<(String, TaskState)>,
}

impl RunState {
    pub fn task_mut(&mut self, name: &str) -> &mut TaskState {
        &mut self
            .tasks
            .iter_mut()
            .find(|(n, _)| n == name)
            .expect("task of this workflow")
            .1
    }

    pub fn task(&self, name: &str) -> &TaskState {
        &self
            .tasks
            .iter()
            .find(|(n, _)| n == name)
            .expect("task of this workflow")
            .1
    }
}

pub fn run_dir(output: &Storage, workflow: &str, date: NaiveDate) -> Storage {
    output.at(&layout::run(workflow, date))
}

pub async fn save(output: &Storage, state: &RunState) -> Result<()> {
    run_dir(output, &state.workflow, state.date)
        .write(layout::RUN_STATE, serde_json::to_vec_pretty(state)?.into())
        .await
}

pub async fn load(output: &Storage, workflow: &str, date: NaiveDate) -> Result<Option<RunState>> {
    let dir = run_dir(output, workflow, date);
    if !dir.exists(layout::RUN_STATE).await? {
        return Ok(None);
    }
    let bytes = dir.read(layout::RUN_STATE).await?;
    Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
        format!("{}: not a run state", dir.at(layout::RUN_STATE).loc)
    })?))
}

/// What a job's committed outputs were built from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub fingerprint: String,
    /// The fingerprint's parts (absent in entries of older builds).
    #[serde(default)]
    pub parts: Option<super::fingerprint::Parts>,
    pub workflow_run: String,
    pub outputs: Vec<OutputRef>,
    pub finished: DateTime<Utc>,
}

fn ledger_dir(output: &Storage, workflow: &str, job: &str) -> Storage {
    output.at(&layout::ledger(workflow, job))
}

pub async fn ledger_get(
    output: &Storage,
    workflow: &str,
    job: &str,
    day: NaiveDate,
) -> Result<Option<LedgerEntry>> {
    let dir = ledger_dir(output, workflow, job);
    let name = layout::ledger_entry(day);
    if !dir.exists(&name).await? {
        return Ok(None);
    }
    Ok(serde_json::from_slice(&dir.read(&name).await?).ok())
}

pub async fn ledger_put(
    output: &Storage,
    workflow: &str,
    job: &str,
    day: NaiveDate,
    entry: &LedgerEntry,
) -> Result<()> {
    ledger_dir(output, workflow, job)
        .write(
            &layout::ledger_entry(day),
            serde_json::to_vec_pretty(entry)?.into(),
        )
        .await
}

/// Whether every output a ledger entry names is still there (a committed partition's
/// manifest, a model version's manifest, or the object itself).
pub async fn outputs_present(outputs: &[OutputRef]) -> Result<bool> {
    for o in outputs {
        let at = Storage::open(Location::parse(&o.location)?)?;
        let present = match at.loc.local_path() {
            Some(path) if path.is_dir() => {
                path.join(layout::PARTITION_MANIFEST).exists()
                    || path.join(layout::MANIFEST).exists()
            }
            Some(path) => path.exists(),
            // Object stores have no directories: a folder's manifest, else the object.
            None => {
                at.exists(layout::PARTITION_MANIFEST).await?
                    || at.exists(layout::MANIFEST).await?
                    || at.exists("").await?
            }
        };
        if !present {
            return Ok(false);
        }
    }
    Ok(true)
}
