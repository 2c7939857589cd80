//! The run summary (`work/run_summary.json`): every unit's stage reports gathered in one file.
//!
//! Per stage: how many units ended done, partial, skipped or failed (from the step outcomes:
//! the batch reports of a run on Argo, `workflow_report.json` of a local run, else the stage's
//! own report in the unit folder), how many items (recordings, products) ended each way, the
//! seconds spent and the audio hours handled; and every failed item with its stage, unit and
//! reason. `run_summary.brief.json` holds the same with the first [`BRIEF_FAILURES`] failures
//! only: small enough for an Argo output parameter, which `soundscape status` prints.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use soundscape_core::report::round3;
use soundscape_core::units::{UnitsManifest, RUN_REPORTS, STAGE_REPORTS};
use soundscape_workflow::batch::read_report;

pub const SUMMARY_FILE: &str = "run_summary.json";
pub const BRIEF_FILE: &str = "run_summary.brief.json";
/// Failures listed in the brief summary.
pub const BRIEF_FAILURES: usize = 50;
/// The report of a local run (`soundscape run`).
pub const WORKFLOW_REPORT: &str = soundscape_workflow::local::REPORT_FILE;
/// The batch reports of a run on Argo, under the work folder.
pub const BATCH_REPORTS: &str = "batches";

/// Counts by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub done: usize,
    pub partial: usize,
    pub skipped: usize,
    pub failed: usize,
    /// Units with no outcome at all for the stage (not reached, or their pod was lost).
    pub not_run: usize,
}

impl Counts {
    fn add(&mut self, status: &str) {
        match status {
            "done" => self.done += 1,
            "partial" => self.partial += 1,
            "skipped" => self.skipped += 1,
            "failed" => self.failed += 1,
            _ => self.not_run += 1,
        }
    }
}

/// One stage of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    pub stage: String,
    pub units: Counts,
    /// Recordings or products of the stage's reports.
    pub items: Counts,
    /// Seconds the stage's processes ran, summed over units.
    pub seconds: f64,
    /// Audio hours of the recordings the stage processed (done).
    pub audio_hours: f64,
    /// CPU seconds of the stage's processes (user + system), summed over units, from the
    /// `resources` of their reports.
    #[serde(default)]
    pub cpu_seconds: f64,
    /// The largest peak resident memory of one of the stage's processes, MB.
    #[serde(default)]
    pub peak_rss_mb: f64,
}

/// One failed item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub stage: String,
    /// Absent for a run-wide step.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unit: Option<String>,
    /// The recording id or product file; absent when the step itself failed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub item: Option<String>,
    pub reason: String,
}

/// The whole summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub version: u32,
    pub generated_at: String,
    /// done: nothing failed; partial: some items or units failed; failed: a run-wide step failed
    /// or no unit got through compute-soundscapes.
    pub status: String,
    pub units: usize,
    pub recordings: usize,
    pub audio_hours: f64,
    pub stages: Vec<StageSummary>,
    pub failed_total: usize,
    pub failed: Vec<Failure>,
}

impl StageSummary {
    fn round(&mut self) {
        self.seconds = round3(self.seconds);
        self.audio_hours = round3(self.audio_hours);
        self.cpu_seconds = round3(self.cpu_seconds);
    }
}

/// Step outcomes recorded for the run: run-wide ones by step, per-unit ones by (step, unit).
/// A later record of the same step and unit (a retried batch, a rerun) replaces an earlier one.
fn step_runs(work: &Path) -> (Vec<Value>, HashMap<(String, String), Value>) {
    let mut wide = Vec::new();
    let mut per_unit = HashMap::new();
    let mut take = |r: Value| match r["unit"].as_str() {
        Some(u) => {
            let key = (r["step"].as_str().unwrap_or("").to_string(), u.to_string());
            per_unit.insert(key, r);
        }
        None => wide.push(r),
    };
    if let Ok(text) = std::fs::read_to_string(work.join(WORKFLOW_REPORT)) {
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            v["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .cloned()
                .for_each(&mut take);
        }
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(work.join(BATCH_REPORTS))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for f in files {
        read_report(&f).into_iter().flatten().for_each(&mut take);
    }
    (wide, per_unit)
}

/// The items of a stage report with their status, id and reason.
fn items(report: &Value) -> impl Iterator<Item = (&str, String, Option<&str>, f64)> {
    ["recordings", "units", "files"]
        .into_iter()
        .flat_map(move |k| {
            report[k].as_array().into_iter().flatten().map(move |o| {
                let id = ["id", "file", "unit"]
                    .iter()
                    .find_map(|f| o[*f].as_str())
                    .unwrap_or("")
                    .to_string();
                let target = o["target"]
                    .as_str()
                    .map(|t| format!(" on {t}"))
                    .unwrap_or_default();
                (
                    o["status"].as_str().unwrap_or(""),
                    format!("{id}{target}"),
                    o["reason"].as_str(),
                    o["duration_s"].as_f64().unwrap_or(0.0),
                )
            })
        })
}

/// The status a stage report implies when no step outcome was recorded.
fn report_status(report: &Value) -> &'static str {
    let errors = report["errors"].as_array().is_some_and(|e| !e.is_empty());
    let failed = report["summary"]["failed"].as_u64().unwrap_or(0) > 0;
    match (errors, failed) {
        (true, _) => "failed",
        (false, true) => "partial",
        _ => "done",
    }
}

/// Adds the items of one stage report (of `unit`, or run-wide) to `s` and its failures to `failed`.
fn tally(s: &mut StageSummary, rep: &Value, unit: Option<&str>, failed: &mut Vec<Failure>) {
    let used = &rep["resources"];
    s.cpu_seconds += used["cpu_s"].as_f64().unwrap_or(0.0);
    s.peak_rss_mb = s
        .peak_rss_mb
        .max(used["peak_rss_mb"].as_f64().unwrap_or(0.0));
    for e in rep["errors"].as_array().into_iter().flatten() {
        failed.push(Failure {
            stage: s.stage.clone(),
            unit: unit.map(str::to_string),
            item: None,
            reason: e.as_str().unwrap_or("").into(),
        });
    }
    for (st, id, reason, dur) in items(rep) {
        s.items.add(st);
        if st == "done" {
            s.audio_hours += dur / 3600.0;
        }
        if st == "failed" {
            failed.push(Failure {
                stage: s.stage.clone(),
                unit: unit.map(str::to_string),
                item: Some(id),
                reason: reason.unwrap_or("").into(),
            });
        }
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Gathers the summary of the run whose work folder is `work` and unit folders `results`.
pub fn gather(work: &Path, results: &Path) -> Result<RunSummary, String> {
    let manifest = UnitsManifest::read(&work.join(soundscape_core::units::UNITS_FILE))?;
    let (wide, per_unit) = step_runs(work);
    let mut failed = Vec::new();
    let mut wide_failed = false;
    for r in &wide {
        if r["status"] == "failed" {
            wide_failed = true;
            failed.push(Failure {
                stage: r["step"].as_str().unwrap_or("").into(),
                unit: None,
                item: None,
                reason: r["reason"].as_str().unwrap_or("").into(),
            });
        }
    }
    let mut stages: Vec<StageSummary> = Vec::new();
    for (stage, file) in RUN_REPORTS {
        let mut s = StageSummary {
            stage: stage.to_string(),
            ..StageSummary::default()
        };
        for r in wide.iter().filter(|r| r["step"] == stage) {
            s.seconds += r["seconds"].as_f64().unwrap_or(0.0);
        }
        if let Some(rep) = read_json(&work.join(file)) {
            tally(&mut s, &rep, None, &mut failed);
        }
        s.round();
        stages.push(s);
    }
    for (stage, file) in STAGE_REPORTS {
        let mut s = StageSummary {
            stage: stage.to_string(),
            ..StageSummary::default()
        };
        for unit in &manifest.units {
            let report = read_json(&results.join(&unit.id).join(file));
            let run = per_unit.get(&(stage.to_string(), unit.id.clone()));
            let status = match (run, &report) {
                (Some(r), _) => r["status"].as_str().unwrap_or("").to_string(),
                (None, Some(rep)) => report_status(rep).to_string(),
                (None, None) => String::new(),
            };
            if let Some(r) = run {
                s.seconds += r["seconds"].as_f64().unwrap_or(0.0);
                // A step that failed as a whole; the steps it kept from running are counted
                // as skipped, not failed again. When its report names the run-wide errors,
                // those are the failures (once each), not the step's last words besides.
                let report_says = report
                    .as_ref()
                    .is_some_and(|rep| rep["errors"].as_array().is_some_and(|e| !e.is_empty()));
                if r["status"] == "failed" && !report_says {
                    failed.push(Failure {
                        stage: stage.to_string(),
                        unit: Some(unit.id.clone()),
                        item: None,
                        reason: r["reason"].as_str().unwrap_or("").into(),
                    });
                }
            }
            s.units.add(&status);
            if let Some(rep) = report {
                tally(&mut s, &rep, Some(&unit.id), &mut failed);
            }
        }
        s.round();
        stages.push(s);
    }
    let through = |s: &StageSummary| s.units.done + s.units.partial;
    let nothing_through = !manifest.units.is_empty()
        && stages
            .iter()
            .find(|s| s.stage == STAGE_REPORTS[0].0)
            .is_some_and(|s| through(s) == 0);
    let status = if wide_failed || nothing_through {
        "failed"
    } else if failed.is_empty() {
        "done"
    } else {
        "partial"
    };
    let audio_s: f64 = manifest.units.iter().map(|u| u.duration_s).sum();
    Ok(RunSummary {
        version: 1,
        generated_at: chrono::Utc::now().to_rfc3339(),
        status: status.into(),
        units: manifest.units.len(),
        recordings: manifest.recordings,
        audio_hours: round3(audio_s / 3600.0),
        stages,
        failed_total: failed.len(),
        failed,
    })
}

impl RunSummary {
    /// The same with the first [`BRIEF_FAILURES`] failures only.
    pub fn brief(&self) -> RunSummary {
        let mut b = self.clone();
        b.failed.truncate(BRIEF_FAILURES);
        b
    }

    /// Lines for a person: status, then a line per stage, then the first failures.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "run {}: {} units, {} recordings, {:.1} audio hours",
            self.status, self.units, self.recordings, self.audio_hours
        )];
        for s in &self.stages {
            let u = &s.units;
            if u.done + u.partial + u.failed + u.skipped == 0 {
                continue;
            }
            out.push(format!(
                "  {:<20} units: {} done, {} partial, {} skipped, {} failed, {} not run; items: {} done, {} skipped, {} failed; {:.0} s, {:.0} CPU s, peak {:.0} MB",
                s.stage, u.done, u.partial, u.skipped, u.failed, u.not_run,
                s.items.done, s.items.skipped, s.items.failed, s.seconds, s.cpu_seconds, s.peak_rss_mb
            ));
        }
        for f in &self.failed {
            out.push(format!(
                "  failed: {}{}{}: {}",
                f.stage,
                f.unit
                    .as_deref()
                    .map(|u| format!(" {u}"))
                    .unwrap_or_default(),
                f.item
                    .as_deref()
                    .map(|i| format!(" {i}"))
                    .unwrap_or_default(),
                f.reason
            ));
        }
        if self.failed_total > self.failed.len() {
            out.push(format!(
                "  ... and {} more failures (run_summary.json lists them all)",
                self.failed_total - self.failed.len()
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const UNIT: &str = "92/0_00_1_0000/HARNESS/2021-08-04";

    fn write(path: &Path, v: &Value) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, serde_json::to_vec(v).unwrap()).unwrap();
    }

    /// A one-unit run whose compute-soundscapes step failed as a whole (its report names the
    /// run-wide error) after spec-n-specvid of an earlier run had left its report.
    fn run() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let (work, results) = (d.path().join("work"), d.path().join("results"));
        write(
            &work.join(soundscape_core::units::UNITS_FILE),
            &json!({"version": soundscape_core::units::UNITS_VERSION, "source": "x", "audio_table": "audio.parquet",
                    "recordings": 2, "units": [{"id": UNIT, "cumulus": "92", "node": "0_00_1_0000",
                    "recorder": "HARNESS", "deployment": "2021-08-04", "recordings": [], "duration_s": 7200.0}]}),
        );
        write(
            &work.join(WORKFLOW_REPORT),
            &json!({"steps": [
                {"step": "get-audio-df", "status": "done", "seconds": 1.5},
                {"step": "compute-soundscapes", "unit": UNIT, "status": "failed", "reason": "exit code 1: last words", "seconds": 2.0},
                {"step": "spec-n-specvid", "unit": UNIT, "status": "skipped", "reason": "compute-soundscapes failed", "seconds": 0.0},
            ]}),
        );
        write(
            &work.join("run_report.json"),
            &json!({"summary": {"failed": 0}, "recordings": [
                {"id": "a", "status": "done", "duration_s": 3600.0}, {"id": "b", "status": "done", "duration_s": 3600.0}],
                "resources": {"cpu_s": 0.5, "peak_rss_mb": 20.0}}),
        );
        write(
            &results
                .join(UNIT)
                .join(soundscape_core::units::COMPUTE_REPORT_FILE),
            &json!({"summary": {"failed": 0}, "errors": ["results/...: cannot write the table: disk full"],
                    "recordings": [], "resources": {"cpu_s": 3.25, "peak_rss_mb": 41.5}}),
        );
        d
    }

    #[test]
    fn a_step_that_failed_as_a_whole_is_one_failure_with_its_reports_reason() {
        let d = run();
        let s = gather(&d.path().join("work"), &d.path().join("results")).unwrap();
        // No unit got through compute-soundscapes.
        assert_eq!(s.status, "failed");
        assert_eq!(s.failed_total, 1, "{:#?}", s.failed);
        let f = &s.failed[0];
        assert_eq!(
            (f.stage.as_str(), f.unit.as_deref(), f.item.as_deref()),
            ("compute-soundscapes", Some(UNIT), None)
        );
        assert!(f.reason.contains("disk full"), "{f:?}");
        let cs = s
            .stages
            .iter()
            .find(|x| x.stage == "compute-soundscapes")
            .unwrap();
        assert_eq!(cs.units.failed, 1);
        let spec = s
            .stages
            .iter()
            .find(|x| x.stage == "spec-n-specvid")
            .unwrap();
        assert_eq!(spec.units.skipped, 1);
    }

    #[test]
    fn the_resources_of_the_reports_add_up_per_stage() {
        let d = run();
        let s = gather(&d.path().join("work"), &d.path().join("results")).unwrap();
        let by = |n: &str| s.stages.iter().find(|x| x.stage == n).unwrap().clone();
        assert_eq!(
            (
                by("get-audio-df").cpu_seconds,
                by("get-audio-df").peak_rss_mb
            ),
            (0.5, 20.0)
        );
        assert_eq!(
            (
                by("compute-soundscapes").cpu_seconds,
                by("compute-soundscapes").peak_rss_mb
            ),
            (3.25, 41.5)
        );
        assert_eq!(by("compute-embeddings").cpu_seconds, 0.0);
        assert!(
            s.lines()
                .iter()
                .any(|l| l.starts_with("  compute-soundscapes")
                    && l.ends_with("2 s, 3 CPU s, peak 42 MB")),
            "{:#?}",
            s.lines()
        );
    }
}
