//! The upload journal: one JSON line per product that reached a target, appended and synced to
//! `upload_journal.jsonl` in its unit folder on the shared volume. A rerun, or a pod restarted
//! after it was killed, skips what the journal lists with the same content, without asking
//! the server. A line torn by a kill is ignored (with a warning); the product is then checked
//! on the server again, which is always safe.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

pub const JOURNAL_FILE: &str = "upload_journal.jsonl";

/// One product on one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The target (`alfresco:<url>#<root node>` or a store URL).
    pub target: String,
    pub file: String,
    pub sha256: String,
    pub size: u64,
    /// Node id or object key.
    pub remote: String,
    /// The remote version seen or written (Alfresco `modifiedAt`, object e-tag).
    #[serde(default)]
    pub version: String,
    pub action: String,
    pub at: String,
}

#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    entries: Mutex<HashMap<(String, String), Entry>>,
    pub warnings: Vec<String>,
}

impl Journal {
    /// Reads the journal of a unit folder (empty when there is none).
    pub fn open(unit_dir: &Path) -> Result<Journal, String> {
        let path = unit_dir.join(JOURNAL_FILE);
        let mut entries = HashMap::new();
        let mut warnings = Vec::new();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                if !text.is_empty() && !text.ends_with('\n') {
                    // A kill tore the last line: end it, so the next entry starts a line of its own.
                    let mut f = std::fs::OpenOptions::new()
                        .append(true)
                        .open(&path)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    f.write_all(b"\n")
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                }
                for (i, line) in text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                {
                    match serde_json::from_str::<Entry>(line) {
                        Ok(e) => {
                            entries.insert((e.target.clone(), e.file.clone()), e);
                        }
                        Err(e) => warnings.push(format!(
                            "{}: line {} ignored ({e}); its product is checked on the server",
                            path.display(),
                            i + 1
                        )),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
        Ok(Journal {
            path,
            entries: Mutex::new(entries),
            warnings,
        })
    }

    pub fn get(&self, target: &str, file: &str) -> Option<Entry> {
        self.entries
            .lock()
            .unwrap()
            .get(&(target.to_string(), file.to_string()))
            .cloned()
    }

    /// The entry whose remote object is `remote` with the version `version`, if any.
    pub fn by_remote(&self, target: &str, remote: &str, version: &str) -> Option<Entry> {
        self.entries
            .lock()
            .unwrap()
            .values()
            .find(|e| e.target == target && e.remote == remote && e.version == version)
            .cloned()
    }

    /// Appends an entry and syncs it to disk before returning.
    pub fn record(&self, entry: Entry) -> Result<(), String> {
        let mut entries = self.entries.lock().unwrap();
        let mut line = serde_json::to_string(&entry).map_err(|e| e.to_string())?;
        line.push('\n');
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            f.write_all(line.as_bytes())?;
            f.sync_data()
        };
        write().map_err(|e| format!("{}: {e}", self.path.display()))?;
        entries.insert((entry.target.clone(), entry.file.clone()), entry);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(file: &str, sha: &str) -> Entry {
        Entry {
            target: "t".into(),
            file: file.into(),
            sha256: sha.into(),
            size: 3,
            remote: format!("id-{file}"),
            version: "v1".into(),
            action: "created".into(),
            at: "now".into(),
        }
    }

    #[test]
    fn entries_survive_a_reopen_and_a_torn_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        j.record(entry("a.png", "1")).unwrap();
        j.record(entry("b.png", "2")).unwrap();
        j.record(entry("a.png", "3")).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(JOURNAL_FILE))
            .unwrap();
        f.write_all(b"{\"target\":\"t\",\"fi").unwrap();
        let j = Journal::open(dir.path()).unwrap();
        j.record(entry("c.png", "4")).unwrap();
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.get("t", "c.png").unwrap().sha256, "4");
        assert_eq!(j.get("t", "a.png").unwrap().sha256, "3");
        assert_eq!(j.get("t", "b.png").unwrap().remote, "id-b.png");
        assert_eq!(j.by_remote("t", "id-b.png", "v1").unwrap().file, "b.png");
        assert!(j.get("u", "a.png").is_none());
        assert_eq!(j.warnings.len(), 1, "{:?}", j.warnings);
    }
}
