//! What readers of an object store see: only committed data files.
//!
//! S3 has no rename, so a partition cannot be written aside and swapped in whole. There, the
//! writer puts each data file straight into the partition directory under a run-stamped name
//! (`part-00000.<run_id>.parquet`) and commits the partition by writing its `_manifest.json`
//! last (see `writer.rs`). [`CommittedView`] wraps the bucket's store so that every listing —
//! DataFusion's table scans on the client, the scheduler and the executors, and liverec's own
//! — shows, in a directory with a manifest, only the data files the manifest lists, and in a
//! directory without one, no run-stamped file (an unfinished first write). Files of the
//! platform's own input partitions carry no stamp and no manifest and stay visible.
//! Everything else (reads of named objects, puts, deletes) passes through unchanged.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use serde::Deserialize;

use crate::layout::PARTITION_MANIFEST as MANIFEST_FILE;

/// A new run id, `YYYYMMDDTHHMMSS-xxxxxxxx` (UTC start time and 8 random hex digits): what
/// run-stamped file names carry, and what manifests, ledgers and logs name a run by.
pub fn new_run_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S"),
        &id[..8]
    )
}

/// Whether a file name is a data file written by a liverec run on an object store:
/// `part-NNNNN.<run_id>.parquet` (written by the client) or `part-NNNNN-xxxxxxxx.<run_id>.parquet`
/// (written by an executor's attempt), with a run id from [`new_run_id`].
pub fn is_run_stamped(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix("part-")
        .and_then(|r| r.strip_suffix(".parquet"))
    else {
        return false;
    };
    let Some((number, run_id)) = rest.split_once('.') else {
        return false;
    };
    let (number, attempt) = number.split_once('-').unwrap_or((number, ""));
    let attempt_ok = attempt.is_empty()
        || (attempt.len() == 8 && attempt.bytes().all(|c| c.is_ascii_hexdigit()));
    number.len() == 5
        && number.bytes().all(|b| b.is_ascii_digit())
        && attempt_ok
        && is_run_id(run_id)
}

fn is_run_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 24
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'-'
        && b[16..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// The data file name a run writes on an object store.
pub fn stamped_name(base: &str, run_id: &str) -> String {
    match base.strip_suffix(".parquet") {
        Some(stem) => format!("{stem}.{run_id}.parquet"),
        None => format!("{base}.{run_id}"),
    }
}

/// The part of a partition manifest the visibility rule and cleanup need.
#[derive(Deserialize)]
struct ListedFiles {
    files: Vec<ListedFile>,
    #[serde(default)]
    replaced: Vec<ReplacedFile>,
}

#[derive(Deserialize)]
struct ListedFile {
    name: String,
}

#[derive(Deserialize)]
struct ReplacedFile {
    name: String,
    replaced_at: chrono::DateTime<chrono::Utc>,
}

/// What a partition's manifest says about its data files: the live ones, and the replaced
/// ones with when they were replaced.
#[derive(Debug, Default)]
pub struct ManifestFiles {
    pub live: HashSet<String>,
    pub replaced: std::collections::HashMap<String, chrono::DateTime<chrono::Utc>>,
}

/// An object store whose listings show committed data files only.
#[derive(Debug)]
pub struct CommittedView {
    inner: Arc<dyn ObjectStore>,
}

impl CommittedView {
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self { inner }
    }
}

impl std::fmt::Display for CommittedView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CommittedView({})", self.inner)
    }
}

/// The directory part of an object path.
pub fn parent(path: &Path) -> String {
    let text = path.as_ref();
    text.rsplit_once('/')
        .map(|(dir, _)| dir.to_string())
        .unwrap_or_default()
}

/// The names of the data files the manifest of `dir` lists.
pub async fn listed_files(store: &Arc<dyn ObjectStore>, dir: &str) -> Result<HashSet<String>> {
    Ok(manifest_files(store, dir).await?.live)
}

/// The data files the manifest of `dir` lists as live and as replaced.
pub async fn manifest_files(store: &Arc<dyn ObjectStore>, dir: &str) -> Result<ManifestFiles> {
    let path = Path::from(format!("{dir}/{MANIFEST_FILE}"));
    let bytes = store.get(&path).await?.bytes().await?;
    let listed: ListedFiles =
        serde_json::from_slice(&bytes).map_err(|e| object_store::Error::Generic {
            store: "liverec",
            source: format!("{path}: not a partition manifest: {e}").into(),
        })?;
    Ok(ManifestFiles {
        live: listed.files.into_iter().map(|f| f.name).collect(),
        replaced: listed
            .replaced
            .into_iter()
            .map(|r| (r.name, r.replaced_at))
            .collect(),
    })
}

/// Keeps the objects a reader may see: in a directory with a manifest, the data files it
/// lists (and every non-data object); elsewhere, everything but run-stamped data files.
async fn visible(
    store: &Arc<dyn ObjectStore>,
    objects: Vec<ObjectMeta>,
) -> Result<Vec<ObjectMeta>> {
    let mut by_dir: BTreeMap<String, Vec<ObjectMeta>> = BTreeMap::new();
    for o in objects {
        by_dir.entry(parent(&o.location)).or_default().push(o);
    }
    let with_manifest: Vec<String> = by_dir
        .iter()
        .filter(|(_, objs)| {
            objs.iter()
                .any(|o| o.location.filename() == Some(MANIFEST_FILE))
        })
        .map(|(dir, _)| dir.clone())
        .collect();
    let manifests: BTreeMap<String, HashSet<String>> =
        futures::stream::iter(with_manifest.into_iter().map(|dir| async move {
            let files = listed_files(store, &dir).await?;
            Ok::<_, object_store::Error>((dir, files))
        }))
        .buffer_unordered(8)
        .try_collect()
        .await?;
    let mut out = Vec::new();
    for (dir, objs) in by_dir {
        let listed = manifests.get(&dir);
        out.extend(objs.into_iter().filter(|o| {
            let name = o.location.filename().unwrap_or_default();
            if !name.ends_with(".parquet") {
                return true;
            }
            match listed {
                Some(files) => files.contains(name),
                None => !is_run_stamped(name),
            }
        }));
    }
    Ok(out)
}

#[async_trait]
impl ObjectStore for CommittedView {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let inner = self.inner.clone();
        let all = self.inner.list(prefix);
        futures::stream::once(async move {
            let objects: Vec<ObjectMeta> = all.try_collect().await?;
            let kept = visible(&inner, objects).await?;
            Ok::<_, object_store::Error>(futures::stream::iter(kept.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let ListResult {
            common_prefixes,
            objects,
        } = self.inner.list_with_delimiter(prefix).await?;
        let objects = visible(&self.inner, objects).await?;
        Ok(ListResult {
            common_prefixes,
            objects,
        })
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[test]
    fn recognizes_run_stamped_names() {
        let run = "20261129T123456-0a1b2c3d";
        let name = stamped_name("part-00001.parquet", run);
        assert_eq!(name, "part-00001.20261129T123456-0a1b2c3d.parquet");
        assert!(is_run_stamped(&name));
        assert!(is_run_stamped(
            "part-00001-9f8e7d6c.20261129T123456-0a1b2c3d.parquet"
        ));
        for other in [
            "part-00001.parquet",
            "part-00001-9f8e7d6.20261129T123456-0a1b2c3d.parquet",
            "part-00001-9f8e7d6z.20261129T123456-0a1b2c3d.parquet",
            "part-0.parquet",
            "part-00001.20261129T123456-0a1b2c3X.parquet",
            "events.20261129T123456-0a1b2c3d.parquet",
        ] {
            assert!(!is_run_stamped(other), "{other}");
        }
    }

    #[tokio::test]
    async fn lists_only_committed_files() {
        let raw: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let put = |p: &str, body: &str| {
            let raw = raw.clone();
            let p = Path::from(p);
            let body = body.to_string();
            async move { raw.put(&p, body.into()).await.unwrap() }
        };
        let (old, new) = ("20260101T000000-aaaaaaaa", "20260102T000000-bbbbbbbb");
        // A committed partition with leftovers of the previous version and of a run in flight.
        put(&format!("t/dt=2026-01-01/part-00000.{old}.parquet"), "x").await;
        put(&format!("t/dt=2026-01-01/part-00000.{new}.parquet"), "x").await;
        put(
            "t/dt=2026-01-01/_manifest.json",
            &format!(r#"{{"files":[{{"name":"part-00000.{new}.parquet"}}]}}"#),
        )
        .await;
        // A first write not committed yet, and a platform partition without a manifest.
        put(&format!("t/dt=2026-01-02/part-00000.{new}.parquet"), "x").await;
        put("in/dt=2026-01-01/part-0.parquet", "x").await;
        let view = CommittedView::new(raw.clone());
        let names: Vec<String> = view
            .list(None)
            .map_ok(|m| m.location.to_string())
            .try_collect::<Vec<_>>()
            .await
            .unwrap();
        let mut names = names;
        names.sort();
        assert_eq!(
            names,
            vec![
                "in/dt=2026-01-01/part-0.parquet".to_string(),
                "t/dt=2026-01-01/_manifest.json".to_string(),
                format!("t/dt=2026-01-01/part-00000.{new}.parquet"),
            ]
        );
        let one = view
            .list_with_delimiter(Some(&Path::from("t/dt=2026-01-02")))
            .await
            .unwrap();
        assert!(one.objects.is_empty());
        let top = view
            .list_with_delimiter(Some(&Path::from("t")))
            .await
            .unwrap();
        assert_eq!(top.common_prefixes.len(), 2);
    }
}
