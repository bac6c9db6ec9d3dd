//! Jobs implemented in Rust rather than SQL. `training_set` orchestrates the SQL jobs
//! `profiles` and `samples` over M label days and describes the result.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use chrono::{Days, NaiveDate, Utc};
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::prelude::{Expr, ParquetReadOptions, col, lit, when};
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use serde::Serialize;

use crate::job::JobSpec;
use crate::manifest::{ColumnEntry, LIVEREC_VERSION};
use crate::params::{ParamValue, Params};
use crate::runner::{OutputReport, RunReport, RunRequest, new_run_id, run_job_task};
use crate::storage::{Storage, partition_name};
use crate::writer::read_manifest;

pub const NAMES: &[&str] = &["training_set", "train", "quality"];

pub async fn run(name: &str, req: &RunRequest, params: &Params) -> Result<RunReport> {
    match name {
        "training_set" => training_set(req, params).await,
        "train" => crate::model::train::train(req, params).await,
        "quality" => quality(req, params).await,
        other => bail!("unknown builtin `{other}`"),
    }
}

#[derive(Debug, Serialize)]
struct DayEntry {
    dt: NaiveDate,
    status: &'static str,
    rows: u64,
    positives: serde_json::Value,
    negatives: serde_json::Value,
    dropped_band: serde_json::Value,
    exposure_rows: u64,
    exposure_clicks: serde_json::Value,
    run_id: String,
}

#[derive(Debug, Serialize)]
struct FeatureStats {
    name: String,
    #[serde(rename = "type")]
    data_type: String,
    null_rate: f64,
    zero_rate: Option<f64>,
}

#[derive(Debug, Serialize)]
struct TrainingSetManifest {
    end: NaiveDate,
    label_days: Vec<NaiveDate>,
    missing_days: Vec<NaiveDate>,
    train_days: Vec<NaiveDate>,
    validation_day: NaiveDate,
    days: Vec<DayEntry>,
    rows: u64,
    positives: u64,
    features: Vec<FeatureStats>,
    columns: Vec<ColumnEntry>,
    params: BTreeMap<String, serde_json::Value>,
    liverec_version: String,
    run_id: String,
    created_at: chrono::DateTime<Utc>,
}

/// Parameters passed on to a sub-job: those it declares, with this run's values.
fn pass_through(job: &JobSpec, params: &Params) -> Vec<(String, String)> {
    job.params
        .keys()
        .filter_map(|k| params.get(k).map(|v| (k.clone(), v.to_string())))
        .collect()
}

/// Whether a committed partition was built with the same values of the parameters it records.
async fn up_to_date(
    table: &Storage,
    day: NaiveDate,
    wanted: &[(String, String)],
    job: &JobSpec,
) -> Result<bool> {
    let Some(manifest) = read_manifest(table, day).await? else {
        return Ok(false);
    };
    for (k, text) in wanted {
        let value = job.params[k].parse_text(k, text)?;
        if manifest.params.get(k) != Some(&serde_json::to_value(&value)?) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Runs `profiles` and `samples` for one label day unless both are committed with the same
/// parameters (or `force`). Returns what was written, or None when reused.
async fn build_label_day(
    req: &RunRequest,
    day: NaiveDate,
    profile_args: &[(String, String)],
    sample_args: &[(String, String)],
    force: bool,
) -> Result<Option<Vec<OutputReport>>> {
    let profiles = JobSpec::load("profiles")?;
    let samples = JobSpec::load("samples")?;
    let output = Storage::open(req.output.clone())?;
    let reuse = !force
        && up_to_date(&output.at("samples"), day, sample_args, &samples).await?
        && up_to_date(&output.at("exposure_samples"), day, sample_args, &samples).await?
        && up_to_date(&output.at("user_profile"), day, profile_args, &profiles).await?;
    if reuse {
        return Ok(None);
    }
    let mut outputs = Vec::new();
    for (job, args) in [(&profiles, profile_args), (&samples, sample_args)] {
        let report = run_job_task(RunRequest {
            job: job.clone(),
            date: day,
            input: req.input.clone(),
            output: req.output.clone(),
            overrides: args.to_vec(),
            engine: req.engine.clone(),
        })
        .await
        .with_context(|| format!("building label day {day}"))?;
        outputs.extend(report.outputs);
    }
    Ok(Some(outputs))
}

/// Builds the label days, `parallel` at once, in order. Days are independent (each reads
/// its own windows; the data-quality check of an input day shared by two windows runs once,
/// under its lock), and one day's queries leave a core idle about a third of the time
/// (planning, the single-stream sorts and writes, commits), which a second day fills. Each
/// run gets its share of the memory pool. After a failure no new day starts, the days under
/// way finish (their commits stay whole), and the first error is returned.
async fn build_label_days(
    req: &RunRequest,
    days: &[NaiveDate],
    profile_args: &[(String, String)],
    sample_args: &[(String, String)],
    force: bool,
    parallel: usize,
) -> Result<Vec<Option<Vec<OutputReport>>>> {
    let mut sub = req.clone();
    if parallel > 1 && sub.engine.cluster.is_none() {
        sub.engine.memory_limit = Some(req.engine.memory_limit() / parallel as u64);
    }
    let (profile_args, sample_args) = (profile_args.to_vec(), sample_args.to_vec());
    let mut pending = days.iter().copied();
    let mut running = FuturesOrdered::new();
    let mut built = Vec::with_capacity(days.len());
    let mut failure: Option<anyhow::Error> = None;
    loop {
        while failure.is_none() && running.len() < parallel.max(1) {
            let Some(day) = pending.next() else { break };
            let (sub, pa, sa) = (sub.clone(), profile_args.clone(), sample_args.clone());
            // A task of its own, so the two days' plans are driven by different threads.
            running.push_back(tokio::spawn(async move {
                build_label_day(&sub, day, &pa, &sa, force).await
            }));
        }
        match running.next().await {
            Some(Ok(Ok(day))) => built.push(day),
            Some(Ok(Err(e))) => {
                failure.get_or_insert(e);
            }
            Some(Err(joined)) => {
                failure.get_or_insert(anyhow::anyhow!("building a label day failed: {joined}"));
            }
            None => break,
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(built),
    }
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
    let sample_args = only(&JobSpec::load("samples")?);
    Ok(
        build_label_day(req, day, &profile_args, &sample_args, force)
            .await?
            .unwrap_or_default(),
    )
}

const FEATURE_SKIP: &[&str] = &["user_id", "anchor_id", "label", "watch_s", "watch_cnt"];

async fn training_set(req: &RunRequest, params: &Params) -> Result<RunReport> {
    let int = |k: &str| params.get(k).and_then(ParamValue::as_int).unwrap_or(0);
    let (m, max_missing) = (int("label_days"), int("max_missing_days").max(0) as usize);
    let force = matches!(params.get("force"), Some(ParamValue::Bool(true)));
    let end = req.date;
    let first = end
        .checked_sub_days(Days::new(m as u64 - 1))
        .context("label window out of range")?;
    let label_days: Vec<NaiveDate> = first.iter_days().take(m as usize).collect();

    let profile_args = pass_through(&JobSpec::load("profiles")?, params);
    let sample_args = pass_through(&JobSpec::load("samples")?, params);
    let input = Storage::open(req.input.clone())?;
    let output = Storage::open(req.output.clone())?;
    let label_present = input.at("watches").list_partitions().await?;

    // Fail before building anything when too many label days are missing.
    let missing: Vec<NaiveDate> = label_days
        .iter()
        .copied()
        .filter(|d| !label_present.contains(d))
        .collect();
    if missing.len() > max_missing {
        let list: Vec<String> = missing.iter().map(|d| d.to_string()).collect();
        bail!(
            "training set ending {end}: {} label day(s) missing from the input ({}); max_missing_days = {max_missing}",
            missing.len(),
            list.join(", ")
        );
    }
    for day in &missing {
        tracing::warn!(dt = %day, "label day missing from the input");
    }
    let present: Vec<NaiveDate> = label_days
        .iter()
        .copied()
        .filter(|d| !missing.contains(d))
        .collect();
    let parallel = (int("parallel_days").max(1) as usize).min(present.len().max(1));
    let builds =
        build_label_days(req, &present, &profile_args, &sample_args, force, parallel).await?;
    let mut days = Vec::new();
    let mut outputs = Vec::new();
    for (day, built) in present.iter().zip(builds) {
        let reuse = built.is_none();
        outputs.extend(built.unwrap_or_default());
        let m = read_manifest(&output.at("samples"), *day)
            .await?
            .context("samples manifest vanished")?;
        let e = read_manifest(&output.at("exposure_samples"), *day)
            .await?
            .context("exposure_samples manifest vanished")?;
        let check = |k: &str| m.checks.get(k).cloned().unwrap_or_default();
        days.push(DayEntry {
            dt: *day,
            status: if reuse { "reused" } else { "built" },
            rows: m.rows,
            positives: check("counts.positives"),
            negatives: check("counts.negatives"),
            dropped_band: check("counts.dropped_band"),
            exposure_rows: e.rows,
            exposure_clicks: check("counts.exposure_clicks"),
            run_id: m.run_id.clone(),
        });
        tracing::info!(dt = %day, rows = m.rows, positives = %check("counts.positives"), dropped = %check("counts.dropped_band"), "label day ready");
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
    let validation_day = match params.get("validation") {
        Some(ParamValue::Str(s)) if s == "last_day" => end,
        _ => end + Days::new(1),
    };
    let run_id = new_run_id();
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
        params: crate::params::to_json(params),
        liverec_version: LIVEREC_VERSION.to_string(),
        run_id: run_id.clone(),
        created_at: Utc::now(),
    };
    let dir = output.at("training_sets").at(&format!("end={end}"));
    // A single object put is atomic on every store (temp file + rename on local disk).
    dir.write(
        "manifest.json",
        serde_json::to_vec_pretty(&manifest)?.into(),
    )
    .await?;
    tracing::info!(
        rows = manifest.rows,
        positives,
        "training set manifest {}",
        dir.at("manifest.json").loc
    );
    outputs.push(OutputReport {
        table: "training_set".into(),
        location: dir.at("manifest.json").loc.to_string(),
        rows: manifest.rows,
        files: 1,
    });
    Ok(RunReport {
        job: "training_set".into(),
        date: end,
        run_id,
        outputs,
        inputs: Vec::new(),
        checks: BTreeMap::new(),
        printed: Vec::new(),
    })
}

/// Column list, per-feature null and zero rates, and positives over the set's samples.
async fn describe(
    output: &Storage,
    days: &[NaiveDate],
    engine: &crate::engine::EngineOptions,
) -> Result<(Vec<ColumnEntry>, Vec<FeatureStats>, u64)> {
    let ctx = crate::engine::new_context(engine).await?;
    ctx.register_object_store(&output.loc.store_url(), output.store.clone());
    let paths: Vec<String> = days
        .iter()
        .map(|d| output.at("samples").at(&partition_name(*d)).loc.dir_url())
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
    Ok((
        crate::manifest::schema_entries(&schema),
        stats,
        get("__pos") as u64,
    ))
}

/// The `quality` job: checks every input table's partition of `--date` against the contract
/// and the row rules, recording the results the other jobs then reuse.
async fn quality(req: &RunRequest, params: &Params) -> Result<RunReport> {
    let qp = crate::quality::QualityParams::from_params(params)?;
    let ctx = crate::engine::new_context(&req.engine).await?;
    let input = Storage::open(req.input.clone())?;
    let output = Storage::open(req.output.clone())?;
    for root in [&input, &output] {
        ctx.register_object_store(&root.loc.store_url(), root.store.clone());
    }
    let tables = crate::quality::check_tables_of_day(
        &ctx,
        &input,
        &output,
        req.date,
        &qp,
        req.engine.cluster.is_some(),
    )
    .await?;
    let mut checks = BTreeMap::new();
    let mut lines = vec![format!(
        "{:<14} {:>10} {:>12} {:>10}  reasons",
        "table", "rows", "quarantined", "tolerated"
    )];
    for t in &tables {
        let Some(q) = &t.quality else {
            lines.push(format!("{:<14} {:>10}", t.table, "absent"));
            continue;
        };
        let reasons: Vec<String> = q
            .quarantined
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        lines.push(format!(
            "{:<14} {:>10} {:>12} {:>10}  {}",
            t.table,
            q.rows,
            q.bad(),
            q.tolerated.values().sum::<u64>(),
            reasons.join(" ")
        ));
        checks.insert(t.table.to_string(), serde_json::to_value(q)?);
    }
    Ok(RunReport {
        job: "quality".into(),
        date: req.date,
        run_id: new_run_id(),
        outputs: Vec::new(),
        inputs: Vec::new(),
        checks,
        printed: vec![lines.join("\n")],
    })
}
