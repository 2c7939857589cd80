//! A2O recording names, as the archive's FLAC files are called and its embedding shards carry
//! them: `YYYYMMDDTHHMMSS±HHMM_<site>-<subsite>_<seq>.flac` (`Z` for UTC), where the subsite is
//! `Wet-A`, `Dry-B` and the like and the site name may hold dashes itself; older dumps put a
//! `site_NNNN/` folder before the name.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};

/// What an A2O name says.
#[derive(Debug, Clone, PartialEq)]
pub struct A2oName {
    /// `NNNN` of an older dump's `site_NNNN/` folder.
    pub site_id: Option<u32>,
    /// When the recording starts, at the recorder's offset.
    pub start: DateTime<FixedOffset>,
    pub site: String,
    /// `Wet-A`, `Dry-B`, ...; `None` where the name holds no such part.
    pub subsite: Option<String>,
    /// The file's sequence number, where the name ends with one.
    pub seq: Option<u64>,
}

/// Parses an A2O name (a path: only its last two parts are read).
pub fn parse(name: &str) -> Result<A2oName, String> {
    let mut parts = name.rsplit('/');
    let file = parts.next().unwrap_or(name);
    let site_id = parts
        .next()
        .and_then(|dir| dir.strip_prefix("site_"))
        .and_then(|n| n.parse().ok());
    let why = |what: &str| format!("{name:?} is not an A2O name ({what})");
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let (stamp, rest) = stem
        .split_once('_')
        .ok_or_else(|| why("no `_` after the time"))?;
    if stamp.len() < 15 || !stamp.is_char_boundary(15) {
        return Err(why("no YYYYMMDDTHHMMSS time"));
    }
    let (local, zone) = stamp.split_at(15);
    let local = NaiveDateTime::parse_from_str(local, "%Y%m%dT%H%M%S")
        .map_err(|_| why("no YYYYMMDDTHHMMSS time"))?;
    let offset = match zone {
        "Z" => 0,
        z if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
            let digits: i32 = z[1..].parse().map_err(|_| why("a bad offset"))?;
            let secs = (digits / 100) * 3600 + (digits % 100) * 60;
            if z.starts_with('-') {
                -secs
            } else {
                secs
            }
        }
        _ => return Err(why("no ±HHMM or Z offset after the time")),
    };
    let tz = FixedOffset::east_opt(offset).ok_or_else(|| why("an offset out of range"))?;
    let start = tz
        .from_local_datetime(&local)
        .single()
        .ok_or_else(|| why("a time that does not exist"))?;
    let (place, seq) = match rest.rsplit_once('_') {
        Some((p, s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            (p, s.parse().ok())
        }
        _ => (rest, None),
    };
    if place.is_empty() {
        return Err(why("no site"));
    }
    // The subsite is the last two dash-separated words when they are Wet/Dry and a letter.
    let words: Vec<&str> = place.split('-').collect();
    let subsite = match words.as_slice() {
        [.., kind, letter]
            if words.len() > 2
                && matches!(*kind, "Wet" | "Dry")
                && letter.len() == 1
                && letter.bytes().all(|b| b.is_ascii_alphabetic()) =>
        {
            Some(format!("{kind}-{letter}"))
        }
        _ => None,
    };
    let site = match &subsite {
        Some(s) => place[..place.len() - s.len() - 1].to_string(),
        None => place.to_string(),
    };
    Ok(A2oName {
        site_id,
        start,
        site,
        subsite,
        seq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_the_archive() {
        let n = parse("20201126T200000+0800_Great-Western-Woodlands-Wet-A_433266.flac").unwrap();
        assert_eq!(n.site, "Great-Western-Woodlands");
        assert_eq!(n.subsite.as_deref(), Some("Wet-A"));
        assert_eq!(n.seq, Some(433266));
        assert_eq!(n.site_id, None);
        assert_eq!(n.start.to_rfc3339(), "2020-11-26T20:00:00+08:00");
        let n = parse("site_0253/20210105T043000Z_Tarcutta-Dry-B_12.flac").unwrap();
        assert_eq!(
            (n.site_id, n.site.as_str(), n.subsite.as_deref()),
            (Some(253), "Tarcutta", Some("Dry-B"))
        );
        assert_eq!(n.start.to_rfc3339(), "2021-01-05T04:30:00+00:00");
        let n = parse("20200101T000000-0330_Somewhere_7.flac").unwrap();
        assert_eq!(
            (
                n.site.as_str(),
                n.subsite,
                n.start.offset().local_minus_utc()
            ),
            ("Somewhere", None, -(3 * 3600 + 30 * 60))
        );
    }

    #[test]
    fn other_names_say_why_they_are_not_a2o_names() {
        for (name, why) in [
            ("recording.flac", "no `_`"),
            ("2020-11-26_site_1.flac", "no YYYYMMDDTHHMMSS"),
            ("20201126T200000_site_1.flac", "offset"),
            ("20201126T200000+0800_.flac", "no site"),
        ] {
            let e = parse(name).unwrap_err();
            assert!(e.contains(why), "{name}: {e}");
        }
    }
}
