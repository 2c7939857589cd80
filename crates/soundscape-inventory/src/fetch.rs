//! Fetching a recording that lives in an object store (`s3://...` paths of the audio table)
//! into a local temporary file, streamed, so that the stages that decode audio can read it.

use std::io::Write;
use std::path::Path;

use futures::StreamExt;
use object_store::ObjectStoreExt;

use crate::objstore::{is_store_url, open_store};

/// Whether a recording path names an object rather than a local file.
pub fn is_remote(path: &Path) -> bool {
    path.to_str().is_some_and(is_store_url)
}

/// Downloads `url` into a temporary file in `dir` (deleted when dropped), keeping the
/// extension so that decoders can use it as a hint.
pub fn fetch_to_temp(url: &str, dir: &Path) -> Result<tempfile::NamedTempFile, String> {
    let (store, path) = open_store(url)?;
    let ext = url
        .rsplit_once('.')
        .map(|(_, e)| format!(".{e}"))
        .filter(|e| e.len() <= 6 && !e.contains('/'))
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(".fetch-")
        .suffix(&ext)
        .tempfile_in(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let got = store
            .get(&path)
            .await
            .map_err(|e| format!("{url}: cannot fetch: {e}"))?;
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| format!("{url}: fetch interrupted: {e}"))?;
            tmp.write_all(&chunk)
                .map_err(|e| format!("{url}: writing the local copy: {e}"))?;
        }
        tmp.flush().map_err(|e| e.to_string())
    })?;
    Ok(tmp)
}

/// A local temporary copy of a recording in an object store (`None` for a local path, which is
/// read where it is).
pub fn local_copy(path: &Path) -> Result<Option<tempfile::NamedTempFile>, String> {
    if !is_remote(path) {
        return Ok(None);
    }
    fetch_to_temp(&path.display().to_string(), &std::env::temp_dir())
        .map(Some)
        .map_err(|e| format!("{e} (fetch)"))
}
