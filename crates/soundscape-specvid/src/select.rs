//! Representative recordings per hour (docs/method.md#choice-of-recordings): for each start hour of the unit (`%H` of
//! `time_raw`, the recording's local start), one vector per slice of the bands up to 10 kHz x
//! [EXAG, INFORMATION, CORE], each index min-max scaled over the hour's vectors; the slices
//! closest (Euclidean) to the hour's mean vector name the recordings.
//!
//! Fixes of the original: the number per hour is a real parameter (the original ignored
//! VIDS_PER_HOUR and took 3); the mean is the hour's (the original averaged per half-hour hash
//! and then kept only the first half hour); a recording is chosen at most once per hour (the
//! original could pick the same recording three times). Null indices count as 0 after scaling.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Float64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// How to choose.
#[derive(Debug, Clone)]
pub struct SelectConfig {
    /// Recordings per hour.
    pub per_hour: usize,
    /// Bands whose upper edge is at most this (Hz) enter the vectors.
    pub max_freq: f64,
    pub channels: [String; 3],
}

impl Default for SelectConfig {
    fn default() -> Self {
        SelectConfig {
            per_hour: 3,
            max_freq: 10_000.0,
            channels: ["EXAG".into(), "INFORMATION".into(), "CORE".into()],
        }
    }
}

/// A chosen recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub hour: u32,
    pub id: String,
    /// Distance of its closest slice to the hour's mean.
    pub distance: f64,
    /// Start of that slice in the recording, seconds.
    pub slice_start: f64,
}

/// Slice vectors of one hour: (id, slice start) -> band -> values.
type HourSlices = BTreeMap<(String, u64), BTreeMap<u64, [f64; 3]>>;

/// Chooses the representative recordings of a unit's soundscape table, in hour order.
pub fn select(table: &Path, cfg: &SelectConfig) -> Result<Vec<Choice>, String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", table.display());
    let file = std::fs::File::open(table).map_err(|e| err(&e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| err(&e))?
        .build()
        .map_err(|e| err(&e))?;
    let mut hours: BTreeMap<u32, HourSlices> = BTreeMap::new();
    for batch in reader {
        let batch = batch.map_err(|e| err(&e))?;
        let col = |n: &str| {
            batch
                .column_by_name(n)
                .ok_or_else(|| err(&format!("no column {n}")))
        };
        let f64s = |n: &str| -> Result<arrow::array::Float64Array, String> {
            col(n)?
                .as_primitive_opt::<Float64Type>()
                .cloned()
                .ok_or_else(|| err(&format!("column {n} is not float64")))
        };
        let ids = col("id")?.as_string::<i32>().clone();
        let raw = col("time_raw")?.as_string::<i32>().clone();
        let (start, max_f) = (f64s("start_time")?, f64s("max_freq")?);
        let ch = [
            f64s(&cfg.channels[0])?,
            f64s(&cfg.channels[1])?,
            f64s(&cfg.channels[2])?,
        ];
        for i in 0..batch.num_rows() {
            if max_f.value(i) > cfg.max_freq {
                continue;
            }
            let hour: u32 = raw
                .value(i)
                .get(0..2)
                .and_then(|h| h.parse().ok())
                .ok_or_else(|| err(&format!("time_raw {:?} has no hour", raw.value(i))))?;
            let v = |a: &arrow::array::Float64Array| {
                if a.is_valid(i) {
                    a.value(i)
                } else {
                    f64::NAN
                }
            };
            hours
                .entry(hour)
                .or_default()
                .entry((ids.value(i).to_string(), start.value(i).to_bits()))
                .or_default()
                .insert(max_f.value(i).to_bits(), [v(&ch[0]), v(&ch[1]), v(&ch[2])]);
        }
    }
    let mut out = Vec::new();
    for (hour, slices) in hours {
        out.extend(choose_in_hour(hour, &slices, cfg.per_hour));
    }
    Ok(out)
}

fn choose_in_hour(hour: u32, slices: &HourSlices, per_hour: usize) -> Vec<Choice> {
    let keys: Vec<&(String, u64)> = slices.keys().collect();
    let bands: Vec<u64> = {
        let mut b: Vec<u64> = slices.values().flat_map(|m| m.keys().copied()).collect();
        b.sort_by(|x, y| f64::from_bits(*x).total_cmp(&f64::from_bits(*y)));
        b.dedup();
        b
    };
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for m in slices.values() {
        for v in m.values() {
            for c in 0..3 {
                if v[c].is_finite() {
                    lo[c] = lo[c].min(v[c]);
                    hi[c] = hi[c].max(v[c]);
                }
            }
        }
    }
    let dim = bands.len() * 3;
    let vectors: Vec<Vec<f64>> = keys
        .iter()
        .map(|k| {
            let m = &slices[*k];
            let mut v = vec![0.0; dim];
            for (b, band) in bands.iter().enumerate() {
                if let Some(x) = m.get(band) {
                    for c in 0..3 {
                        let span = hi[c] - lo[c];
                        if x[c].is_finite() && span > 0.0 {
                            v[b * 3 + c] = (x[c] - lo[c]) / span;
                        }
                    }
                }
            }
            v
        })
        .collect();
    let n = vectors.len().max(1) as f64;
    let mut mean = vec![0.0; dim];
    for v in &vectors {
        for (m, x) in mean.iter_mut().zip(v) {
            *m += x / n;
        }
    }
    let mut ranked: Vec<(f64, usize)> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let d: f64 = v.iter().zip(&mean).map(|(a, b)| (a - b) * (a - b)).sum();
            (d.sqrt(), i)
        })
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut chosen: Vec<Choice> = Vec::new();
    for (d, i) in ranked {
        let (id, start) = keys[i];
        if chosen.iter().any(|c| &c.id == id) {
            continue;
        }
        chosen.push(Choice {
            hour,
            id: id.clone(),
            distance: d,
            slice_start: f64::from_bits(*start),
        });
        if chosen.len() == per_hour {
            break;
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour_of(values: &[(&str, f64, f64)]) -> HourSlices {
        // (id, slice start, value) -> two bands, three channels equal to value
        let mut h = HourSlices::new();
        for (id, start, x) in values {
            let m = h.entry((id.to_string(), start.to_bits())).or_default();
            m.insert(250f64.to_bits(), [*x, *x, *x]);
            m.insert(500f64.to_bits(), [*x, 2.0 * x, f64::NAN]);
        }
        h
    }

    #[test]
    fn closest_to_the_hour_mean_each_recording_once() {
        // Mean of 0, 4, 5, 6, 10 = 5: order by distance 5 (c), 4/6 (b, d), 0/10.
        let h = hour_of(&[
            ("a", 0.0, 0.0),
            ("b", 0.0, 4.0),
            ("c", 0.0, 5.0),
            ("c", 30.0, 5.2),
            ("d", 0.0, 6.0),
            ("e", 0.0, 10.0),
        ]);
        let got = choose_in_hour(7, &h, 3);
        let ids: Vec<&str> = got.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), 3);
        assert_eq!(ids[0], "c", "{got:?}");
        assert!(
            ids.contains(&"b") && ids.contains(&"d"),
            "{ids:?}: c is chosen once"
        );
        assert!(got.iter().all(|c| c.hour == 7));
        assert_eq!(
            choose_in_hour(7, &h, 10).len(),
            5,
            "at most every recording"
        );
        assert_eq!(choose_in_hour(7, &h, 1).len(), 1);
    }
}
