//! A location: a local directory or an `s3://bucket/prefix` URL, as the user gave it and as
//! every store sees it. Credentials never live in a location (see `storage::s3`).

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use object_store::path::Path as StorePath;
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
        if let Some((scheme, rest)) = text.split_once("://") {
            refuse_credentials(scheme, rest)?;
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

/// A location URL with user information (`s3://key:secret@bucket/…`) is refused before anything
/// parses, logs or stores it (manifests and ledgers record locations); the error names the
/// scheme and what follows the `@`, never what precedes it.
fn refuse_credentials(scheme: &str, rest: &str) -> Result<()> {
    let authority = rest.split('/').next().unwrap_or_default();
    if let Some((_, host)) = authority.rsplit_once('@') {
        bail!(
            "a {scheme}:// location may not carry credentials (found user information before `@{host}`): give them in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or an AWS profile (docs/storage.md)"
        );
    }
    Ok(())
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

    #[test]
    fn credentials_in_a_url_are_refused_without_echoing_them() {
        for text in [
            "s3://AKIAEXAMPLE:s3cr3t-value@lake/liverec",
            "s3://s3cr3t-value@lake",
            "file://user:s3cr3t-value@localhost/tmp",
        ] {
            let err = format!("{:#}", Location::parse(text).unwrap_err());
            assert!(err.contains("may not carry credentials"), "{err}");
            assert!(
                !err.contains("s3cr3t-value") && !err.contains("AKIAEXAMPLE"),
                "{err}"
            );
        }
        // An @ in a path is not user information.
        assert!(Location::parse("s3://lake/a@b/c").is_ok());
    }
}
