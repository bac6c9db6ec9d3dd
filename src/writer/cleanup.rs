//! `liverec cleanup`: removes what no reader sees and no finished run needs under an output
//! root — staging data and (object stores) data files no manifest lists.

use std::path::Path;

use anyhow::{Context, Result};
use object_store::ObjectStoreExt;

use crate::layout;
use crate::storage::{Storage, committed};

/// What `liverec cleanup` found.
#[derive(Debug, Default)]
pub struct Cleanup {
    /// Objects removed from `_staging/` directories (abandoned local partitions, model
    /// folders, a cluster run's materialized views).
    pub staging: usize,
    /// Run-stamped data files no manifest lists (object stores: a run that failed or was
    /// killed before its commit, or a replaced version whose deletion failed).
    pub unreferenced: usize,
    /// Data files of a replaced version whose retention period had passed.
    pub replaced: usize,
    /// Local disk: hidden upload files (`<name>#<n>`) outside `_staging/`, left by a kill
    /// during a direct put (a run's JSON output, workflow state, a model's `LATEST`).
    pub uploads: usize,
    /// Such objects younger than the minimum age, left for a run that may still be writing,
    /// and replaced files still in their retention period, left for readers of the old
    /// version.
    pub recent: usize,
}

/// How long what `liverec cleanup` may remove must have been left alone.
#[derive(Clone, Copy, Debug)]
pub struct Ages {
    /// Staging objects and files no manifest lists: since they were last written.
    pub min_age: chrono::Duration,
    /// Files a commit replaced (object stores): since they were replaced.
    pub retention: chrono::Duration,
}

/// Removes what no reader sees and no finished run needs under an output root: everything
/// under `_staging/` directories and run-stamped data files that their partition's manifest
/// does not list — only objects older than `min_age`, so a run in progress keeps its files —
/// and files of replaced versions once their retention period has passed (as Delta Lake's
/// vacuum does), so a reader of the old version can finish.
pub async fn cleanup(root: &Storage, ages: Ages) -> Result<Cleanup> {
    use futures::TryStreamExt;
    let raw = root.unfiltered();
    let prefix = raw.loc.store_path();
    let objects: Vec<object_store::ObjectMeta> =
        match raw.store.list(Some(&prefix)).try_collect().await {
            Ok(objects) => objects,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", raw.loc)),
        };
    let now = chrono::Utc::now();
    let cutoff = now - ages.min_age;
    let mut listed: std::collections::HashMap<String, Option<committed::ManifestFiles>> =
        Default::default();
    let mut report = Cleanup::default();
    for o in objects {
        let rel = o
            .location
            .as_ref()
            .strip_prefix(prefix.as_ref())
            .unwrap_or_default();
        let staged = rel.split('/').any(|segment| segment == layout::STAGING);
        let name = o.location.filename().unwrap_or_default().to_string();
        let mut replaced_at = None;
        let unreferenced = !staged && committed::is_run_stamped(&name) && {
            let dir = committed::parent(&o.location);
            if !listed.contains_key(&dir) {
                let files = match committed::manifest_files(&raw.store, &dir).await {
                    Ok(files) => Some(files),
                    Err(object_store::Error::NotFound { .. }) => None,
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("cannot read the manifest of {dir}"));
                    }
                };
                listed.insert(dir.clone(), files);
            }
            let files = listed[&dir].as_ref();
            replaced_at = files.and_then(|f| f.replaced.get(&name).copied());
            !files.is_some_and(|f| f.live.contains(&name))
        };
        if !(staged || unreferenced) {
            continue;
        }
        let keep = match replaced_at {
            Some(at) => now - at < ages.retention,
            None => o.last_modified > cutoff,
        };
        if keep {
            report.recent += 1;
            continue;
        }
        match raw.store.delete(&o.location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e).with_context(|| format!("cannot delete {}", o.location)),
        }
        if staged {
            report.staging += 1;
        } else if replaced_at.is_some() {
            report.replaced += 1;
        } else {
            report.unreferenced += 1;
        }
    }
    if let Some(path) = raw.loc.local_path() {
        let (staging, uploads) = remove_local_leftovers(&path, cutoff);
        report.staging += staging;
        report.uploads += uploads;
    }
    Ok(report)
}

/// Local disk: removes what is left under each `_staging/` once the listed objects are
/// handled — files the object store does not list (a put cut off by a kill leaves its
/// `<name>#<n>` upload file, which `LocalFileSystem` hides) older than `cutoff` — and the
/// directories left empty; elsewhere, only such upload files. Returns the files removed
/// under staging and the upload files removed elsewhere.
fn remove_local_leftovers(dir: &Path, cutoff: chrono::DateTime<chrono::Utc>) -> (usize, usize) {
    fn prune(dir: &Path, cutoff: chrono::DateTime<chrono::Utc>, removed: &mut usize) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        let mut empty = true;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                empty &= prune(&path, cutoff, removed);
                continue;
            }
            if older_than(&entry, cutoff) && std::fs::remove_file(&path).is_ok() {
                *removed += 1;
            } else {
                empty = false;
            }
        }
        empty && std::fs::remove_dir(dir).is_ok()
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    let (mut staging, mut uploads) = (0, 0);
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            if is_upload_file(&entry.file_name().to_string_lossy())
                && older_than(&entry, cutoff)
                && std::fs::remove_file(&path).is_ok()
            {
                uploads += 1;
            }
            continue;
        }
        if path.file_name().is_some_and(|n| n == layout::STAGING) {
            prune(&path, cutoff, &mut staging);
        } else {
            let (s, u) = remove_local_leftovers(&path, cutoff);
            staging += s;
            uploads += u;
        }
    }
    (staging, uploads)
}

fn older_than(entry: &std::fs::DirEntry, cutoff: chrono::DateTime<chrono::Utc>) -> bool {
    entry
        .metadata()
        .and_then(|m| m.modified())
        .is_ok_and(|t| chrono::DateTime::<chrono::Utc>::from(t) <= cutoff)
}

/// `LocalFileSystem`'s name for a put in progress: the target's name, `#` and a number.
/// liverec never names a file with a `#` itself.
fn is_upload_file(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(base, n)| {
        !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::is_upload_file;

    #[test]
    fn only_a_name_hash_number_is_an_upload_file() {
        assert!(is_upload_file("_manifest.json#1"));
        assert!(is_upload_file("LATEST#12"));
        assert!(!is_upload_file("_manifest.json"));
        assert!(!is_upload_file("#1"));
        assert!(!is_upload_file("notes#draft"));
        assert!(!is_upload_file("a#"));
    }
}
