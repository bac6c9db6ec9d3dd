//! The `train` job: read the training set ending at E (its manifest says which days train
//! and which day validates — never a random split), fit LR, GBDT or GBDT+LR, evaluate on the
//! validation day, write a versioned artifact, and move LATEST when the gate passes.

mod gate;
mod version;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use serde::Deserialize;

use crate::doc::model::Metrics;
use crate::doc::training_set::TrainingSetManifest;
use crate::engine;
use crate::layout;
use crate::model::FeatureList;
use crate::model::artifact::{ModelType, Scorer};
use crate::model::data::{self, Frame, ReadSpec};
use crate::model::fit::{self, FitSpec, Fitted};
use crate::model::fm::FmParams;
use crate::model::gbdt::GbdtParams;
use crate::model::metrics::{self, Curves};
use crate::model::publish;
use crate::params::{self, Params};
use crate::runner::{OutputReport, RunReport, RunRequest};
use crate::storage::{Storage, committed};
use crate::writer::read_manifest;

pub use gate::GateFailed;

/// The `train` job's parameters.
#[derive(Deserialize)]
struct Settings {
    model: String,
    sample_table: String,
    min_category_count: u64,
    l2: f64,
    lr_max_iter: u64,
    trees: usize,
    max_depth: usize,
    max_leaves: usize,
    learning_rate: f64,
    subsample: f64,
    min_child_weight: f64,
    nbins: u16,
    gbdt_lr_trees: usize,
    gbdt_lr_max_leaves: usize,
    gbdt_lr_max_depth: usize,
    fm_factors: usize,
    fm_learning_rate: f64,
    fm_l2: f64,
    fm_epochs: usize,
    max_train_rows: u64,
    train_seed: i64,
    min_auc: f64,
    max_auc_drop: f64,
}

impl Settings {
    fn fit_spec(&self, features: &FeatureList) -> Result<FitSpec> {
        let model = ModelType::parse(&self.model)?;
        // GBDT+LR's trees only encode rows as leaves: fewer and smaller (their own parameters).
        let (trees, max_depth, max_leaves) = if model == ModelType::GbdtLr {
            (
                self.gbdt_lr_trees,
                self.gbdt_lr_max_depth,
                self.gbdt_lr_max_leaves,
            )
        } else {
            (self.trees, self.max_depth, self.max_leaves)
        };
        Ok(FitSpec {
            model,
            features: features.clone(),
            min_category_count: self.min_category_count,
            l2: self.l2,
            lr_max_iter: self.lr_max_iter,
            gbdt: GbdtParams {
                trees,
                max_depth,
                max_leaves,
                learning_rate: self.learning_rate,
                subsample: self.subsample,
                min_child_weight: self.min_child_weight,
                nbins: self.nbins,
                seed: self.train_seed as u64,
            },
            fm: FmParams {
                factors: self.fm_factors,
                learning_rate: self.fm_learning_rate,
                l2: self.fm_l2,
                epochs: self.fm_epochs,
                seed: self.train_seed as u64,
            },
        })
    }

    /// The label (and weight column) of the chosen sample table.
    fn label(&self) -> (&'static str, Option<&'static str>) {
        match self.sample_table.as_str() {
            // Negatives are downsampled on `click`, so that is the label whose negatives all
            // carry one weight (watch30 negatives would mix kept clicks and sampled non-clicks).
            "exposure_samples" => ("click", Some("sample_weight")),
            _ => ("label", None),
        }
    }
}

/// The rows a model is trained and validated on, in memory.
struct Frames {
    train: Frame,
    validation: Frame,
    /// Share of the training days' rows kept (1 = all).
    rate: f64,
    /// Arrow type of each column of the samples (recorded with the features).
    types: BTreeMap<String, String>,
    read_seconds: f64,
}

/// What a fitted model scores on its training and validation rows.
struct Evaluation {
    train: Metrics,
    validation: Metrics,
    validation_predictions: Vec<f64>,
    curves: Curves,
    /// Every exposure of the validation day (label watch30), for watch-sample models.
    exposures: Option<Metrics>,
}

pub async fn run(req: &RunRequest, params: &Params) -> Result<RunReport> {
    let features = req
        .job
        .features
        .as_ref()
        .filter(|f| !f.numeric.is_empty() || !f.categorical.is_empty())
        .with_context(|| format!("job `{}` declares no [features]", req.job.name))?;
    let settings: Settings = params::settings(params)?;
    let spec = settings.fit_spec(features)?;
    let end = req.date;
    let output = Storage::open(req.output.clone())?;
    let set = read_training_set(&output, end).await?;
    let mut outputs = ensure_validation_day(req, &set).await?;

    let ctx = engine::new_context(&req.engine).await?;
    ctx.register_object_store(&output.loc.store_url(), output.store.clone());
    let table = output.at(&settings.sample_table);
    let frames = read_frames(&ctx, &table, &set, &settings, &spec, req).await?;
    let (w_neg, logit_offset) = recalibration(&frames.train, &settings.sample_table)?;
    tracing::info!(
        model = spec.model.name(),
        train_rows = frames.train.rows(),
        validation_rows = frames.validation.rows(),
        "training"
    );
    let run_id = committed::new_run_id();
    let version = format!("{end}-{run_id}");
    let frames = Arc::new(frames);
    let started = Instant::now();
    let fitted = blocking({
        let (spec, frames, version) = (spec.clone(), frames.clone(), version.clone());
        let defs = fit::feature_defs(features, &frames.types);
        move || {
            // Test hook: a fit that takes as long as asked, to show a deadline ends it.
            crate::fault::pause_blocking("fit");
            let mut fitted = fit::fit(&spec, &frames.train, defs, logit_offset)?;
            fitted.artifact.version = version;
            Ok::<_, anyhow::Error>(fitted)
        }
    })
    .await??;
    let train_seconds = started.elapsed().as_secs_f64();
    let fitted = Arc::new(fitted);
    let evaluation = evaluate(&ctx, &output, &fitted, &frames, &set, &settings, features).await?;

    let model_dir = output.at(&layout::model(spec.model.name()));
    let (gate, seen) = gate::decide(&gate::GateInput {
        ctx: &ctx,
        model_dir: &model_dir,
        table: &table,
        set: &set,
        frames: &frames,
        settings: &settings,
        validation: &evaluation.validation,
    })
    .await?;
    let folder = version::commit(version::Version {
        model_dir: &model_dir,
        version: &version,
        run_id: &run_id,
        spec: &spec,
        settings: &settings,
        params,
        set: &set,
        table: &table,
        fitted: &fitted,
        frames: &frames,
        evaluation: &evaluation,
        gate: &gate,
        recalibration: (w_neg, logit_offset),
        train_seconds,
    })
    .await?;
    tracing::info!(
        auc = evaluation.validation.auc,
        log_loss = evaluation.validation.log_loss,
        "model written to {folder}"
    );
    if !gate.passed {
        return Err(GateFailed(format!(
            "gate {}; version kept at {folder} for inspection, LATEST unchanged",
            gate.reason
        ))
        .into());
    }
    publish::set_latest(&model_dir, &version, &seen).await?;
    outputs.push(OutputReport {
        table: layout::model(spec.model.name()),
        location: folder.to_string(),
        rows: frames.train.rows() as u64,
        files: 5,
    });
    let printed = summary(
        spec.model,
        &version,
        &set,
        &frames,
        &evaluation,
        &gate.reason,
    );
    Ok(RunReport {
        job: req.job.name.clone(),
        date: end,
        run_id,
        outputs,
        inputs: Vec::new(),
        checks: BTreeMap::new(),
        printed: vec![printed],
    })
}

/// The manifest of the training set ending at `end`.
async fn read_training_set(output: &Storage, end: NaiveDate) -> Result<TrainingSetManifest> {
    let dir = output.at(&layout::training_set(end));
    let bytes = dir.read(layout::MANIFEST).await.with_context(|| {
        format!("no training set ending {end}: run `liverec run training_set --date {end}` first")
    })?;
    let set: TrainingSetManifest = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a training-set manifest", dir.loc))?;
    if set.end != end || set.train_days.is_empty() {
        bail!("{}: no training days", dir.loc);
    }
    Ok(set)
}

/// The validation day's samples: built here (profiles + samples) when missing, with the
/// training set's own parameters, so validation rows are defined exactly like training rows.
async fn ensure_validation_day(
    req: &RunRequest,
    set: &TrainingSetManifest,
) -> Result<Vec<OutputReport>> {
    let set_args: Vec<(String, String)> = set
        .params
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "date" | "label_days" | "validation" | "force"))
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect();
    super::training_set::ensure_label_day(req, set.validation_day, &set_args, false).await
}

/// The share of training rows that fits: `max_train_rows`, or the memory budget.
fn sample_rate(
    set: &TrainingSetManifest,
    settings: &Settings,
    spec: &FitSpec,
    req: &RunRequest,
) -> f64 {
    let total_rows: u64 = set
        .days
        .iter()
        .filter(|d| set.train_days.contains(&d.dt))
        .map(|d| {
            if settings.sample_table == "exposure_samples" {
                d.exposure_rows
            } else {
                d.rows
            }
        })
        .sum();
    let cap = if settings.max_train_rows > 0 {
        settings.max_train_rows
    } else {
        (req.engine.memory_limit() / fit::bytes_per_row(spec)).max(1)
    };
    if total_rows <= cap {
        return 1.0;
    }
    let rate = cap as f64 / total_rows as f64;
    tracing::warn!(
        total_rows,
        cap,
        rate,
        "training rows exceed the cap: downsampling deterministically (seed {})",
        settings.train_seed
    );
    rate
}

/// Reads the training days (downsampled to fit) and the validation day.
async fn read_frames(
    ctx: &SessionContext,
    table: &Storage,
    set: &TrainingSetManifest,
    settings: &Settings,
    spec: &FitSpec,
    req: &RunRequest,
) -> Result<Frames> {
    let rate = sample_rate(set, settings, spec, req);
    let (label, weight) = settings.label();
    let read = |rate: f64| ReadSpec {
        features: &spec.features,
        label,
        weight,
        rate,
        seed: settings.train_seed,
    };
    let started = Instant::now();
    let train = data::read_days(ctx, table, &set.train_days, &read(rate)).await?;
    let validation = data::read_days(ctx, table, &[set.validation_day], &read(1.0)).await?;
    let read_seconds = started.elapsed().as_secs_f64();
    if train.positives() == 0 || train.positives() == train.rows() as u64 {
        bail!(
            "training rows need both labels: {} rows, {} positive",
            train.rows(),
            train.positives()
        );
    }
    if validation.rows() == 0 {
        bail!(
            "validation day {} has no {} rows",
            set.validation_day,
            settings.sample_table
        );
    }
    let df = ctx
        .read_parquet(
            table
                .at(&layout::partition(set.validation_day))
                .loc
                .dir_url(),
            Default::default(),
        )
        .await?;
    let types = df
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().to_string()))
        .collect();
    Ok(Frames {
        train,
        validation,
        rate,
        types,
        read_seconds,
    })
}

/// The negative weight of downsampled rows and the log-odds shift that undoes it: trained
/// unweighted on the kept rows, then logit q = logit p - ln w.
fn recalibration(train: &Frame, table: &str) -> Result<(f64, f64)> {
    let w_neg = fit::negative_weight(train, table)?;
    let offset = if w_neg == 1.0 { 0.0 } else { -w_neg.ln() };
    Ok((w_neg, offset))
}

/// CPU-bound work (fitting, scoring) on a blocking thread, so the runtime's workers stay free
/// for timers and signals: a deadline or SIGTERM ends the run while a fit is under way
/// (the fitting libraries have no per-iteration hook to stop at; the thread ends with the
/// process, and a workflow runs each task as a process of its own).
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    Ok(tokio::task::spawn_blocking(work).await?)
}

/// Metrics on the training and validation rows, curves, and (watch-sample models) the AUC on
/// every exposure of the validation day.
async fn evaluate(
    ctx: &SessionContext,
    output: &Storage,
    fitted: &Arc<Fitted>,
    frames: &Arc<Frames>,
    set: &TrainingSetManifest,
    settings: &Settings,
    features: &FeatureList,
) -> Result<Evaluation> {
    let (train_pred, valid_pred) = blocking({
        let (fitted, frames) = (fitted.clone(), frames.clone());
        move || {
            (
                fitted.predict(&frames.train),
                fitted.predict(&frames.validation),
            )
        }
    })
    .await?;
    let (train, valid) = (&frames.train, &frames.validation);
    let exposures = if settings.sample_table == "samples"
        && read_manifest(&output.at("exposure_samples"), set.validation_day)
            .await?
            .is_some()
    {
        let f = data::read_days(
            ctx,
            &output.at("exposure_samples"),
            &[set.validation_day],
            &ReadSpec {
                features,
                label: "watch30",
                weight: Some("sample_weight"),
                rate: 1.0,
                seed: settings.train_seed,
            },
        )
        .await?;
        let scorer = Scorer::new(fitted.artifact.clone())?;
        let m = blocking(move || {
            let p = fit::score_frame(&scorer, &f);
            metrics::evaluate(&p, &f.label, &f.weight)
        })
        .await?;
        Some(m)
    } else {
        None
    };
    Ok(Evaluation {
        train: metrics::evaluate(&train_pred, &train.label, &train.weight),
        validation: metrics::evaluate(&valid_pred, &valid.label, &valid.weight),
        curves: metrics::curves(&valid_pred, &valid.label, &valid.weight, 200, 10),
        validation_predictions: valid_pred,
        exposures,
    })
}

/// The lines `liverec run train` prints.
fn summary(
    model: ModelType,
    version: &str,
    set: &TrainingSetManifest,
    frames: &Frames,
    e: &Evaluation,
    gate: &str,
) -> String {
    let v = &e.validation;
    let mut printed = format!(
        "{} {version}: validation {} AUC {:.4}  log loss {:.4}  NE {:.4}  calibration {:.3}  (train AUC {:.4}, {} rows)",
        model.name(),
        set.validation_day,
        v.auc,
        v.log_loss,
        v.normalized_entropy,
        v.calibration,
        e.train.auc,
        frames.train.rows()
    );
    if let Some(m) = &e.exposures {
        printed.push_str(&format!(
            "\n  exposures of {} (watch30): AUC {:.4}",
            set.validation_day, m.auc
        ));
    }
    printed.push_str(&format!("\n  gate {gate}; LATEST -> {version}"));
    printed
}
