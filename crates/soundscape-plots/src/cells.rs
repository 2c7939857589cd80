//! The soundscape table as a grid: bands (up to a frequency) by slices (in time order), three
//! index channels min-max scaled over the unit. Nulls stay NaN.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, TimestampNanosecondType};
use chrono::{DateTime, Utc};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::zone::Zone;

/// One row of the table as the plots need it: band edges, slice start, recording id, values.
pub type CellRow = ((f64, f64), DateTime<Utc>, String, [f64; 3]);

/// Scaled index values of a unit: `values[slice * bands + band]` = [r, g, b] in 0..=1 or NaN.
#[derive(Debug, Clone)]
pub struct Cells {
    /// (min_freq, max_freq) of the shown bands, ascending.
    pub bands: Vec<(f64, f64)>,
    /// Start of each slice, ascending.
    pub times: Vec<DateTime<Utc>>,
    pub values: Vec<[f32; 3]>,
    /// The unit's time zone (from the table's `time_zone`, else its timestamps' zone).
    pub zone: Zone,
}

impl Cells {
    pub fn min_khz(&self) -> f64 {
        self.bands.first().map(|b| b.0 / 1000.0).unwrap_or(0.0)
    }

    pub fn max_khz(&self) -> f64 {
        self.bands.last().map(|b| b.1 / 1000.0).unwrap_or(0.0)
    }

    /// Builds cells from raw rows (band edges, slice start, three values), scaling each
    /// channel over all finite values.
    pub fn from_rows(rows: impl IntoIterator<Item = CellRow>, zone: Zone) -> Cells {
        let mut bands: Vec<(f64, f64)> = Vec::new();
        type Slice = Vec<((f64, f64), [f64; 3])>;
        let mut slices: BTreeMap<(DateTime<Utc>, String), Slice> = BTreeMap::new();
        for (band, t, id, v) in rows {
            if !bands.contains(&band) {
                bands.push(band);
            }
            slices.entry((t, id)).or_default().push((band, v));
        }
        bands.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.total_cmp(&b.0)));
        let mut lo = [f64::INFINITY; 3];
        let mut hi = [f64::NEG_INFINITY; 3];
        for cells in slices.values() {
            for (_, v) in cells {
                for c in 0..3 {
                    if v[c].is_finite() {
                        lo[c] = lo[c].min(v[c]);
                        hi[c] = hi[c].max(v[c]);
                    }
                }
            }
        }
        let nb = bands.len();
        let mut values = vec![[f32::NAN; 3]; nb * slices.len()];
        let mut times = Vec::with_capacity(slices.len());
        for (s, ((t, _), cells)) in slices.into_iter().enumerate() {
            times.push(t);
            for (band, v) in cells {
                let b = bands.iter().position(|x| *x == band).unwrap();
                let mut px = [f32::NAN; 3];
                for c in 0..3 {
                    if v[c].is_finite() {
                        let span = hi[c] - lo[c];
                        px[c] = if span > 0.0 {
                            ((v[c] - lo[c]) / span) as f32
                        } else {
                            0.0
                        };
                    }
                }
                values[s * nb + b] = px;
            }
        }
        Cells {
            bands,
            times,
            values,
            zone,
        }
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a dyn Array, String> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| format!("no column {name:?} in the soundscape table"))
}

/// Reads the cells of a `hashed_soundscape.parquet`: bands with `min_freq <= max_min_freq`,
/// channels named by `channels`.
pub fn read_cells(path: &Path, channels: &[String; 3], max_min_freq: f64) -> Result<Cells, String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(|e| err(&e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| err(&e))?
        .build()
        .map_err(|e| err(&e))?;
    let mut rows = Vec::new();
    let mut zone: Option<Zone> = None;
    for batch in reader {
        let batch = batch.map_err(|e| err(&e))?;
        let f64s = |n: &str| -> Result<_, String> {
            column(&batch, n)?
                .as_primitive_opt::<Float64Type>()
                .ok_or_else(|| err(&format!("column {n} is not float64")))
        };
        let (min_f, max_f) = (f64s("min_freq")?, f64s("max_freq")?);
        let chans = [
            f64s(&channels[0])?,
            f64s(&channels[1])?,
            f64s(&channels[2])?,
        ];
        let starts_col = column(&batch, "abs_start_time")?;
        let starts = starts_col
            .as_primitive_opt::<TimestampNanosecondType>()
            .ok_or_else(|| err(&"abs_start_time is not a timestamp"))?;
        let ids = column(&batch, "id")?.as_string::<i32>();
        if zone.is_none() {
            zone = column(&batch, "time_zone")
                .ok()
                .and_then(|c| c.as_string_opt::<i32>().map(|s| s.value(0).to_string()))
                .and_then(|s| Zone::parse(&s))
                .or_else(|| match starts_col.data_type() {
                    arrow::datatypes::DataType::Timestamp(_, Some(tz)) => Zone::parse(tz),
                    _ => None,
                });
        }
        for i in 0..batch.num_rows() {
            if min_f.value(i) > max_min_freq {
                continue;
            }
            let v =
                |a: &arrow::array::Float64Array| if a.is_valid(i) { a.value(i) } else { f64::NAN };
            rows.push((
                (min_f.value(i), max_f.value(i)),
                DateTime::from_timestamp_nanos(starts.value(i)),
                ids.value(i).to_string(),
                [v(chans[0]), v(chans[1]), v(chans[2])],
            ));
        }
    }
    Ok(Cells::from_rows(
        rows,
        zone.unwrap_or(Zone::Fixed(chrono::FixedOffset::east_opt(0).unwrap())),
    ))
}
