//! The documents of a new model version folder — model.json, model.onnx, model.xgb.json
//! (models with trees), metrics.json, report.html, validation predictions and the manifest — committed
//! whole.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::Utc;

use super::{Evaluation, Frames, Settings};
use crate::doc::model::{Gate, ModelManifest, ModelMetrics, Recalibration, SampleInput, Weight};
use crate::doc::training_set::TrainingSetManifest;
use crate::layout;
use crate::model::artifact::ModelType;
use crate::model::fit::{self, FitSpec, Fitted};
use crate::model::report::{self, ReportInput};
use crate::model::{onnx, publish, xgboost};
use crate::params::{self, Params};
use crate::storage::{Location, Storage};
use crate::version::LIVEREC_VERSION;
use crate::writer::read_manifest;

/// Everything a version folder is made of.
pub(super) struct Version<'a> {
    pub model_dir: &'a Storage,
    pub version: &'a str,
    pub run_id: &'a str,
    pub spec: &'a FitSpec,
    pub settings: &'a Settings,
    pub params: &'a Params,
    pub set: &'a TrainingSetManifest,
    /// The samples table read.
    pub table: &'a Storage,
    pub fitted: &'a Fitted,
    pub frames: &'a Frames,
    pub evaluation: &'a Evaluation,
    pub gate: &'a Gate,
    /// (negative weight, logit offset).
    pub recalibration: (f64, f64),
    pub train_seconds: f64,
}

/// Writes the version folder (never over an existing one); returns where it is.
pub(super) async fn commit(v: Version<'_>) -> Result<Location> {
    let metrics = metrics(&v);
    let html = report_html(&v)?;
    let predictions =
        fit::predictions_parquet(&v.frames.validation, &v.evaluation.validation_predictions)?;
    let manifest = manifest(&v).await?;
    let mut files = vec![
        (
            layout::MODEL,
            serde_json::to_vec_pretty(&v.fitted.artifact)?,
        ),
        (layout::METRICS, serde_json::to_vec_pretty(&metrics)?),
        (layout::REPORT, html.into_bytes()),
        (layout::VALIDATION_PREDICTIONS, predictions),
    ];
    files.push((onnx::ONNX_MODEL, onnx::export(&v.fitted.artifact)?));
    if let Some(trees) = xgboost::export(&v.fitted.artifact)? {
        files.push((xgboost::XGBOOST_MODEL, serde_json::to_vec(&trees)?));
    }
    publish::commit_version(v.model_dir, v.version, &files, manifest).await
}

fn metrics(v: &Version<'_>) -> ModelMetrics {
    let e = v.evaluation;
    ModelMetrics {
        model: v.spec.model.name().into(),
        version: v.version.into(),
        validation_day: v.set.validation_day,
        train_days: v.set.train_days.clone(),
        validation: e.validation.clone(),
        train: e.train.clone(),
        exposure_validation: e.exposures.clone(),
        importance: v
            .fitted
            .weights
            .iter()
            .map(|(name, value)| Weight {
                name: name.clone(),
                value: *value,
            })
            .collect(),
        recalibration: Recalibration {
            method: "trained unweighted on the kept rows; log-odds shifted by logit_offset = -ln(negative weight)".into(),
            negative_weight: v.recalibration.0,
            logit_offset: v.recalibration.1,
        },
        curves: e.curves.clone(),
        train_sample_rate: v.frames.rate,
        read_seconds: v.frames.read_seconds,
        train_seconds: v.train_seconds,
        gate: v.gate.clone(),
    }
}

fn report_html(v: &Version<'_>) -> Result<String> {
    let e = v.evaluation;
    let train_days = &v.set.train_days;
    let mut metric_rows = vec![
        ("validation".to_string(), &e.validation),
        ("train".to_string(), &e.train),
    ];
    if let Some(m) = &e.exposures {
        // A model of "long watch given a watch" ranks exposures but is not calibrated on them.
        metric_rows.push((
            "all exposures of the validation day (watch30; ranking only)".into(),
            m,
        ));
    }
    report::render(&ReportInput {
        title: format!("liverec {} model {}", v.spec.model.name(), v.version),
        facts: vec![
            ("model".into(), v.spec.model.name().into()),
            ("version".into(), v.version.into()),
            (
                "training days".into(),
                format!(
                    "{} … {} ({} days)",
                    train_days[0],
                    train_days[train_days.len() - 1],
                    train_days.len()
                ),
            ),
            ("validation day".into(), v.set.validation_day.to_string()),
            ("sample table".into(), v.settings.sample_table.clone()),
            (
                "training rows used".into(),
                format!(
                    "{} (sample rate {:.4})",
                    v.frames.train.rows(),
                    v.frames.rate
                ),
            ),
            ("training time".into(), format!("{:.1} s", v.train_seconds)),
            ("logit offset".into(), format!("{:.6}", v.recalibration.1)),
        ],
        metrics: metric_rows,
        curves: &e.curves,
        champion: v
            .gate
            .champion
            .as_ref()
            .map(|c| (c.version.clone(), &c.validation, &c.curves)),
        gate: v.gate.reason.clone(),
        weights_heading: match v.spec.model {
            ModelType::Lr => "Coefficients (standardized inputs), by |weight|".into(),
            ModelType::Fm => {
                "Linear weights (standardized inputs; the pairwise factor vectors are in model.json), by |weight|".into()
            }
            _ => "Feature importance (share of total split gain)".into(),
        },
        weights: v.fitted.weights.iter().take(40).cloned().collect(),
    })
}

async fn manifest(v: &Version<'_>) -> Result<ModelManifest> {
    let mut inputs = Vec::new();
    for day in v.set.train_days.iter().chain([&v.set.validation_day]) {
        let m = read_manifest(v.table, *day).await?;
        inputs.push(SampleInput {
            table: v.settings.sample_table.clone(),
            dt: *day,
            run_id: m.as_ref().map(|m| m.run_id.clone()),
            rows: m.as_ref().map(|m| m.rows),
        });
    }
    let (train, valid) = (&v.frames.train, &v.frames.validation);
    Ok(ModelManifest {
        model_type: v.spec.model.name().into(),
        version: v.version.into(),
        training_end: v.set.end,
        train_days: v.set.train_days.clone(),
        validation_day: v.set.validation_day,
        train_rows: train.rows() as u64,
        train_positives: train.positives(),
        validation_rows: valid.rows() as u64,
        validation_positives: valid.positives(),
        train_sample_rate: v.frames.rate,
        params: params::to_json(v.params),
        inputs,
        gate: v.gate.clone(),
        liverec_version: LIVEREC_VERSION.into(),
        run_id: v.run_id.into(),
        created_at: Utc::now(),
        files: BTreeMap::new(),
    })
}
