//! The pipeline on one machine: the same spec, stage binaries as local processes, a folder as
//! the shared volume, and the fan-out over units spread over the cores. Run-wide steps run in
//! dependency order; then every unit of the batch plan runs its per-unit steps in order, `jobs`
//! units at once; then the final steps.
//! A step that fails stops the steps after it (in its unit), which are recorded as skipped
//! with the reason; exit code 3 (some items failed, named in the stage's report) lets the
//! later steps go on. Each step's output goes to `<work-dir>/logs/`, and every step of every
//! unit ends in `workflow_report.json` as done, partial, skipped or failed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::{json, Value};

use crate::check;
use crate::spec::{Condition, EnvValue, Level, Pipeline, Step, Text};

/// Exit code of a stage run in which some items failed.
pub const PARTIAL: i32 = 3;
/// The run report in the work folder.
pub const REPORT_FILE: &str = "workflow_report.json";
/// Why a step whose condition does not hold is skipped.
pub const CONDITION_REASON: &str = "its condition does not hold (no target configured)";

/// How one step of one unit ended.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRun {
    pub step: String,
    pub unit: Option<String>,
    /// done, partial, skipped or failed.
    pub status: &'static str,
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    pub seconds: f64,
    pub log: Option<PathBuf>,
}

impl StepRun {
    pub fn to_json(&self) -> Value {
        json!({
            "step": self.step, "unit": self.unit, "status": self.status, "reason": self.reason,
            "exit_code": self.exit_code, "seconds": soundscape_core::report::round3(self.seconds),
            "log": self.log.as_ref().map(|p| p.display().to_string()),
        })
    }

    pub fn failed(&self) -> bool {
        self.status == "failed"
    }

    /// Whether the steps after this one in its unit must not run: it failed, or it was
    /// skipped for a failure before it (not for its condition).
    pub fn blocks(status: &str, reason: Option<&str>) -> bool {
        status == "failed" || (status == "skipped" && reason != Some(CONDITION_REASON))
    }

    /// A step that did not run because `dep` failed (`dep_failed`) or did not run.
    pub fn blocked(step: &str, unit: Option<&str>, dep: &str, dep_failed: bool) -> StepRun {
        StepRun {
            step: step.into(),
            unit: unit.map(str::to_string),
            status: "skipped",
            reason: Some(if dep_failed {
                format!("{dep} failed")
            } else {
                format!("{dep} did not run")
            }),
            exit_code: None,
            seconds: 0.0,
            log: None,
        }
    }
}

/// The last line of a log that is not blank.
pub(crate) fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}

/// How a stage process ended: status, reason, exit code. `log` says where its output went;
/// `tail` gives its last line, for the reason of a failure.
pub(crate) fn ended(
    bin: &Path,
    status: std::io::Result<std::process::ExitStatus>,
    log: &str,
    tail: impl FnOnce() -> String,
) -> (&'static str, Option<String>, Option<i32>) {
    match status {
        Err(e) => (
            "failed",
            Some(format!("{}: cannot start: {e}", bin.display())),
            None,
        ),
        Ok(st) => match st.code() {
            Some(0) => ("done", None, Some(0)),
            Some(PARTIAL) => (
                "partial",
                Some(format!("some items failed: see its report ({log})")),
                Some(PARTIAL),
            ),
            code => (
                "failed",
                Some(format!("exit code {code:?}: {}", tail())),
                code,
            ),
        },
    }
}

/// A local run.
#[derive(Debug, Clone)]
pub struct LocalRun {
    /// Folder of the stage binaries.
    pub bin_dir: PathBuf,
    /// Workflow parameters (the spec's defaults fill the rest).
    pub params: HashMap<String, String>,
    /// Units processed at once.
    pub jobs: usize,
    /// Worker threads of each stage process (`SOUNDSCAPE_THREADS`).
    pub threads_per_step: Option<usize>,
}

fn value(t: &Text, params: &HashMap<String, String>, unit: Option<&str>) -> String {
    match t {
        Text::Lit(s) => s.clone(),
        Text::Param(p) => params.get(*p).cloned().unwrap_or_default(),
        Text::Unit => unit.unwrap_or_default().to_string(),
        Text::Join(parts) => parts.iter().map(|x| value(x, params, unit)).collect(),
    }
}

fn holds(c: &Condition, params: &HashMap<String, String>) -> bool {
    match c {
        Condition::Set(p) => params.get(*p).is_some_and(|v| !v.is_empty()),
        Condition::Any(cs) => cs.iter().any(|c| holds(c, params)),
        Condition::All(cs) => cs.iter().all(|c| holds(c, params)),
    }
}

impl LocalRun {
    fn params(&self, p: &Pipeline) -> HashMap<String, String> {
        let mut all: HashMap<String, String> = p
            .params
            .iter()
            .map(|q| (q.name.to_string(), q.default.clone()))
            .collect();
        all.extend(self.params.clone());
        all
    }

    fn exec(
        &self,
        s: &Step,
        params: &HashMap<String, String>,
        unit: Option<&str>,
        logs: &Path,
    ) -> StepRun {
        let mut run = StepRun {
            step: s.name.into(),
            unit: unit.map(str::to_string),
            status: "done",
            reason: None,
            exit_code: None,
            seconds: 0.0,
            log: None,
        };
        if let Some(c) = &s.when {
            if !holds(c, params) {
                run.status = "skipped";
                run.reason = Some(CONDITION_REASON.into());
                return run;
            }
        }
        let log = logs.join(match unit {
            Some(u) => format!("{}--{}.log", s.name, u.replace('/', "_")),
            None => format!("{}.log", s.name),
        });
        let file = std::fs::File::create(&log).and_then(|f| Ok((f.try_clone()?, f)));
        let (out, err) = match file {
            Ok(f) => f,
            Err(e) => {
                run.status = "failed";
                run.reason = Some(format!("{}: {e}", log.display()));
                return run;
            }
        };
        let bin = self.bin_dir.join(s.binary);
        let mut cmd = Command::new(&bin);
        cmd.args(s.args.iter().map(|a| value(a, params, unit)))
            .arg("--log-format=text")
            .arg("--no-progress")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for e in &s.env {
            // Secrets come from this process's environment, which the child inherits.
            if let EnvValue::Text(t) = &e.value {
                cmd.env(e.name, value(t, params, unit));
            }
        }
        // Partial failures are reported by their stage and do not stop the unit.
        cmd.env("SOUNDSCAPE_PARTIAL_EXIT_CODE", PARTIAL.to_string());
        if let Some(n) = self.threads_per_step {
            cmd.env("SOUNDSCAPE_THREADS", n.to_string());
        }
        let t0 = Instant::now();
        let status = cmd.status();
        run.seconds = t0.elapsed().as_secs_f64();
        run.log = Some(log.clone());
        let (status, reason, code) = ended(&bin, status, &log.display().to_string(), || {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            last_line(&tail).to_string()
        });
        run.status = status;
        run.reason = reason;
        run.exit_code = code;
        run
    }

    /// Runs `steps` in order for one unit (or run-wide); a failure skips the rest.
    fn chain(
        &self,
        steps: &[&Step],
        params: &HashMap<String, String>,
        unit: Option<&str>,
        logs: &Path,
        each: &(dyn Fn(&StepRun) + Sync),
    ) -> Vec<StepRun> {
        let mut out: Vec<StepRun> = Vec::new();
        for s in steps {
            let blocked = s.depends.iter().find_map(|d| {
                out.iter()
                    .find(|r| r.step == *d && StepRun::blocks(r.status, r.reason.as_deref()))
                    .map(|r| (d, r.failed()))
            });
            let r = match blocked {
                Some((d, failed)) => StepRun::blocked(s.name, unit, d, failed),
                None => self.exec(s, params, unit, logs),
            };
            each(&r);
            out.push(r);
        }
        out
    }

    /// Runs the pipeline; `each` sees every step as it ends. Returns every step run, run-wide
    /// first, then by unit.
    pub fn run(
        &self,
        p: &Pipeline,
        each: &(dyn Fn(&StepRun) + Sync),
        units_seen: impl FnOnce(usize),
    ) -> Result<Vec<StepRun>, String> {
        let problems = check::problems(p);
        if !problems.is_empty() {
            return Err(format!(
                "the pipeline spec is broken:\n{}",
                problems.join("\n")
            ));
        }
        let params = self.params(p);
        let work = PathBuf::from(params.get("work-dir").cloned().unwrap_or_default());
        let logs = work.join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
        let run_steps: Vec<&Step> = p.run_steps().collect();
        let run_steps = check::order(&run_steps).map_err(|c| format!("cycle: {c:?}"))?;
        let mut all = self.chain(&run_steps, &params, None, &logs, each);
        let unit_steps: Vec<&Step> = p.unit_steps().collect();
        let unit_steps = check::order(&unit_steps).map_err(|c| format!("cycle: {c:?}"))?;
        if all.iter().any(StepRun::failed) {
            units_seen(0);
            return Ok(all);
        }
        let path = PathBuf::from(value(&p.fan_out.plan, &params, None));
        let plan = soundscape_core::batches::BatchPlan::read(&path)?;
        let units: Vec<&str> = plan.unit_ids().collect();
        units_seen(units.len());
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<(usize, Vec<StepRun>)>> = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..self.jobs.max(1).min(units.len().max(1)) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(u) = units.get(i) else { break };
                    let r = self.chain(&unit_steps, &params, Some(u), &logs, each);
                    results.lock().unwrap().push((i, r));
                });
            }
        });
        let mut results = results.into_inner().unwrap();
        results.sort_by_key(|(i, _)| *i);
        all.extend(results.into_iter().flat_map(|(_, r)| r));
        // The final steps run however the units ended, and read the report of the steps so far.
        let so_far = work.join(REPORT_FILE);
        soundscape_core::fsutil::write_json_atomic(&so_far, &report(&all, &params))
            .map_err(|e| format!("{}: {e}", so_far.display()))?;
        let last: Vec<&Step> = p.steps_of(Level::Final).collect();
        let last = check::order(&last).map_err(|c| format!("cycle: {c:?}"))?;
        all.extend(self.chain(&last, &params, None, &logs, each));
        Ok(all)
    }
}

/// The run report: every step of every unit, and a summary.
pub fn report(runs: &[StepRun], params: &HashMap<String, String>) -> Value {
    let count = |s: &str| runs.iter().filter(|r| r.status == s).count();
    json!({
        "summary": {
            "steps": runs.len(),
            "done": count("done"),
            "partial": count("partial"),
            "skipped": count("skipped"),
            "failed": count("failed"),
            "units": runs.iter().filter_map(|r| r.unit.as_ref()).collect::<std::collections::BTreeSet<_>>().len(),
        },
        "parameters": params,
        "steps": runs.iter().map(StepRun::to_json).collect::<Vec<_>>(),
    })
}
