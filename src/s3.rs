//! S3-compatible stores. Credentials, region and endpoint come from the standard AWS
//! environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, …) read by `AmazonS3Builder::from_env`, never from
//! session config: Ballista's scheduler shows session config in its REST job view.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use object_store::aws::AmazonS3Builder;
use object_store::{BackoffConfig, ObjectStore, RetryConfig};

use crate::storage::Location;

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
    let store = AmazonS3Builder::from_env()
        .with_bucket_name(&bucket)
        .with_retry(retry)
        .build()
        .with_context(|| format!("cannot configure S3 access to bucket {bucket:?}"))?;
    Ok(Arc::new(store))
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
                let store = open_s3(&loc).map_err(|err| {
                    datafusion::error::DataFusionError::External(
                        format!("{err:#} (after: {e})").into(),
                    )
                })?;
                let base = url::Url::parse(&format!("s3://{}", url.host_str().unwrap_or_default()))
                    .map_err(|err| datafusion::error::DataFusionError::External(err.into()))?;
                self.inner.register_store(&base, store.clone());
                Ok(store)
            }
            Err(e) => Err(e),
        }
    }
}
