//! Recording start times: parsing from manifests and file names, and the string forms the
//! soundscape table carries (`time_raw`, `time_format`).

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

/// `time_format` column value of the original (docs/files.md#get-audio-df).
pub const TIME_FORMAT: &str = "%H:%M:%S %d/%m/%Y (%z)";

/// `time_raw` in docs/files.md#get-audio-df: the start formatted with [`TIME_FORMAT`], e.g.
/// `05:50:00 04/08/2021 (-0500)`.
pub fn time_raw(start: &DateTime<FixedOffset>) -> String {
    start.format(TIME_FORMAT).to_string()
}

/// Default time-zone label for an offset: `UTC` for +00:00, otherwise `+HH:MM`.
pub fn zone_label(offset: &FixedOffset) -> String {
    let secs = offset.local_minus_utc();
    if secs == 0 {
        "UTC".to_string()
    } else {
        offset.to_string()
    }
}

/// Start time in a file name: the first `YYYYMMDD_HHMMSS` (AudioMoth, SongMeter
/// `<PREFIX>_YYYYMMDD_HHMMSS`), read as UTC.
pub fn start_from_file_name(name: &str) -> Option<DateTime<FixedOffset>> {
    let b = name.as_bytes();
    if b.len() < 15 {
        return None;
    }
    for i in 0..=b.len() - 15 {
        let w = &b[i..i + 15];
        let digits = |r: std::ops::Range<usize>| w[r].iter().all(u8::is_ascii_digit);
        let bounded_left = i == 0 || !b[i - 1].is_ascii_digit();
        let bounded_right = i + 15 == b.len() || !b[i + 15].is_ascii_digit();
        if bounded_left && bounded_right && digits(0..8) && w[8] == b'_' && digits(9..15) {
            let s = std::str::from_utf8(w).ok()?;
            if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y%m%d_%H%M%S") {
                return Some(Utc.from_utc_datetime(&t).fixed_offset());
            }
        }
    }
    None
}

/// Parses a start time as written in manifests: RFC 3339 / ISO 8601 with an offset
/// (`2021-08-04T00:05:00-05:00`, `...Z`, `...-0500`, fractional seconds allowed) or without
/// one, in which case it is read as UTC.
pub fn parse_start(text: &str) -> Result<DateTime<FixedOffset>, String> {
    let s = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t);
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Ok(t);
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y%m%d_%H%M%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(Utc.from_utc_datetime(&t).fixed_offset());
        }
    }
    Err(format!(
        "cannot read start time {s:?} (expected e.g. 2021-08-04T05:50:00-05:00)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let t = start_from_file_name("MINI_20210804_055000.wav").unwrap();
        assert_eq!(t.to_rfc3339(), "2021-08-04T05:50:00+00:00");
        assert!(start_from_file_name("20210804_055000.WAV").is_some());
        assert!(start_from_file_name("x_120210804_055000.wav").is_none());
        assert!(start_from_file_name("20211304_055000.wav").is_none());
        assert!(start_from_file_name("short.wav").is_none());
    }

    #[test]
    fn manifest_starts_and_raw_form() {
        let t = parse_start("2021-08-04T05:50:00-05:00").unwrap();
        assert_eq!(time_raw(&t), "05:50:00 04/08/2021 (-0500)");
        assert_eq!(zone_label(t.offset()), "-05:00");
        let u = parse_start("2021-08-04 05:50:00").unwrap();
        assert_eq!(time_raw(&u), "05:50:00 04/08/2021 (+0000)");
        assert_eq!(zone_label(u.offset()), "UTC");
        assert!(parse_start("2021-08-04T05:50:00.123456-0500").is_ok());
        assert!(parse_start("yesterday").is_err());
    }
}
