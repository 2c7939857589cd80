//! Reading a detections table (`detections.parquet` of compute-embeddings, or any table with
//! the same column names: pandas, polars and DuckDB write other integer and string types,
//! which are cast). Only the rows some rule takes are kept, a batch at a time.
//!
//! Required: `id`, `start_time`, `end_time`, `label`, `score`. Used where present:
//! `recording_index`, `channel`, `window`, `scientific_name`, `common_name`, `rank`,
//! `above_threshold` (absent: every row counts as above), `abs_start`, `recorder`, `model`, and
//! `path` (the recording's file, for tables that carry it).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int64Type, TimeUnit, TimestampNanosecondType,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::rules::{Candidate, Rules};

/// One detection a rule takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Row in the table, from 0.
    pub row: usize,
    pub id: String,
    pub recording_index: Option<i64>,
    /// The channel of the recording the detection is in (the `channel` column).
    pub file_channel: u32,
    /// The channel the rules see: the `_chNN` of a capture-stream chunk's name, else
    /// `file_channel`.
    pub channel: u32,
    pub window: Option<i64>,
    pub start_time: f64,
    pub end_time: f64,
    /// `abs_start` in nanoseconds since the epoch, UTC.
    pub abs_start_ns: Option<i64>,
    pub label: String,
    pub scientific_name: String,
    pub common_name: String,
    pub score: f32,
    pub rank: Option<i64>,
    pub above_threshold: bool,
    pub recorder: String,
    pub model: String,
    pub path: Option<String>,
    /// Index of the rule that takes it.
    pub rule: usize,
}

impl Detection {
    /// What identifies the detection across runs: recording, channel, window, label, model.
    pub fn key(&self) -> String {
        let window = match self.window {
            Some(w) => w.to_string(),
            None => format!("{:.6}", self.start_time),
        };
        format!(
            "{}|{}|{}|{}|{}",
            self.id, self.file_channel, window, self.label, self.model
        )
    }
}

/// The stream source and channel in a capture-stream chunk's name
/// (`<source>[_chNN]_YYYYMMDD_HHMMSS`), or `None` for other names.
pub fn stream_name(id: &str) -> Option<(&str, Option<u32>)> {
    let b = id.as_bytes();
    if b.len() < 17 {
        return None;
    }
    let stamp = &id[id.len() - 16..];
    let sb = stamp.as_bytes();
    let digits = |r: std::ops::Range<usize>| sb[r].iter().all(u8::is_ascii_digit);
    if !(sb[0] == b'_' && digits(1..9) && sb[9] == b'_' && digits(10..16)) {
        return None;
    }
    let head = &id[..id.len() - 16];
    if let Some(i) = head.rfind("_ch") {
        let n = &head[i + 3..];
        if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) {
            return Some((&head[..i], n.parse().ok()));
        }
    }
    (!head.is_empty()).then_some((head, None))
}

fn column(
    b: &RecordBatch,
    name: &str,
    to: &DataType,
    path: &Path,
) -> Result<Option<ArrayRef>, String> {
    let Some(c) = b.column_by_name(name) else {
        return Ok(None);
    };
    let cast = arrow::compute::cast(c, to).map_err(|e| {
        format!(
            "{}: column {name} ({}) is not {to}: {e}",
            path.display(),
            c.data_type()
        )
    })?;
    Ok(Some(cast))
}

fn required(c: Option<ArrayRef>, name: &str, path: &Path) -> Result<ArrayRef, String> {
    c.ok_or_else(|| {
        format!(
            "{}: no {name} column (is this a detections table?)",
            path.display()
        )
    })
}

/// Everything the reader gathered.
#[derive(Debug, Default)]
pub struct Read {
    pub detections: Vec<Detection>,
    /// Rows in the table.
    pub rows: usize,
}

/// Reads the rows of `path` some rule takes, in table order.
pub fn read(path: &Path, rules: &Rules) -> Result<Read, String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let f = File::open(path).map_err(|e| at(&e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| at(&e))?
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| at(&e))?;
    let mut out = Read::default();
    let utf8 = DataType::Utf8;
    let ts = DataType::Timestamp(TimeUnit::Nanosecond, Some(Arc::from("UTC")));
    for batch in reader {
        let b = batch.map_err(|e| at(&e))?;
        let base = out.rows;
        out.rows += b.num_rows();
        let s = |name| column(&b, name, &utf8, path);
        let i64c = |name| column(&b, name, &DataType::Int64, path);
        let id = required(s("id")?, "id", path)?;
        let label = required(s("label")?, "label", path)?;
        let start = required(
            column(&b, "start_time", &DataType::Float64, path)?,
            "start_time",
            path,
        )?;
        let end = required(
            column(&b, "end_time", &DataType::Float64, path)?,
            "end_time",
            path,
        )?;
        let score = required(
            column(&b, "score", &DataType::Float32, path)?,
            "score",
            path,
        )?;
        let (sci, common, recorder, model, rpath) = (
            s("scientific_name")?,
            s("common_name")?,
            s("recorder")?,
            s("model")?,
            s("path")?,
        );
        let (rec_index, channel, window, rank) = (
            i64c("recording_index")?,
            i64c("channel")?,
            i64c("window")?,
            i64c("rank")?,
        );
        let above = column(&b, "above_threshold", &DataType::Boolean, path)?;
        let abs_start = column(&b, "abs_start", &ts, path).ok().flatten();
        let text = |c: &Option<ArrayRef>, i: usize| -> String {
            match c {
                Some(c) if !c.is_null(i) => c.as_string::<i32>().value(i).to_string(),
                _ => String::new(),
            }
        };
        let int = |c: &Option<ArrayRef>, i: usize| -> Option<i64> {
            c.as_ref()
                .filter(|c| !c.is_null(i))
                .map(|c| c.as_primitive::<Int64Type>().value(i))
        };
        let (id_s, label_s) = (id.as_string::<i32>(), label.as_string::<i32>());
        let (start_f, end_f) = (
            start.as_primitive::<Float64Type>(),
            end.as_primitive::<Float64Type>(),
        );
        let score_f = score.as_primitive::<Float32Type>();
        for i in 0..b.num_rows() {
            if id.is_null(i)
                || label.is_null(i)
                || start.is_null(i)
                || end.is_null(i)
                || score.is_null(i)
            {
                continue;
            }
            let idv = id_s.value(i);
            let rec = text(&recorder, i);
            let file_channel = int(&channel, i).unwrap_or(0).max(0) as u32;
            let stream = stream_name(idv);
            let rule_channel = stream.and_then(|(_, c)| c).unwrap_or(file_channel);
            let mut sources: Vec<&str> = vec![idv];
            if !rec.is_empty() {
                sources.push(&rec);
            }
            if let Some((src, _)) = stream {
                sources.push(src);
            }
            let (sci_v, common_v) = (text(&sci, i), text(&common, i));
            let above_v = match &above {
                Some(a) if !a.is_null(i) => a.as_boolean().value(i),
                _ => true,
            };
            let cand = Candidate {
                sources: &sources,
                channel: rule_channel,
                names: [label_s.value(i), &sci_v, &common_v],
                score: score_f.value(i),
                above_threshold: above_v,
            };
            let Some(rule) = rules.first_match(&cand) else {
                continue;
            };
            out.detections.push(Detection {
                row: base + i,
                id: idv.to_string(),
                recording_index: int(&rec_index, i),
                file_channel,
                channel: rule_channel,
                window: int(&window, i),
                start_time: start_f.value(i),
                end_time: end_f.value(i),
                abs_start_ns: abs_start
                    .as_ref()
                    .filter(|c| !c.is_null(i))
                    .map(|c| c.as_primitive::<TimestampNanosecondType>().value(i)),
                label: label_s.value(i).to_string(),
                scientific_name: sci_v,
                common_name: common_v,
                score: score_f.value(i),
                rank: int(&rank, i),
                above_threshold: above_v,
                recorder: rec.clone(),
                model: text(&model, i),
                path: rpath
                    .as_ref()
                    .filter(|c| !c.is_null(i))
                    .map(|_| text(&rpath, i)),
                rule,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        assert_eq!(
            stream_name("north_ch01_20250101_120000"),
            Some(("north", Some(1)))
        );
        assert_eq!(stream_name("north_20250101_120000"), Some(("north", None)));
        assert_eq!(
            stream_name("a_b_ch12_20250101_120000"),
            Some(("a_b", Some(12)))
        );
        assert_eq!(stream_name("x_chA_20250101_120000"), Some(("x_chA", None)));
        assert_eq!(stream_name("20250101_120000"), None);
        assert_eq!(stream_name("recording"), None);
        assert_eq!(stream_name("north_2025010_1200000"), None);
    }
}
