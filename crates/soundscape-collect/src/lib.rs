//! What a run left behind, in one place (`soundscape collect`, the workflow's final step).
//!
//! - [`summary`]: `work/run_summary.json`, every stage report of every unit gathered: counts per
//!   stage and status, seconds and audio hours, every failed item with its unit and reason.
//! - [`dataset`]: the units' soundscape, embeddings and detections tables as one
//!   Hive-partitioned Parquet dataset, rewritten only where a table changed.

pub mod dataset;
pub mod summary;

use std::path::{Path, PathBuf};

use soundscape_core::fsutil::write_json_atomic;

pub use dataset::Collected;
pub use summary::RunSummary;

/// The folders of a run.
#[derive(Debug, Clone)]
pub struct RunDirs {
    pub work: PathBuf,
    pub results: PathBuf,
    pub dataset: PathBuf,
}

impl RunDirs {
    /// The folders `soundscape run --out DIR` makes: `DIR/work`, `DIR/results`, `DIR/dataset`.
    pub fn under(dir: &Path) -> RunDirs {
        RunDirs {
            work: dir.join("work"),
            results: dir.join("results"),
            dataset: dir.join("dataset"),
        }
    }
}

/// Gathers the summary (written to `work/run_summary.json` and its brief) and collects the
/// dataset. A table that cannot be collected is a failure of the summary's `collect` stage.
pub fn collect(dirs: &RunDirs) -> Result<(RunSummary, Collected), String> {
    let manifest =
        soundscape_core::UnitsManifest::read(&dirs.work.join(soundscape_core::units::UNITS_FILE))?;
    let collected = dataset::collect(&manifest, &dirs.results, &dirs.dataset)?;
    let mut s = summary::gather(&dirs.work, &dirs.results)?;
    for (table, reason) in &collected.failed {
        s.failed.push(summary::Failure {
            stage: "collect".into(),
            unit: None,
            item: Some(table.clone()),
            reason: reason.clone(),
        });
    }
    s.failed_total = s.failed.len();
    if s.status == "done" && !collected.failed.is_empty() {
        s.status = "partial".into();
    }
    for (file, v) in [
        (summary::SUMMARY_FILE, s.clone()),
        (summary::BRIEF_FILE, s.brief()),
    ] {
        let path = dirs.work.join(file);
        write_json_atomic(&path, &v).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok((s, collected))
}
