//! Checksums of a model version folder: `manifest.json` lists the sha256 of every other file;
//! a reader verifies each before trusting any, so a changed byte is refused by name.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::ModelArtifact;

/// The file names of a version folder this crate reads.
pub const MANIFEST: &str = "manifest.json";
pub const MODEL: &str = "model.json";

/// What a scorer reads of `manifest.json`: the sha256 (hex) of every other file. liverec's
/// own manifest type (with provenance and the gate) writes this field among others.
#[derive(Clone, Debug, Deserialize)]
pub struct ManifestChecksums {
    pub files: BTreeMap<String, String>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Fails unless `bytes` (read from `location`) have the sha256 the manifest lists.
pub fn check_checksum(location: &str, bytes: &[u8], want: &str) -> Result<()> {
    let got = sha256_hex(bytes);
    if got != want {
        bail!(
            "checksum error: {location} has sha256 {got}, the manifest says {want}; the artifact is corrupted or was modified"
        );
    }
    Ok(())
}

/// Reads a version folder on local disk: every file the manifest lists must match its
/// sha256, and model.json must be listed; returns the parsed model.
pub fn load_verified_dir(dir: &Path) -> Result<ModelArtifact> {
    let manifest_path = dir.join(MANIFEST);
    let bytes = std::fs::read(&manifest_path).with_context(|| {
        format!(
            "cannot read {}: not a committed model version",
            manifest_path.display()
        )
    })?;
    let manifest: ManifestChecksums = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{}: not a valid model manifest (corrupted?)",
            manifest_path.display()
        )
    })?;
    if !manifest.files.contains_key(MODEL) {
        bail!("{}: lists no {MODEL}", manifest_path.display());
    }
    let mut model = None;
    for (name, want) in &manifest.files {
        if name.contains(['/', '\\']) || name.starts_with('.') {
            bail!(
                "{}: lists {name:?}, not a file of the folder",
                manifest_path.display()
            );
        }
        let path = dir.join(name);
        let data =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        check_checksum(&path.display().to_string(), &data, want)?;
        if name == MODEL {
            model = Some(data);
        }
    }
    let path = dir.join(MODEL);
    serde_json::from_slice(&model.unwrap_or_default())
        .with_context(|| format!("{}: not a valid model", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(model: &[u8]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MODEL), model).unwrap();
        std::fs::write(dir.path().join("metrics.json"), b"{}").unwrap();
        let manifest = serde_json::json!({
            "version": "v",
            "files": {
                MODEL: sha256_hex(model),
                "metrics.json": sha256_hex(b"{}"),
            },
        });
        std::fs::write(dir.path().join(MANIFEST), manifest.to_string()).unwrap();
        dir
    }

    fn model_json() -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "format_version": 1,
            "model_type": "lr",
            "version": "v",
            "features": [{"name": "x", "kind": "numeric", "source_type": "Float64"}],
            "numeric_transforms": [{"feature": "x", "transform": "slog1p", "mean": 0.0, "std": 1.0}],
            "vocabularies": [],
            "linear": {"intercept": 0.5, "terms": [{"kind": "numeric", "feature": "x", "weight": 2.0}]},
            "logit_offset": 0.0,
            "scoring": "",
        }))
        .unwrap()
    }

    #[test]
    fn a_verified_folder_scores() {
        let dir = folder(&model_json());
        let scorer = crate::Scorer::new(load_verified_dir(dir.path()).unwrap()).unwrap();
        let p = scorer.probability(&crate::RowValues {
            numeric: &[1.0],
            categorical: &[],
        });
        let want = crate::sigmoid(0.5 + 2.0 * 2f64.ln());
        assert!((p - want).abs() < 1e-15, "{p} vs {want}");
    }

    #[test]
    fn a_changed_byte_is_refused_by_name() {
        let dir = folder(&model_json());
        std::fs::write(dir.path().join("metrics.json"), b"{ }").unwrap();
        let err = format!("{:#}", load_verified_dir(dir.path()).unwrap_err());
        assert!(
            err.starts_with("checksum error: ") && err.contains("metrics.json has sha256"),
            "{err}"
        );
    }

    #[test]
    fn a_manifest_without_the_model_or_naming_other_paths_is_refused() {
        let dir = folder(&model_json());
        let manifest = serde_json::json!({"files": {"metrics.json": sha256_hex(b"{}")}});
        std::fs::write(dir.path().join(MANIFEST), manifest.to_string()).unwrap();
        let err = format!("{:#}", load_verified_dir(dir.path()).unwrap_err());
        assert!(err.ends_with("lists no model.json"), "{err}");

        let manifest = serde_json::json!({"files": {MODEL: "00", "../x": "00"}});
        std::fs::write(dir.path().join(MANIFEST), manifest.to_string()).unwrap();
        let err = format!("{:#}", load_verified_dir(dir.path()).unwrap_err());
        assert!(err.contains("not a file of the folder"), "{err}");
    }
}
