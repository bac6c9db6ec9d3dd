//! The one storage seam: every table path is a URL resolved to an `object_store` store.
//!
//! Local directories (`./data`, `/abs/path`, `file:///…`) and S3-compatible buckets
//! (`s3://bucket/prefix`) go through the same calls. Only the commit step of the atomic
//! writer differs per backend (see `writer`).

pub mod committed;
pub mod s3;

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::{ObjectStore, ObjectStoreExt};

pub use crate::location::Location;

/// Opens the object store behind a location as readers see it (on S3, listings show
/// committed data files only: `committed`), and the same store unfiltered (for the
/// writer's own leftovers and for cleanup).
fn open_stores(loc: &Location) -> Result<(Arc<dyn ObjectStore>, Arc<dyn ObjectStore>)> {
    match loc.scheme() {
        "file" => {
            let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new());
            Ok((store.clone(), store))
        }
        "s3" => {
            let raw = s3::open_s3(loc)?;
            let view: Arc<dyn ObjectStore> = Arc::new(committed::CommittedView::new(raw.clone()));
            Ok((view, raw))
        }
        other => bail!("unsupported storage scheme {other:?}"),
    }
}

/// What a partition's data files are, as one short digest: their names, sizes, e-tags and
/// modification times. A rewrite changes it even when a file keeps its name, size and
/// time (the local store's e-tag holds the inode; S3's the content), and no clock is
/// compared, so writers of inputs and of outputs need not agree on the time.
pub fn files_digest(files: &[object_store::ObjectMeta]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for meta in files {
        h.update(meta.location.as_ref().as_bytes());
        h.update(meta.size.to_le_bytes());
        h.update(meta.e_tag.as_deref().unwrap_or_default().as_bytes());
        h.update(meta.last_modified.to_rfc3339().as_bytes());
    }
    hex::encode(&h.finalize()[..8])
}

/// A location together with its store.
#[derive(Clone, Debug)]
pub struct Storage {
    pub loc: Location,
    /// What readers see: committed data only.
    pub store: Arc<dyn ObjectStore>,
    /// Every object, committed or not.
    raw: Arc<dyn ObjectStore>,
}

/// The outcome of a conditional write.
#[derive(Debug, PartialEq, Eq)]
pub enum Conditional {
    Written,
    /// The object exists (create) or changed since it was read (update).
    Conflict,
}

impl Storage {
    pub fn open(loc: Location) -> Result<Self> {
        let (store, raw) = open_stores(&loc)?;
        Ok(Self { loc, store, raw })
    }

    pub fn at(&self, segment: &str) -> Storage {
        Storage {
            loc: self.loc.join(segment),
            store: self.store.clone(),
            raw: self.raw.clone(),
        }
    }

    /// The same location with every object listed, committed or not.
    pub fn unfiltered(&self) -> Storage {
        Storage {
            loc: self.loc.clone(),
            store: self.raw.clone(),
            raw: self.raw.clone(),
        }
    }

    /// Reads `name` with its version (e-tag), or `None` when it does not exist.
    pub async fn read_versioned(
        &self,
        name: &str,
    ) -> Result<Option<(bytes::Bytes, object_store::UpdateVersion)>> {
        let loc = self.at(name).loc;
        let got = match self.store.get(&loc.store_path()).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {loc}")),
        };
        let version = object_store::UpdateVersion {
            e_tag: got.meta.e_tag.clone(),
            version: got.meta.version.clone(),
        };
        let bytes = got
            .bytes()
            .await
            .with_context(|| format!("cannot read {loc}"))?;
        Ok(Some((bytes, version)))
    }

    /// Writes `name` only if it does not exist (`expected = None`) or is still the version
    /// read before (`Some`). Object stores check this atomically on the server (S3
    /// `If-None-Match` / `If-Match`). On local disk a create is atomic (hard link) and an
    /// update compares the e-tag first and then replaces the file atomically; two local
    /// writers racing between those steps are not detected.
    pub async fn write_if(
        &self,
        name: &str,
        data: bytes::Bytes,
        expected: Option<object_store::UpdateVersion>,
    ) -> Result<Conditional> {
        let loc = self.at(name).loc;
        let path = loc.store_path();
        let mode = match expected {
            None => object_store::PutMode::Create,
            Some(v) if self.loc.is_local() => {
                let now = match self.store.head(&path).await {
                    Ok(meta) => meta.e_tag,
                    Err(object_store::Error::NotFound { .. }) => return Ok(Conditional::Conflict),
                    Err(e) => return Err(e).with_context(|| format!("cannot read {loc}")),
                };
                if now != v.e_tag {
                    return Ok(Conditional::Conflict);
                }
                object_store::PutMode::Overwrite
            }
            Some(v) => object_store::PutMode::Update(v),
        };
        match self.store.put_opts(&path, data.into(), mode.into()).await {
            Ok(_) => Ok(Conditional::Written),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(Conditional::Conflict),
            Err(e) => Err(e).with_context(|| format!("cannot write {loc}")),
        }
    }

    pub async fn delete(&self, name: &str) -> Result<()> {
        let loc = self.at(name).loc;
        match self.store.delete(&loc.store_path()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot delete {loc}")),
        }
    }

    /// What is directly under this location: objects, and the prefixes of subdirectories.
    async fn listing(&self) -> Result<object_store::ListResult> {
        self.store
            .list_with_delimiter(Some(&self.loc.store_path()))
            .await
            .with_context(|| format!("cannot list {}", self.loc))
    }

    /// The `dt=YYYY-MM-DD` partitions directly under this location, sorted. Names that do not
    /// start with `dt=` are ignored; a `dt=` name that is not a date is an error.
    pub async fn list_partitions(&self) -> Result<Vec<NaiveDate>> {
        let mut days = Vec::new();
        for dir in self.listing().await?.common_prefixes {
            let Some(name) = dir.filename() else { continue };
            let Some(value) = name.strip_prefix("dt=") else {
                continue;
            };
            let day = NaiveDate::parse_from_str(value, "%Y-%m-%d").with_context(|| {
                format!("partition {name:?} under {} is not dt=YYYY-MM-DD", self.loc)
            })?;
            days.push(day);
        }
        days.sort();
        Ok(days)
    }

    /// The partitions present in the day window `from..=to`, and the days of it missing.
    pub async fn partitions_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<(Vec<NaiveDate>, Vec<NaiveDate>)> {
        let present: Vec<NaiveDate> = self
            .list_partitions()
            .await?
            .into_iter()
            .filter(|d| *d >= from && *d <= to)
            .collect();
        let missing = from
            .iter_days()
            .take_while(|d| *d <= to)
            .filter(|d| !present.contains(d))
            .collect();
        Ok((present, missing))
    }

    /// Data files (`*.parquet`, not hidden) directly under this location, sorted by name.
    pub async fn list_parquet_files(&self) -> Result<Vec<object_store::ObjectMeta>> {
        let mut files: Vec<_> = self
            .listing()
            .await?
            .objects
            .into_iter()
            .filter(|o| {
                o.location.filename().is_some_and(|n| {
                    n.ends_with(".parquet") && !n.starts_with('_') && !n.starts_with('.')
                })
            })
            .collect();
        files.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(files)
    }

    pub async fn exists(&self, name: &str) -> Result<bool> {
        let path = self.at(name).loc.store_path();
        match self.store.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", self.at(name).loc)),
        }
    }

    pub async fn read(&self, name: &str) -> Result<bytes::Bytes> {
        let loc = self.at(name).loc;
        let got = self
            .store
            .get(&loc.store_path())
            .await
            .with_context(|| format!("cannot read {loc}"))?;
        got.bytes()
            .await
            .with_context(|| format!("cannot read {loc}"))
    }

    pub async fn write(&self, name: &str, data: bytes::Bytes) -> Result<()> {
        let loc = self.at(name).loc;
        self.store
            .put(&loc.store_path(), data.into())
            .await
            .with_context(|| format!("cannot write {loc}"))?;
        Ok(())
    }

    /// Deletes every object under this location.
    pub async fn delete_all(&self) -> Result<()> {
        if let Some(path) = self.loc.local_path() {
            return match std::fs::remove_dir_all(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e).with_context(|| format!("cannot delete {}", path.display())),
            };
        }
        let prefix = self.loc.store_path();
        let objects: Vec<_> = self
            .raw
            .list(Some(&prefix))
            .map_ok(|m| m.location)
            .try_collect()
            .await
            .with_context(|| format!("cannot list {}", self.loc))?;
        for path in objects {
            self.raw
                .delete(&path)
                .await
                .with_context(|| format!("cannot delete {path}"))?;
        }
        Ok(())
    }
}
