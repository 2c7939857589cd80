//! What recorders tell about a recording besides the audio: the start time, the recorder's
//! serial number and its position, from (in order of trust) a GUANO chunk, an AudioMoth
//! comment, and the `YYYYMMDD_HHMMSS` of the file name (read as UTC).

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};
use soundscape_core::timefmt::{parse_start, start_from_file_name};

use crate::header::HeaderInfo;

/// Where a start time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartSource {
    Guano,
    Comment,
    FileName,
    Manifest,
    Alfresco,
    /// The file's modification time (`--start-from mtime`).
    Mtime,
    /// A start given on the command line (`--start`), files of a folder back to back.
    Fixed,
    /// A start per folder from a CSV (`--starts`), files of a folder back to back.
    FolderCsv,
}

impl StartSource {
    pub fn as_str(self) -> &'static str {
        match self {
            StartSource::Guano => "guano",
            StartSource::Comment => "comment",
            StartSource::FileName => "file_name",
            StartSource::Manifest => "manifest",
            StartSource::Alfresco => "alfresco",
            StartSource::Mtime => "mtime",
            StartSource::Fixed => "fixed",
            StartSource::FolderCsv => "folder_csv",
        }
    }
}

/// Clues gathered from one file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Clues {
    pub start: Option<(DateTime<FixedOffset>, StartSource)>,
    pub serial: Option<String>,
    pub position: Option<(f64, f64)>,
}

/// `Recorded at HH:MM:SS DD/MM/YYYY (UTC[+-]H[:MM]) by AudioMoth SERIAL ...`.
pub fn audiomoth_comment(comment: &str) -> Option<(DateTime<FixedOffset>, Option<String>)> {
    let rest = &comment[comment.find("Recorded at ")? + "Recorded at ".len()..];
    let (stamp, rest) = rest.split_at(rest.find(" (")?);
    let t = NaiveDateTime::parse_from_str(stamp.trim(), "%H:%M:%S %d/%m/%Y").ok()?;
    let zone = &rest[2..rest.find(')')?];
    let offset = zone.strip_prefix("UTC")?;
    let secs = if offset.is_empty() {
        0
    } else {
        let sign = match offset.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let mut parts = offset[1..].split(':');
        let h: i32 = parts.next()?.parse().ok()?;
        let m: i32 = parts.next().map(|m| m.parse().ok()).unwrap_or(Some(0))?;
        sign * (h * 3600 + m * 60)
    };
    let start = FixedOffset::east_opt(secs)?
        .from_local_datetime(&t)
        .single()?;
    let serial = comment
        .split("by AudioMoth ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .map(str::to_string);
    Some((start, serial))
}

/// Fields of a GUANO text (`Key: Value` lines).
pub fn guano_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// Start time, serial number and position of a recording.
pub fn clues(file_stem: &str, header: Option<&HeaderInfo>) -> Clues {
    let mut c = Clues::default();
    if let Some(g) = header.and_then(|h| h.guano.as_deref()) {
        if let Some(t) = guano_field(g, "Timestamp").and_then(|t| parse_start(t).ok()) {
            c.start = Some((t, StartSource::Guano));
        }
        c.serial = guano_field(g, "Serial").map(str::to_string);
        c.position = guano_field(g, "Loc Position").and_then(|p| {
            let mut it = p.split_whitespace().map(|x| x.parse::<f64>());
            match (it.next(), it.next()) {
                (Some(Ok(lat)), Some(Ok(lon))) => Some((lat, lon)),
                _ => None,
            }
        });
    }
    if let Some((t, serial)) = header
        .and_then(|h| h.comment.as_deref())
        .and_then(audiomoth_comment)
    {
        if c.start.is_none() {
            c.start = Some((t, StartSource::Comment));
        }
        if c.serial.is_none() {
            c.serial = serial;
        }
    }
    if c.start.is_none() {
        c.start = start_from_file_name(file_stem).map(|t| (t, StartSource::FileName));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiomoth_comments() {
        let (t, s) = audiomoth_comment(
            "Recorded at 05:50:00 04/08/2021 (UTC-5) by AudioMoth 248C7D075B1F7CDB at medium gain setting while battery state was 4.2V.",
        )
        .unwrap();
        assert_eq!(t.to_rfc3339(), "2021-08-04T05:50:00-05:00");
        assert_eq!(s.as_deref(), Some("248C7D075B1F7CDB"));
        let (t, _) =
            audiomoth_comment("Recorded at 10:30:00 05/07/2022 (UTC+05:30) by AudioMoth X")
                .unwrap();
        assert_eq!(t.to_rfc3339(), "2022-07-05T10:30:00+05:30");
        let (t, _) =
            audiomoth_comment("Recorded at 23:59:59 31/12/2020 (UTC) by AudioMoth X").unwrap();
        assert_eq!(t.to_rfc3339(), "2020-12-31T23:59:59+00:00");
        assert!(audiomoth_comment("hello").is_none());
        assert!(audiomoth_comment("Recorded at 99:00:00 04/08/2021 (UTC)").is_none());
    }

    #[test]
    fn guano_wins_over_comment_and_name() {
        let h = HeaderInfo {
            guano: Some("GUANO|Version: 1.0\nTimestamp: 2021-08-04T05:50:00-05:00\nSerial: SM4-1\nLoc Position: 19.43 -99.13\n".into()),
            comment: Some("Recorded at 01:00:00 04/08/2021 (UTC) by AudioMoth AM1".into()),
            ..Default::default()
        };
        let c = clues("X_20200101_000000", Some(&h));
        let (t, src) = c.start.unwrap();
        assert_eq!(
            (t.to_rfc3339().as_str(), src),
            ("2021-08-04T05:50:00-05:00", StartSource::Guano)
        );
        assert_eq!(c.serial.as_deref(), Some("SM4-1"));
        assert_eq!(c.position, Some((19.43, -99.13)));

        let c = clues("X_20200101_000000", None);
        assert_eq!(c.start.unwrap().1, StartSource::FileName);
        let h = HeaderInfo {
            comment: Some("Recorded at 01:00:00 04/08/2021 (UTC-6) by AudioMoth AM1 at".into()),
            ..Default::default()
        };
        let c = clues("nodate", Some(&h));
        assert_eq!(c.start.unwrap().1, StartSource::Comment);
        assert_eq!(c.serial.as_deref(), Some("AM1"));
    }
}
