//! The `training_set` job: builds the daily tiles of the input days its profile windows
//! cover (`tiles`), then the profiles and samples (the SQL jobs `profiles` and `samples`) of
//! each label day E-M+1..E that is missing or stale, then writes the training set's manifest
//! (`doc::training_set`) with per-day counts and per-feature coverage.

use anyhow::{Context, Result, bail};
use chrono::{Days, NaiveDate, Utc};
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::prelude::{Expr, ParquetReadOptions, col, lit, when};
use serde::Deserialize;

use crate::doc::partition::{ColumnEntry, PartitionManifest, schema_entries};
use crate::doc::training_set::{DayStatus, FeatureStats, LabelDay, TrainingSetManifest};
use crate::engine::{self, EngineOptions};
use crate::job::JobSpec;
use crate::layout;
use crate::params::{self, Params};
use crate::runner::{OutputReport, RunReport, RunRequest};
use crate::storage::{Storage, committed};
use crate::version::LIVEREC_VERSION;
use crate::writer::read_manifest;

use super::label_days::{self, DayArgs, Plan};

/// The training set's own parameters (the rest is passed on to `profiles` and `samples`).
#[derive(Deserialize)]
struct Settings {
    label_days: u32,
    max_missing_days: u32,
    parallel_days: u32,
    validation: String,
    force: bool,
}

/// Makes sure the profiles and samples of `day` exist, built with `args` (the parameters
/// of a training set; each job gets those it declares).
pub async fn ensure_label_day(
    req: &RunRequest,
    day: NaiveDate,
    args: &[(String, String)],
    force: bool,
) -> Result<Vec<OutputReport>> {
    let only = |job: &JobSpec| -> Vec<(String, String)> {
        args.iter()
            .filter(|(k, _)| job.params.contains_key(k))
            .cloned()
            .collect()
    };
    let profile_args = only(&JobSpec::load("profiles")?);
    let plan = Plan::new(&[day], profile_days(&profile_args)?, 1)?;
    let args = DayArgs {
        profile_args,
        sample_args: only(&JobSpec::load("samples")?),
        force,
    };
    // The plan of one day on one slot: its window's tiles, then the day.
    let built = label_days::build(req, &plan, &args, 1).await?;
    let mut outputs = built.tiles;
    outputs.extend(
        built
            .days
            .into_iter()
            .flat_map(|(_, o)| o.unwrap_or_default()),
    );
    Ok(outputs)
}

/// N, the profile window of these (bound) profile parameters.
fn profile_days(profile_args: &[(String, String)]) -> Result<u64> {
    let spec = JobSpec::load("profiles")?;
    let bound = params::bind(&spec.params, profile_args)?;
    bound
        .get("profile_days")
        .and_then(|v| v.as_int())
        .map(|n| n as u64)
        .context("profiles declares profile_days")
}

/// Columns of the samples that are not features.
const FEATURE_SKIP: &[&str] = &["user_id", "anchor_id", "label", "watch_s", "watch_cnt"];

pub async fn run(req: &RunRequest, params: &Params) -> Result<RunReport> {
    let settings: Settings = params::settings(params)?;
    let end = req.date;
    let label_days = label_window(end, settings.label_days)?;
    let profile_args = JobSpec::load("profiles")?.pass_through(params);
    let sample_args = JobSpec::load("samples")?.pass_through(params);
    let input = Storage::open(req.input.clone())?;
    let output = Storage::open(req.output.clone())?;

    let (present, missing) = available_days(&input, &label_days, &settings, end).await?;
    let parallel = (settings.parallel_days.max(1) as usize).min(present.len().max(1));
    let plan = Plan::new(&present, profile_days(&profile_args)?, parallel)?;
    let args = DayArgs {
        profile_args,
        sample_args,
        force: settings.force,
    };
    let built = label_days::build(req, &plan, &args, parallel).await?;
    let mut outputs = built.tiles;
    let mut days = Vec::new();
    for (day, built) in built.days {
        let status = if built.is_some() {
            DayStatus::Built
        } else {
            DayStatus::Reused
        };
        outputs.extend(built.unwrap_or_default());
        days.push(label_day(&output, day, status).await?);
    }
    if present.is_empty() {
        bail!("training set ending {end}: no label day available");
    }

    let (columns, features, positives) = describe(&output, &present, &req.engine).await?;
    for f in &features {
        tracing::info!(
            feature = %f.name,
            null_rate = f.null_rate,
            zero_rate = ?f.zero_rate,
            "feature coverage"
        );
    }
    let validation_day = match settings.validation.as_str() {
        "last_day" => end,
        _ => end + Days::new(1),
    };
    let run_id = committed::new_run_id();
    let manifest = TrainingSetManifest {
        end,
        train_days: present
            .iter()
            .copied()
            .filter(|d| *d < validation_day)
            .collect(),
        label_days: present,
        missing_days: missing,
        validation_day,
        rows: days.iter().map(|d| d.rows).sum(),
        positives,
        days,
        features,
        columns,
        params: params::to_json(params),
        liverec_version: LIVEREC_VERSION.to_string(),
        run_id: run_id.clone(),
        created_at: Utc::now(),
    };
    let dir = output.at(&layout::training_set(end));
    // A single object put is atomic on every store (temp file + rename on local disk).
    dir.write(
        layout::MANIFEST,
        serde_json::to_vec_pretty(&manifest)?.into(),
    )
    .await?;
    let location = dir.at(layout::MANIFEST).loc.to_string();
    tracing::info!(
        rows = manifest.rows,
        positives,
        "training set manifest {location}"
    );
    outputs.push(OutputReport {
        table: "training_set".into(),
        location,
        rows: manifest.rows,
        files: 1,
    });
    Ok(RunReport {
        job: "training_set".into(),
        date: end,
        run_id,
        outputs,
        inputs: Vec::new(),
        checks: Default::default(),
        printed: Vec::new(),
    })
}

/// The label days E-M+1 ..= E.
fn label_window(end: NaiveDate, m: u32) -> Result<Vec<NaiveDate>> {
    let first = end
        .checked_sub_days(Days::new(u64::from(m.max(1)) - 1))
        .context("label window out of range")?;
    Ok(first.iter_days().take(m as usize).collect())
}

/// The label days with input (present) and without (missing); fails before building
/// anything when more than `max_missing_days` are missing.
async fn available_days(
    input: &Storage,
    label_days: &[NaiveDate],
    settings: &Settings,
    end: NaiveDate,
) -> Result<(Vec<NaiveDate>, Vec<NaiveDate>)> {
    let with_labels = input.at("watches").list_partitions().await?;
    let (present, missing): (Vec<NaiveDate>, Vec<NaiveDate>) = label_days
        .iter()
        .copied()
        .partition(|d| with_labels.contains(d));
    if missing.len() > settings.max_missing_days as usize {
        let list: Vec<String> = missing.iter().map(|d| d.to_string()).collect();
        bail!(
            "training set ending {end}: {} label day(s) missing from the input ({}); max_missing_days = {}",
            missing.len(),
            list.join(", "),
            settings.max_missing_days
        );
    }
    for day in &missing {
        tracing::warn!(dt = %day, "label day missing from the input");
    }
    Ok((present, missing))
}

/// A label day as committed: its samples' and exposure samples' counts.
async fn label_day(output: &Storage, day: NaiveDate, status: DayStatus) -> Result<LabelDay> {
    let m = read_manifest(&output.at("samples"), day)
        .await?
        .context("samples manifest vanished")?;
    let e = read_manifest(&output.at("exposure_samples"), day)
        .await?
        .context("exposure_samples manifest vanished")?;
    let count = |m: &PartitionManifest, key: &str| -> Result<u64> {
        m.checks
            .get(key)
            .and_then(serde_json::Value::as_u64)
            .with_context(|| format!("samples of {day}: the manifest has no count `{key}`"))
    };
    let day = LabelDay {
        dt: day,
        status,
        rows: m.rows,
        positives: count(&m, "counts.positives")?,
        negatives: count(&m, "counts.negatives")?,
        dropped_band: count(&m, "counts.dropped_band")?,
        exposure_rows: e.rows,
        exposure_clicks: count(&m, "counts.exposure_clicks")?,
        run_id: m.run_id.clone(),
    };
    tracing::info!(dt = %day.dt, rows = day.rows, positives = day.positives, dropped = day.dropped_band, "label day ready");
    Ok(day)
}

/// Column list, per-feature null and zero rates, and positives over the set's samples.
async fn describe(
    output: &Storage,
    days: &[NaiveDate],
    engine: &EngineOptions,
) -> Result<(Vec<ColumnEntry>, Vec<FeatureStats>, u64)> {
    let ctx = engine::new_context(engine).await?;
    ctx.register_object_store(&output.loc.store_url(), output.store.clone());
    let paths: Vec<String> = days
        .iter()
        .map(|d| {
            output
                .at("samples")
                .at(&layout::partition(*d))
                .loc
                .dir_url()
        })
        .collect();
    let df = ctx
        .read_parquet(paths, ParquetReadOptions::default())
        .await
        .context("reading the training set's samples")?;
    let schema = df.schema().as_arrow().clone();
    let features: Vec<_> = schema
        .fields()
        .iter()
        .filter(|f| !FEATURE_SKIP.contains(&f.name().as_str()))
        .cloned()
        .collect();
    let mut aggs: Vec<Expr> = vec![
        count(lit(1)).alias("__rows"),
        sum(col("label")).alias("__pos"),
    ];
    for (i, f) in features.iter().enumerate() {
        let c = datafusion::logical_expr::ident(f.name());
        aggs.push(
            sum(when(c.clone().is_null(), lit(1i64)).otherwise(lit(0i64))?).alias(format!("n{i}")),
        );
        if f.data_type().is_numeric() {
            aggs.push(
                sum(when(c.eq(lit(0)), lit(1i64)).otherwise(lit(0i64))?).alias(format!("z{i}")),
            );
        }
    }
    let batches = df.aggregate(vec![], aggs)?.collect().await?;
    let batch = batches.first().context("no aggregate row")?;
    let get = |name: &str| -> f64 {
        batch
            .column_by_name(name)
            .and_then(|c| datafusion::common::ScalarValue::try_from_array(c, 0).ok())
            .and_then(|v| match v {
                datafusion::common::ScalarValue::Int64(Some(x)) => Some(x as f64),
                _ => None,
            })
            .unwrap_or(0.0)
    };
    let rows = get("__rows").max(1.0);
    let stats = features
        .iter()
        .enumerate()
        .map(|(i, f)| FeatureStats {
            name: f.name().clone(),
            data_type: f.data_type().to_string(),
            null_rate: get(&format!("n{i}")) / rows,
            zero_rate: f
                .data_type()
                .is_numeric()
                .then(|| get(&format!("z{i}")) / rows),
        })
        .collect();
    Ok((schema_entries(&schema), stats, get("__pos") as u64))
}
