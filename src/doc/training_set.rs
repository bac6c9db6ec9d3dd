//! `training_sets/end=E/manifest.json`: which label days a training set holds, which of them
//! train and which validates, per-day counts and per-feature coverage. Written by the
//! `training_set` job; read by `train` and the workflow report.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::partition::ColumnEntry;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingSetManifest {
    pub end: NaiveDate,
    pub label_days: Vec<NaiveDate>,
    pub missing_days: Vec<NaiveDate>,
    pub train_days: Vec<NaiveDate>,
    pub validation_day: NaiveDate,
    pub days: Vec<LabelDay>,
    pub rows: u64,
    pub positives: u64,
    pub features: Vec<FeatureStats>,
    pub columns: Vec<ColumnEntry>,
    pub params: BTreeMap<String, serde_json::Value>,
    pub liverec_version: String,
    pub run_id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Whether a label day was built by this run or reused as committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DayStatus {
    Built,
    Reused,
}

/// One label day: its samples and exposure samples as committed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelDay {
    pub dt: NaiveDate,
    pub status: DayStatus,
    pub rows: u64,
    pub positives: u64,
    pub negatives: u64,
    /// Pairs between the two label thresholds, left out.
    pub dropped_band: u64,
    pub exposure_rows: u64,
    pub exposure_clicks: u64,
    /// The run that committed the day's samples.
    pub run_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureStats {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    pub null_rate: f64,
    pub zero_rate: Option<f64>,
}

impl TrainingSetManifest {
    pub fn day(&self, dt: NaiveDate) -> Option<&LabelDay> {
        self.days.iter().find(|d| d.dt == dt)
    }
}
