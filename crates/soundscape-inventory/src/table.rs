//! `audio.parquet`: the audio table in docs/files.md#get-audio-df, one row per kept recording in unit/start
//! order, with the header values where they were read and the declared ones beside them.
//!
//! `node_integrity` is the SiPeCaM integrity flag of the node name (3rd `_` token: 1
//! "Integro", 0 "Degradado", null otherwise).
//!
//! It is also a manifest: `compute-soundscapes --manifest audio.parquet` reads it back.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use soundscape_core::layout::PLACEHOLDER_CUMULUS;
use soundscape_core::timefmt::{time_raw, TIME_FORMAT};
use soundscape_core::UnitPath;
use soundscape_table::soundscape::{table_timezone, write_parquet_atomic, TableError};

use crate::assemble::{duration, sample_rate};
use crate::Listed;

/// File name of the audio table.
pub const AUDIO_TABLE: &str = "audio.parquet";

fn schema(tz: &str) -> SchemaRef {
    use DataType::*;
    let f = |n: &str, t: DataType, null: bool| Field::new(n, t, null);
    Arc::new(Schema::new(vec![
        f("index", Int64, false),
        f("id", Utf8, false),
        f("path", Utf8, false),
        f("hash", Utf8, false),
        f("timeexp", Int64, false),
        f("nchannels", Int64, true),
        f("sampwidth", Int64, true),
        f("samplerate", Float64, true),
        f("length", Int64, true),
        f("filesize", Int64, true),
        f("duration", Float64, true),
        f("declared_samplerate", Float64, true),
        f("declared_duration", Float64, true),
        f("spectrum", Utf8, true),
        f("start", Utf8, false),
        f(
            "time_utc",
            Timestamp(TimeUnit::Nanosecond, Some(tz.into())),
            false,
        ),
        f("time_raw", Utf8, false),
        f("time_format", Utf8, false),
        f("time_zone", Utf8, false),
        f("latitude", Float64, true),
        f("longitude", Float64, true),
        f("cumulus", Utf8, false),
        f("node", Utf8, false),
        f("node_integrity", Utf8, true),
        f("recorder", Utf8, false),
        f("deployment", Utf8, false),
        f("proc_unit", Utf8, false),
        f("start_source", Utf8, false),
        f("metadata", Utf8, true),
    ]))
}

/// Writes the audio table atomically.
pub fn write_audio_table(path: &Path, rows: &[Listed]) -> Result<(), TableError> {
    let tz = table_timezone(rows.iter().map(|l| &l.recording));
    let schema = schema(&tz);
    let s = |v: Vec<String>| -> ArrayRef { Arc::new(StringArray::from(v)) };
    let col = |g: &dyn Fn(&Listed) -> String| s(rows.iter().map(g).collect());
    let i64s = |g: &dyn Fn(&Listed) -> Option<i64>| -> ArrayRef {
        Arc::new(Int64Array::from(rows.iter().map(g).collect::<Vec<_>>()))
    };
    let f64s = |g: &dyn Fn(&Listed) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from(rows.iter().map(g).collect::<Vec<_>>()))
    };
    let cumulus = |l: &Listed| {
        l.recording
            .cumulus
            .clone()
            .unwrap_or_else(|| PLACEHOLDER_CUMULUS.into())
    };
    let header = |l: &Listed| l.header.clone();
    let cols: Vec<ArrayRef> = vec![
        i64s(&|l| Some(l.recording.index as i64)),
        col(&|l| l.recording.id.clone()),
        col(&|l| l.recording.path.display().to_string()),
        col(&|l| {
            l.recording
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        }),
        i64s(&|_| Some(1)),
        i64s(&|l| {
            header(l)
                .map(|h| h.channels as i64)
                .or(l.declared_format.map(|f| f.0 as i64))
        }),
        i64s(&|l| {
            header(l)
                .and_then(|h| h.bits_per_sample)
                .or(l.declared_format.map(|f| f.1))
                .map(|b| (b / 8) as i64)
        }),
        f64s(&|l| sample_rate(l)),
        i64s(&|l| match (sample_rate(l), duration(l)) {
            (Some(sr), Some(d)) => header(l)
                .and_then(|h| h.frames)
                .map(|f| f as i64)
                .or(Some((sr * d) as i64)),
            _ => None,
        }),
        i64s(&|l| l.size.map(|s| s as i64)),
        f64s(&|l| duration(l)),
        f64s(&|l| l.recording.declared_samplerate),
        f64s(&|l| l.recording.declared_duration),
        Arc::new(StringArray::from(
            rows.iter()
                .map(|l| {
                    sample_rate(l).map(|sr| {
                        if sr > 100_000.0 {
                            "ultrasonic"
                        } else {
                            "audible"
                        }
                    })
                })
                .collect::<Vec<_>>(),
        )),
        col(&|l| l.recording.start.to_rfc3339()),
        Arc::new(
            TimestampNanosecondArray::from(
                rows.iter()
                    .map(|l| l.recording.start.timestamp_nanos_opt().unwrap_or(0))
                    .collect::<Vec<_>>(),
            )
            .with_timezone(tz.as_str()),
        ),
        col(&|l| time_raw(&l.recording.start)),
        col(&|_| TIME_FORMAT.to_string()),
        col(&|l| l.recording.time_zone.clone()),
        f64s(&|l| l.recording.latitude),
        f64s(&|l| l.recording.longitude),
        col(&cumulus),
        col(&|l| l.recording.unit.node.clone()),
        Arc::new(StringArray::from(
            rows.iter()
                .map(|l| l.recording.unit.node_integrity().ok())
                .collect::<Vec<_>>(),
        )),
        col(&|l| l.recording.unit.recorder.clone()),
        col(&|l| l.recording.unit.deployment.clone()),
        col(&|l| UnitPath::new(&cumulus(l), &l.recording.unit).relative()),
        col(&|l| l.start_source.as_str().to_string()),
        Arc::new(StringArray::from(
            rows.iter()
                .map(|l| l.metadata.as_ref().map(|m| m.to_string()))
                .collect::<Vec<_>>(),
        )),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols)?;
    write_parquet_atomic(path, &schema, |w| Ok(w.write(&batch)?))
}
