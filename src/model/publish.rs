//! Versioned model folders and the LATEST pointer:
//! `<out>/models/<model>/<version>/` holds model.json, metrics.json, report.html,
//! validation_predictions.parquet and manifest.json (sha256 of every other file); the folder
//! is written under `_staging/` and renamed into place whole. `LATEST` names the published
//! version and is replaced in one atomic write, only when the gate passes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::artifact::ModelArtifact;
use crate::storage::Storage;

pub const MANIFEST: &str = "manifest.json";
pub const MODEL: &str = "model.json";
pub const METRICS: &str = "metrics.json";
pub const LATEST: &str = "LATEST";

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
    pub inputs: Vec<serde_json::Value>,
    pub gate: serde_json::Value,
    pub liverec_version: String,
    pub run_id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// sha256 (hex) of every other file of the folder.
    pub files: BTreeMap<String, String>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Local folder of a storage location; model folders are committed by directory rename.
fn local(dir: &Storage) -> Result<PathBuf> {
    dir.loc.local_path().with_context(|| {
        format!(
            "{}: publishing models is supported on local paths only so far (S3 commit protocol pending)",
            dir.loc
        )
    })
}

/// Writes the files and the manifest into `models/<model>/_staging/<version>` and renames
/// the folder to `models/<model>/<version>`.
pub fn commit_version(
    model_dir: &Storage,
    version: &str,
    files: &[(&str, Vec<u8>)],
    mut manifest: ModelManifest,
) -> Result<PathBuf> {
    let root = local(model_dir)?;
    let staged = root.join("_staging").join(version);
    std::fs::create_dir_all(&staged)
        .with_context(|| format!("cannot create {}", staged.display()))?;
    for (name, bytes) in files {
        std::fs::write(staged.join(name), bytes)
            .with_context(|| format!("cannot write {}", staged.join(name).display()))?;
        manifest.files.insert(name.to_string(), sha256_hex(bytes));
    }
    std::fs::write(staged.join(MANIFEST), serde_json::to_vec_pretty(&manifest)?)
        .with_context(|| format!("cannot write {}", staged.join(MANIFEST).display()))?;
    let target = root.join(version);
    crate::writer::commit_new_dir(&staged, &target)?;
    Ok(target)
}

/// The version LATEST names, if any.
pub fn latest(model_dir: &Storage) -> Result<Option<String>> {
    read_latest(&local(model_dir)?.join(LATEST))
}

/// The version a LATEST file names, checked to be a plain folder name.
fn read_latest(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let v = text.trim().to_string();
            if v.is_empty() || v.contains('/') || v.starts_with('.') {
                bail!("{}: not a version name: {v:?}", path.display());
            }
            Ok(Some(v))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Points LATEST at `version` (temp file + rename: readers see the old or the new name).
pub fn set_latest(model_dir: &Storage, version: &str) -> Result<()> {
    let root = local(model_dir)?;
    let tmp = root.join(format!(".{LATEST}.{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&tmp, format!("{version}\n"))
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).ok();
    std::fs::rename(&tmp, root.join(LATEST))
        .with_context(|| format!("cannot update {}", root.join(LATEST).display()))?;
    std::fs::File::open(&root).and_then(|f| f.sync_all()).ok();
    Ok(())
}

/// A model folder given by the user: a version folder (with model.json) or a model's folder
/// (with LATEST).
pub fn resolve(dir: &Path) -> Result<PathBuf> {
    if dir.join(MODEL).exists() {
        return Ok(dir.to_path_buf());
    }
    if let Some(version) = read_latest(&dir.join(LATEST))? {
        return Ok(dir.join(version));
    }
    bail!(
        "{}: neither a model version folder (model.json) nor a model folder (LATEST)",
        dir.display()
    )
}

/// Reads and verifies a version folder: every file listed in the manifest must match its
/// sha256; returns the parsed model and manifest.
pub fn load_verified(version_dir: &Path) -> Result<(ModelArtifact, ModelManifest)> {
    let manifest_path = version_dir.join(MANIFEST);
    let bytes = std::fs::read(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let manifest: ModelManifest = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{}: not a valid model manifest (corrupted?)",
            manifest_path.display()
        )
    })?;
    if !manifest.files.contains_key(MODEL) {
        bail!("{}: lists no {MODEL}", manifest_path.display());
    }
    for (name, want) in &manifest.files {
        let path = version_dir.join(name);
        let data =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let got = sha256_hex(&data);
        if &got != want {
            bail!(
                "checksum error: {} has sha256 {got}, the manifest says {want}; the artifact is corrupted or was modified",
                path.display()
            );
        }
    }
    let model_path = version_dir.join(MODEL);
    let model: ModelArtifact = serde_json::from_slice(&std::fs::read(&model_path)?)
        .with_context(|| format!("{}: not a valid model", model_path.display()))?;
    Ok((model, manifest))
}
