//! The time zone of plot labels and diel hours: an IANA zone (DST-aware) or a fixed offset.

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, PartialEq)]
pub enum Zone {
    Iana(Tz),
    Fixed(FixedOffset),
}

impl Zone {
    /// Parses `America/Mexico_City`, `UTC`, `-05:00` or `+0530`.
    pub fn parse(s: &str) -> Option<Zone> {
        let s = s.trim();
        if let Ok(tz) = s.parse::<Tz>() {
            return Some(Zone::Iana(tz));
        }
        let digits: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
        let sign = match s.chars().next()? {
            '+' => 1,
            '-' => -1,
            _ => return None,
        };
        if digits.len() != 4 {
            return None;
        }
        let h: i32 = digits[..2].parse().ok()?;
        let m: i32 = digits[2..].parse().ok()?;
        FixedOffset::east_opt(sign * (h * 3600 + m * 60)).map(Zone::Fixed)
    }

    pub fn name(&self) -> String {
        match self {
            Zone::Iana(tz) => tz.name().to_string(),
            Zone::Fixed(o) if o.local_minus_utc() == 0 => "UTC".into(),
            Zone::Fixed(o) => format!("UTC{o}"),
        }
    }

    /// Local wall-clock time of an instant.
    pub fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Zone::Iana(tz) => t.with_timezone(tz).naive_local(),
            Zone::Fixed(o) => t.with_timezone(o).naive_local(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn parses_names_and_offsets() {
        let t = Utc.with_ymd_and_hms(2021, 8, 4, 12, 0, 0).unwrap();
        let mx = Zone::parse("America/Mexico_City").unwrap();
        assert_eq!(mx.local(t).to_string(), "2021-08-04 07:00:00");
        assert_eq!(
            Zone::parse("-05:00").unwrap().local(t).to_string(),
            "2021-08-04 07:00:00"
        );
        assert_eq!(Zone::parse("+0530").unwrap().name(), "UTC+05:30");
        assert_eq!(Zone::parse("UTC").unwrap().name(), "UTC");
        assert!(Zone::parse("somewhere").is_none());
    }
}
