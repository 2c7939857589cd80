//! The dirstruct stage: one folder per processing unit that exists (docs/files.md), each with a
//! `unit.json` that holds the unit's recordings and the ids of its products (docs/method.md#product-ids).
//!
//! Fixes of the original: no Cartesian product of nodes, recorders and deployments, and no
//! `rmtree` of the results: existing folders and products are left alone, so runs of several
//! cumuli can share a results folder. Unit keys are checked before they become paths.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use soundscape_core::fsutil::write_json_atomic;
use soundscape_core::layout::unit_product_ids;
use soundscape_core::units::UNIT_FILE;
use soundscape_core::{RunReport, Status, Unit, UnitOutcome, UnitPath, UnitsManifest};

pub const REPORT: &str = "dirstruct_report.json";

pub struct Job {
    pub units: PathBuf,
    pub results_dir: PathBuf,
    /// Path written into ids and metadata for the results folder (default: `results_dir`
    /// made absolute). `/shared_volume/audio/soundscapes` gives the original's ids.
    pub id_root: Option<String>,
    /// Only these units (ids); empty: all.
    pub only: Vec<String>,
    /// Where the report goes (default: beside the units manifest).
    pub report: Option<PathBuf>,
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Creates (or refreshes) one unit folder.
fn make_unit(unit: &Unit, results: &Path, id_root: &str) -> Result<(Status, Vec<String>), String> {
    let path = UnitPath::parse(&unit.id)?;
    if path != unit.path {
        return Err(format!(
            "unit id {:?} does not match its keys {:?}",
            unit.id,
            unit.path.relative()
        ));
    }
    for r in &unit.recordings {
        if r.unit != path.key() {
            return Err(format!(
                "recording {} does not belong to unit {}",
                r.id, unit.id
            ));
        }
    }
    let dir = results.join(path.relative());
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let unit_dir = path.dir_under(id_root);
    let mut out = unit.clone();
    out.products = unit_product_ids(&unit_dir);
    out.unit_dir = Some(unit_dir);
    let file = dir.join(UNIT_FILE);
    let mut warnings = Vec::new();
    if let Ok(old) = Unit::read(&file) {
        if old == out {
            return Ok((Status::Skipped, warnings));
        }
        if old.recordings != out.recordings {
            warnings.push(format!(
                "{UNIT_FILE} updated: {} recordings before, {} now",
                old.recordings.len(),
                out.recordings.len()
            ));
        }
    }
    write_json_atomic(&file, &out).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok((Status::Done, warnings))
}

pub fn run(job: &Job) -> Result<RunReport> {
    let manifest = UnitsManifest::read(&job.units).map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&job.results_dir)
        .with_context(|| format!("cannot create {}", job.results_dir.display()))?;
    let id_root = job
        .id_root
        .clone()
        .unwrap_or_else(|| absolute(&job.results_dir).display().to_string());
    let mut report = RunReport::new("dirstruct", env!("CARGO_PKG_VERSION"));
    if manifest.units.is_empty() {
        report.errors.push(format!(
            "nothing to do: {} lists no units (get-audio-df kept no recordings; see its run_report.json)",
            job.units.display()
        ));
    }
    for wanted in &job.only {
        if manifest.unit(wanted).is_none() {
            report
                .errors
                .push(format!("unit {wanted:?} is not in {}", job.units.display()));
        }
    }
    for unit in &manifest.units {
        if !job.only.is_empty() && !job.only.iter().any(|u| u.trim_matches('/') == unit.id) {
            continue;
        }
        let (status, reason, warnings) = match make_unit(unit, &job.results_dir, &id_root) {
            Ok((Status::Skipped, w)) => (Status::Skipped, Some("up to date".into()), w),
            Ok((s, w)) => (s, None, w),
            Err(e) => {
                tracing::error!(unit = %unit.id, "{e}");
                (Status::Failed, Some(e), vec![])
            }
        };
        report.units.push(UnitOutcome {
            unit: unit.id.clone(),
            status,
            reason,
            warnings,
            recordings: unit.recordings.len(),
        });
    }
    report.outputs = vec![job.results_dir.display().to_string()];
    report.finish();
    let report_path = job
        .report
        .clone()
        .unwrap_or_else(|| job.units.parent().unwrap_or(Path::new(".")).join(REPORT));
    write_json_atomic(&report_path, &report)?;
    tracing::info!(
        units = report.summary.units,
        failed = report.summary.units_failed,
        results = %job.results_dir.display(),
        "layout ready"
    );
    Ok(report)
}
