//! Object stores opened from URLs (`s3://`, `gs://`, `az://`, `file://`) through
//! `object_store`, shared by the listing of recordings and the uploads.
//!
//! Credentials and endpoints come from the environment as `object_store` reads them:
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL`, `AWS_REGION`,
//! `AWS_ALLOW_HTTP`, `AWS_VIRTUAL_HOSTED_STYLE_REQUEST` (path-style by default), and the
//! `GOOGLE_*` and `AZURE_*` equivalents. They are never logged.

use std::sync::Arc;

use object_store::path::Path as StorePath;
use object_store::ObjectStore;
use url::Url;

/// Whether a source string names an object store.
pub fn is_store_url(source: &str) -> bool {
    [
        "s3://", "s3a://", "gs://", "az://", "azure://", "abfs://", "abfss://", "file://",
    ]
    .iter()
    .any(|p| source.starts_with(p))
}

/// Opens the store of a URL, configured from the environment; returns it with the prefix.
pub fn open_store(url: &str) -> Result<(Arc<dyn ObjectStore>, StorePath), String> {
    let parsed = Url::parse(url).map_err(|e| format!("{url}: not a URL: {e}"))?;
    let prefix = StorePath::from_url_path(parsed.path())
        .map_err(|e| format!("{url}: bad object path: {e}"))?;
    let err = |e: object_store::Error| format!("{url}: {e}");
    let store: Arc<dyn ObjectStore> = match parsed.scheme() {
        "s3" | "s3a" => Arc::new(
            object_store::aws::AmazonS3Builder::from_env()
                .with_url(url)
                .build()
                .map_err(err)?,
        ),
        "gs" => Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(url)
                .build()
                .map_err(err)?,
        ),
        "az" | "azure" | "abfs" | "abfss" => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(url)
                .build()
                .map_err(err)?,
        ),
        "file" => {
            let (store, path) = object_store::parse_url(&parsed).map_err(err)?;
            return Ok((Arc::from(store), path));
        }
        other => return Err(format!("{url}: unsupported scheme {other:?}")),
    };
    Ok((store, prefix))
}
