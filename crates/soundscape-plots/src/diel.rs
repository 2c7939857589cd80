//! Band x column matrices: the sequence (one column per slice) and the diel cycle (one column
//! per hour of the day, 0..23, with the mean or standard deviation of the slices that start in
//! that hour; hours without slices stay empty).

use chrono::Timelike;

use crate::cells::Cells;
use crate::zone::Zone;

/// A picture in data space: `rows` bands (row 0 = lowest band) by `cols` columns; NaN = no data.
#[derive(Debug, Clone)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<[f32; 3]>,
}

impl Matrix {
    pub fn at(&self, row: usize, col: usize) -> [f32; 3] {
        self.data[row * self.cols + col]
    }
    /// Whether column `col` holds any value.
    pub fn column_has_data(&self, col: usize) -> bool {
        (0..self.rows).any(|r| self.at(r, col).iter().any(|v| v.is_finite()))
    }
}

pub fn sequence(c: &Cells) -> Matrix {
    let (rows, cols) = (c.bands.len(), c.times.len());
    let mut data = vec![[f32::NAN; 3]; rows * cols];
    for s in 0..cols {
        for b in 0..rows {
            data[b * cols + s] = c.values[s * rows + b];
        }
    }
    Matrix { rows, cols, data }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Mean,
    /// Sample standard deviation (n - 1), as pandas; a single value gives no data.
    Std,
}

pub fn cycle(c: &Cells, zone: &Zone, aggr: Aggregate) -> Matrix {
    let rows = c.bands.len();
    let cols = 24;
    // Sums per (band, hour, channel): count, sum, sum of squares (f64).
    let mut acc = vec![[(0u32, 0f64, 0f64); 3]; rows * cols];
    for (s, t) in c.times.iter().enumerate() {
        let h = zone.local(*t).hour() as usize;
        for b in 0..rows {
            let v = c.values[s * rows + b];
            for ch in 0..3 {
                if v[ch].is_finite() {
                    let a = &mut acc[b * cols + h][ch];
                    a.0 += 1;
                    a.1 += v[ch] as f64;
                    a.2 += (v[ch] as f64) * (v[ch] as f64);
                }
            }
        }
    }
    let data = acc
        .into_iter()
        .map(|px| {
            px.map(|(n, sum, sq)| {
                let n = n as f64;
                match aggr {
                    Aggregate::Mean if n > 0.0 => (sum / n) as f32,
                    Aggregate::Std if n > 1.0 => {
                        let mean = sum / n;
                        ((sq - n * mean * mean).max(0.0) / (n - 1.0)).sqrt() as f32
                    }
                    _ => f32::NAN,
                }
            })
        })
        .collect();
    Matrix { rows, cols, data }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, TimeZone, Utc};

    fn cells_at_hours(hours: &[u32]) -> Cells {
        let mut rows = Vec::new();
        for (k, &h) in hours.iter().enumerate() {
            for rep in 0..2u32 {
                let t: DateTime<Utc> = Utc
                    .with_ymd_and_hms(2021, 8, 4, h, 10 + rep * 30, 0)
                    .unwrap()
                    + chrono::Duration::hours(6); // local = UTC-6
                for b in 0..3 {
                    let band = (b as f64 * 250.0, (b + 1) as f64 * 250.0);
                    let x = (k * 10 + b) as f64 + rep as f64;
                    rows.push((band, t, format!("r{k}"), [x, x * 2.0, -x]));
                }
            }
        }
        Cells::from_rows(rows, Zone::parse("-06:00").unwrap())
    }

    #[test]
    fn every_hour_in_its_own_column_and_missing_hours_empty() {
        // The original misplaced these ({0, 5, 22} went to columns {0, 1, 6}) and crashed
        // without hour 23.
        let c = cells_at_hours(&[0, 5, 22]);
        let m = cycle(&c, &c.zone, Aggregate::Mean);
        assert_eq!((m.rows, m.cols), (3, 24));
        let filled: Vec<usize> = (0..24).filter(|&h| m.column_has_data(h)).collect();
        assert_eq!(filled, vec![0, 5, 22]);
        let s = cycle(&c, &c.zone, Aggregate::Std);
        assert_eq!(
            (0..24)
                .filter(|&h| s.column_has_data(h))
                .collect::<Vec<_>>(),
            vec![0, 5, 22]
        );
        // mean of the two slices of hour 5, lowest band, red: values 10 and 11 scaled over 0..=23
        let expect = (10.5 / 23.0) as f32;
        assert!((m.at(0, 5)[0] - expect).abs() < 1e-6, "{:?}", m.at(0, 5));
        // blue is -x: scaled reversed
        assert!((m.at(0, 5)[2] - (1.0 - expect)).abs() < 1e-6);
        // sample std of 10 and 11 scaled: 0.7071 / 23
        assert!((s.at(0, 5)[0] - (0.5f64.sqrt() / 23.0) as f32).abs() < 1e-6);
    }

    #[test]
    fn sequence_keeps_slice_order_and_band_rows() {
        let c = cells_at_hours(&[3, 1]);
        let m = sequence(&c);
        assert_eq!((m.rows, m.cols), (3, 4));
        // columns in time order: hour 1 first (k = 1, values 10.., scaled over 0..=13)
        assert!(
            (m.at(0, 0)[0] - (10.0 / 13.0) as f32).abs() < 1e-6,
            "{:?}",
            m.at(0, 0)
        );
        assert_eq!(m.at(0, 2)[0], 0.0);
        assert!(m.at(2, 3)[0] > m.at(0, 3)[0]);
    }
}
