//! The manifest committed last into every output partition (`_manifest.json`): what was
//! written, from which inputs, with which parameters and code version. Written by the
//! writer, read by every reader of liverec's tables (lineage, reuse, the S3 visibility rule).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use arrow::datatypes::Schema;
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};

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
    /// Each partition of the window with data files when the run listed it (read or not: a
    /// snapshot input reads only the newest, an empty day none), with a digest of its files
    /// (`storage::files_digest`): the outputs are current while the window still lists the
    /// same. Absent in manifests written before liverec recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed: Option<BTreeMap<NaiveDate, String>>,
    /// Row-level data quality over the partitions read (input tables only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<super::quality::InputQuality>,
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
    /// Object stores: data files of earlier versions that this one replaced. They stay for
    /// the retention period after `replaced_at`, so a reader that read the earlier manifest
    /// can finish; `liverec cleanup` removes them afterwards (docs/storage.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaced: Vec<ReplacedFile>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReplacedFile {
    pub name: String,
    pub replaced_at: chrono::DateTime<Utc>,
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
