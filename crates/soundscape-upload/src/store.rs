//! Products into object storage (S3-compatible, GCS, Azure, or a local folder) through
//! `object_store`, under `<prefix>/<cumulus>/<node>/<recorder>/<deployment>/<file>`. The same
//! look-first rule as for Alfresco: a missing object is written, the same content is left
//! alone, other content is replaced or kept as the policy says. The SHA-256 of the content is
//! stored as object metadata (`sha256`) where the store supports it, so a rerun compares
//! without downloading; otherwise the journal or the object's own bytes decide. Files above
//! the multipart threshold go up in parts.

use std::sync::Arc;

use futures::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{
    Attribute, Attributes, GetOptions, ObjectStore, PutMultipartOptions, PutOptions, PutPayload,
    WriteMultipart,
};
use sha2::Digest;
use soundscape_alfresco::RetryPolicy;

use crate::journal::Journal;
use crate::{hex, mime_of, Action, Existing, LocalFile, Placed};

/// Name of the object metadata that holds the content's SHA-256.
pub const SHA_METADATA: &str = "sha256";

pub struct StoreTarget {
    store: Arc<dyn ObjectStore>,
    prefix: StorePath,
    url: String,
    /// Whether the store keeps attributes (metadata, content type); local folders do not.
    attributes: bool,
    /// Files larger than this go up as multipart uploads.
    pub multipart_threshold: usize,
    /// Size of one part.
    pub part_size: usize,
    pub retry: RetryPolicy,
}

impl StoreTarget {
    /// Opens `url` (`s3://bucket/prefix`, `gs://`, `az://`, `file://`), configured from the
    /// environment.
    pub fn open(url: &str) -> Result<StoreTarget, String> {
        let (store, prefix) = soundscape_store::open_store(url)?;
        Ok(StoreTarget::new(store, prefix, url))
    }

    /// A target over an opened store; `url` names it in the journal and the report.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: StorePath, url: &str) -> StoreTarget {
        StoreTarget {
            store,
            prefix,
            url: url.trim_end_matches('/').to_string(),
            attributes: !url.starts_with("file://"),
            multipart_threshold: 64 * 1024 * 1024,
            part_size: 16 * 1024 * 1024,
            // object_store retries single requests itself (5xx, timeouts, lost connections).
            retry: RetryPolicy {
                attempts: 3,
                ..RetryPolicy::default()
            },
        }
    }

    /// The journal's name of this target.
    pub fn id(&self) -> &str {
        &self.url
    }

    pub fn key(&self, f: &LocalFile) -> StorePath {
        let mut key = self.prefix.clone();
        for part in f.folder.split('/').chain([f.name.as_str()]) {
            key = key.join(part);
        }
        key
    }

    fn attributes(&self, f: &LocalFile) -> Attributes {
        let mut a = Attributes::new();
        if self.attributes {
            a.insert(Attribute::ContentType, mime_of(&f.name).into());
            a.insert(
                Attribute::Metadata(SHA_METADATA.into()),
                f.sha256.clone().into(),
            );
        }
        a
    }

    async fn content_sha256(&self, key: &StorePath) -> object_store::Result<String> {
        let mut stream = self
            .store
            .get_opts(key, GetOptions::default())
            .await?
            .into_stream();
        let mut h = sha2::Sha256::new();
        while let Some(chunk) = stream.next().await {
            h.update(&chunk?);
        }
        Ok(hex(&h.finalize()))
    }

    async fn write(&self, key: &StorePath, f: &LocalFile) -> object_store::Result<String> {
        let attributes = self.attributes(f);
        let result = if f.content.len() > self.multipart_threshold {
            let opts = PutMultipartOptions {
                attributes,
                ..Default::default()
            };
            let upload = self.store.put_multipart_opts(key, opts).await?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, self.part_size);
            w.put(f.content.clone());
            w.finish().await?
        } else {
            let opts = PutOptions {
                attributes,
                ..Default::default()
            };
            self.store
                .put_opts(key, PutPayload::from_bytes(f.content.clone()), opts)
                .await?
        };
        Ok(result.e_tag.unwrap_or_default())
    }

    async fn attempt(
        &self,
        f: &LocalFile,
        journal: Option<&Journal>,
        existing: Existing,
    ) -> object_store::Result<Placed> {
        let key = self.key(f);
        let head = GetOptions {
            head: true,
            ..Default::default()
        };
        let remote = match self.store.get_opts(&key, head).await {
            Ok(r) => Some(r),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let Some(remote) = remote else {
            let tag = self.write(&key, f).await?;
            return Ok(Placed::new(Action::Created, key.to_string(), tag));
        };
        let tag = remote.meta.e_tag.clone().unwrap_or_default();
        let same = if remote.meta.size != f.size {
            false
        } else if let Some(sha) = remote
            .attributes
            .get(&Attribute::Metadata(SHA_METADATA.into()))
        {
            sha.as_ref() == f.sha256
        } else if let Some(e) = journal.and_then(|j| j.by_remote(&self.url, key.as_ref(), &tag)) {
            e.sha256 == f.sha256
        } else {
            self.content_sha256(&key).await? == f.sha256
        };
        match (same, existing) {
            (true, _) => Ok(Placed::new(Action::Same, key.to_string(), tag)),
            (false, Existing::Keep) => Ok(Placed::new(Action::Kept, key.to_string(), tag)),
            (false, Existing::Update) => {
                let tag = self.write(&key, f).await?;
                Ok(Placed::new(Action::Replaced, key.to_string(), tag))
            }
        }
    }

    /// Puts one product in place. `object_store` already retries single requests; this
    /// repeats the whole look-and-write on what is left, with backoff. Without a journal, a
    /// store that keeps no metadata is compared by reading the object back.
    pub async fn place(
        &self,
        f: &LocalFile,
        journal: Option<&Journal>,
        existing: Existing,
    ) -> Result<Placed, String> {
        let what = format!("store {}", f.path.display());
        self.retry
            .run_when(
                &what,
                || self.attempt(f, journal, existing),
                |e| {
                    !matches!(
                        e,
                        object_store::Error::PermissionDenied { .. }
                            | object_store::Error::Unauthenticated { .. }
                            | object_store::Error::NotImplemented { .. }
                    )
                },
            )
            .await
            .map_err(|e| format!("{}: {e}", self.url))
    }
}
