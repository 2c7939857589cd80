//! The chunk index, `chunks.jsonl`: one JSON object per line, appended as chunks are finished
//! and gaps happen, so that the chunks and gaps of a source tile its timeline. Lines are
//! written whole and flushed one at a time; the file is only ever appended to, across
//! restarts too (a restarted capture reads each source's last end from it, so the time it was
//! down is a gap like any other).
//!
//! ```json
//! {"type":"chunk","source":"north","channel":0,"start":"2026-12-03T08:00:00.000000Z","end":"2026-12-03T08:01:00.000000Z","duration_s":60.0,"samples":2880000,"sample_rate":48000,"bits":16,"path":"north/2026-12-03/north_ch00_20261203_080000.flac"}
//! {"type":"gap","source":"north","gap_start":"2026-12-03T08:01:00.000000Z","gap_end":"2026-12-03T08:01:02.500000Z","gap_s":2.5,"cause":"reconnect","detail":"the stream ended"}
//! ```
//!
//! `path` is relative to the index's folder, as in the manifests get-audio-df reads.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::timeline::{rfc3339, Micros};

/// The index file's name in the output folder.
pub const INDEX_FILE: &str = "chunks.jsonl";

/// Why a source's timeline has a hole (or, for the end markers, stops).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cause {
    /// The connection ended or failed and a new one was made.
    #[serde(rename = "reconnect")]
    Reconnect,
    /// No data came for the stall timeout; the connection was dropped and made again.
    #[serde(rename = "stall")]
    Stall,
    /// The capture itself was stopped and started again (the gap runs from the last sample the
    /// earlier run wrote).
    #[serde(rename = "restart")]
    Restart,
    /// The stream changed its sample rate or channel count; chunks before and after differ.
    #[serde(rename = "format change")]
    FormatChange,
    /// A chunk's samples could not be written; the gap covers them.
    #[serde(rename = "write failed")]
    WriteFailed,
    /// End marker: a source that is read once came to its end.
    #[serde(rename = "source ended")]
    SourceEnded,
    /// End marker: the capture was stopped (SIGTERM or SIGINT).
    #[serde(rename = "shutdown")]
    Shutdown,
}

impl Cause {
    /// The name written in the index and used as a metric label.
    pub fn label(self) -> &'static str {
        match self {
            Cause::Reconnect => "reconnect",
            Cause::Stall => "stall",
            Cause::Restart => "restart",
            Cause::FormatChange => "format change",
            Cause::WriteFailed => "write failed",
            Cause::SourceEnded => "source ended",
            Cause::Shutdown => "shutdown",
        }
    }

    /// Every cause, for metrics that list them all.
    pub const ALL: [Cause; 7] = [
        Cause::Reconnect,
        Cause::Stall,
        Cause::Restart,
        Cause::FormatChange,
        Cause::WriteFailed,
        Cause::SourceEnded,
        Cause::Shutdown,
    ];
}

/// A finished chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkRecord {
    pub source: String,
    pub channel: usize,
    pub start: String,
    pub end: String,
    pub duration_s: f64,
    pub samples: u64,
    pub sample_rate: u32,
    pub bits: u32,
    pub path: String,
}

/// A hole in a source's timeline (or an end marker, with `gap_s` 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GapRecord {
    pub source: String,
    /// Only for a gap of one channel (a chunk that could not be written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<usize>,
    pub gap_start: String,
    pub gap_end: String,
    pub gap_s: f64,
    pub cause: Cause,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One line of the index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Chunk(ChunkRecord),
    Gap(GapRecord),
}

impl GapRecord {
    /// A gap from `from` to `to`.
    pub fn new(
        source: &str,
        from: Micros,
        to: Micros,
        cause: Cause,
        detail: Option<String>,
    ) -> Self {
        GapRecord {
            source: source.to_string(),
            channel: None,
            gap_start: rfc3339(from),
            gap_end: rfc3339(to),
            gap_s: (to - from) as f64 / 1e6,
            cause,
            detail,
        }
    }
}

/// The open index, shared by the sources' threads.
pub struct Index {
    path: PathBuf,
    file: Mutex<File>,
    /// With `--store`, every record also goes to the uploads ([`crate::store`]).
    mirror: Option<tokio::sync::mpsc::UnboundedSender<crate::store::Mirrored>>,
}

impl Index {
    /// Opens (creating) `dir/chunks.jsonl` for appending. A last line cut short by a crash is
    /// ended first, so that it spoils no later record.
    pub fn open(dir: &Path) -> std::io::Result<Index> {
        use std::io::{Read, Seek, SeekFrom};
        let path = dir.join(INDEX_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        if file.seek(SeekFrom::End(0))? > 0 {
            file.seek(SeekFrom::End(-1))?;
            let mut last = [0u8];
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
            }
        }
        Ok(Index {
            path,
            file: Mutex::new(file),
            mirror: None,
        })
    }

    /// Sends every record appended from now on to the uploads as well.
    pub fn with_mirror(
        mut self,
        tx: tokio::sync::mpsc::UnboundedSender<crate::store::Mirrored>,
    ) -> Index {
        self.mirror = Some(tx);
        self
    }

    /// The index file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as one line.
    pub fn append(&self, record: &Record) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        // A poisoned lock only means another thread panicked between two whole writes.
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(&line)?;
        f.flush()?;
        if let Some(tx) = &self.mirror {
            let text = String::from_utf8_lossy(&line[..line.len() - 1]);
            // The uploads end after the sources; a closed channel only happens at exit.
            let _ = tx.send(crate::store::Mirrored::of(record, &text));
        }
        Ok(())
    }
}

/// Each source's last end (of a chunk or a gap) in an existing index, so that a restarted
/// capture continues its timelines. Lines that do not parse (a line cut short by a crash) are
/// skipped with a count.
pub fn last_ends(dir: &Path) -> std::io::Result<(HashMap<String, Micros>, usize)> {
    let mut ends: HashMap<String, Micros> = HashMap::new();
    let mut bad = 0;
    let f = match File::open(dir.join(INDEX_FILE)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((ends, 0)),
        Err(e) => return Err(e),
    };
    for line in BufReader::new(f).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let (source, end) = match serde_json::from_str::<Record>(&line) {
            Ok(Record::Chunk(c)) => (c.source, c.end),
            Ok(Record::Gap(g)) => (g.source, g.gap_end),
            Err(_) => {
                bad += 1;
                continue;
            }
        };
        match chrono::DateTime::parse_from_rfc3339(&end) {
            Ok(t) => {
                let t = t.timestamp_micros();
                let e = ends.entry(source).or_insert(t);
                *e = (*e).max(t);
            }
            Err(_) => bad += 1,
        }
    }
    Ok((ends, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_restarts_find_the_last_end() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(dir.path()).unwrap();
        let chunk = Record::Chunk(ChunkRecord {
            source: "a".into(),
            channel: 1,
            start: rfc3339(1_000_000),
            end: rfc3339(3_000_000),
            duration_s: 2.0,
            samples: 16_000,
            sample_rate: 8_000,
            bits: 16,
            path: "a/1970-01-01/a_ch01_19700101_000001.flac".into(),
        });
        index.append(&chunk).unwrap();
        let gap = Record::Gap(GapRecord::new(
            "a",
            3_000_000,
            4_500_000,
            Cause::SourceEnded,
            None,
        ));
        index.append(&gap).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(index.path())
            .unwrap()
            .write_all(b"{\"type\":\"chu")
            .unwrap();
        drop(index);
        let index = Index::open(dir.path()).unwrap();
        index.append(&gap).unwrap();
        let text = std::fs::read_to_string(index.path()).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["type"], "chunk");
        assert_eq!(first["duration_s"], 2.0);
        let second: serde_json::Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        assert_eq!(second["cause"], "source ended");
        assert_eq!(second["gap_s"], 1.5);
        let (ends, bad) = last_ends(dir.path()).unwrap();
        assert_eq!(ends["a"], 4_500_000);
        assert_eq!(bad, 1);
        assert_eq!(text.lines().nth(3), text.lines().nth(1));
    }
}
