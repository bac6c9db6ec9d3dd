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
