//! Uploads of soundscape products that never lose or duplicate (docs/fixes.md#uploads-upload-alfresco-upload-model, with its bugs
//! fixed).
//!
//! - [`catalog`] finds the unit folders and their products, filtered by kind.
//! - [`journal`] remembers, per unit folder, what reached which target with which content.
//! - [`alfresco`] and [`store`] put one product in place on Alfresco or object storage: look
//!   first, then upload, keep, or add a new version as the [`Existing`] policy says.
//! - [`model`] sets the `soundscape:product` type and properties on uploaded products.
//! - [`report`] records every product on every target as done, skipped or failed.
//!
//! [`upload`] runs it all with bounded concurrency; [`cli`] holds the options the two upload
//! binaries share.

pub mod alfresco;
pub mod catalog;
pub mod cli;
pub mod journal;
pub mod model;
pub mod report;
pub mod store;

use std::path::PathBuf;

use bytes::Bytes;
use futures::StreamExt;
use sha2::Digest;
use soundscape_core::products::ProductFile;
use soundscape_core::Status;

pub use soundscape_alfresco::nodes::hex;

use crate::catalog::UnitProducts;
use crate::journal::{Entry, Journal};
use crate::report::{FileOutcome, UploadReport};

/// What to do when a target holds a file of the same name with other content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replace it (a new version in Alfresco).
    Update,
    /// Leave it (the original's behaviour).
    Keep,
}

/// What happened to a product on a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Created,
    Replaced,
    /// The target already had the same content.
    Same,
    /// The target has other content, kept by policy.
    Kept,
    /// The journal lists this content as uploaded; the server was not asked.
    Journaled,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Replaced => "replaced",
            Action::Same => "same",
            Action::Kept => "kept",
            Action::Journaled => "journaled",
        }
    }

    /// The report's status and reason.
    pub fn status(self) -> (Status, Option<&'static str>) {
        match self {
            Action::Created | Action::Replaced => (Status::Done, None),
            Action::Same => (Status::Skipped, Some("the same content is already there")),
            Action::Kept => (
                Status::Skipped,
                Some("other content of that name is there and was kept (--existing keep)"),
            ),
            Action::Journaled => (
                Status::Skipped,
                Some("uploaded before with the same content (upload journal)"),
            ),
        }
    }
}

/// Where a product ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub action: Action,
    /// Node id or object key.
    pub remote: String,
    /// Alfresco `modifiedAt` or object e-tag.
    pub version: String,
}

impl Placed {
    pub fn new(action: Action, remote: String, version: String) -> Placed {
        Placed {
            action,
            remote,
            version,
        }
    }
}

/// A product read from disk, with its hash.
#[derive(Debug, Clone)]
pub struct LocalFile {
    pub path: PathBuf,
    /// Remote folder below the root: `<cumulus>/<node>/<recorder>/<deployment>`.
    pub folder: String,
    pub name: String,
    pub content: Bytes,
    pub size: u64,
    pub sha256: String,
}

impl LocalFile {
    pub fn read(unit: &UnitProducts, p: &ProductFile) -> Result<LocalFile, String> {
        let path = unit.dir.join(&p.name);
        let content = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(LocalFile::new(path, unit.remote_folder(), &p.name, content))
    }

    /// A file's content, to go to `<folder>/<name>` below a target's root.
    pub fn new(path: PathBuf, folder: String, name: &str, content: Vec<u8>) -> LocalFile {
        LocalFile {
            sha256: hex(&sha2::Sha256::digest(&content)),
            folder,
            name: name.to_string(),
            size: content.len() as u64,
            content: Bytes::from(content),
            path,
        }
    }
}

/// The MIME type of a product file.
pub fn mime_of(name: &str) -> &'static str {
    match name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("png") => "image/png",
        Some("mp4") => "video/mp4",
        Some("json") => "application/json",
        Some("parquet") => "application/vnd.apache.parquet",
        Some("flac") => "audio/flac",
        Some("wav") => "audio/wav",
        Some("jsonl") => "application/x-ndjson",
        _ => "application/octet-stream",
    }
}

/// Where products go.
pub enum Target {
    Alfresco(alfresco::AlfrescoTarget),
    Store(store::StoreTarget),
}

impl Target {
    pub fn id(&self) -> &str {
        match self {
            Target::Alfresco(t) => t.id(),
            Target::Store(t) => t.id(),
        }
    }

    async fn place(
        &self,
        f: &LocalFile,
        journal: &Journal,
        existing: Existing,
    ) -> Result<Placed, String> {
        match self {
            Target::Alfresco(t) => t.place(f, journal, existing).await,
            Target::Store(t) => t.place(f, Some(journal), existing).await,
        }
    }
}

/// How to upload.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    pub existing: Existing,
    /// Uploads in flight at once.
    pub jobs: usize,
    /// Ask the server even when the journal lists the product.
    pub verify: bool,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            existing: Existing::Update,
            jobs: 4,
            verify: false,
        }
    }
}

/// One product to every target; one outcome per target.
async fn upload_one(
    unit: &UnitProducts,
    p: &ProductFile,
    journal: &Journal,
    targets: &[Target],
    opts: &UploadOptions,
) -> Vec<FileOutcome> {
    let unit_id = unit.remote_folder();
    let outcome = |target: &str| FileOutcome::new(&unit_id, &p.name, p.kind, target);
    let local = {
        let (unit, p) = (unit.clone(), p.clone());
        tokio::task::spawn_blocking(move || LocalFile::read(&unit, &p))
            .await
            .unwrap_or_else(|e| Err(e.to_string()))
    };
    let f = match local {
        Ok(f) => f,
        Err(e) => {
            return targets
                .iter()
                .map(|t| outcome(t.id()).failed(e.clone()))
                .collect()
        }
    };
    let mut out = Vec::new();
    for t in targets {
        let mut o = outcome(t.id());
        o.bytes = f.size;
        let known = journal
            .get(t.id(), &f.name)
            .filter(|e| !opts.verify && e.sha256 == f.sha256 && e.size == f.size);
        if let Some(e) = known {
            out.push(o.placed(&Placed::new(Action::Journaled, e.remote, e.version)));
            continue;
        }
        match t.place(&f, journal, opts.existing).await {
            Ok(placed) => {
                let entry = Entry {
                    target: t.id().into(),
                    file: f.name.clone(),
                    sha256: f.sha256.clone(),
                    size: f.size,
                    remote: placed.remote.clone(),
                    version: placed.version.clone(),
                    action: placed.action.name().into(),
                    at: chrono::Utc::now().to_rfc3339(),
                };
                // A product kept with other content is not what the journal vouches for.
                let recorded = if placed.action == Action::Kept {
                    Ok(())
                } else {
                    journal.record(entry)
                };
                let mut o = o.placed(&placed);
                if let Err(e) = recorded {
                    o.warnings.push(format!("journal: {e}"));
                }
                out.push(o);
            }
            Err(e) => out.push(o.failed(format!("{}: {e}", f.path.display()))),
        }
    }
    out
}

/// [`upload_one`] with a panic inside it failing that product alone
/// ([`soundscape_core::isolate`]).
async fn isolated_upload(
    unit: &UnitProducts,
    p: &ProductFile,
    journal: &Journal,
    targets: &[Target],
    opts: &UploadOptions,
) -> Vec<FileOutcome> {
    use futures::FutureExt;
    let work = async {
        soundscape_core::isolate::poison_point(&p.name);
        upload_one(unit, p, journal, targets, opts).await
    };
    match std::panic::AssertUnwindSafe(work).catch_unwind().await {
        Ok(outcomes) => outcomes,
        Err(payload) => {
            let message = soundscape_core::isolate::panic_message(payload.as_ref());
            let reason = soundscape_core::isolate::panic_reason(
                &unit.dir.join(&p.name).display().to_string(),
                &message,
            );
            targets
                .iter()
                .map(|t| {
                    FileOutcome::new(&unit.remote_folder(), &p.name, p.kind, t.id())
                        .failed(reason.clone())
                })
                .collect()
        }
    }
}

/// Uploads the products of `units` to every target, `opts.jobs` at a time; `each` sees every
/// outcome as it comes (for progress). Failures are reported per product; the rest goes on.
pub async fn upload(
    units: &[UnitProducts],
    targets: &[Target],
    opts: &UploadOptions,
    report: &mut UploadReport,
    each: impl Fn(&FileOutcome),
) {
    let mut journals = Vec::new();
    for u in units {
        match Journal::open(&u.dir) {
            Ok(j) => {
                report.warnings.extend(j.warnings.iter().cloned());
                journals.push(Some(j));
            }
            Err(e) => {
                report.errors.push(e);
                journals.push(None);
            }
        }
    }
    let work = units
        .iter()
        .zip(&journals)
        .filter_map(|(u, j)| j.as_ref().map(|j| (u, j)))
        .flat_map(|(u, j)| u.products.iter().map(move |p| (u, p, j)));
    let stream = futures::stream::iter(work)
        .map(|(u, p, j)| isolated_upload(u, p, j, targets, opts))
        .buffer_unordered(opts.jobs.max(1));
    report.gather(stream, each).await;
}
