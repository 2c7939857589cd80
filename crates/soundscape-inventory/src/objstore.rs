//! Recordings under an object-store prefix (`s3://`, `gs://`, `az://`, `file://`), listed
//! through `object_store`. Headers of WAV objects are read from their first 64 KiB with a range
//! request, so durations and sample rates come from the files, not from names; other formats
//! are listed without a header (a warning says so).
//!
//! Credentials and endpoints come from the environment as `object_store` reads them:
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL`, `AWS_REGION`,
//! `AWS_ALLOW_HTTP`, `AWS_VIRTUAL_HOSTED_STYLE_REQUEST` (path-style by default), and the
//! `GOOGLE_*` and `AZURE_*` equivalents.

use std::path::PathBuf;

use futures::StreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
pub use soundscape_store::{is_store_url, open_store};
use url::Url;

use soundscape_table::input::AUDIO_EXTENSIONS;

use crate::folder::{chain_starts, fill_deployments, listed_from, resolve_layout, FolderOptions};
use crate::header::probe_wav_prefix;
use crate::ListedRow;

/// Bytes read from the start of a WAV object to find its header.
pub const HEADER_BYTES: u64 = 64 * 1024;
/// Header requests in flight at once.
pub const CONCURRENCY: usize = 32;

fn is_audio(key: &str) -> bool {
    key.rsplit_once('.')
        .is_some_and(|(_, e)| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Lists the recordings under `url` (a prefix); `opts.layout` names the key levels below it.
/// Returns the rows and the run-level notes (how the keys were chosen, see
/// [`crate::folder::resolve_layout`]).
pub async fn list_prefix(
    url: &str,
    opts: &FolderOptions,
) -> Result<(Vec<ListedRow>, Vec<String>), String> {
    let (store, prefix) = open_store(url)?;
    let listed: Vec<object_store::Result<object_store::ObjectMeta>> =
        store.list(Some(&prefix)).collect().await;
    // A key object_store cannot represent (control characters) spoils its whole listing
    // page, so it fails the run with the key named rather than losing a page of recordings.
    let mut metas = Vec::new();
    for item in listed {
        match item {
            Ok(m) if is_audio(m.location.as_ref()) => metas.push(m),
            Ok(_) => {}
            Err(e) => return Err(format!("{url}: cannot list: {e}")),
        }
    }
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    let base = url.trim_end_matches('/').to_string();
    let scheme_root = {
        let p = Url::parse(url).map_err(|e| e.to_string())?;
        format!("{}://{}", p.scheme(), p.host_str().unwrap_or(""))
    };
    let rels: Vec<Vec<String>> = metas
        .iter()
        .map(|meta| {
            let rel: Vec<String> = meta
                .location
                .prefix_match(&prefix)
                .map(|parts| parts.map(|p| p.as_ref().to_string()).collect())
                .unwrap_or_default();
            rel[..rel.len().saturating_sub(1)].to_vec()
        })
        .collect();
    let all: Vec<&[String]> = rels.iter().map(Vec::as_slice).collect();
    let (opts, note) = resolve_layout(opts, &all, &base);
    let opts = &opts;
    let rows = futures::stream::iter(metas.into_iter().zip(&rels).enumerate())
        .map(|(index, (meta, dirs))| {
            let store = store.clone();
            let scheme_root = scheme_root.clone();
            let base = base.clone();
            async move {
                let key = meta.location.as_ref().to_string();
                let wav = key.to_ascii_lowercase().ends_with(".wav");
                let header = if opts.probe && wav {
                    let end = HEADER_BYTES.min(meta.size);
                    Some(
                        match store.get_range(&meta.location, 0..end).await {
                            Ok(bytes) => probe_wav_prefix(&bytes, meta.size),
                            Err(e) => Err(e.to_string()),
                        }
                        .map_err(|e| format!("{scheme_root}/{key}: {e}")),
                    )
                } else {
                    None
                };
                let path = PathBuf::from(format!("{scheme_root}/{key}"));
                let mut row = listed_from(index, path, dirs, Some(meta.size), header, opts, &base);
                if let Ok(l) = &mut row {
                    if opts.probe && !wav {
                        l.warnings
                            .push("header not read (only WAV headers are read remotely)".into());
                    }
                }
                row
            }
        })
        .buffered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    Ok((
        fill_deployments(chain_starts(rows, &rels)),
        note.into_iter().collect(),
    ))
}
