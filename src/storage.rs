//! The one storage seam: every table path is a URL resolved to an `object_store` store.
//!
//! Local directories (`./data`, `/abs/path`, `file:///…`) and S3-compatible buckets
//! (`s3://bucket/prefix`) go through the same calls. Only the commit step of the atomic
//! writer differs per backend (see `writer.rs`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use url::Url;

/// A location: a directory-like URL (no trailing slash kept internally).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    url: Url,
}

impl Location {
    /// Parses a user-given location: a URL with a scheme, or a local path (relative paths are
    /// resolved against the current directory).
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.is_empty() {
            bail!("empty location");
        }
        if let Some((scheme, _)) = text.split_once("://") {
            let url = Url::parse(text).with_context(|| format!("invalid location URL {text:?}"))?;
            match scheme {
                "file" | "s3" => {}
                other => bail!(
                    "unsupported storage scheme {other:?} in {text:?} (supported: local paths, file://, s3://)"
                ),
            }
            if scheme == "s3" && url.host_str().unwrap_or("").is_empty() {
                bail!("s3 location {text:?} has no bucket name");
            }
            return Ok(Self::from_url(url));
        }
        let path = PathBuf::from(text);
        let abs = if path.is_absolute() {
            path
        } else {
            std::env::current_dir()
                .context("cannot read the current directory")?
                .join(path)
        };
        let abs = normalize(&abs);
        let url = Url::from_directory_path(&abs)
            .map_err(|_| anyhow!("cannot turn {} into a file URL", abs.display()))?;
        Ok(Self::from_url(url))
    }

    fn from_url(mut url: Url) -> Self {
        let trimmed = url.path().trim_end_matches('/').to_string();
        url.set_path(if trimmed.is_empty() { "/" } else { &trimmed });
        Self { url }
    }

    /// A child location; `segment` may contain `/`.
    pub fn join(&self, segment: &str) -> Self {
        let mut url = self.url.clone();
        let base = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base}/{}", segment.trim_matches('/')));
        Self { url }
    }

    pub fn scheme(&self) -> &str {
        self.url.scheme()
    }

    pub fn is_local(&self) -> bool {
        self.url.scheme() == "file"
    }

    /// The filesystem path of a local location.
    pub fn local_path(&self) -> Option<PathBuf> {
        if self.is_local() {
            self.url.to_file_path().ok()
        } else {
            None
        }
    }

    /// The key prefix of this location inside its store.
    pub fn store_path(&self) -> StorePath {
        let path = self.url.path().trim_matches('/');
        // Url paths are percent-encoded; object_store's Path::from_url_path decodes them.
        StorePath::from_url_path(path).unwrap_or_else(|_| StorePath::from(path))
    }

    /// The URL of the store this location lives in (`file:///` or `s3://bucket`).
    pub fn store_url(&self) -> Url {
        let mut url = self.url.clone();
        url.set_path("/");
        url.set_query(None);
        url.set_fragment(None);
        url
    }

    /// The URL with a trailing slash, as DataFusion's `ListingTableUrl` wants for directories.
    pub fn dir_url(&self) -> String {
        let s = self.url.as_str();
        if s.ends_with('/') {
            s.to_string()
        } else {
            format!("{s}/")
        }
    }

    pub fn url(&self) -> &Url {
        &self.url
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.local_path() {
            Some(p) => write!(f, "{}", p.display()),
            None => write!(f, "{}", self.url),
        }
    }
}

fn normalize(path: &std::path::Path) -> PathBuf {
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Opens the object store behind a location as readers see it (on S3, listings show
/// committed data files only: `committed.rs`), and the same store unfiltered (for the
/// writer's own leftovers and for cleanup).
fn open_stores(loc: &Location) -> Result<(Arc<dyn ObjectStore>, Arc<dyn ObjectStore>)> {
    match loc.scheme() {
        "file" => {
            let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new());
            Ok((store.clone(), store))
        }
        "s3" => {
            let raw = crate::s3::open_s3(loc)?;
            let view: Arc<dyn ObjectStore> =
                Arc::new(crate::committed::CommittedView::new(raw.clone()));
            Ok((view, raw))
        }
        other => bail!("unsupported storage scheme {other:?}"),
    }
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

    /// The `dt=YYYY-MM-DD` partitions directly under this location, sorted. Names that do not
    /// start with `dt=` are ignored; a `dt=` name that is not a date is an error.
    pub async fn list_partitions(&self) -> Result<Vec<NaiveDate>> {
        let prefix = self.loc.store_path();
        let listing = self
            .store
            .list_with_delimiter(Some(&prefix))
            .await
            .with_context(|| format!("cannot list {}", self.loc))?;
        let mut days = Vec::new();
        for dir in listing.common_prefixes {
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
        let prefix = self.loc.store_path();
        let listing = self
            .store
            .list_with_delimiter(Some(&prefix))
            .await
            .with_context(|| format!("cannot list {}", self.loc))?;
        let mut files: Vec<_> = listing
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

/// Formats a partition directory name.
pub fn partition_name(day: NaiveDate) -> String {
    format!("dt={}", day.format("%Y-%m-%d"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_local_and_s3_locations() {
        let l = Location::parse("/tmp/x/../y/").unwrap();
        assert_eq!(l.local_path().unwrap(), PathBuf::from("/tmp/y"));
        assert_eq!(
            l.join("heat/dt=2026-01-01").dir_url(),
            "file:///tmp/y/heat/dt=2026-01-01/"
        );
        let s = Location::parse("s3://bucket/some/prefix/").unwrap();
        assert_eq!(s.store_url().as_str(), "s3://bucket/");
        assert_eq!(s.join("heat").store_path().as_ref(), "some/prefix/heat");
        assert!(Location::parse("hdfs://nn/x").is_err());
        assert!(Location::parse("s3:///nobucket").is_err());
    }
}
