//! The stage's tables (docs/files.md#compute-embeddings): `embeddings.parquet` (one row per
//! recording x window x channel, the embedding as a fixed-size list of float32) and
//! `detections.parquet` (one row per window and label kept), both in input order with the
//! unit keys and absolute times; and, for review, a Raven selection table and an Audacity
//! label track per recording.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array, StringArray,
    TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use soundscape_core::fsutil::write_atomic_with;
use soundscape_core::Recording;
use soundscape_table::embeddings::{key_fields, tag_fields, EmbeddingsWriter, Keys};

use crate::analyze::RecordingResult;
use crate::model::Label;

pub const EMBEDDINGS: &str = soundscape_core::products::EMBEDDINGS_FILE;
pub const DETECTIONS: &str = soundscape_core::products::DETECTIONS_FILE;
/// Folder of the per-recording review tables.
pub const REVIEW_DIR: &str = "review";

/// The model's name and version as written into every row.
pub struct ModelTag<'a> {
    pub name: &'a str,
    pub version: &'a str,
}

fn abs_ns(rec: &Recording, secs: f64) -> i64 {
    rec.start.timestamp_nanos_opt().unwrap_or(0) + (secs * 1e9).round() as i64
}

/// Columns of the key fields for rows given as (recording, window index in its result).
fn key_columns(rows: &[(&Recording, &crate::analyze::Window)], tz: &str) -> Vec<ArrayRef> {
    let s = |f: &dyn Fn(&Recording) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|(r, _)| f(r)),
        ))
    };
    vec![
        s(&|r| r.id.clone()),
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|(r, _)| r.index as i64),
        )),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|(r, _)| r.cumulus.clone()),
        )),
        s(&|r| r.unit.node.clone()),
        s(&|r| r.unit.recorder.clone()),
        s(&|r| r.unit.deployment.clone()),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|(_, w)| w.channel as i32),
        )),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|(_, w)| w.index as i32),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|(_, w)| w.start_s),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|(_, w)| w.end_s),
        )),
        Arc::new(
            TimestampNanosecondArray::from_iter_values(
                rows.iter().map(|(r, w)| abs_ns(r, w.start_s)),
            )
            .with_timezone(tz),
        ),
        Arc::new(
            TimestampNanosecondArray::from_iter_values(
                rows.iter().map(|(r, w)| abs_ns(r, w.end_s)),
            )
            .with_timezone(tz),
        ),
    ]
}

fn tag_columns(n: usize, tag: &ModelTag) -> Vec<ArrayRef> {
    vec![
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            tag.name, n,
        ))),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            tag.version,
            n,
        ))),
    ]
}

fn write_batch(path: &Path, batch: &RecordBatch) -> Result<(), String> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .build();
    write_atomic_with(path, |f| {
        let mut w =
            ArrowWriter::try_new(f, batch.schema(), Some(props)).map_err(std::io::Error::other)?;
        w.write(batch).map_err(std::io::Error::other)?;
        w.close().map_err(std::io::Error::other)?;
        Ok(())
    })
    .map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes `embeddings.parquet`; returns the number of rows. `dim` is the embedding size (used
/// when no recording gave a window).
pub fn write_embeddings(
    path: &Path,
    done: &[(&Recording, &RecordingResult)],
    tag: &ModelTag,
    dim: usize,
) -> Result<usize, String> {
    let tz = soundscape_table::soundscape::table_timezone(done.iter().map(|(r, _)| *r));
    let rows: Vec<_> = done
        .iter()
        .flat_map(|(r, res)| res.windows.iter().map(move |w| (*r, w)))
        .collect();
    let dim = rows.first().map_or(dim, |(_, w)| w.embedding.len()) as i32;
    if let Some((r, w)) = rows.iter().find(|(_, w)| w.embedding.len() as i32 != dim) {
        return Err(format!(
            "{} window {}: embedding of {} values, others have {dim}",
            r.id,
            w.index,
            w.embedding.len()
        ));
    }
    write_atomic_with(path, |f| {
        let mut w =
            EmbeddingsWriter::new(f, &tz, dim as usize, &[]).map_err(std::io::Error::other)?;
        for (r, win) in &rows {
            let keys = Keys {
                id: &r.id,
                recording_index: r.index as i64,
                cumulus: r.cumulus.as_deref(),
                node: &r.unit.node,
                recorder: &r.unit.recorder,
                deployment: &r.unit.deployment,
                channel: win.channel as i32,
                window: win.index as i32,
                start_time: win.start_s,
                end_time: win.end_s,
                abs_start_ns: abs_ns(r, win.start_s),
                abs_end_ns: abs_ns(r, win.end_s),
            };
            w.push(&keys, (tag.name, tag.version), &win.embedding, &[])
                .map_err(std::io::Error::other)?;
        }
        w.finish().map_err(std::io::Error::other)?;
        Ok(())
    })
    .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(rows.len())
}

/// Writes `detections.parquet`; returns the number of rows.
pub fn write_detections(
    path: &Path,
    done: &[(&Recording, &RecordingResult)],
    labels: &[Label],
    tag: &ModelTag,
) -> Result<usize, String> {
    let tz = soundscape_table::soundscape::table_timezone(done.iter().map(|(r, _)| *r));
    let rows: Vec<_> = done
        .iter()
        .flat_map(|(r, res)| {
            res.windows
                .iter()
                .flat_map(move |w| w.detections.iter().map(move |d| ((*r, w), *d)))
        })
        .collect();
    let keys: Vec<_> = rows.iter().map(|(k, _)| *k).collect();
    let label = |i: usize| labels.get(i);
    let mut fields = key_fields(&tz);
    fields.extend([
        Field::new("label", DataType::Utf8, false),
        Field::new("scientific_name", DataType::Utf8, false),
        Field::new("common_name", DataType::Utf8, false),
        Field::new("score", DataType::Float32, false),
        Field::new("rank", DataType::Int32, false),
        Field::new("above_threshold", DataType::Boolean, false),
    ]);
    fields.extend(tag_fields());
    let mut cols = key_columns(&keys, &tz);
    let text = |f: &dyn Fn(&Label) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(|(_, d)| {
            label(d.0).map(f).unwrap_or_else(|| format!("#{}", d.0))
        })))
    };
    cols.push(text(&|l| l.raw.clone()));
    cols.push(text(&|l| l.scientific.clone()));
    cols.push(text(&|l| l.common.clone()));
    cols.push(Arc::new(Float32Array::from_iter_values(
        rows.iter().map(|(_, d)| d.1),
    )));
    cols.push(Arc::new(Int32Array::from_iter_values(
        rows.iter().map(|(_, d)| d.2 as i32),
    )));
    cols.push(Arc::new(BooleanArray::from_iter(
        rows.iter().map(|(_, d)| Some(d.3)),
    )));
    cols.extend(tag_columns(rows.len(), tag));
    let batch =
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|e| e.to_string())?;
    write_batch(path, &batch)?;
    Ok(rows.len())
}

fn file_stem(rec: &Recording) -> String {
    rec.id.replace(['/', '\\'], "_")
}

/// Writes a Raven selection table and an Audacity label track of the detections at or above
/// the threshold of each recording into `dir`; returns the paths written.
pub fn write_review(
    dir: &Path,
    done: &[(&Recording, &RecordingResult)],
    labels: &[Label],
) -> Result<Vec<std::path::PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut written = Vec::new();
    for (rec, res) in done {
        let stem = file_stem(rec);
        let raven = dir.join(format!("{stem}.selections.txt"));
        let audacity = dir.join(format!("{stem}.labels.txt"));
        let hits: Vec<_> = res
            .windows
            .iter()
            .flat_map(|w| w.detections.iter().filter(|d| d.3).map(move |d| (w, d)))
            .collect();
        let name = |i: usize| {
            labels.get(i).cloned().unwrap_or(Label {
                raw: format!("#{i}"),
                scientific: String::new(),
                common: String::new(),
            })
        };
        write_atomic_with(&raven, |f| {
            let mut f = std::io::BufWriter::new(f);
            writeln!(f, "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tLabel\tScientific Name\tCommon Name\tConfidence\tBegin Path\tFile Offset (s)")?;
            for (n, (w, d)) in hits.iter().enumerate() {
                let l = name(d.0);
                writeln!(
                    f,
                    "{}\tSpectrogram 1\t{}\t{:.3}\t{:.3}\t0\t{}\t{}\t{}\t{}\t{:.4}\t{}\t{:.3}",
                    n + 1,
                    w.channel + 1,
                    w.start_s,
                    w.end_s,
                    (res.sample_rate / 2),
                    l.raw,
                    l.scientific,
                    l.common,
                    d.1,
                    rec.path.display(),
                    w.start_s
                )?;
            }
            f.flush()
        })
        .map_err(|e| format!("{}: {e}", raven.display()))?;
        let several = res.windows.iter().any(|w| w.channel > 0);
        write_atomic_with(&audacity, |f| {
            let mut f = std::io::BufWriter::new(f);
            for (w, d) in &hits {
                let l = name(d.0);
                let mut text = if l.common.is_empty() {
                    l.raw.clone()
                } else {
                    l.common.clone()
                };
                // One label track for all channels: say which one where there are several.
                if several {
                    text = format!("ch{} {text}", w.channel + 1);
                }
                writeln!(f, "{:.6}\t{:.6}\t{} ({:.2})", w.start_s, w.end_s, text, d.1)?;
            }
            f.flush()
        })
        .map_err(|e| format!("{}: {e}", audacity.display()))?;
        written.push(raven);
        written.push(audacity);
    }
    Ok(written)
}
