//! The small manifest committed with every output partition (`_manifest.json`): what was
//! written, from which inputs, with which parameters and code version.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use arrow::datatypes::Schema;
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub const MANIFEST_FILE: &str = "_manifest.json";
pub const LIVEREC_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ColumnEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    pub nullable: bool,
}

/// One input table as read by a run: which partitions existed in its window and were read.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct InputEntry {
    pub table: String,
    pub location: String,
    pub window: [NaiveDate; 2],
    pub partitions: Vec<NaiveDate>,
    pub missing: Vec<NaiveDate>,
    /// Days whose partition exists but holds no rows (counted as missing).
    #[serde(default)]
    pub empty: Vec<NaiveDate>,
    pub files: usize,
    /// Row-level data quality over the partitions read (input tables only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<crate::quality::InputQuality>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PartitionManifest {
    pub table: String,
    pub dt: NaiveDate,
    pub job: String,
    pub run_id: String,
    pub liverec_version: String,
    pub created_at: chrono::DateTime<Utc>,
    pub rows: u64,
    pub files: Vec<FileEntry>,
    pub schema: Vec<ColumnEntry>,
    pub params: BTreeMap<String, serde_json::Value>,
    pub inputs: Vec<InputEntry>,
    /// Named counts from the job's checks (data-quality anomalies and the like).
    pub checks: BTreeMap<String, serde_json::Value>,
}

impl PartitionManifest {
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).context("cannot serialize manifest")
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).context("manifest is not valid JSON")
    }
}

pub fn schema_entries(schema: &Schema) -> Vec<ColumnEntry> {
    schema
        .fields()
        .iter()
        .map(|f| ColumnEntry {
            name: f.name().clone(),
            data_type: f.data_type().to_string(),
            nullable: f.is_nullable(),
        })
        .collect()
}
