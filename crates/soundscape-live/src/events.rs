//! What a detection says (Tidzam's message: channel, time, predictions, result) and where it
//! goes: one line of `detections.jsonl` each, and a broadcast to the `/events` subscribers
//! (a subscriber that falls behind loses the oldest events, never the file).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// File name of the live detections inside the output folder.
pub const DETECTIONS_FILE: &str = "detections.jsonl";

/// Events kept for a subscriber that is slow to read.
pub const BROADCAST_DEPTH: usize = 1024;

/// A time (µs since the epoch) as the detections and clip sidecars write it: RFC 3339 UTC
/// to the millisecond.
pub fn rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// One window's outcome.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Detection {
    /// `detection`, or `skipped` for windows the detector could not look at.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub source: String,
    pub channel: usize,
    /// Start and end of the window, RFC 3339 UTC.
    pub time: String,
    pub end: String,
    /// The best classes at or above the lowest score, by name.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub predictions: serde_json::Map<String, serde_json::Value>,
    /// The winning class, `unknown`, or why the window was skipped.
    pub result: String,
}

/// The sinks of the detections.
pub struct Sink {
    path: PathBuf,
    file: Option<std::fs::File>,
    tx: tokio::sync::broadcast::Sender<String>,
    /// Lines that could not be written (a full disk): counted, logged once.
    pub write_errors: u64,
}

impl Sink {
    /// Opens `out/detections.jsonl` for appending.
    pub fn open(out: &Path, tx: tokio::sync::broadcast::Sender<String>) -> Result<Sink, String> {
        let path = out.join(DETECTIONS_FILE);
        std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Sink {
            path,
            file: Some(file),
            tx,
            write_errors: 0,
        })
    }

    /// Writes the detection and hands it to the subscribers.
    pub fn send(&mut self, d: &Detection) {
        let line = serde_json::to_string(d).expect("a detection serialises");
        if let Some(f) = self.file.as_mut() {
            if let Err(e) = f.write_all(format!("{line}\n").as_bytes()) {
                if self.write_errors == 0 {
                    tracing::error!(file = %self.path.display(), error = %e, "cannot write the live detections");
                }
                self.write_errors += 1;
            }
        }
        // No subscriber is not an error.
        let _ = self.tx.send(line);
    }
}
