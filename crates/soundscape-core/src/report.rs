//! The run report: what became of every recording (done, skipped or failed, with the reason).
//!
//! Nothing is lost silently: every stage writes one of these beside its outputs, and its exit
//! code follows from it ([`RunReport::exit_code`]).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Done,
    Skipped,
    Failed,
}

/// What happened to one recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub index: usize,
    pub id: String,
    pub path: String,
    /// Start of the recording (RFC 3339 with its offset), where the stage knew it: lets later
    /// stages work on a folder from its report alone.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub start: Option<chrono::DateTime<chrono::FixedOffset>>,
    pub status: Status,
    /// Why it was skipped or failed (absent when done).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// Things a person should know although the recording was processed.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sample_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub channels: Option<u16>,
    pub slices: usize,
    pub rows: usize,
    /// Wall-clock seconds spent on this recording.
    pub seconds: f64,
}

impl Outcome {
    /// A recording about to be processed: done until something says otherwise.
    pub fn start(rec: &crate::Recording) -> Outcome {
        let mut o = Outcome::new(
            rec.index,
            &rec.id,
            &rec.path.display().to_string(),
            Status::Done,
            None,
        );
        o.start = Some(rec.start);
        o
    }

    /// An outcome with nothing measured yet.
    pub fn new(
        index: usize,
        id: &str,
        path: &str,
        status: Status,
        reason: Option<String>,
    ) -> Outcome {
        Outcome {
            index,
            id: id.into(),
            path: path.into(),
            start: None,
            status,
            reason,
            warnings: vec![],
            duration_s: None,
            sample_rate: None,
            channels: None,
            slices: 0,
            rows: 0,
            seconds: 0.0,
        }
    }
}

/// What happened to one processing unit (stages that work per unit: dirstruct, plots, uploads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitOutcome {
    /// `<cumulus>/<node>/<recorder>/<deployment>`.
    pub unit: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub warnings: Vec<String>,
    #[serde(default)]
    pub recordings: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub total: usize,
    pub done: usize,
    pub skipped: usize,
    pub failed: usize,
    #[serde(skip_serializing_if = "is_zero", default)]
    pub units: usize,
    #[serde(skip_serializing_if = "is_zero", default)]
    pub units_failed: usize,
}

/// A number of a report (seconds, hours, MB) to three decimals, as every report writes them.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The report of one stage run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub stage: String,
    pub version: String,
    pub started_at: String,
    pub finished_at: String,
    pub summary: Summary,
    /// Products written by the run (paths).
    pub outputs: Vec<String>,
    /// Errors that concern the run as a whole (unreadable manifest, unwritable output).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<String>,
    /// Things about the run as a whole a person should know (it still succeeded).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub warnings: Vec<String>,
    pub recordings: Vec<Outcome>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub units: Vec<UnitOutcome>,
    /// Digest of the inputs and settings; a rerun with the same digest and complete outputs
    /// has nothing to do.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub input_fingerprint: Option<String>,
    /// CPU time and peak memory of the stage process, stamped by [`RunReport::finish`].
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resources: Option<crate::resources::Resources>,
}

impl RunReport {
    /// The report at `path` when it says that a run with inputs digest `fingerprint` finished
    /// without run-wide errors and every output it lists still exists: a rerun has nothing
    /// to do.
    pub fn up_to_date(path: &std::path::Path, fingerprint: &str) -> Option<RunReport> {
        let report: RunReport = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
        let complete = report.input_fingerprint.as_deref() == Some(fingerprint)
            && report.errors.is_empty()
            && report
                .outputs
                .iter()
                .all(|p| std::path::Path::new(p).exists());
        complete.then_some(report)
    }

    pub fn new(stage: &str, version: &str) -> Self {
        RunReport {
            stage: stage.into(),
            version: version.into(),
            started_at: chrono::Utc::now().to_rfc3339(),
            finished_at: String::new(),
            summary: Summary::default(),
            outputs: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            recordings: Vec::new(),
            units: Vec::new(),
            input_fingerprint: None,
            resources: None,
        }
    }

    /// Recomputes the summary and stamps the finishing time and what the process used.
    pub fn finish(&mut self) {
        self.resources = crate::resources::Resources::of_this_process();
        let count = |s| self.recordings.iter().filter(|o| o.status == s).count();
        self.summary = Summary {
            total: self.recordings.len(),
            done: count(Status::Done),
            skipped: count(Status::Skipped),
            failed: count(Status::Failed),
            units: self.units.len(),
            units_failed: self
                .units
                .iter()
                .filter(|u| u.status == Status::Failed)
                .count(),
        };
        self.finished_at = chrono::Utc::now().to_rfc3339();
    }

    /// Exit code convention of every stage: 0 all done or skipped with a reason, 3 some
    /// recordings or units failed (the rest was written), 1 the run itself failed.
    pub fn exit_code(&self) -> i32 {
        if !self.errors.is_empty() {
            1
        } else if self.recordings.iter().any(|o| o.status == Status::Failed)
            || self.units.iter().any(|u| u.status == Status::Failed)
        {
            3
        } else {
            0
        }
    }
}
