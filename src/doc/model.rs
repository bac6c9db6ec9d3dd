//! The documents of a model version folder (docs/artifacts.md): `manifest.json` (what the
//! version is, what it was trained on, the gate, a sha256 of every other file) and
//! `metrics.json` (validation figures, curves, importance, the gate), written by the trainer
//! and read by the gate of the next run, the workflow report and serving.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelManifest {
    pub model_type: String,
    pub version: String,
    pub training_end: chrono::NaiveDate,
    pub train_days: Vec<chrono::NaiveDate>,
    pub validation_day: chrono::NaiveDate,
    pub train_rows: u64,
    pub train_positives: u64,
    pub validation_rows: u64,
    pub validation_positives: u64,
    /// Share of the training set's rows used (deterministic, seeded); 1 = all.
    pub train_sample_rate: f64,
    pub params: BTreeMap<String, serde_json::Value>,
    /// Sample partitions read, with the run that wrote each.
    pub inputs: Vec<SampleInput>,
    pub gate: Gate,
    pub liverec_version: String,
    pub run_id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// sha256 (hex) of every other file of the folder.
    pub files: BTreeMap<String, String>,
}

/// One samples partition a model read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleInput {
    pub table: String,
    pub dt: NaiveDate,
    /// The run that committed the partition (None: it had no manifest).
    pub run_id: Option<String>,
    pub rows: Option<u64>,
}

/// The publication decision: the new model (challenger) against the published one
/// (champion) measured on the same validation rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    pub passed: bool,
    /// One line: why it passed or failed.
    pub reason: String,
    pub min_auc: f64,
    pub max_auc_drop: f64,
    /// The version LATEST named when the gate ran.
    pub previous_version: Option<String>,
    /// The champion scored on the challenger's validation rows, when LATEST could be one.
    pub champion: Option<ChampionEval>,
    /// Why there was no champion to compare with (then the gate is `min_auc` alone).
    pub champion_note: Option<String>,
}

/// The published model scored (with the serving scorer) on the challenger's validation rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChampionEval {
    pub version: String,
    pub validation: Metrics,
    pub curves: Curves,
}

/// `metrics.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMetrics {
    pub model: String,
    pub version: String,
    pub validation_day: NaiveDate,
    pub train_days: Vec<NaiveDate>,
    pub validation: Metrics,
    pub train: Metrics,
    /// Every exposure of the validation day (watch-sample models only).
    pub exposure_validation: Option<Metrics>,
    /// Importances (GBDT) or coefficients (LR), largest first.
    pub importance: Vec<Weight>,
    pub recalibration: Recalibration,
    pub curves: Curves,
    pub train_sample_rate: f64,
    pub read_seconds: f64,
    pub train_seconds: f64,
    pub gate: Gate,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Weight {
    pub name: String,
    pub value: f64,
}

/// How downsampled negatives are corrected for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recalibration {
    pub method: String,
    pub negative_weight: f64,
    pub logit_offset: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub rows: u64,
    pub positives: u64,
    /// Weighted share of positives.
    #[serde(with = "super::nan_as_null")]
    pub positive_rate: f64,
    #[serde(with = "super::nan_as_null")]
    pub auc: f64,
    #[serde(with = "super::nan_as_null")]
    pub log_loss: f64,
    /// Log loss divided by the entropy of the background positive rate (< 1 is better
    /// than predicting the average).
    #[serde(with = "super::nan_as_null")]
    pub normalized_entropy: f64,
    /// Mean predicted / observed positive rate (1 is calibrated).
    #[serde(with = "super::nan_as_null")]
    pub calibration: f64,
    #[serde(with = "super::nan_as_null")]
    pub mean_prediction: f64,
}

/// ROC curve points (false positive rate, true positive rate), at most ~`max_points`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Curves {
    pub roc: Vec<(f64, f64)>,
    /// Per bin of predictions (equal weight): (mean predicted, observed rate, weight).
    pub calibration_bins: Vec<(f64, f64, f64)>,
}
