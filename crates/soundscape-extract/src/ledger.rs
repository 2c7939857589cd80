//! The ledger (`extracted.jsonl` in the output folder): one line per decided detection, with
//! what was decided (`extracted`, `not drawn`, `filtered`) and the clip's path. A rerun skips
//! every detection the ledger has decided, so no detection is extracted twice and a rerun over
//! the same tables adds nothing; a detection that failed is not in it and is tried again.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name of the ledger inside the output folder.
pub const LEDGER_FILE: &str = "extracted.jsonl";

/// What became of a detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Its clip was written.
    Extracted,
    /// The draw did not take it.
    NotDrawn,
    /// The object filter refused its clip.
    Filtered,
}

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub key: String,
    pub decision: Decision,
    pub rule: String,
    pub label: String,
    /// The clip, relative to the output folder (extracted detections only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub clip: Option<String>,
    pub decided_at: String,
}

/// The ledger, open for appending.
pub struct Ledger {
    path: PathBuf,
    decided: HashSet<String>,
    file: std::fs::File,
}

impl Ledger {
    /// Opens (or creates) the ledger of `out`. A last line cut short by a killed run is
    /// dropped (its detection is decided again).
    pub fn open(out: &Path) -> Result<Ledger, String> {
        let path = out.join(LEDGER_FILE);
        let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        std::fs::create_dir_all(out).map_err(|e| at(&e))?;
        let mut decided = HashSet::new();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(at(&e)),
        };
        let mut good = 0;
        for line in text.split_inclusive('\n') {
            match serde_json::from_str::<Entry>(line.trim_end()) {
                Ok(e) if line.ends_with('\n') => {
                    decided.insert(e.key);
                    good += line.len();
                }
                _ if line.trim().is_empty() => good += line.len(),
                _ => break,
            }
        }
        if good < text.len() {
            tracing::warn!(ledger = %path.display(), "dropping a cut or unreadable end of the ledger");
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| at(&e))?;
            f.set_len(good as u64).map_err(|e| at(&e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| at(&e))?;
        Ok(Ledger {
            path,
            decided,
            file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_decided(&self, key: &str) -> bool {
        self.decided.contains(key)
    }

    pub fn len(&self) -> usize {
        self.decided.len()
    }

    pub fn is_empty(&self) -> bool {
        self.decided.is_empty()
    }

    /// Appends a decision (one write of a whole line).
    pub fn record(&mut self, entry: Entry) -> Result<(), String> {
        let mut line = serde_json::to_string(&entry).map_err(|e| e.to_string())?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        self.decided.insert(entry.key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str) -> Entry {
        Entry {
            key: key.into(),
            decision: Decision::NotDrawn,
            rule: "r".into(),
            label: "l".into(),
            clip: None,
            decided_at: "now".into(),
        }
    }

    #[test]
    fn reopens_and_drops_a_cut_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path()).unwrap();
        l.record(entry("a")).unwrap();
        l.record(entry("b")).unwrap();
        drop(l);
        let path = dir.path().join(LEDGER_FILE);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"key\": \"c\", \"deci").unwrap();
        drop(f);
        let mut l = Ledger::open(dir.path()).unwrap();
        assert!(l.is_decided("a") && l.is_decided("b") && !l.is_decided("c"));
        l.record(entry("c")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text
            .lines()
            .all(|x| serde_json::from_str::<Entry>(x).is_ok()));
    }
}
