//! Engine configuration: the original pipeline's FEED (docs/method.md), SiPeCaM values as defaults.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone};
use serde::{Deserialize, Serialize};

/// The six indices, in the original's parquet column order by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(clippy::upper_case_acronyms)]
pub enum IndexName {
    TOTAL,
    EXAG,
    INFORMATION,
    CORE,
    ICOMPLEXITY,
    TAIL,
}

impl IndexName {
    /// Column order of `hashed_soundscape.parquet` (docs/files.md#compute-soundscapes).
    pub const TABLE_ORDER: [IndexName; 6] = [
        IndexName::TOTAL,
        IndexName::EXAG,
        IndexName::INFORMATION,
        IndexName::CORE,
        IndexName::ICOMPLEXITY,
        IndexName::TAIL,
    ];
    /// Order in which the metadata JSON lists them (docs/method.md).
    pub const METADATA_ORDER: [IndexName; 6] = [
        IndexName::TOTAL,
        IndexName::CORE,
        IndexName::TAIL,
        IndexName::INFORMATION,
        IndexName::ICOMPLEXITY,
        IndexName::EXAG,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IndexName::TOTAL => "TOTAL",
            IndexName::EXAG => "EXAG",
            IndexName::INFORMATION => "INFORMATION",
            IndexName::CORE => "CORE",
            IndexName::ICOMPLEXITY => "ICOMPLEXITY",
            IndexName::TAIL => "TAIL",
        }
    }
}

/// How recordings are cut into cells and how the spectrogram is made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceConfig {
    /// Slice length, seconds.
    pub time_unit: f64,
    /// Number of frequency bands between the limits.
    pub frequency_bins: usize,
    /// Lower and upper frequency limit, Hz.
    pub frequency_limits: (f64, f64),
    pub n_fft: usize,
    pub hop_length: usize,
    /// Slice step as a fraction of the slice length (1.0: no overlap).
    pub time_hop: f64,
    /// Band step as a fraction of the band width (1.0: no overlap).
    pub frequency_hop: f64,
}

impl Default for SliceConfig {
    fn default() -> Self {
        SliceConfig {
            time_unit: 30.0,
            frequency_bins: 96,
            frequency_limits: (0.0, 24000.0),
            n_fft: 1024,
            hop_length: 512,
            time_hop: 1.0,
            frequency_hop: 1.0,
        }
    }
}

/// CronoHasher settings (docs/method.md#hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HasherConfig {
    /// Name of the hash column.
    pub hash_name: String,
    /// Hash unit, seconds.
    pub time_unit: i64,
    /// Number of units in a cycle.
    pub time_module: i64,
    /// Local start of the cycle, `start_format` formatted.
    pub start_time: String,
    pub start_format: String,
    /// IANA zone in which `start_time` is read.
    pub start_tzone: String,
}

impl Default for HasherConfig {
    fn default() -> Self {
        HasherConfig {
            hash_name: "crono_hash_30m".into(),
            time_unit: 1800,
            time_module: 48,
            start_time: "2018-01-01 00:00:00".into(),
            start_format: "%Y-%m-%d %H:%M:%S".into(),
            start_tzone: "America/Mexico_City".into(),
        }
    }
}

impl HasherConfig {
    /// The aware start instant: `start_time` localised in `start_tzone` (for SiPeCaM,
    /// 2018-01-01 00:00 CST = 06:00 UTC).
    pub fn aware_start(&self) -> Result<DateTime<FixedOffset>, String> {
        let naive = NaiveDateTime::parse_from_str(&self.start_time, &self.start_format)
            .map_err(|e| format!("hasher start_time {:?}: {e}", self.start_time))?;
        let tz: chrono_tz::Tz = parse_tz(&self.start_tzone)?;
        let local = tz.from_local_datetime(&naive).earliest().ok_or_else(|| {
            format!(
                "hasher start_time {:?} does not exist in {}",
                self.start_time, self.start_tzone
            )
        })?;
        Ok(local.fixed_offset())
    }
}

/// Parses an IANA zone name case-insensitively, as pytz does (the original spells it
/// `America/Mexico_city`).
pub fn parse_tz(name: &str) -> Result<chrono_tz::Tz, String> {
    name.parse::<chrono_tz::Tz>()
        .or_else(|_| chrono_tz::Tz::from_str_insensitive(name))
        .map_err(|_| format!("unknown time zone {name:?}"))
}

/// Everything the engine needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    pub slice: SliceConfig,
    pub hasher: HasherConfig,
    /// Indices to write, in column order.
    pub indices: Vec<IndexName>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            slice: SliceConfig::default(),
            hasher: HasherConfig::default(),
            indices: IndexName::TABLE_ORDER.to_vec(),
        }
    }
}

impl EngineConfig {
    /// Checks the values that would otherwise make nonsense (or divide by zero).
    pub fn validate(&self) -> Result<(), String> {
        let s = &self.slice;
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(s.time_unit) {
            return Err("slice length must be positive".into());
        }
        if s.frequency_bins == 0 {
            return Err("frequency_bins must be at least 1".into());
        }
        let (lo, hi) = s.frequency_limits;
        if lo.is_nan() || hi.is_nan() || hi <= lo || lo < 0.0 {
            return Err("frequency limits must satisfy 0 <= low < high".into());
        }
        if s.n_fft < 2 || !s.n_fft.is_multiple_of(2) {
            return Err("n_fft must be an even number >= 2".into());
        }
        if s.hop_length == 0 {
            return Err("hop_length must be at least 1".into());
        }
        if !positive(s.time_hop) || !positive(s.frequency_hop) {
            return Err("time_hop and frequency_hop must be positive".into());
        }
        if self.hasher.time_unit <= 0 || self.hasher.time_module <= 0 {
            return Err("hash unit and module must be positive".into());
        }
        if self.indices.is_empty() {
            return Err("at least one index must be selected".into());
        }
        self.hasher.aware_start().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sipecam_start_is_cst() {
        let s = HasherConfig::default().aware_start().unwrap();
        assert_eq!(s.to_rfc3339(), "2018-01-01T00:00:00-06:00");
        assert!(parse_tz("America/Mexico_city").is_ok());
        assert!(EngineConfig::default().validate().is_ok());
    }
}
