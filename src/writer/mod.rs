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

use anyhow::{Context, Result, bail};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use chrono::NaiveDate;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;

mod cleanup;
pub mod exec;
mod local;

pub use cleanup::{Ages, Cleanup, cleanup};
pub use exec::{PartitionWriterExec, WriteResult, WriteSpec, WrittenFile};
pub use local::commit_new_dir;

use crate::doc::partition::{FileEntry, PartitionManifest, ReplacedFile};
use crate::layout::{self, PARTITION_MANIFEST as MANIFEST_FILE};
use crate::parquet_file::ParquetFileWriter;
use crate::storage::{Conditional, Storage, committed};

/// Rows this process encoded into Parquet files itself (outputs, views, copies). On a
/// cluster every output row is written by the executors (`PartitionWriterExec`), so a
/// cluster run's client keeps this at 0; `liverec run --report-json` reports it.
static ROWS_WRITTEN_HERE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn rows_written_here() -> u64 {
    ROWS_WRITTEN_HERE.load(std::sync::atomic::Ordering::Relaxed)
}

fn count_written(rows: usize) {
    ROWS_WRITTEN_HERE.fetch_add(rows as u64, std::sync::atomic::Ordering::Relaxed);
}

/// How a partition is made visible.
enum Commit {
    /// Staged directory, then one rename (local disk).
    Rename,
    /// Run-stamped files in place, then a conditional put of the manifest (object stores).
    /// Holds the manifest seen at the start, if there was one.
    Manifest(Option<Previous>),
}

/// The committed version a new one will replace (object stores).
struct Previous {
    version: object_store::UpdateVersion,
    files: Vec<String>,
    /// Files its own commit had replaced, still in their retention period.
    replaced: Vec<ReplacedFile>,
}

/// How long a replaced version's entries are carried in later manifests (`liverec cleanup`
/// decides when the files go; this only bounds the list).
const REPLACED_MEMORY: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// A partition being written; nothing is visible until [`StagedPartition::commit`].
pub struct StagedPartition {
    pub table: String,
    pub day: NaiveDate,
    pub run_id: String,
    target: Storage,
    staging: Storage,
    /// Where executors write this partition's files (`PartitionWriterExec`): on object stores
    /// the partition itself (run-stamped names stay invisible until committed); on local
    /// disk a directory beside the staging one, whose listed files are moved in before the
    /// commit — so a late write of a superseded attempt can never land in the partition.
    tasks: Storage,
    commit: Commit,
    pub files: Vec<FileEntry>,
    /// Committed or aborted: nothing left for `Drop` to clean up.
    settled: bool,
}

impl StagedPartition {
    /// Starts a partition of `table` under the output root `root`.
    pub async fn begin(root: &Storage, table: &str, day: NaiveDate, run_id: &str) -> Result<Self> {
        let target = root.at(table).at(&layout::partition(day));
        let (staging, tasks, commit) = if root.loc.is_local() {
            let staging = root.at(&layout::staged_partition(table, day, run_id));
            empty_dir(&staging).await?;
            let tasks = root.at(&layout::staged_task_files(table, day, run_id));
            (staging, tasks, Commit::Rename)
        } else {
            let previous = match target.read_versioned(MANIFEST_FILE).await? {
                None => None,
                Some((bytes, version)) => {
                    let m = PartitionManifest::from_json(&bytes)
                        .with_context(|| format!("in {}", target.at(MANIFEST_FILE).loc))?;
                    Some(Previous {
                        version,
                        files: m.files.into_iter().map(|f| f.name).collect(),
                        replaced: m.replaced,
                    })
                }
            };
            (target.clone(), target.clone(), Commit::Manifest(previous))
        };
        Ok(Self {
            table: table.to_string(),
            day,
            run_id: run_id.to_string(),
            target,
            staging,
            tasks,
            commit,
            files: Vec::new(),
            settled: false,
        })
    }

    /// The object name of data file `base` of this run.
    fn object_name(&self, base: &str) -> String {
        match self.commit {
            Commit::Rename => base.to_string(),
            Commit::Manifest(_) => committed::stamped_name(base, &self.run_id),
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
            Commit::Rename => {
                empty_dir(&self.staging).await?;
                self.tasks.delete_all().await?;
            }
        }
        self.files.clear();
        Ok(())
    }

    /// Where executors write this partition's files (see [`PartitionWriterExec`]).
    pub fn task_dir(&self) -> &Storage {
        &self.tasks
    }

    /// Takes the files executors wrote (as their writers reported them) into the partition.
    /// Object stores: they are in place, and only these are listed in the manifest. Local
    /// disk: these are moved into the staging directory (as `part-NNNNN.parquet`, in the
    /// order given), and whatever else is in the task directory — a file of a failed or
    /// superseded attempt — is deleted with it.
    pub async fn adopt(&mut self, files: &[WrittenFile]) -> Result<()> {
        match self.commit {
            Commit::Manifest(_) => {
                self.files.extend(files.iter().map(|f| FileEntry {
                    name: f.name.clone(),
                    rows: f.rows,
                    bytes: f.bytes,
                }));
            }
            Commit::Rename => {
                let (Some(from), Some(to)) =
                    (self.tasks.loc.local_path(), self.staging.loc.local_path())
                else {
                    bail!("{} is not a local directory", self.tasks.loc);
                };
                for f in files {
                    let name = layout::data_file(self.files.len());
                    std::fs::rename(from.join(&f.name), to.join(&name)).with_context(|| {
                        format!(
                            "cannot move {} into {}",
                            from.join(&f.name).display(),
                            to.display()
                        )
                    })?;
                    self.files.push(FileEntry {
                        name,
                        rows: f.rows,
                        bytes: f.bytes,
                    });
                }
                self.tasks.delete_all().await?;
            }
        }
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
            .map(|i| self.object_name(&layout::data_file(i)))
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
            count_written(batch.num_rows());
            writer.write(batch).await?;
        }
        self.finish_file(name, writer).await
    }

    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// The URLs of the files staged so far (readable before the commit by this run).
    pub fn staged_file_urls(&self) -> Vec<String> {
        self.files
            .iter()
            .map(|f| self.staging.at(&f.name).loc.url().to_string())
            .collect()
    }

    /// Writes the manifest and makes the partition visible in one step, replacing any
    /// previous version of it.
    pub async fn commit(mut self, mut manifest: PartitionManifest) -> Result<()> {
        manifest.files = self.files.clone();
        manifest.rows = self.rows();
        if let Commit::Manifest(Some(previous)) = &self.commit {
            manifest.replaced = self.replaced_by_this(previous);
        }
        let body = manifest.to_json()?;
        if let Commit::Manifest(previous) = &self.commit {
            crate::fault::pause_blocking("before_commit");
            let expected = previous.as_ref().map(|p| p.version.clone());
            match self
                .target
                .write_if(MANIFEST_FILE, body.into(), expected)
                .await
            {
                Ok(Conditional::Written) => {}
                Ok(Conditional::Conflict) => {
                    self.settled = true;
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
            // Readers of the new manifest no longer see the previous version's files; they stay
            // for readers of the old one until `liverec cleanup` finds them past retention.
            self.settled = true;
            tracing::debug!(table = %self.table, dt = %self.day, rows = manifest.rows, "committed {}", self.target.loc);
            return Ok(());
        }
        self.staging.write(MANIFEST_FILE, body.into()).await?;
        crate::fault::pause_blocking("before_commit");
        let (Some(staged), Some(target)) =
            (self.staging.loc.local_path(), self.target.loc.local_path())
        else {
            bail!("commit to {} is not supported", self.target.loc);
        };
        local::sync_dir_files(&staged)?;
        local::commit_dir(&staged, &target)?;
        // After an exchange the staged path holds the previous version.
        std::fs::remove_dir_all(&staged).or_else(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(e)
            }
        })?;
        self.settled = true;
        tracing::debug!(table = %self.table, dt = %self.day, rows = manifest.rows, files = manifest.files.len(), "committed {}", self.target.loc);
        Ok(())
    }

    /// The files a commit over `previous` leaves behind: the previous version's (now), and
    /// those it had replaced itself, for a week at most.
    fn replaced_by_this(&self, previous: &Previous) -> Vec<ReplacedFile> {
        let now = chrono::Utc::now();
        let kept = |name: &str| self.files.iter().any(|f| f.name == name);
        let mut out: Vec<ReplacedFile> = previous
            .replaced
            .iter()
            .filter(|r| now - r.replaced_at < REPLACED_MEMORY && !kept(&r.name))
            .cloned()
            .collect();
        for name in previous.files.iter().filter(|n| !kept(n)) {
            out.push(ReplacedFile {
                name: name.clone(),
                replaced_at: now,
            });
        }
        out
    }

    /// Removes the files of an abandoned partition.
    pub async fn abort(mut self) {
        self.settled = true;
        let result = match self.commit {
            Commit::Manifest(_) => self.remove_own_files().await,
            Commit::Rename => match self.staging.delete_all().await {
                Ok(()) => self.tasks.delete_all().await,
                Err(e) => Err(e),
            },
        };
        if let Err(e) = result {
            tracing::warn!("cannot remove staged data {}: {e:#}", self.staging.loc);
        }
    }
}

impl Drop for StagedPartition {
    /// A partition dropped unsettled — its run was cut short by a deadline or a signal —
    /// is abandoned: its local staging is removed here; on object stores its run-stamped
    /// files stay invisible and `liverec cleanup` removes them.
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        if let Commit::Rename = self.commit {
            for dir in [&self.staging, &self.tasks] {
                if let Some(path) = dir.loc.local_path() {
                    let _ = std::fs::remove_dir_all(path);
                }
            }
        }
        tracing::debug!(table = %self.table, dt = %self.day, "abandoned partition of run {}", self.run_id);
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

/// Writes each non-empty stream as its named file under `dir`, concurrently.
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
    let first = first?;
    count_written(first.num_rows());
    writer.write(&first).await?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        count_written(batch.num_rows());
        writer.write(&batch).await?;
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

/// Reads the manifest of a committed partition, if there is one.
pub async fn read_manifest(table: &Storage, day: NaiveDate) -> Result<Option<PartitionManifest>> {
    let part = table.at(&layout::partition(day));
    if !part.exists(MANIFEST_FILE).await? {
        return Ok(None);
    }
    let bytes = part.read(MANIFEST_FILE).await?;
    PartitionManifest::from_json(&bytes)
        .with_context(|| format!("in {}", part.at(MANIFEST_FILE).loc))
        .map(Some)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use chrono::Utc;

    use super::*;
    use crate::storage::Location;

    fn batch(values: &[i64]) -> (SchemaRef, RecordBatch) {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(values.to_vec()))],
        )
        .unwrap();
        (schema, b)
    }

    fn manifest(run_id: &str, day: NaiveDate) -> PartitionManifest {
        PartitionManifest {
            table: "t".into(),
            dt: day,
            job: "unit".into(),
            run_id: run_id.into(),
            liverec_version: "test".into(),
            created_at: Utc::now(),
            rows: 0,
            files: Vec::new(),
            schema: Vec::new(),
            params: Default::default(),
            inputs: Vec::new(),
            checks: Default::default(),
            replaced: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_partition_is_invisible_until_committed_and_a_rerun_replaces_it() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Storage::open(Location::parse(tmp.path().to_str().unwrap()).unwrap()).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 1, 3).unwrap();
        let table = root.at("t");
        let (schema, b) = batch(&[1, 2, 3]);

        let mut first = StagedPartition::begin(&root, "t", day, "run-a")
            .await
            .unwrap();
        first
            .write_batches("part-00000.parquet", schema.clone(), &[b])
            .await
            .unwrap();
        assert!(
            read_manifest(&table, day).await.unwrap().is_none(),
            "visible before commit"
        );
        assert!(!tmp.path().join("t/dt=2026-01-03").exists());
        first.commit(manifest("run-a", day)).await.unwrap();
        let m = read_manifest(&table, day).await.unwrap().unwrap();
        assert_eq!((m.rows, m.files.len(), m.run_id.as_str()), (3, 1, "run-a"));

        // A rerun that fails leaves the committed partition as it was …
        let (_, b2) = batch(&[9]);
        let mut failed = StagedPartition::begin(&root, "t", day, "run-b")
            .await
            .unwrap();
        failed
            .write_batches(
                "part-00000.parquet",
                schema.clone(),
                std::slice::from_ref(&b2),
            )
            .await
            .unwrap();
        failed.abort().await;
        assert_eq!(
            read_manifest(&table, day).await.unwrap().unwrap().run_id,
            "run-a"
        );
        // … one that commits replaces it whole, and staging is left empty.
        let mut second = StagedPartition::begin(&root, "t", day, "run-c")
            .await
            .unwrap();
        second
            .write_batches("part-00000.parquet", schema, &[b2])
            .await
            .unwrap();
        second.commit(manifest("run-c", day)).await.unwrap();
        let m = read_manifest(&table, day).await.unwrap().unwrap();
        assert_eq!((m.rows, m.run_id.as_str()), (1, "run-c"));
        let staged: Vec<_> = std::fs::read_dir(tmp.path().join("_staging/t"))
            .map(|r| r.flatten().collect())
            .unwrap_or_default();
        assert!(staged.is_empty(), "{staged:?}");
    }

    #[tokio::test]
    async fn an_empty_result_still_commits_its_schema() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Storage::open(Location::parse(tmp.path().to_str().unwrap()).unwrap()).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 1, 4).unwrap();
        let (schema, _) = batch(&[]);
        let mut part = StagedPartition::begin(&root, "t", day, "run-e")
            .await
            .unwrap();
        part.write_streams(schema, Vec::new()).await.unwrap();
        assert_eq!(part.files.len(), 1);
        part.commit(manifest("run-e", day)).await.unwrap();
        let m = read_manifest(&root.at("t"), day).await.unwrap().unwrap();
        assert_eq!((m.rows, m.files.len()), (0, 1));
    }
}
