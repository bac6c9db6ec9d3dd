//! Versioned model folders and the LATEST pointer:
//! `<out>/models/<model>/<version>/` holds model.json, metrics.json, report.html,
//! validation_predictions.parquet and manifest.json (sha256 of every other file), committed
//! whole (see [`commit_version`]). `LATEST` names the published version and is replaced in
//! one atomic, conditional write, only when the gate passes.

use anyhow::{Context, Result, bail};

use super::artifact::ModelArtifact;
use crate::storage::{Conditional, Location, Storage};

pub use crate::doc::model::ModelManifest;
pub use crate::layout::{LATEST, MANIFEST, METRICS, MODEL};

pub use liverec_artifact::{check_checksum, sha256_hex};

/// Writes a version folder `models/<model>/<version>/` whole, never over an existing one.
/// Local disk: files and manifest into `models/<model>/_staging/<version>`, then one rename.
/// Object stores: the files in place, then the manifest last with a create-only put — a
/// folder without manifest.json is not a version (readers verify it and refuse it).
pub async fn commit_version(
    model_dir: &Storage,
    version: &str,
    files: &[(&str, Vec<u8>)],
    mut manifest: ModelManifest,
) -> Result<Location> {
    for (name, bytes) in files {
        manifest.files.insert(name.to_string(), sha256_hex(bytes));
    }
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)?;
    let target = model_dir.at(version);
    let Some(root) = model_dir.loc.local_path() else {
        if target.exists(MANIFEST).await? {
            bail!(
                "{} exists already; versions are never overwritten",
                target.loc
            );
        }
        for (name, bytes) in files {
            target.write(name, bytes.clone().into()).await?;
        }
        if target
            .write_if(MANIFEST, manifest_bytes.into(), None)
            .await?
            == Conditional::Conflict
        {
            bail!("{} was committed by another run meanwhile", target.loc);
        }
        return Ok(target.loc);
    };
    let staged = root.join(crate::layout::staged_model_version(version));
    std::fs::create_dir_all(&staged)
        .with_context(|| format!("cannot create {}", staged.display()))?;
    for (name, bytes) in files {
        std::fs::write(staged.join(name), bytes)
            .with_context(|| format!("cannot write {}", staged.join(name).display()))?;
    }
    std::fs::write(staged.join(MANIFEST), manifest_bytes)
        .with_context(|| format!("cannot write {}", staged.join(MANIFEST).display()))?;
    crate::writer::commit_new_dir(&staged, &root.join(version))?;
    Ok(target.loc)
}

/// What LATEST names, with the version of the pointer object (for a conditional update).
pub struct Latest {
    pub version: Option<String>,
    pointer: Option<object_store::UpdateVersion>,
}

/// The version LATEST names, if any.
pub async fn latest(model_dir: &Storage) -> Result<Latest> {
    match model_dir.read_versioned(LATEST).await? {
        None => Ok(Latest {
            version: None,
            pointer: None,
        }),
        Some((bytes, pointer)) => Ok(Latest {
            version: Some(version_name(model_dir, &bytes)?),
            pointer: Some(pointer),
        }),
    }
}

/// The version a LATEST object names, checked to be a plain folder name.
fn version_name(model_dir: &Storage, bytes: &[u8]) -> Result<String> {
    let v = String::from_utf8_lossy(bytes).trim().to_string();
    if v.is_empty() || v.contains('/') || v.starts_with('.') {
        bail!("{}: not a version name: {v:?}", model_dir.at(LATEST).loc);
    }
    Ok(v)
}

/// Points LATEST at `version` in one write (readers see the old or the new name), only if
/// LATEST is still what `seen` read: a publish that raced another fails instead of
/// overwriting a pointer its gate never compared against.
pub async fn set_latest(model_dir: &Storage, version: &str, seen: &Latest) -> Result<()> {
    let body = bytes::Bytes::from(format!("{version}\n"));
    match model_dir
        .write_if(LATEST, body, seen.pointer.clone())
        .await?
    {
        Conditional::Written => Ok(()),
        Conditional::Conflict => bail!(
            "{} changed while this run was gating {version} (another publish?); LATEST left as the other run set it",
            model_dir.at(LATEST).loc
        ),
    }
}

/// A model folder given by the user: a version folder (with model.json) or a model's folder
/// (with LATEST).
pub async fn resolve(dir: &Storage) -> Result<Storage> {
    if dir.exists(MODEL).await? {
        return Ok(dir.clone());
    }
    if let Some(version) = latest(dir).await?.version {
        return Ok(dir.at(&version));
    }
    bail!(
        "{}: neither a model version folder (model.json) nor a model folder (LATEST)",
        dir.loc
    )
}

/// Reads and verifies a version folder: every file listed in the manifest must match its
/// sha256; returns the parsed model and manifest.
pub async fn load_verified(version_dir: &Storage) -> Result<(ModelArtifact, ModelManifest)> {
    let manifest_loc = version_dir.at(MANIFEST).loc;
    if !version_dir.exists(MANIFEST).await? {
        bail!("{manifest_loc} is missing: not a committed model version");
    }
    let bytes = version_dir.read(MANIFEST).await?;
    let manifest: ModelManifest = serde_json::from_slice(&bytes)
        .with_context(|| format!("{manifest_loc}: not a valid model manifest (corrupted?)"))?;
    if !manifest.files.contains_key(MODEL) {
        bail!("{manifest_loc}: lists no {MODEL}");
    }
    let mut model_bytes = None;
    for (name, want) in &manifest.files {
        let data = version_dir.read(name).await?;
        check_checksum(&version_dir.at(name).loc.to_string(), &data, want)?;
        if name == MODEL {
            model_bytes = Some(data);
        }
    }
    let model: ModelArtifact = serde_json::from_slice(&model_bytes.unwrap_or_default())
        .with_context(|| format!("{}: not a valid model", version_dir.at(MODEL).loc))?;
    Ok((model, manifest))
}
