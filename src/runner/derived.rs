//! Derived daily inputs. An input declared with `build_with = "<job>"` is a table liverec
//! writes one day at a time from the platform's logs (the daily tiles); before a job reads it,
//! each day of its window without a current partition is built by that job. A day is current
//! when every output of the build job is committed for it with the same values of the
//! parameters passed on, from input partitions that are still the same files (each manifest
//! records what its inputs' windows listed), so a rewritten input day (late data) is rebuilt
//! and every other day is read as it is. Days without any input are left alone (the reader
//! counts them missing).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use futures::{StreamExt, TryStreamExt};

use super::{OutputReport, RunRequest};
use crate::doc::partition::PartitionManifest;
use crate::job::{JobSpec, Root};
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
    let sub = |day: NaiveDate| RunRequest {
        job: spec.clone(),
        date: day,
        input: req.input.clone(),
        output: req.output.clone(),
        overrides: passed.clone(),
        engine: req.engine.clone(),
    };
    // Each day's check lists its input partitions and reads a manifest per output: a few
    // small reads, done for several days at once (a round trip each on an object store).
    let check = |day: NaiveDate| {
        let (input, output, sub) = (&input, &output, sub(day));
        async move {
            let now = listed_now(input, output, &sub).await?;
            let has_input = now
                .iter()
                .any(|(from, _, listed)| *from == Root::Input && !listed.is_empty());
            if !has_input {
                return Ok(None);
            }
            let stale = force || !current(output, &sub, &now).await?;
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
        let sub = sub(day);
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

/// What each input of `req.job` (in declaration order: its root and table) lists over its
/// window now: the partitions with data files and their digests.
type Listed = Vec<(Root, String, BTreeMap<NaiveDate, String>)>;

/// `Listed` for `req`, through stores the caller opened once (on S3 each open is a client
/// with its own connections, and the tiles' check runs for many days).
async fn listed_now(input: &Storage, output: &Storage, req: &RunRequest) -> Result<Listed> {
    let params = super::bind_params(req)?;
    let lists = req.job.inputs.iter().map(|spec| {
        let root = match spec.from {
            Root::Input => input,
            Root::Output => output,
        };
        let table = root.at(&spec.table);
        let params = &params;
        async move {
            let listed = super::inputs::listed_now(&table, spec, req.date, params).await?;
            Ok::<_, anyhow::Error>((spec.from, spec.table.clone(), listed))
        }
    });
    futures::future::try_join_all(lists).await
}

/// Whether every output of `req.job` for `req.date` is committed with `req`'s parameters
/// from inputs that list, now, exactly what they listed when it was built (`now`): the same
/// partitions with the same files. A rewritten, added or removed input day — or a tile day
/// rebuilt from one — makes it stale; no clock is compared.
async fn current(output: &Storage, req: &RunRequest, now: &Listed) -> Result<bool> {
    for table in req.job.outputs() {
        let Some(manifest) = read_manifest(&output.at(table), req.date).await? else {
            return Ok(false);
        };
        let same_inputs = manifest.inputs.len() == now.len()
            && manifest
                .inputs
                .iter()
                .zip(now)
                .all(|(then, (_, table, listed))| {
                    then.table == *table && then.listed.as_ref() == Some(listed)
                });
        if !same_inputs || !params_match(&manifest, &req.overrides, &req.job)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether every output of `req.job` for `req.date` is committed with `req`'s parameters
/// from what its inputs' windows list now (`current`).
pub async fn outputs_current(req: &RunRequest) -> Result<bool> {
    let input = Storage::open(req.input.clone())?;
    let output = Storage::open(req.output.clone())?;
    current(&output, req, &listed_now(&input, &output, req).await?).await
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
