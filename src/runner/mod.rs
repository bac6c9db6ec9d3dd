//! Runs one SQL job for one day: binds typed parameters, registers each declared input
//! restricted to its day window (so the SQL cannot see other days, and only those partitions
//! are read), checks input files against the data contract, runs the SQL steps, runs the
//! checks, and commits each output partition atomically with its manifest. Builtin jobs
//! (`builtin`) are dispatched by `dispatch`, above this module.

mod derived;
mod inputs;
mod steps;

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use chrono::{NaiveDate, Utc};
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::doc::partition::{InputEntry, PartitionManifest, schema_entries};
use crate::engine::{self, EngineOptions};
use crate::job::JobSpec;
use crate::layout;
use crate::params::{self, ParamValue, Params};
use crate::query;
use crate::storage::{Location, Storage, committed};
use crate::version::LIVEREC_VERSION;

pub use derived::{ensure_days, outputs_current};
pub use inputs::check_lineage;
use steps::Staged;

/// What to run.
#[derive(Clone, Debug)]
pub struct RunRequest {
    pub job: JobSpec,
    pub date: NaiveDate,
    pub input: Location,
    pub output: Location,
    /// `key=value` parameter overrides, parsed against the job's declarations.
    pub overrides: Vec<(String, String)>,
    pub engine: EngineOptions,
}

/// What a run did (also `liverec run --report-json`, which the benchmark reads).
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub job: String,
    pub date: NaiveDate,
    pub run_id: String,
    pub outputs: Vec<OutputReport>,
    pub inputs: Vec<InputEntry>,
    pub checks: BTreeMap<String, serde_json::Value>,
    /// Small results to show (metrics tables).
    pub printed: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct OutputReport {
    pub table: String,
    pub location: String,
    pub rows: u64,
    pub files: usize,
}

/// The job's parameters bound: declared defaults, the request's overrides, and `date`.
pub fn bind_params(req: &RunRequest) -> Result<Params> {
    let mut params = params::bind(&req.job.params, &req.overrides)
        .with_context(|| format!("job `{}`", req.job.name))?;
    params.insert("date".into(), ParamValue::Date(req.date));
    Ok(params)
}

/// Fails early, with one clear line, when a local output root cannot be created.
pub fn ensure_writable(output: &Location) -> Result<()> {
    if let Some(path) = output.local_path() {
        std::fs::create_dir_all(&path)
            .with_context(|| format!("output location {} is not writable", path.display()))?;
    }
    Ok(())
}

/// The runner's own settings among a job's parameters.
#[derive(serde::Deserialize)]
struct RunnerSettings {
    /// Days of a required input's window that may be missing. Declared by the jobs with
    /// multi-day windows that tolerate gaps; a job that does not declare it accepts none.
    #[serde(default)]
    max_missing_days: Option<u32>,
}

impl RunnerSettings {
    fn max_missing_days(&self) -> usize {
        self.max_missing_days.unwrap_or(0) as usize
    }
}

/// A job's session with the input and output stores registered.
struct Session {
    ctx: SessionContext,
    input: Storage,
    output: Storage,
}

async fn open_session(req: &RunRequest) -> Result<Session> {
    let ctx = engine::new_context(&req.engine).await?;
    let input = Storage::open(req.input.clone())?;
    let output = Storage::open(req.output.clone())?;
    for root in [&input, &output] {
        ctx.register_object_store(&root.loc.store_url(), root.store.clone());
    }
    Ok(Session { ctx, input, output })
}

/// Binds the request's parameters and runs it as a SQL job: what builtins call to run their
/// sub-jobs (`profiles`, `samples`).
pub async fn run(req: &RunRequest) -> Result<RunReport> {
    let params = bind_params(req)?;
    ensure_writable(&req.output)?;
    run_sql_job(req, &params).await
}

/// Runs a SQL job (one that declares steps, not a builtin).
pub async fn run_sql_job(req: &RunRequest, params: &Params) -> Result<RunReport> {
    let job = &req.job;
    if job.builtin.is_some() {
        bail!("job `{}` is a builtin, not a SQL job", job.name);
    }
    let settings: RunnerSettings = params::settings(params)?;
    let run_id = committed::new_run_id();
    tracing::info!(job = %job.name, date = %req.date, run_id = %run_id, "starting");
    inputs::check_windows_before_date(job, params)?;
    let derived = derived::ensure_for(req, params).await?;
    let session = open_session(req).await?;
    let inputs = inputs::register_all(&session, req, params, settings.max_missing_days()).await?;

    let values = query::job_placeholders(params, req.date)?;
    // Materialized views of a cluster run live here until the run ends.
    let scratch = session.output.at(&layout::views(&run_id));
    let mut staged = Vec::new();
    let result = async {
        steps::run_steps(&session, req, &values, &run_id, &scratch, &mut staged).await?;
        let started = std::time::Instant::now();
        let checks = steps::run_checks(&session.ctx, job, &values).await?;
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "checks done");
        Ok::<_, anyhow::Error>(checks)
    }
    .await;
    scratch.delete_all().await?;
    let checks = match result {
        Ok(checks) => checks,
        Err(e) => {
            for s in staged {
                s.part.abort().await;
            }
            return Err(e);
        }
    };

    let (outputs, json_outputs) = commit_outputs(
        &session.output,
        req,
        params,
        &run_id,
        &inputs,
        &checks,
        staged,
    )
    .await?;
    let printed = write_json_outputs(&session.output, req.date, json_outputs).await?;
    Ok(RunReport {
        job: job.name.clone(),
        date: req.date,
        run_id,
        outputs: derived.into_iter().chain(outputs).collect(),
        inputs,
        checks,
        printed,
    })
}

/// Commits every staged output partition with its manifest.
async fn commit_outputs(
    output: &Storage,
    req: &RunRequest,
    params: &Params,
    run_id: &str,
    inputs: &[InputEntry],
    checks: &BTreeMap<String, serde_json::Value>,
    staged: Vec<Staged>,
) -> Result<(Vec<OutputReport>, Vec<(String, Vec<RecordBatch>)>)> {
    let params_json = params::to_json(params);
    let mut outputs = Vec::new();
    let mut json_outputs = Vec::new();
    for Staged { part, schema, json } in staged {
        let table = part.table.clone();
        let location = output
            .at(&table)
            .at(&layout::partition(req.date))
            .loc
            .to_string();
        let rows = part.rows();
        let files = part.files.len();
        let manifest = PartitionManifest {
            table: table.clone(),
            dt: req.date,
            job: req.job.name.clone(),
            run_id: run_id.to_string(),
            liverec_version: LIVEREC_VERSION.to_string(),
            created_at: Utc::now(),
            rows: 0,
            files: Vec::new(),
            schema: schema_entries(&schema),
            params: params_json.clone(),
            inputs: inputs.to_vec(),
            checks: checks.clone(),
            replaced: Vec::new(),
        };
        part.commit(manifest).await?;
        outputs.push(OutputReport {
            table,
            location,
            rows,
            files,
        });
        json_outputs.extend(json);
    }
    Ok((outputs, json_outputs))
}

/// Small outputs (metrics) also go to `<dir>/dt=D.json` (one object put: atomic on every
/// store), and are returned as printed tables.
async fn write_json_outputs(
    output: &Storage,
    date: NaiveDate,
    json_outputs: Vec<(String, Vec<RecordBatch>)>,
) -> Result<Vec<String>> {
    let mut printed = Vec::new();
    for (dir, batches) in json_outputs {
        let mut writer = arrow::json::ArrayWriter::new(Vec::new());
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        writer.write_batches(&refs)?;
        writer.finish()?;
        output
            .at(&dir)
            .write(&layout::json_output(date), writer.into_inner().into())
            .await?;
        printed.push(arrow::util::pretty::pretty_format_batches(&batches)?.to_string());
    }
    Ok(printed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_gets_the_runner_settings() {
        for name in crate::project::list("jobs/", ".toml") {
            let job = JobSpec::load(&name).unwrap();
            let bound = params::bind(&job.params, &[]).unwrap();
            let s: RunnerSettings =
                params::settings(&bound).unwrap_or_else(|e| panic!("job {name}: {e:#}"));
            match job
                .params
                .get("max_missing_days")
                .and_then(|p| p.default.clone())
            {
                Some(declared) => {
                    assert_eq!(toml::Value::Integer(s.max_missing_days() as i64), declared)
                }
                None => assert_eq!(s.max_missing_days(), 0, "job {name}"),
            }
        }
    }
}
