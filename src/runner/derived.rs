//! Derived daily inputs. An input declared with `build_with = "<job>"` is a table liverec
//! writes one day at a time from the platform's logs (the daily tiles); before a job reads it,
//! each day of its window without a current partition is built by that job. A day is current
//! when every output of the build job is committed for it with the same values of the
//! parameters passed on and after the newest file of its input days was written, so a
//! rewritten input day (late data) is rebuilt and every other day is read as it is. Days
//! without any input are left alone (the reader counts them missing).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use futures::{StreamExt, TryStreamExt};

use super::{OutputReport, RunRequest};
use crate::doc::partition::PartitionManifest;
use crate::job::{JobSpec, Root};
use crate::layout;
use crate::params::Params;
use crate::query::shift;
use crate::storage::Storage;
use crate::writer::read_manifest;

/// Builds what the request's `build_with` inputs lack (never forced).
pub(super) async fn ensure_for(req: &RunRequest, params: &Params) -> Result<Vec<OutputReport>> {
    let mut wanted: BTreeMap<&str, Vec<NaiveDate>> = BTreeMap::new();
    for spec in &req.job.inputs {
        let Some(job) = spec.build_with.as_deref() else {
            continue;
        };
        let (lo, hi) = spec.window(params)?;
        let days = wanted.entry(job).or_default();
        for offset in lo..=hi {
            days.push(shift(req.date, offset)?);
        }
    }
    let args: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect();
    let mut outputs = Vec::new();
    for (job, mut days) in wanted {
        days.sort();
        days.dedup();
        outputs.extend(ensure_days(req, job, &days, &args, false).await?);
    }
    Ok(outputs)
}

/// Builds `job` for each of `days` that has input and is not current (all of them with
/// `force`); returns what was written. Of `args`, the parameters `job` declares are passed
/// on (not the day's own `date` and `max_missing_days`).
pub async fn ensure_days(
    req: &RunRequest,
    job: &str,
    days: &[NaiveDate],
    args: &[(String, String)],
    force: bool,
) -> Result<Vec<OutputReport>> {
    let spec = JobSpec::load(job)?;
    let passed: Vec<(String, String)> = args
        .iter()
        .filter(|(k, _)| spec.params.contains_key(k) && k != "date" && k != "max_missing_days")
        .cloned()
        .collect();
    let input = Storage::open(req.input.clone())?;
    let output = Storage::open(req.output.clone())?;
    // Each day's check lists its input partitions and reads a manifest per output: a few
    // small reads, done for several days at once (a round trip each on an object store).
    let check = |day: NaiveDate| {
        let (input, output, spec, passed) = (&input, &output, &spec, &passed);
        async move {
            let Some(newest_input) = newest_input_file(input, spec, day).await? else {
                return Ok(None);
            };
            let stale = force || !current(output, spec, day, passed, Some(newest_input)).await?;
            Ok::<_, anyhow::Error>(stale.then_some(day))
        }
    };
    let checked: Vec<Option<NaiveDate>> = futures::stream::iter(days.iter().copied())
        .map(check)
        .buffered(CHECK_AT_ONCE)
        .try_collect()
        .await?;
    let stale: Vec<NaiveDate> = checked.into_iter().flatten().collect();
    tracing::info!(
        job,
        built = stale.len(),
        reused = days.len() - stale.len(),
        "derived inputs"
    );
    let build = |(i, day): (usize, NaiveDate)| {
        let sub = RunRequest {
            job: spec.clone(),
            date: day,
            input: req.input.clone(),
            output: req.output.clone(),
            overrides: passed.clone(),
            engine: req.engine.clone(),
        };
        async move {
            let report = Box::pin(super::run(&sub))
                .await
                .with_context(|| format!("building {job} of {day}"))?;
            Ok::<_, anyhow::Error>((i, report))
        }
    };
    // A day's job is small (one day's scan, five little outputs) and leaves a core idle
    // part of the time; two at once keep both busy, the next starting when either ends.
    // After a failure the others under way are dropped and the error is returned (a day cut
    // off between the commits of its tables is not current, so the next run builds it again).
    let mut reports: Vec<_> = futures::stream::iter(stale.into_iter().enumerate())
        .map(build)
        .buffer_unordered(BUILD_AT_ONCE)
        .try_collect()
        .await?;
    reports.sort_by_key(|(i, _)| *i);
    Ok(reports.into_iter().flat_map(|(_, r)| r.outputs).collect())
}

/// Days built at once.
const BUILD_AT_ONCE: usize = 2;

/// Days whose partitions are checked at once.
const CHECK_AT_ONCE: usize = 16;

/// The newest modification time among the files of `job`'s input partitions of `day`, or
/// None without any.
async fn newest_input_file(
    input: &Storage,
    job: &JobSpec,
    day: NaiveDate,
) -> Result<Option<DateTime<Utc>>> {
    let mut newest = None;
    for spec in job.inputs.iter().filter(|i| i.from == Root::Input) {
        newest = newest.max(last_written(input.at(&spec.table), Root::Input, day).await?);
    }
    Ok(newest)
}

/// Whether every output of `job` for `day` is committed with these parameters after
/// `newest_input` (the last write of what it reads, if any).
async fn current(
    output: &Storage,
    job: &JobSpec,
    day: NaiveDate,
    args: &[(String, String)],
    newest_input: Option<DateTime<Utc>>,
) -> Result<bool> {
    for table in job.outputs() {
        let Some(manifest) = read_manifest(&output.at(table), day).await? else {
            return Ok(false);
        };
        let after = newest_input.is_none_or(|n| manifest.created_at > n);
        if !after || !params_match(&manifest, args, job)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether every output of `req.job` for `req.date` is committed with `req`'s parameters
/// after everything it reads was last written: the files of its input tables' partitions and
/// the commits of its output-table inputs, over each input's window. A rewritten input day,
/// or a tile day rebuilt from one, makes the outputs that read it stale.
pub async fn outputs_current(req: &RunRequest) -> Result<bool> {
    let params = super::bind_params(req)?;
    let input = Storage::open(req.input.clone())?;
    let output = Storage::open(req.output.clone())?;
    // Owned pieces: the futures run inside the training set's spawned tasks.
    let mut reads = Vec::new();
    for spec in &req.job.inputs {
        let (lo, hi) = spec.window(&params)?;
        for offset in lo..=hi {
            let root = match spec.from {
                Root::Input => input.at(&spec.table),
                Root::Output => output.at(&spec.table),
            };
            reads.push(last_written(root, spec.from, shift(req.date, offset)?));
        }
    }
    let written: Vec<Option<DateTime<Utc>>> = futures::stream::iter(reads)
        .buffered(CHECK_AT_ONCE)
        .try_collect()
        .await?;
    let newest = written.into_iter().flatten().max();
    current(&output, &req.job, req.date, &req.overrides, newest).await
}

/// When `day` of a table was last written: the newest file of an input table's partition, the
/// commit of an output table's; None when absent.
async fn last_written(table: Storage, from: Root, day: NaiveDate) -> Result<Option<DateTime<Utc>>> {
    Ok(match from {
        Root::Input => {
            let files = table
                .at(&layout::partition(day))
                .list_parquet_files()
                .await?;
            files.iter().map(|m| m.last_modified).max()
        }
        Root::Output => read_manifest(&table, day).await?.map(|m| m.created_at),
    })
}

/// Whether a manifest records these values of `job`'s parameters.
fn params_match(
    manifest: &PartitionManifest,
    wanted: &[(String, String)],
    job: &JobSpec,
) -> Result<bool> {
    for (k, text) in wanted {
        let value = job.params[k].parse_text(k, text)?;
        if manifest.params.get(k) != Some(&serde_json::to_value(&value)?) {
            return Ok(false);
        }
    }
    Ok(true)
}
