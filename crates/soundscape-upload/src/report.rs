//! The report of an upload stage: every product on every target as done, skipped or failed,
//! with the reason, the remote id, and a summary; its exit code follows the other stages
//! (0 all well, 3 some products failed, 1 the run itself failed).

use serde::{Deserialize, Serialize};
use soundscape_core::products::ProductKind;
use soundscape_core::Status;

use crate::Placed;

/// One product on one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileOutcome {
    /// `<cumulus>/<node>/<recorder>/<deployment>`.
    pub unit: String,
    pub file: String,
    pub kind: ProductKind,
    pub target: String,
    pub status: Status,
    /// created, replaced, same, kept, journaled; updated, unchanged (model properties).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// Node id or object key.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub remote: Option<String>,
    #[serde(default)]
    pub bytes: u64,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub warnings: Vec<String>,
}

impl FileOutcome {
    pub fn new(unit: &str, file: &str, kind: ProductKind, target: &str) -> FileOutcome {
        FileOutcome {
            unit: unit.into(),
            file: file.into(),
            kind,
            target: target.into(),
            status: Status::Done,
            action: None,
            reason: None,
            remote: None,
            bytes: 0,
            warnings: Vec::new(),
        }
    }

    pub fn failed(mut self, reason: String) -> FileOutcome {
        self.status = Status::Failed;
        self.reason = Some(reason);
        self
    }

    pub fn placed(mut self, p: &Placed) -> FileOutcome {
        let (status, reason) = p.action.status();
        self.status = status;
        self.reason = reason.map(str::to_string);
        self.action = Some(p.action.name().into());
        self.remote = Some(p.remote.clone());
        self
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSummary {
    pub total: usize,
    pub done: usize,
    pub skipped: usize,
    pub failed: usize,
    pub bytes_sent: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadReport {
    pub stage: String,
    pub version: String,
    pub started_at: String,
    pub finished_at: String,
    pub targets: Vec<String>,
    pub summary: UploadSummary,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub warnings: Vec<String>,
    pub files: Vec<FileOutcome>,
    /// CPU time and peak memory of the stage process, stamped by [`UploadReport::finish`].
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resources: Option<soundscape_core::resources::Resources>,
}

impl UploadReport {
    /// Takes the outcomes of `stream` as they come: `each` sees every one (for progress),
    /// then they are kept in a stable order.
    pub async fn gather<S>(&mut self, mut stream: S, each: impl Fn(&FileOutcome))
    where
        S: futures::Stream<Item = Vec<FileOutcome>> + Unpin,
    {
        use futures::StreamExt;
        while let Some(outcomes) = stream.next().await {
            for o in outcomes {
                each(&o);
                self.files.push(o);
            }
        }
        self.sort();
    }

    pub fn new(stage: &str, version: &str) -> UploadReport {
        UploadReport {
            stage: stage.into(),
            version: version.into(),
            started_at: chrono::Utc::now().to_rfc3339(),
            finished_at: String::new(),
            targets: Vec::new(),
            summary: UploadSummary::default(),
            errors: Vec::new(),
            warnings: Vec::new(),
            files: Vec::new(),
            resources: None,
        }
    }

    /// Puts the outcomes in a stable order (unit, file, target).
    pub fn sort(&mut self) {
        self.files
            .sort_by(|a, b| (&a.unit, &a.file, &a.target).cmp(&(&b.unit, &b.file, &b.target)));
    }

    pub fn finish(&mut self) {
        self.resources = soundscape_core::resources::Resources::of_this_process();
        let count = |s| self.files.iter().filter(|o| o.status == s).count();
        self.summary = UploadSummary {
            total: self.files.len(),
            done: count(Status::Done),
            skipped: count(Status::Skipped),
            failed: count(Status::Failed),
            bytes_sent: self
                .files
                .iter()
                .filter(|o| matches!(o.action.as_deref(), Some("created" | "replaced")))
                .map(|o| o.bytes)
                .sum(),
        };
        self.finished_at = chrono::Utc::now().to_rfc3339();
    }

    pub fn exit_code(&self) -> u8 {
        if !self.errors.is_empty() {
            1
        } else if self.files.iter().any(|o| o.status == Status::Failed) {
            3
        } else {
            0
        }
    }
}

/// Finishes the report, writes it (atomically) to `path`, logs the summary, and returns the
/// exit code.
pub fn finish(mut report: UploadReport, path: &std::path::Path) -> Result<u8, String> {
    report.finish();
    soundscape_core::fsutil::write_json_atomic(path, &report)
        .map_err(|e| format!("{}: cannot write the report: {e}", path.display()))?;
    let s = &report.summary;
    tracing::info!(total = s.total, done = s.done, skipped = s.skipped, failed = s.failed, bytes = s.bytes_sent, report = %path.display(), "finished");
    for e in &report.errors {
        tracing::error!("{e}");
    }
    Ok(report.exit_code())
}
