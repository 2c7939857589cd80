//! The CronoHasher (docs/method.md#hash): a rotating time-of-day index.
//!
//! `hash = round_half_even(((t - start) mod (unit*module)) / unit) mod module`, on exact
//! microsecond differences. With the SiPeCaM defaults (1800 s x 48 from 2018-01-01 00:00
//! America/Mexico_City, i.e. fixed UTC-6) it is the half hour of the day, rounded to the
//! nearest half hour; DST is not followed, as in the original.

use chrono::{DateTime, FixedOffset};

use crate::config::HasherConfig;

#[derive(Debug, Clone)]
pub struct CronoHasher {
    start: DateTime<FixedOffset>,
    unit_us: i64,
    module: i64,
}

impl CronoHasher {
    pub fn new(cfg: &HasherConfig) -> Result<Self, String> {
        Ok(CronoHasher {
            start: cfg.aware_start()?,
            unit_us: cfg.time_unit * 1_000_000,
            module: cfg.time_module,
        })
    }

    pub fn hash(&self, t: &DateTime<FixedOffset>) -> i64 {
        let delta = (*t - self.start)
            .num_microseconds()
            .expect("time difference fits in microseconds");
        let rem = delta.rem_euclid(self.unit_us * self.module);
        // Python: timedelta / timedelta is an exact integer ratio, correctly rounded.
        let ratio = rem as f64 / self.unit_us as f64;
        (ratio.round_ties_even() as i64) % self.module
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> i64 {
        let hasher = CronoHasher::new(&HasherConfig::default()).unwrap();
        hasher.hash(&DateTime::parse_from_rfc3339(s).unwrap())
    }

    #[test]
    fn boundary_values_of_the_spec() {
        assert_eq!(h("2021-08-04T06:00:00Z"), 0);
        assert_eq!(h("2021-08-04T06:14:59Z"), 0);
        assert_eq!(h("2021-08-04T06:15:00Z"), 0); // 0.5 rounds to even
        assert_eq!(h("2021-08-04T06:45:00Z"), 2);
        assert_eq!(h("2021-08-04T07:15:00Z"), 2); // 2.5 rounds to even
        assert_eq!(h("2021-08-04T07:15:00.000001Z"), 3);
        assert_eq!(h("2021-08-04T05:44:59Z"), 47);
        assert_eq!(h("2021-08-04T05:45:00Z"), 0); // 47.5 -> 48 -> 0
        assert_eq!(h("2021-08-04T00:00:00-05:00"), 46);
        assert_eq!(h("2017-06-01T06:00:00Z"), 0); // before the start: modulo stays >= 0
    }

    #[test]
    fn hourly_cycle() {
        let cfg = HasherConfig {
            time_unit: 3600,
            time_module: 24,
            ..HasherConfig::default()
        };
        let hasher = CronoHasher::new(&cfg).unwrap();
        let t = DateTime::parse_from_rfc3339("2021-08-04T12:29:59Z").unwrap();
        assert_eq!(hasher.hash(&t), 6);
    }
}
