//! The one atomic writer. A partition `<table>/dt=D/` becomes visible whole, in one step,
//! with its `_manifest.json` (what was written, from which inputs, with which parameters):
//! - local disk: the partition is written under a staging directory outside the table
//!   (`<root>/_staging/…`, never listed by readers), manifest last, and
//!   `renameat2(RENAME_EXCHANGE)` swaps it with the live one (or a plain `rename` when there
//!   is none), so a reader or a crash sees the old partition or the new one, never a mix; the
//!   old one is then deleted from staging.
//! - object stores (S3) have no rename: each data file goes straight into the partition
//!   directory under a run-stamped name (`part-00000.<run_id>.parquet`), invisible to readers
//!   (`committed.rs`) until the manifest listing it is written — last, with a conditional put
//!   (`If-None-Match: *` for a new partition, `If-Match: <e-tag read at the start>` to replace
//!   one), so of two runs of the same day only one commits and the other fails and removes
//!   its files. The previous version's files are deleted after the commit.

use std::path::Path;

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use chrono::NaiveDate;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::manifest::{FileEntry, MANIFEST_FILE, PartitionManifest};
use crate::parquet_file::ParquetFileWriter;
use crate::storage::{Conditional, Storage, partition_name};

pub const STAGING_DIR: &str = "_staging";

/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 256 * 1024;

/// Parquet properties of every file liverec writes.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("liverec {}", crate::manifest::LIVEREC_VERSION))
        .build()
}

/// How a partition is made visible.
enum Commit {
    /// Staged directory, then one rename (local disk).
    Rename,
    /// Run-stamped files in place, then a conditional put of the manifest (object stores).
    /// Holds the version of the manifest seen at the start, if there was one, and the files
    /// it listed.
    Manifest(Option<(object_store::UpdateVersion, Vec<String>)>),
}

/// A partition being written; nothing is visible until [`StagedPartition::commit`].
pub struct StagedPartition {
    pub table: String,
    pub day: NaiveDate,
    pub run_id: String,
    target: Storage,
    staging: Storage,
    commit: Commit,
    pub files: Vec<FileEntry>,
}

impl StagedPartition {
    /// Starts a partition of `table` under the output root `root`.
    pub async fn begin(root: &Storage, table: &str, day: NaiveDate, run_id: &str) -> Result<Self> {
        let target = root.at(table).at(&partition_name(day));
        let (staging, commit) = if root.loc.is_local() {
            let staging = root
                .at(STAGING_DIR)
                .at(table)
                .at(&format!("{}.{run_id}", partition_name(day)));
            empty_dir(&staging).await?;
            (staging, Commit::Rename)
        } else {
            let previous = match target.read_versioned(MANIFEST_FILE).await? {
                None => None,
                Some((bytes, version)) => {
                    let m = PartitionManifest::from_json(&bytes)
                        .with_context(|| format!("in {}", target.at(MANIFEST_FILE).loc))?;
                    Some((version, m.files.into_iter().map(|f| f.name).collect()))
                }
            };
            (target.clone(), Commit::Manifest(previous))
        };
        Ok(Self {
            table: table.to_string(),
            day,
            run_id: run_id.to_string(),
            target,
            staging,
            commit,
            files: Vec::new(),
        })
    }

    /// The object name of data file `base` of this run.
    fn object_name(&self, base: &str) -> String {
        match self.commit {
            Commit::Rename => base.to_string(),
            Commit::Manifest(_) => crate::committed::stamped_name(base, &self.run_id),
        }
    }

    /// Deletes this run's data files (object stores: the run-stamped files in the partition,
    /// listed unfiltered, so files of an interrupted write go too).
    async fn remove_own_files(&self) -> Result<()> {
        let dir = self.target.unfiltered();
        let suffix = format!(".{}.parquet", self.run_id);
        let listing = dir
            .store
            .list_with_delimiter(Some(&dir.loc.store_path()))
            .await
            .with_context(|| format!("cannot list {}", dir.loc))?;
        for o in listing.objects {
            let name = o.location.filename().unwrap_or_default();
            if name.ends_with(&suffix) {
                dir.delete(name).await?;
            }
        }
        Ok(())
    }

    /// Discards everything written so far, for a retry.
    pub async fn reset(&mut self) -> Result<()> {
        match self.commit {
            Commit::Manifest(_) => self.remove_own_files().await?,
            Commit::Rename => empty_dir(&self.staging).await?,
        }
        self.files.clear();
        Ok(())
    }

    /// A Parquet writer for a new data file `name` of this partition.
    pub fn file_writer(&self, name: &str, schema: SchemaRef) -> Result<ParquetFileWriter> {
        open_file(&self.staging, &self.object_name(name), schema)
    }

    /// Closes a writer opened by [`Self::file_writer`] and records the file.
    pub async fn finish_file(&mut self, name: &str, writer: ParquetFileWriter) -> Result<()> {
        let entry = close_file(&self.staging, &self.object_name(name), writer).await?;
        self.files.push(entry);
        Ok(())
    }

    /// Writes each non-empty stream as its own data file `part-NNNNN.parquet`, concurrently
    /// (one file per query partition). An all-empty result still gets one empty file, so
    /// every committed partition carries its schema.
    pub async fn write_streams(
        &mut self,
        schema: SchemaRef,
        streams: Vec<SendableRecordBatchStream>,
    ) -> Result<()> {
        let names: Vec<String> = (0..streams.len())
            .map(|i| self.object_name(&format!("part-{i:05}.parquet")))
            .collect();
        let written = write_named_files(&self.staging, schema.clone(), streams, names).await?;
        self.files.extend(written);
        if self.files.is_empty() {
            self.write_batches("part-00000.parquet", schema, &[])
                .await?;
        }
        Ok(())
    }

    /// Writes one data file from batches in memory.
    pub async fn write_batches(
        &mut self,
        name: &str,
        schema: SchemaRef,
        batches: &[RecordBatch],
    ) -> Result<()> {
        let mut writer = self.file_writer(name, schema)?;
        for batch in batches {
            writer.write(batch).await?;
        }
        self.finish_file(name, writer).await
    }

    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// Writes the manifest and makes the partition visible in one step, replacing any
    /// previous version of it.
    pub async fn commit(self, mut manifest: PartitionManifest) -> Result<()> {
        manifest.files = self.files.clone();
        manifest.rows = self.rows();
        let body = manifest.to_json()?;
        if let Commit::Manifest(previous) = &self.commit {
            fault_point("before_commit");
            let expected = previous.as_ref().map(|(v, _)| v.clone());
            match self
                .target
                .write_if(MANIFEST_FILE, body.into(), expected)
                .await
            {
                Ok(Conditional::Written) => {}
                Ok(Conditional::Conflict) => {
                    self.remove_own_files().await.ok();
                    bail!(
                        "{}: another run committed this partition while run {} was writing it; this run's files were removed and nothing of it is visible (rerun to replace that run's output)",
                        self.target.loc,
                        self.run_id
                    );
                }
                // Unknown outcome (the manifest may or may not be there): this run's files
                // stay invisible unless it is; `liverec cleanup` removes them otherwise.
                Err(e) => return Err(e),
            }
            // Readers of the new manifest no longer see the previous version's files.
            if let Some((_, old)) = previous {
                for name in old
                    .iter()
                    .filter(|n| !self.files.iter().any(|f| &f.name == *n))
                {
                    if let Err(e) = self.target.delete(name).await {
                        tracing::warn!("cannot delete replaced file: {e:#}");
                    }
                }
            }
            tracing::debug!(table = %self.table, dt = %self.day, rows = manifest.rows, "committed {}", self.target.loc);
            return Ok(());
        }
        self.staging.write(MANIFEST_FILE, body.into()).await?;
        fault_point("before_commit");
        let (Some(staged), Some(target)) =
            (self.staging.loc.local_path(), self.target.loc.local_path())
        else {
            bail!("commit to {} is not supported", self.target.loc);
        };
        sync_dir_files(&staged)?;
        commit_local_dir(&staged, &target)?;
        // After an exchange the staged path holds the previous version.
        std::fs::remove_dir_all(&staged).or_else(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(e)
            }
        })?;
        tracing::debug!(table = %self.table, dt = %self.day, rows = manifest.rows, files = manifest.files.len(), "committed {}", self.target.loc);
        Ok(())
    }

    /// Removes the files of an abandoned partition.
    pub async fn abort(self) {
        let result = match self.commit {
            Commit::Manifest(_) => self.remove_own_files().await,
            Commit::Rename => self.staging.delete_all().await,
        };
        if let Err(e) = result {
            tracing::warn!("cannot remove staged data {}: {e:#}", self.staging.loc);
        }
    }
}

/// Makes a local staging directory exist and hold nothing.
async fn empty_dir(dir: &Storage) -> Result<()> {
    dir.delete_all().await?;
    if let Some(p) = dir.loc.local_path() {
        std::fs::create_dir_all(&p)
            .with_context(|| format!("cannot create staging directory {}", p.display()))?;
    }
    Ok(())
}

/// What `liverec cleanup` found.
#[derive(Debug, Default)]
pub struct Cleanup {
    /// Objects removed from `_staging/` directories (abandoned local partitions, model
    /// folders, a cluster run's materialized views).
    pub staging: usize,
    /// Run-stamped data files no manifest lists (object stores: a run that failed or was
    /// killed before its commit, or a replaced version whose deletion failed).
    pub unreferenced: usize,
    /// Such objects younger than the minimum age, left for a run that may still be writing.
    pub recent: usize,
}

/// Removes what no reader sees and no finished run needs under an output root: everything
/// under `_staging/` directories and run-stamped data files that their partition's manifest
/// does not list — only objects older than `min_age`, so a run in progress keeps its files.
pub async fn cleanup(root: &Storage, min_age: chrono::Duration) -> Result<Cleanup> {
    use futures::TryStreamExt;
    let raw = root.unfiltered();
    let prefix = raw.loc.store_path();
    let objects: Vec<object_store::ObjectMeta> =
        match raw.store.list(Some(&prefix)).try_collect().await {
            Ok(objects) => objects,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", raw.loc)),
        };
    let cutoff = chrono::Utc::now() - min_age;
    let mut listed: std::collections::HashMap<String, Option<std::collections::HashSet<String>>> =
        Default::default();
    let mut report = Cleanup::default();
    for o in objects {
        let rel = o
            .location
            .as_ref()
            .strip_prefix(prefix.as_ref())
            .unwrap_or_default();
        let staged = rel.split('/').any(|segment| segment == STAGING_DIR);
        let name = o.location.filename().unwrap_or_default().to_string();
        let unreferenced = !staged && crate::committed::is_run_stamped(&name) && {
            let dir = crate::committed::parent(&o.location);
            if !listed.contains_key(&dir) {
                let files = match crate::committed::listed_files(&raw.store, &dir).await {
                    Ok(files) => Some(files),
                    Err(object_store::Error::NotFound { .. }) => None,
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("cannot read the manifest of {dir}"));
                    }
                };
                listed.insert(dir.clone(), files);
            }
            !listed[&dir].as_ref().is_some_and(|f| f.contains(&name))
        };
        if !(staged || unreferenced) {
            continue;
        }
        if o.last_modified > cutoff {
            report.recent += 1;
            continue;
        }
        match raw.store.delete(&o.location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e).with_context(|| format!("cannot delete {}", o.location)),
        }
        if staged {
            report.staging += 1;
        } else {
            report.unreferenced += 1;
        }
    }
    if let Some(path) = raw.loc.local_path() {
        remove_empty_staging_dirs(&path);
    }
    Ok(report)
}

/// Local disk: removes the directories under (and including) each `_staging/` that the
/// cleanup left empty.
fn remove_empty_staging_dirs(dir: &Path) {
    fn prune(dir: &Path) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        let mut empty = true;
        for entry in entries.flatten() {
            let path = entry.path();
            empty &= path.is_dir() && prune(&path);
        }
        empty && std::fs::remove_dir(dir).is_ok()
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == STAGING_DIR) {
            prune(&path);
        } else {
            remove_empty_staging_dirs(&path);
        }
    }
}

/// Writes each non-empty stream as a file `part-NNNNN.parquet` under `dir`, concurrently.
/// Not atomic by itself: callers write into staging and commit, or use it for scratch data.
pub async fn write_files(
    dir: &Storage,
    schema: SchemaRef,
    streams: Vec<SendableRecordBatchStream>,
) -> Result<Vec<FileEntry>> {
    let names = (0..streams.len())
        .map(|i| format!("part-{i:05}.parquet"))
        .collect();
    write_named_files(dir, schema, streams, names).await
}

async fn write_named_files(
    dir: &Storage,
    schema: SchemaRef,
    streams: Vec<SendableRecordBatchStream>,
    names: Vec<String>,
) -> Result<Vec<FileEntry>> {
    let writes = streams.into_iter().zip(names).map(|(stream, name)| {
        let schema = schema.clone();
        async move { write_file(dir, &name, schema, stream).await }
    });
    let written = futures::future::try_join_all(writes).await?;
    Ok(written.into_iter().flatten().collect())
}

/// Writes one stream to `name` under `staging`; an empty stream writes nothing.
async fn write_file(
    staging: &Storage,
    name: &str,
    schema: SchemaRef,
    mut stream: SendableRecordBatchStream,
) -> Result<Option<FileEntry>> {
    let Some(first) = stream.next().await else {
        return Ok(None);
    };
    let mut writer = open_file(staging, name, schema)?;
    writer.write(&first?).await?;
    while let Some(batch) = stream.next().await {
        writer.write(&batch?).await?;
    }
    close_file(staging, name, writer).await.map(Some)
}

/// A Parquet writer for a new file `name` under `dir`.
fn open_file(dir: &Storage, name: &str, schema: SchemaRef) -> Result<ParquetFileWriter> {
    let sink = BufWriter::new(dir.store.clone(), dir.at(name).loc.store_path());
    ParquetFileWriter::try_new(sink, schema)
        .with_context(|| format!("cannot start Parquet file {name}"))
}

/// Finishes a file opened by [`open_file`] and describes it (rows from its footer, bytes
/// from the store).
async fn close_file(dir: &Storage, name: &str, writer: ParquetFileWriter) -> Result<FileEntry> {
    let loc = dir.at(name).loc;
    let meta = writer
        .close()
        .await
        .with_context(|| format!("cannot finish {loc}"))?;
    let head = dir
        .store
        .head(&loc.store_path())
        .await
        .with_context(|| format!("cannot stat {loc}"))?;
    Ok(FileEntry {
        name: name.to_string(),
        rows: meta.file_metadata().num_rows() as u64,
        bytes: head.size,
    })
}

/// Test hook: `LIVEREC_FAULT_SLEEP_MS_<POINT>` sleeps at a named point, so a test can kill
/// the process at a known moment of a write.
fn fault_point(point: &str) {
    let var = format!("LIVEREC_FAULT_SLEEP_MS_{}", point.to_ascii_uppercase());
    if let Some(ms) = std::env::var(&var).ok().and_then(|v| v.parse::<u64>().ok()) {
        tracing::warn!("fault point {point}: sleeping {ms} ms");
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

fn sync_dir_files(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("cannot sync {}", path.display()))?;
    }
    std::fs::File::open(dir).and_then(|f| f.sync_all()).ok();
    Ok(())
}

/// Moves a staged directory to a new name that must not exist yet (model versions are
/// never overwritten), after syncing its files.
pub fn commit_new_dir(staged: &Path, target: &Path) -> Result<()> {
    sync_dir_files(staged)?;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    if target.exists() {
        bail!(
            "{} exists already; versions are never overwritten",
            target.display()
        );
    }
    std::fs::rename(staged, target)
        .with_context(|| format!("cannot commit {} to {}", staged.display(), target.display()))?;
    sync_parent(target)
}

/// Moves `staged` to `target` atomically. When `target` exists the two are exchanged, so
/// `staged` then holds the previous version.
fn commit_local_dir(staged: &Path, target: &Path) -> Result<()> {
    let parent = target.parent().context("partition path has no parent")?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    for _ in 0..3 {
        if target.exists() {
            match exchange(staged, target) {
                Ok(()) => return sync_parent(target),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                    // The filesystem cannot exchange: move the old version aside first. A crash
                    // between the two renames leaves the partition absent (never mixed).
                    let aside = staged.with_extension("old");
                    std::fs::rename(target, &aside)?;
                    std::fs::rename(staged, target)?;
                    std::fs::rename(&aside, staged)?;
                    return sync_parent(target);
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot commit {} to {}", staged.display(), target.display())
                    });
                }
            }
        } else {
            match std::fs::rename(staged, target) {
                Ok(()) => return sync_parent(target),
                // Someone committed the same partition meanwhile: exchange instead.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY | libc::EEXIST)) => {
                    continue;
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot commit {} to {}", staged.display(), target.display())
                    });
                }
            }
        }
    }
    bail!(
        "cannot commit {}: the partition kept changing",
        target.display()
    )
}

fn sync_parent(target: &Path) -> Result<()> {
    if let Some(parent) = target.parent() {
        std::fs::File::open(parent).and_then(|f| f.sync_all()).ok();
    }
    Ok(())
}

fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both pointers are valid NUL-terminated paths for the duration of the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Reads the manifest of a committed partition, if there is one.
pub async fn read_manifest(table: &Storage, day: NaiveDate) -> Result<Option<PartitionManifest>> {
    let part = table.at(&partition_name(day));
    if !part.exists(MANIFEST_FILE).await? {
        return Ok(None);
    }
    let bytes = part.read(MANIFEST_FILE).await?;
    PartitionManifest::from_json(&bytes)
        .with_context(|| format!("in {}", part.at(MANIFEST_FILE).loc))
        .map(Some)
}
