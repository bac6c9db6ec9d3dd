//! The declarative project files — `jobs/`, `sql/`, `workflows/` — embedded at build time.
//! Setting `LIVEREC_HOME` to a directory holding the same layout reads them from disk instead
//! (edit a query or a job file and rerun, no rebuild).

use anyhow::{Context, Result, bail};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/project_files.rs"));
}

fn home() -> Option<std::path::PathBuf> {
    std::env::var_os("LIVEREC_HOME").map(Into::into)
}

/// Reads a project file by its path relative to the project root, e.g. `sql/heat/heat.sql`.
pub fn read(rel: &str) -> Result<String> {
    if rel.split('/').any(|seg| seg == ".." || seg.is_empty()) {
        bail!("invalid project path {rel:?}");
    }
    if let Some(home) = home() {
        let path = home.join(rel);
        return std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()));
    }
    embedded::FILES
        .iter()
        .find(|(p, _)| *p == rel)
        .map(|(_, text)| text.to_string())
        .with_context(|| format!("no project file {rel}"))
}

/// Refuses a job or workflow name that is not a plain file name (letters, digits, `_`, `-`).
pub fn check_name(kind: &str, name: &str) -> Result<()> {
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        bail!("invalid {kind} name {name:?}");
    }
    Ok(())
}

/// Names (without directory and extension) of the files directly in `dir` ending in `ext`.
pub fn list(dir: &str, ext: &str) -> Vec<String> {
    let mut names: Vec<String> = if let Some(home) = home() {
        std::fs::read_dir(home.join(dir))
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        embedded::FILES
            .iter()
            .filter_map(|(p, _)| p.strip_prefix(dir))
            .filter(|rest| !rest.contains('/'))
            .map(str::to_string)
            .collect()
    };
    names.retain(|n| n.ends_with(ext));
    for n in &mut names {
        n.truncate(n.len() - ext.len());
    }
    names.sort();
    names
}

/// A hash of the project files in use (embedded, or under `LIVEREC_HOME`) and the liverec
/// version: part of a workflow task's fingerprint, so a changed query or job file reruns.
pub fn code_version() -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(crate::version::LIVEREC_VERSION.as_bytes());
    for (path, text) in embedded::FILES {
        // With LIVEREC_HOME the files read are the edited copies.
        let text = if home().is_some() {
            read(path).unwrap_or_default()
        } else {
            text.to_string()
        };
        h.update(path.as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..8])
}
