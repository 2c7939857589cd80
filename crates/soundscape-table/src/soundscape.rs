//! `hashed_soundscape.parquet` (docs/files.md#compute-soundscapes): long format, one row per (recording, slice, band),
//! rows ordered recording -> slice -> band, columns in the original's order, timestamps
//! tz-aware, and pandas metadata so that `pandas.read_parquet` restores the original's frame
//! (index `__index_level_0__` = the recording's row in the input table).
//!
//! Index values that are undefined (CORE/TAIL/EXAG of a constant cell, every index of a band
//! above the Nyquist frequency) are written as nulls, as in the original's table.
//!
//! Time zone of the timestamp columns: the recordings' common UTC offset (`UTC` for +00:00,
//! else `+HH:MM`, as pandas writes a fixed offset); `UTC` when the offsets differ. The instants
//! are exact either way; `time_raw` keeps each recording's local form.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, Int64Array, ListBuilder, StringArray, StringBuilder,
    TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde_json::json;
use soundscape_core::fsutil::write_atomic_with;
use soundscape_core::timefmt::{time_raw, zone_label, TIME_FORMAT};
use soundscape_core::Recording;
use soundscape_engine::hash::CronoHasher;
use soundscape_engine::{EngineConfig, RecordingAnalysis};

/// Name of the pandas index column.
pub const INDEX_COLUMN: &str = "__index_level_0__";

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Config(String),
}

/// The time zone of the timestamp columns for these recordings.
pub fn table_timezone<'a>(recordings: impl IntoIterator<Item = &'a Recording>) -> String {
    let mut offsets = recordings.into_iter().map(|r| *r.start.offset());
    match offsets.next() {
        Some(first) if offsets.all(|o| o == first) => zone_label(&first),
        _ => "UTC".into(),
    }
}

fn ts_type(tz: &str) -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some(tz.into()))
}

/// The Arrow schema of the table (with its pandas metadata).
pub fn schema(cfg: &EngineConfig, tz: &str) -> SchemaRef {
    let s = |n: &str| Field::new(n, DataType::Utf8, false);
    let f = |n: &str, nullable| Field::new(n, DataType::Float64, nullable);
    let mut fields = vec![
        s("id"),
        s("time_raw"),
        s("time_format"),
        s("time_zone"),
        Field::new("time_utc", ts_type(tz), false),
        f("latitude", true),
        f("longitude", true),
        s("node"),
        s("recorder"),
        s("deployment"),
        Field::new(
            "proc_unit",
            DataType::List(Arc::new(Field::new("element", DataType::Utf8, true))),
            false,
        ),
        f("start_time", false),
        f("end_time", false),
        f("min_freq", false),
        f("max_freq", false),
        f("weight", false),
    ];
    fields.extend(cfg.indices.iter().map(|i| f(i.as_str(), true)));
    fields.push(Field::new("abs_start_time", ts_type(tz), false));
    fields.push(Field::new("abs_end_time", ts_type(tz), false));
    fields.push(Field::new(&cfg.hasher.hash_name, DataType::Int64, false));
    fields.push(Field::new(INDEX_COLUMN, DataType::Int64, false));
    let pandas = pandas_metadata(&fields, tz);
    let meta = [("pandas".to_string(), pandas)].into_iter().collect();
    Arc::new(Schema::new_with_metadata(fields, meta))
}

fn pandas_metadata(fields: &[Field], tz: &str) -> String {
    let columns: Vec<_> = fields
        .iter()
        .map(|f| {
            let (pt, nt, meta) = match f.data_type() {
                DataType::Utf8 => ("unicode", "object", json!(null)),
                DataType::Float64 => ("float64", "float64", json!(null)),
                DataType::Int64 => ("int64", "int64", json!(null)),
                DataType::List(_) => ("list[unicode]", "object", json!(null)),
                DataType::Timestamp(..) => ("datetimetz", "datetime64[ns]", json!({ "timezone": tz })),
                _ => ("object", "object", json!(null)),
            };
            let name = if f.name() == INDEX_COLUMN { json!(null) } else { json!(f.name()) };
            json!({"name": name, "field_name": f.name(), "pandas_type": pt, "numpy_type": nt, "metadata": meta})
        })
        .collect();
    json!({
        "index_columns": [INDEX_COLUMN],
        "column_indexes": [{"name": null, "field_name": null, "pandas_type": "unicode",
                            "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}],
        "columns": columns,
        "creator": {"library": "soundscape", "version": env!("CARGO_PKG_VERSION")},
        "pandas_version": "2.2.2"
    })
    .to_string()
}

/// The rows of one analysed recording as a record batch.
pub fn recording_batch(
    schema: &SchemaRef,
    cfg: &EngineConfig,
    hasher: &CronoHasher,
    rec: &Recording,
    analysis: &RecordingAnalysis,
) -> Result<RecordBatch, TableError> {
    let g = &analysis.grid;
    let nb = g.bands.len();
    let rows = g.slices.len() * nb;
    let tz = match schema.field_with_name("time_utc")?.data_type() {
        DataType::Timestamp(_, Some(tz)) => tz.clone(),
        _ => Arc::from("UTC"),
    };
    let rep = |s: &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(s, rows)))
    };
    let ts = |v: Vec<i64>| -> ArrayRef {
        Arc::new(TimestampNanosecondArray::from(v).with_timezone(tz.clone()))
    };
    let f64s = |v: Vec<f64>| -> ArrayRef { Arc::new(Float64Array::from(v)) };
    let opt = |x: Option<f64>| -> ArrayRef { Arc::new(Float64Array::from(vec![x; rows])) };

    let start_ns = rec.start.timestamp_nanos_opt().ok_or_else(|| {
        TableError::Config(format!("{}: start time out of range", rec.path.display()))
    })?;
    let at = |secs: f64| start_ns + (secs * 1e6).round_ties_even() as i64 * 1000;
    let per_row = |f: &dyn Fn(usize, usize) -> f64| -> Vec<f64> {
        (0..rows).map(|i| f(i / nb, i % nb)).collect()
    };

    let mut proc_unit = ListBuilder::new(StringBuilder::new()).with_field(Arc::new(Field::new(
        "element",
        DataType::Utf8,
        true,
    )));
    for _ in 0..rows {
        proc_unit.values().append_value(&rec.unit.node);
        proc_unit.values().append_value(&rec.unit.recorder);
        proc_unit.values().append_value(&rec.unit.deployment);
        proc_unit.append(true);
    }

    let unit = cfg.slice.time_unit;
    let mut cols: Vec<ArrayRef> = vec![
        rep(&rec.id),
        rep(&time_raw(&rec.start)),
        rep(TIME_FORMAT),
        rep(&rec.time_zone),
        ts(vec![start_ns; rows]),
        opt(rec.latitude),
        opt(rec.longitude),
        rep(&rec.unit.node),
        rep(&rec.unit.recorder),
        rep(&rec.unit.deployment),
        Arc::new(proc_unit.finish()),
        f64s(per_row(&|s, _| g.slices[s].start_time)),
        f64s(per_row(&|s, _| g.slices[s].end_time)),
        f64s(per_row(&|_, b| g.bands[b].min_freq)),
        f64s(per_row(&|_, b| g.bands[b].max_freq)),
        f64s(per_row(&|s, _| {
            let sl = g.slices[s];
            (sl.end_time.min(g.duration) - sl.start_time) / unit
        })),
    ];
    for &index in &cfg.indices {
        // Undefined values (empty selections, empty cells) are nulls, as in the original table.
        let values: Float64Array = analysis
            .cells
            .iter()
            .map(|c| Some(c.get(index)).filter(|v| !v.is_nan()))
            .collect();
        cols.push(Arc::new(values));
    }
    let abs_start: Vec<i64> = (0..rows).map(|i| at(g.slices[i / nb].start_time)).collect();
    let abs_end: Vec<i64> = (0..rows).map(|i| at(g.slices[i / nb].end_time)).collect();
    let hashes: Vec<i64> = abs_start
        .iter()
        .map(|&ns| hasher.hash(&chrono::DateTime::from_timestamp_nanos(ns).fixed_offset()))
        .collect();
    cols.push(ts(abs_start));
    cols.push(ts(abs_end));
    cols.push(Arc::new(Int64Array::from(hashes)));
    cols.push(Arc::new(Int64Array::from(vec![rec.index as i64; rows])));
    Ok(RecordBatch::try_new(schema.clone(), cols)?)
}

/// Writes a parquet file atomically (ZSTD, created-by stamp): `fill` writes the batches.
pub fn write_parquet_atomic<F>(
    path: &Path,
    schema: &SchemaRef,
    mut fill: F,
) -> Result<(), TableError>
where
    F: FnMut(&mut ArrowWriter<&mut std::fs::File>) -> Result<(), TableError>,
{
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_created_by(format!("soundscape {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut failure: Option<TableError> = None;
    write_atomic_with(path, |file| {
        let result = (|| -> Result<(), TableError> {
            let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props.clone()))?;
            fill(&mut w)?;
            w.close()?;
            Ok(())
        })();
        result.map_err(|e| {
            let msg = e.to_string();
            failure = Some(e);
            std::io::Error::other(msg)
        })
    })
    .map_err(|e| failure.take().unwrap_or(TableError::Io(e)))
}

/// Writes the table atomically; returns the number of rows.
pub fn write_soundscape(
    path: &Path,
    cfg: &EngineConfig,
    items: &[(&Recording, &RecordingAnalysis)],
) -> Result<usize, TableError> {
    let tz = table_timezone(items.iter().map(|(r, _)| *r));
    let schema = schema(cfg, &tz);
    let hasher = CronoHasher::new(&cfg.hasher).map_err(TableError::Config)?;
    let mut rows = 0usize;
    write_parquet_atomic(path, &schema, |w| {
        for (rec, analysis) in items {
            let batch = recording_batch(&schema, cfg, &hasher, rec, analysis)?;
            rows += batch.num_rows();
            w.write(&batch)?;
        }
        Ok(())
    })?;
    Ok(rows)
}
