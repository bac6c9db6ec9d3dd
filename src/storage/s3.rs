//! S3-compatible stores. Settings, in increasing precedence:
//! 1. the AWS shared files of the profile `AWS_PROFILE` (default `default`):
//!    `~/.aws/credentials` (`AWS_SHARED_CREDENTIALS_FILE`) and `~/.aws/config`
//!    (`AWS_CONFIG_FILE`) — `aws_access_key_id`, `aws_secret_access_key`,
//!    `aws_session_token`, `region`, `endpoint_url`, and liverec's `allow_http = true` and
//!    `addressing_style = virtual|path` (path-style is the default);
//! 2. the standard environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!    `AWS_REGION`, `AWS_ENDPOINT_URL`/`AWS_ENDPOINT`, `AWS_ALLOW_HTTP`,
//!    `AWS_VIRTUAL_HOSTED_STYLE_REQUEST`, …);
//! 3. the `--s3-endpoint` flag.
//!
//! Never from session config: Ballista's scheduler shows session config in its REST job
//! view. Each process (client, scheduler, executor) reads its own.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{BackoffConfig, ObjectStore, RetryConfig};

use crate::location::Location;

static ENDPOINT: OnceLock<String> = OnceLock::new();

/// The `--s3-endpoint` flag: overrides every other endpoint setting of this process.
pub fn set_endpoint(endpoint: &str) {
    let _ = ENDPOINT.set(endpoint.to_string());
}

/// The `--s3-endpoint` given to this process, if any (passed on to child processes).
pub fn endpoint() -> Option<&'static str> {
    ENDPOINT.get().map(String::as_str)
}

/// Opens a bucket's store (unfiltered: see `storage::Storage` for the committed view).
pub fn open_s3(loc: &Location) -> Result<Arc<dyn ObjectStore>> {
    let bucket = loc.url().host_str().unwrap_or_default().to_string();
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: 5,
        retry_timeout: Duration::from_secs(60),
    };
    let mut builder = AmazonS3Builder::new();
    for (key, value) in settings() {
        let key: AmazonS3ConfigKey = key
            .parse()
            .with_context(|| format!("unknown S3 setting {key:?}"))?;
        builder = builder.with_config(key, value);
    }
    let store = builder
        .with_bucket_name(&bucket)
        .with_retry(retry)
        .build()
        .with_context(|| format!("cannot configure S3 access to bucket {bucket:?}"))?;
    Ok(Arc::new(store))
}

/// Every setting, later sources overriding earlier ones (object_store's key names).
fn settings() -> BTreeMap<String, String> {
    let env: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("AWS_"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let profile = env
        .get("aws_profile")
        .cloned()
        .unwrap_or_else(|| "default".into());
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let file = |var: &str, default: &str| {
        env.get(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(default)))
    };
    let mut out = BTreeMap::new();
    // The credentials file names sections by profile; the config file as `profile NAME`
    // (and `default`).
    let config_section = if profile == "default" {
        profile.clone()
    } else {
        format!("profile {profile}")
    };
    for (path, section) in [
        (file("aws_config_file", ".aws/config"), config_section),
        (
            file("aws_shared_credentials_file", ".aws/credentials"),
            profile.clone(),
        ),
    ] {
        let Some(text) = path.and_then(|p| std::fs::read_to_string(p).ok()) else {
            continue;
        };
        for (key, value) in ini_section(&text, &section) {
            let key = match key.as_str() {
                "aws_access_key_id" | "aws_secret_access_key" | "aws_session_token" => key,
                "region" => "aws_region".into(),
                "endpoint_url" => "aws_endpoint".into(),
                "allow_http" => "aws_allow_http".into(),
                "addressing_style" => {
                    let virtual_hosted = (value == "virtual").to_string();
                    out.insert("aws_virtual_hosted_style_request".into(), virtual_hosted);
                    continue;
                }
                _ => continue,
            };
            out.insert(key, value);
        }
    }
    for (k, v) in env {
        if [
            "aws_profile",
            "aws_config_file",
            "aws_shared_credentials_file",
        ]
        .contains(&k.as_str())
        {
            continue;
        }
        if k.parse::<AmazonS3ConfigKey>().is_ok() {
            // One endpoint key, so the environment's overrides the file's whatever its name.
            let k = if k == "aws_endpoint_url" {
                "aws_endpoint".into()
            } else {
                k
            };
            out.insert(k, v);
        }
    }
    if let Some(endpoint) = ENDPOINT.get() {
        out.insert("aws_endpoint".into(), endpoint.clone());
    }
    out
}

/// The `key = value` pairs of `[section]` in an INI text (the AWS shared files' format).
fn ini_section(text: &str, section: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
            continue;
        }
        if inside && let Some((k, v)) = line.split_once('=') {
            out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    out
}

/// The object stores of every liverec runtime (embedded, client, scheduler, executors):
/// DataFusion's default registry (local files), plus S3 buckets opened on first use from an
/// `s3://bucket/…` URL with the environment's AWS settings — so an executor can read any
/// bucket a job names without the client shipping credentials in session config.
#[derive(Debug, Default)]
pub struct LiverecObjectStores {
    inner: datafusion::execution::object_store::DefaultObjectStoreRegistry,
}

impl datafusion::execution::object_store::ObjectStoreRegistry for LiverecObjectStores {
    fn register_store(
        &self,
        url: &url::Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn get_store(&self, url: &url::Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        match self.inner.get_store(url) {
            Ok(store) => Ok(store),
            Err(e) if url.scheme() == "s3" => {
                let loc = Location::parse(url.as_str())
                    .map_err(|err| datafusion::error::DataFusionError::External(err.into()))?;
                let raw = open_s3(&loc).map_err(|err| {
                    datafusion::error::DataFusionError::External(
                        format!("{err:#} (after: {e})").into(),
                    )
                })?;
                let store: Arc<dyn ObjectStore> =
                    Arc::new(super::committed::CommittedView::new(raw));
                let base = url::Url::parse(&format!("s3://{}", url.host_str().unwrap_or_default()))
                    .map_err(|err| datafusion::error::DataFusionError::External(err.into()))?;
                self.inner.register_store(&base, store.clone());
                Ok(store)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_profile_section() {
        let text = "[default]\nregion = eu-west-1\n\n[profile lake]\n# comment\nregion = cn-north-1\nendpoint_url = http://10.0.0.5:9000\naddressing_style = path\n";
        assert_eq!(
            ini_section(text, "profile lake"),
            vec![
                ("region".to_string(), "cn-north-1".to_string()),
                (
                    "endpoint_url".to_string(),
                    "http://10.0.0.5:9000".to_string()
                ),
                ("addressing_style".to_string(), "path".to_string()),
            ]
        );
        assert_eq!(ini_section(text, "default").len(), 1);
    }
}
