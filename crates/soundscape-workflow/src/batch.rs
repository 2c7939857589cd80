//! One per-unit stage over the units of one batch: what a batch pod runs (`soundscape batch`).
//!
//! The stage runs as a child process per unit, so one unit's crash never takes the batch's
//! other units down; each unit's outcome (done, partial, skipped, failed, with the reason) goes
//! to `<reports>/<step>/<batch>.json`, rewritten after every unit. A unit whose earlier stage
//! (`--after`) failed in this batch is skipped with that reason, as on one machine. The child's
//! output passes through to the pod's log; its last line is kept as the reason of a failure.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{json, Value};
use soundscape_core::batches::BatchPlan;

use crate::argo::UNIT_PLACEHOLDER;
use crate::local::{ended, StepRun, PARTIAL};

/// What to run.
#[derive(Debug, Clone)]
pub struct BatchJob {
    pub step: String,
    pub plan: PathBuf,
    pub batch: usize,
    /// Folder of the batch reports (`<reports>/<step>/<batch>.json`).
    pub reports: PathBuf,
    /// Steps of the unit chain this one follows.
    pub after: Vec<String>,
    /// The stage binary and its arguments, with [`UNIT_PLACEHOLDER`] for the unit id.
    pub command: Vec<String>,
}

/// The report file of `step` for `batch`.
pub fn report_path(reports: &Path, step: &str, batch: usize) -> PathBuf {
    reports.join(step).join(format!("{batch:05}.json"))
}

/// The unit outcomes of a batch report.
pub fn read_report(path: &Path) -> Option<Vec<Value>> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["units"].as_array().cloned()
}

fn write_report(job: &BatchJob, runs: &[StepRun]) -> Result<(), String> {
    let path = report_path(&job.reports, &job.step, job.batch);
    let v = json!({
        "step": job.step,
        "batch": job.batch,
        "units": runs.iter().map(StepRun::to_json).collect::<Vec<_>>(),
    });
    soundscape_core::fsutil::write_json_atomic(&path, &v)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Units whose step `after` did not end well in this batch: that step's name, and whether it
/// failed (else it did not run).
fn blocked(job: &BatchJob) -> HashMap<String, (String, bool)> {
    let mut out = HashMap::new();
    for a in &job.after {
        let Some(units) = read_report(&report_path(&job.reports, a, job.batch)) else {
            // No report: that step did not run for this batch (its condition did not hold).
            continue;
        };
        for u in units {
            let status = u["status"].as_str().unwrap_or("");
            let bad = StepRun::blocks(status, u["reason"].as_str());
            if let (true, Some(id)) = (bad, u["unit"].as_str()) {
                out.entry(id.to_string())
                    .or_insert_with(|| (a.clone(), status == "failed"));
            }
        }
    }
    out
}

/// Runs the stage once for one unit, its output passing through; its last line kept.
fn exec(job: &BatchJob, unit: &str) -> StepRun {
    let bin = PathBuf::from(&job.command[0]);
    let args = job.command[1..]
        .iter()
        .map(|a| a.replace(UNIT_PLACEHOLDER, unit));
    let t0 = Instant::now();
    let child = Command::new(&bin)
        .args(args)
        .env("SOUNDSCAPE_PARTIAL_EXIT_CODE", PARTIAL.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut last = String::new();
    let status = child.and_then(|mut c| {
        if let Some(err) = c.stderr.take() {
            let mut out = std::io::stderr();
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = writeln!(out, "{line}");
                if !line.trim().is_empty() {
                    last = line;
                }
            }
        }
        c.wait()
    });
    let (status, reason, code) = ended(&bin, status, "the pod's log", || last.clone());
    StepRun {
        step: job.step.clone(),
        unit: Some(unit.into()),
        status,
        reason,
        exit_code: code,
        seconds: t0.elapsed().as_secs_f64(),
        log: None,
    }
}

/// Runs the stage for every unit of the batch; `each` sees every unit as it ends.
pub fn run(job: &BatchJob, each: &dyn Fn(&StepRun)) -> Result<Vec<StepRun>, String> {
    if job.command.is_empty() {
        return Err("no stage command given".into());
    }
    let plan = BatchPlan::read(&job.plan)?;
    let batch = plan.batch(job.batch).ok_or_else(|| {
        format!(
            "{}: no batch {} (the plan has {})",
            job.plan.display(),
            job.batch,
            plan.batches.len()
        )
    })?;
    let blocked = blocked(job);
    let mut runs = Vec::with_capacity(batch.units.len());
    for unit in &batch.units {
        let r = match blocked.get(unit) {
            Some((dep, failed)) => StepRun::blocked(&job.step, Some(unit), dep, *failed),
            None => exec(job, unit),
        };
        each(&r);
        runs.push(r);
        write_report(job, &runs)?;
    }
    if runs.is_empty() {
        write_report(job, &runs)?;
    }
    Ok(runs)
}
