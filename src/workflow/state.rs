//! Workflow run state next to the outputs (`<output>/runs/<workflow>/`):
//! - `dt=D/state.json`: each task's status, attempts, duration, rows, error (rewritten
//!   atomically after every change);
//! - `dt=D/LOCK`: held while a run of that workflow and day is active;
//! - `ledger/<job>/dt=<day>.json`: the fingerprint a job's committed outputs were built
//!   from, so a task with the same fingerprint is skipped — also by another day's run
//!   (`day_offset` tasks reuse what yesterday's run committed).

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::contract::INPUT_TABLES;
use crate::storage::{Location, Storage};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Running,
    Succeeded,
    Skipped,
    Failed,
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
    output
        .at("runs")
        .at(workflow)
        .at(&crate::storage::partition_name(date))
}

pub async fn save(output: &Storage, state: &RunState) -> Result<()> {
    run_dir(output, &state.workflow, state.date)
        .write("state.json", serde_json::to_vec_pretty(state)?.into())
        .await
}

pub async fn load(output: &Storage, workflow: &str, date: NaiveDate) -> Result<Option<RunState>> {
    let dir = run_dir(output, workflow, date);
    if !dir.exists("state.json").await? {
        return Ok(None);
    }
    let bytes = dir.read("state.json").await?;
    Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
        format!("{}: not a run state", dir.at("state.json").loc)
    })?))
}

/// What a job's committed outputs were built from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub fingerprint: String,
    pub workflow_run: String,
    pub outputs: Vec<OutputRef>,
    pub finished: DateTime<Utc>,
}

fn ledger_dir(output: &Storage, workflow: &str, job: &str) -> Storage {
    output.at("runs").at(workflow).at("ledger").at(job)
}

pub async fn ledger_get(
    output: &Storage,
    workflow: &str,
    job: &str,
    day: NaiveDate,
) -> Result<Option<LedgerEntry>> {
    let dir = ledger_dir(output, workflow, job);
    let name = format!("dt={day}.json");
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
            &format!("dt={day}.json"),
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
                path.join("_manifest.json").exists() || path.join("manifest.json").exists()
            }
            Some(path) => path.exists(),
            // Object stores have no directories: a folder's manifest, else the object.
            None => {
                at.exists("_manifest.json").await?
                    || at.exists("manifest.json").await?
                    || at.exists("").await?
            }
        };
        if !present {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The input-table day windows a job reads for `day`: from its declaration for SQL jobs;
/// for `quality`, every input table on `day`; for other builtins (which run other jobs over many days) every input table over the 90 days up
/// to the day after `day`, a superset of their windows.
pub fn input_windows(
    job: &str,
    day: NaiveDate,
    overrides: &[(String, String)],
) -> Result<Vec<(String, NaiveDate, NaiveDate)>> {
    if job == crate::quality::QUALITY_JOB {
        return Ok(INPUT_TABLES
            .iter()
            .map(|c| (c.name.to_string(), day, day))
            .collect());
    }
    let spec = crate::job::JobSpec::load(job).ok();
    let sql_job = spec.as_ref().filter(|s| s.builtin.is_none());
    let Some(spec) = sql_job else {
        let (from, to) = (day - chrono::Days::new(90), day + chrono::Days::new(1));
        return Ok(INPUT_TABLES
            .iter()
            .map(|c| (c.name.to_string(), from, to))
            .collect());
    };
    let params = crate::params::bind(&spec.params, overrides)?;
    let mut out = Vec::new();
    for input in spec
        .inputs
        .iter()
        .filter(|i| i.from == crate::job::Root::Input)
    {
        let (lo, hi) = input.window(&params)?;
        let shift = |o: i64| day + chrono::Duration::days(o);
        out.push((input.table.clone(), shift(lo), shift(hi)));
    }
    Ok(out)
}

/// A fingerprint of a task: its job, day, overrides, the code version, the fingerprints of
/// the upstream tasks that produce data, and the files (name, size, modification time) of
/// the input windows it reads.
pub async fn fingerprint(
    input: &Storage,
    job: &str,
    day: NaiveDate,
    overrides: &[(String, String)],
    upstream: &[String],
) -> Result<String> {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update(bytes);
        h.update([0]);
    };
    field(job.as_bytes());
    field(day.to_string().as_bytes());
    let sorted: BTreeMap<_, _> = overrides.iter().cloned().collect();
    for (k, v) in sorted {
        field(k.as_bytes());
        field(v.as_bytes());
    }
    field(crate::project::code_version().as_bytes());
    for u in upstream {
        field(u.as_bytes());
    }
    for (name, from, to) in input_windows(job, day, overrides)? {
        let table = input.at(&name);
        field(name.as_bytes());
        let (present, _) = table.partitions_between(from, to).await?;
        for d in present {
            let part = table.at(&crate::storage::partition_name(d));
            for meta in part.list_parquet_files().await? {
                field(meta.location.as_ref().as_bytes());
                field(&meta.size.to_le_bytes());
                field(meta.last_modified.to_rfc3339().as_bytes());
            }
        }
    }
    Ok(hex::encode(&h.finalize()[..16]))
}

/// The run lock of a workflow and day: an object `LOCK` created only if absent (a create-only
/// put: `If-None-Match: *` on S3, a hard link on local disk), removed when the run ends.
pub struct Lock {
    dir: Storage,
    released: bool,
}

#[derive(Serialize, Deserialize)]
struct LockInfo {
    pid: u32,
    host: String,
    run_id: String,
    started: DateTime<Utc>,
}

const LOCK_FILE: &str = "LOCK";

impl Lock {
    pub async fn acquire(dir: &Storage, run_id: &str, break_lock: bool) -> Result<Self> {
        if break_lock && dir.exists(LOCK_FILE).await? {
            let old = dir.read(LOCK_FILE).await.unwrap_or_default();
            tracing::warn!(
                "breaking the lock {} ({})",
                dir.at(LOCK_FILE).loc,
                String::from_utf8_lossy(&old).trim()
            );
            dir.delete(LOCK_FILE).await?;
        }
        let info = LockInfo {
            pid: std::process::id(),
            host: hostname(),
            run_id: run_id.to_string(),
            started: Utc::now(),
        };
        let body = serde_json::to_vec(&info)?.into();
        match dir.write_if(LOCK_FILE, body, None).await? {
            crate::storage::Conditional::Written => Ok(Self {
                dir: dir.clone(),
                released: false,
            }),
            crate::storage::Conditional::Conflict => {
                let held: Option<LockInfo> = dir
                    .read(LOCK_FILE)
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok());
                let who = held.map_or("an unknown run".to_string(), |h| {
                    format!(
                        "run {} (pid {} on {}, since {})",
                        h.run_id, h.pid, h.host, h.started
                    )
                });
                bail!(
                    "{} is locked by {who}; if that run is no longer active (killed), rerun with --break-lock",
                    dir.at(LOCK_FILE).loc
                )
            }
        }
    }

    /// Removes the lock.
    pub async fn release(mut self) -> Result<()> {
        self.released = true;
        self.dir.delete(LOCK_FILE).await
    }
}

impl Drop for Lock {
    /// A run that ends by an error still removes its lock (on a thread of its own, since
    /// drop cannot await).
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let dir = self.dir.clone();
        let removed = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(dir.delete(LOCK_FILE))
        })
        .join();
        if !matches!(removed, Ok(Ok(()))) {
            tracing::warn!("cannot remove the run lock {}", self.dir.at(LOCK_FILE).loc);
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
