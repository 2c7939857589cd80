//! The sources file: which streams to capture, in the spirit of Tidzam's stream list.
//!
//! ```json
//! {"sources": [
//!   {"name": "tidmarsh-north", "url": "http://icecast.example.org:8000/north.opus", "permanent": true, "channels": [0, 1]},
//!   {"name": "test-file", "url": "recordings/night.flac"}
//! ]}
//! ```
//!
//! `url` is anything FFmpeg opens: `http(s)://` (Icecast and Shoutcast serve Ogg Opus, Ogg
//! Vorbis, MP3 over plain HTTP), a local file or FIFO path, or `file:` URL. `permanent` sources
//! are reconnected whenever they end or fail; the others are read once. `channels` picks
//! channels by 0-based index (all when absent).

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The sources file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesFile {
    pub sources: Vec<Source>,
}

/// One stream to capture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Names its chunks (`<name>[_chNN]_YYYYMMDD_HHMMSS.flac`) and its folder.
    pub name: String,
    /// What FFmpeg opens.
    pub url: String,
    /// Reconnect whenever the stream ends or fails (a live stream); otherwise read it once.
    #[serde(default)]
    pub permanent: bool,
    /// Channels to keep, 0-based; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<usize>>,
}

impl SourcesFile {
    /// Reads and checks a sources file.
    pub fn read(path: &Path) -> anyhow::Result<SourcesFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
        let file: SourcesFile = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: not a sources file: {e}", path.display()))?;
        file.check()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(file)
    }

    /// Names valid and unique, URLs present, channel lists non-empty and without repeats.
    /// An empty list is valid (there is nothing to capture).
    pub fn check(&self) -> Result<(), String> {
        let mut names = HashSet::new();
        for s in &self.sources {
            check_name(&s.name)?;
            if !names.insert(s.name.as_str()) {
                return Err(format!("source {:?} is named twice", s.name));
            }
            if s.url.trim().is_empty() {
                return Err(format!("source {:?} has no url", s.name));
            }
            if let Some(ch) = &s.channels {
                if ch.is_empty() {
                    return Err(format!(
                        "source {:?}: an empty channel list keeps nothing (leave it out for all channels)",
                        s.name
                    ));
                }
                let unique: HashSet<_> = ch.iter().collect();
                if unique.len() != ch.len() {
                    return Err(format!("source {:?}: a channel is listed twice", s.name));
                }
                if let Some(c) = ch.iter().find(|&&c| c > 99) {
                    return Err(format!(
                        "source {:?}: channel {c} (chunk names have two digits for the channel)",
                        s.name
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A source name becomes a folder and the head of file names that get-audio-df reads: ASCII
/// letters, digits, `-`, `.` and `_`, not starting with a dot, and without a run of digits that
/// would read as a `YYYYMMDD_HHMMSS` time stamp before the chunk's own.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 100 {
        return Err(format!("source name {name:?}: 1 to 100 characters"));
    }
    if name.starts_with('.')
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(format!(
            "source name {name:?}: letters, digits, '-', '_' and '.' only, not starting with '.'"
        ));
    }
    if name == crate::store::INDEX_PREFIX {
        return Err(format!(
            "source name {name:?} is the folder of the index pieces in object storage"
        ));
    }
    if soundscape_core::timefmt::start_from_file_name(name).is_some() {
        return Err(format!(
            "source name {name:?} holds a YYYYMMDD_HHMMSS time stamp, which would be read as the chunks' start"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<SourcesFile, String> {
        let f: SourcesFile = serde_json::from_str(json).map_err(|e| e.to_string())?;
        f.check().map(|()| f)
    }

    #[test]
    fn reads_the_documented_form() {
        let f = parse(
            r#"{"sources": [{"name": "north", "url": "http://h:8000/n.opus", "permanent": true, "channels": [0, 1]},
                            {"name": "file", "url": "a.flac"}]}"#,
        )
        .unwrap();
        assert_eq!(f.sources[0].channels, Some(vec![0, 1]));
        assert!(f.sources[0].permanent);
        assert!(!f.sources[1].permanent);
        assert_eq!(f.sources[1].channels, None);
        assert!(parse(r#"{"sources": []}"#).unwrap().sources.is_empty());
    }

    #[test]
    fn refuses_what_would_go_wrong_later() {
        for (json, why) in [
            (r#"{"sources": [{"name": "a b", "url": "x"}]}"#, "letters"),
            (r#"{"sources": [{"name": "../up", "url": "x"}]}"#, "letters"),
            (
                r#"{"sources": [{"name": "a", "url": "x"}, {"name": "a", "url": "y"}]}"#,
                "twice",
            ),
            (r#"{"sources": [{"name": "a", "url": " "}]}"#, "no url"),
            (
                r#"{"sources": [{"name": "a", "url": "x", "channels": []}]}"#,
                "empty channel",
            ),
            (
                r#"{"sources": [{"name": "a", "url": "x", "channels": [1, 1]}]}"#,
                "twice",
            ),
            (
                r#"{"sources": [{"name": "m_20210101_000000", "url": "x"}]}"#,
                "time stamp",
            ),
            (
                r#"{"sources": [{"name": "a", "url": "x", "chanels": [1]}]}"#,
                "unknown field",
            ),
        ] {
            let e = parse(json).unwrap_err();
            assert!(e.contains(why), "{json}: {e}");
        }
    }
}
