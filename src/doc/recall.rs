//! A row of the recall evaluation (`recall_metrics` and `metrics/recall/dt=D.json`, from
//! `sql/recall/eval.sql`), as the workflow report reads it.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecallRow {
    /// Which anchors count as relevant (e.g. all watched, or new ones only).
    pub target: String,
    pub channel: String,
    pub k: i64,
    pub users: i64,
    #[serde(default = "super::nan", with = "super::nan_as_null")]
    pub hr: f64,
    #[serde(default = "super::nan", with = "super::nan_as_null")]
    pub recall: f64,
    #[serde(default = "super::nan", with = "super::nan_as_null")]
    pub ndcg: f64,
    #[serde(default = "super::nan", with = "super::nan_as_null")]
    pub coverage: f64,
}
