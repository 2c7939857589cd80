//! The get-audio-df stage: list the recordings of a source into `audio.parquet`, the units
//! manifest `units.json` (each unit with its recordings), the batch plan `batches.json` (the
//! units cut into batches), `fanout.json` (one item per batch, what the workflow fans out over)
//! and `run_report.json`.
//!
//! Sources: a local folder (walked recursively, with an optional layout), a CSV or parquet
//! manifest, an object-store prefix (`s3://`, `gs://`, `az://`, `file://`), or `alfresco`
//! (the Search API, settings from the environment).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rayon::prelude::*;
use soundscape_alfresco::{AlfrescoConfig, SearchClient, SearchQuery};
use soundscape_core::batches::{BatchPlan, BATCHES_FILE};
use soundscape_core::fsutil::{write_json_atomic, write_json_compact_atomic};
use soundscape_core::units::{FANOUT_FILE, UNITS_FILE};
use soundscape_core::RunReport;
use soundscape_inventory::folder::probe_isolated;
use soundscape_inventory::folder::{list_folder, FolderOptions};
use soundscape_inventory::table::{write_audio_table, AUDIO_TABLE};
use soundscape_inventory::{alfresco, assemble, objstore, Filters, Listed, ListedRow};
use soundscape_table::input::{read_manifest, RowError};

pub const REPORT: &str = "run_report.json";

/// Where the recordings are listed from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Folder(PathBuf),
    Manifest(PathBuf),
    Store(String),
    Alfresco,
}

impl Source {
    pub fn parse(s: &str) -> Result<Source> {
        if s.eq_ignore_ascii_case("alfresco") {
            return Ok(Source::Alfresco);
        }
        if objstore::is_store_url(s) {
            return Ok(Source::Store(s.to_string()));
        }
        let p = PathBuf::from(s);
        if p.is_dir() {
            Ok(Source::Folder(p))
        } else if p.is_file() {
            Ok(Source::Manifest(p))
        } else {
            anyhow::bail!(
                "source {s:?} is not a folder, a manifest file, an object-store URL or 'alfresco'"
            )
        }
    }

    fn describe(&self) -> String {
        match self {
            Source::Folder(p) | Source::Manifest(p) => p.display().to_string(),
            Source::Store(u) => u.clone(),
            Source::Alfresco => "alfresco".into(),
        }
    }
}

/// Settings of the Alfresco source.
#[derive(Debug, Clone)]
pub struct AlfrescoSource {
    pub config: AlfrescoConfig,
    pub query: SearchQuery,
    /// Local mount of the document library (paths of the audio table).
    pub mount: PathBuf,
}

/// What to list and where to write.
pub struct Job {
    pub source: Source,
    pub out: PathBuf,
    pub folder: FolderOptions,
    pub filters: Filters,
    pub alfresco: Option<AlfrescoSource>,
    /// Batches the workflow fans out over at most ([`BatchPlan`]).
    pub fan_out_width: usize,
}

/// Reads headers of manifest rows whose files are local.
fn probe_manifest_rows(rows: Vec<soundscape_table::input::Row>, probe: bool) -> Vec<ListedRow> {
    rows.into_par_iter()
        .map(|row| {
            let rec = row?;
            let mut l = Listed::from_manifest(rec);
            if probe && l.recording.path.is_file() {
                match probe_isolated(&l.recording.path) {
                    Ok(h) => {
                        l.warnings.extend(h.warnings.clone());
                        l.size = std::fs::metadata(&l.recording.path).ok().map(|m| m.len());
                        l.header = Some(h);
                    }
                    Err(reason) => {
                        return Err(RowError {
                            index: l.recording.index,
                            id: l.recording.id.clone(),
                            path: l.recording.path.clone(),
                            reason,
                        })
                    }
                }
            }
            Ok(l)
        })
        .collect()
}

async fn list_alfresco(a: &AlfrescoSource, probe: bool) -> Result<(Vec<ListedRow>, Vec<String>)> {
    let client = SearchClient::new(a.config.clone())?;
    let found = client.search_all(&a.query).await?;
    let mut rows: Vec<ListedRow> = found
        .entries
        .par_iter()
        .enumerate()
        .map(|(i, e)| alfresco::parse_entry(i, e, &a.mount, probe))
        .collect();
    let n = rows.len();
    for (k, (pos, reason)) in found.malformed.iter().enumerate() {
        rows.push(Err(RowError {
            index: n + k,
            id: String::new(),
            path: PathBuf::new(),
            reason: format!("alfresco search result #{pos}: {reason}"),
        }));
    }
    let mut notes = found.warnings;
    if found.duplicates > 0 {
        notes.push(format!(
            "{} entries came twice from the search and were listed once",
            found.duplicates
        ));
    }
    Ok((rows, notes))
}

/// Lists, assembles and writes. Returns the run report (also written to `out`).
pub fn run(job: &Job) -> Result<RunReport> {
    std::fs::create_dir_all(&job.out)
        .with_context(|| format!("cannot create {}", job.out.display()))?;
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("tokio runtime")
    };
    let mut notes = Vec::new();
    let rows: Vec<ListedRow> = match &job.source {
        Source::Folder(dir) => {
            let (rows, n) = list_folder(dir, &job.folder).map_err(anyhow::Error::msg)?;
            notes = n;
            rows
        }
        Source::Manifest(m) => {
            let rows = read_manifest(m, &job.folder.defaults).map_err(anyhow::Error::msg)?;
            probe_manifest_rows(rows, job.folder.probe)
        }
        Source::Store(url) => {
            let (rows, n) = runtime()?
                .block_on(objstore::list_prefix(url, &job.folder))
                .map_err(anyhow::Error::msg)?;
            notes = n;
            rows
        }
        Source::Alfresco => {
            let a = job
                .alfresco
                .as_ref()
                .context("the alfresco source needs its settings")?;
            let (rows, n) = runtime()?.block_on(list_alfresco(a, job.folder.probe))?;
            notes = n;
            rows
        }
    };
    let listed = rows.len();
    if listed == 0 {
        anyhow::bail!(
            "nothing to do: {} holds no recordings (audio files end in {})",
            job.source.describe(),
            soundscape_table::input::AUDIO_EXTENSIONS.join(", ")
        );
    }
    let inventory = assemble(rows, &job.filters, &job.source.describe(), AUDIO_TABLE);
    let mut report = inventory.report;
    for n in notes {
        tracing::warn!("{n}");
        report.warnings.push(n);
    }
    let table = job.out.join(AUDIO_TABLE);
    write_audio_table(&table, &inventory.rows)
        .with_context(|| format!("writing {}", table.display()))?;
    let units = job.out.join(UNITS_FILE);
    write_json_compact_atomic(&units, &inventory.manifest)?;
    let plan = BatchPlan::new(&inventory.manifest, job.fan_out_width);
    let batches = job.out.join(BATCHES_FILE);
    write_json_compact_atomic(&batches, &plan)?;
    let fanout = job.out.join(FANOUT_FILE);
    write_json_compact_atomic(&fanout, &plan.fanout())?;
    report.outputs = vec![
        table.display().to_string(),
        units.display().to_string(),
        batches.display().to_string(),
        fanout.display().to_string(),
    ];
    if inventory.manifest.recordings == 0 {
        report.errors.push(format!(
            "nothing to do: none of the {listed} recordings listed was kept (each one's reason is in {REPORT})"
        ));
    }
    report.finish();
    write_json_atomic(&job.out.join(REPORT), &report)?;
    tracing::info!(
        listed,
        kept = inventory.manifest.recordings,
        units = inventory.manifest.units.len(),
        batches = plan.batches.len(),
        batch_size = plan.batch_size,
        failed = report.summary.failed,
        "inventory written to {}",
        job.out.display()
    );
    Ok(report)
}

/// Reads the units manifest written by a run into `dir`.
pub fn read_units(dir: &Path) -> Result<soundscape_core::UnitsManifest> {
    soundscape_core::UnitsManifest::read(&dir.join(UNITS_FILE)).map_err(anyhow::Error::msg)
}
