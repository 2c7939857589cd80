//! `embeddings import`: A2O/Perch TFRecord shards into `embeddings.parquet`, one row per
//! window × channel of each record's `[windows, channels, dim]` embedding, with the
//! nuisance scores where the record has them. Shards are read in parallel, each into a part
//! of its own, and the parts joined in shard order; memory is one record and one row group per
//! shard in flight. A record that cannot be read is reported with its shard and byte offset,
//! and the rest goes on.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field};
use chrono::Utc;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use prost::Message;
use rayon::prelude::*;
use soundscape_table::embeddings::{EmbeddingsWriter, Extra, Keys};

use crate::a2o;
use crate::example::{Example, FloatTensor};
use crate::tfrecord;

/// The nuisance classes of A2O's separated sample, in the order of the tensor's last axis.
pub const NUISANCES: [&str; 3] = ["empty", "speech", "unknown"];

#[derive(Debug, Clone)]
pub struct Options {
    /// Window length and step, seconds (default: what a `config.json` beside the shard
    /// says, as Perch's tools write it, else 5 and 5).
    pub window_s: Option<f64>,
    pub hop_s: Option<f64>,
    /// Written into the `model` and `model_version` columns.
    pub model: String,
    pub model_version: String,
    /// Drop the windows the A2O notebook drops: speech above -0.25, or empty above 1.5 on
    /// the raw channel (0) or above 0.0 on the separated ones.
    pub filter: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            window_s: None,
            hop_s: None,
            model: "perch".into(),
            model_version: String::new(),
            filter: false,
        }
    }
}

/// What one shard gave.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ShardReport {
    pub shard: PathBuf,
    pub records: usize,
    pub rows: usize,
    /// Rows the filter dropped.
    pub filtered: usize,
    /// (byte offset, reason) of every record that could not be read.
    pub errors: Vec<(u64, String)>,
    /// Recording names that are not A2O names (kept raw; their rows have no absolute time
    /// beyond the epoch plus the offset in the file).
    pub unparsed_names: Vec<String>,
    /// The shard's recordings (file names) in order of first appearance: its part's
    /// `recording_index` counts them.
    #[serde(skip)]
    pub names: Vec<String>,
}

fn extra_fields() -> Vec<Field> {
    let mut f = vec![Field::new("source_name", DataType::Utf8, true)];
    f.extend(
        NUISANCES
            .iter()
            .map(|n| Field::new(format!("nuisance_{n}"), DataType::Float32, true)),
    );
    f
}

/// Whether the A2O notebook keeps a window of `channel` with these nuisance scores.
pub fn kept(channel: usize, nuisance: &[f32]) -> bool {
    let (empty, speech) = (nuisance[0], nuisance[1]);
    let empty_limit = if channel == 0 { 1.5 } else { 0.0 };
    !(speech > -0.25 || empty > empty_limit)
}

fn tensor_of(ex: &Example, name: &str) -> Result<Option<FloatTensor>, String> {
    let Some(bytes) = ex.bytes(name) else {
        return Ok(None);
    };
    let t = FloatTensor::decode(bytes).map_err(|e| format!("{name}: {e}"))?;
    if let Some(shape) = ex.ints(&format!("{name}_shape")) {
        let declared: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
        if declared != t.shape {
            return Err(format!(
                "{name}: shape {:?}, but {name}_shape says {declared:?}",
                t.shape
            ));
        }
    }
    if t.shape.len() != 3 {
        return Err(format!(
            "{name}: shape {:?}, not [windows, channels, values]",
            t.shape
        ));
    }
    Ok(Some(t))
}

/// The window and hop of the `config.json` Perch's tools write beside their shards.
pub fn perch_config(dir: &Path) -> Option<(f64, f64)> {
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let m = &v["embed_fn_config"]["model_config"];
    Some((m["window_size_s"].as_f64()?, m["hop_size_s"].as_f64()?))
}

/// One shard into a part table at `part` (UTC times); its report, and the embedding length
/// (None when it held no rows).
pub fn import_shard(
    shard: &Path,
    part: &Path,
    opts: &Options,
) -> Result<(ShardReport, Option<usize>), String> {
    let mut report = ShardReport {
        shard: shard.to_path_buf(),
        ..Default::default()
    };
    let file = File::open(shard).map_err(|e| format!("{}: {e}", shard.display()))?;
    let reader = tfrecord::open(file).map_err(|e| format!("{}: {e}", shard.display()))?;
    let config = shard.parent().and_then(perch_config);
    let window_s = opts.window_s.or(config.map(|c| c.0)).unwrap_or(5.0);
    let hop_s = opts.hop_s.or(config.map(|c| c.1)).unwrap_or(window_s);
    let mut writer: Option<EmbeddingsWriter<File>> = None;
    let mut dim = None;
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    let extra = extra_fields();
    for record in reader {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                report.errors.push((e.offset(), e.to_string()));
                continue;
            }
        };
        // Records read, counted from 0, for the messages.
        let index = report.records;
        report.records += 1;
        let fail = |report: &mut ShardReport, why: String| {
            report
                .errors
                .push((record.offset, format!("record {index}: {why}")));
        };
        let ex = match Example::decode(record.data.as_slice()) {
            Ok(e) => e,
            Err(e) => {
                fail(&mut report, format!("not a tf.train.Example: {e}"));
                continue;
            }
        };
        let name = ex
            .bytes("filename")
            .map(|b| String::from_utf8_lossy(b).into_owned());
        let (Some(name), Some(&[timestamp])) = (name, ex.floats("timestamp_s")) else {
            fail(&mut report, "no filename or timestamp_s".into());
            continue;
        };
        let emb = match tensor_of(&ex, "embedding") {
            Ok(Some(t)) => t,
            Ok(None) => {
                fail(&mut report, "no embedding".into());
                continue;
            }
            Err(e) => {
                fail(&mut report, e);
                continue;
            }
        };
        let nuis = match tensor_of(&ex, "nuisances") {
            Ok(t) => t,
            Err(e) => {
                fail(&mut report, e);
                continue;
            }
        };
        let (windows, channels, d) = (emb.shape[0], emb.shape[1], emb.shape[2]);
        if let Some(n) = &nuis {
            if n.shape[..2] != emb.shape[..2] || n.shape[2] < NUISANCES.len() {
                fail(
                    &mut report,
                    format!(
                        "nuisances of shape {:?} for embeddings of {:?}",
                        n.shape, emb.shape
                    ),
                );
                continue;
            }
        }
        if *dim.get_or_insert(d) != d {
            fail(
                &mut report,
                format!(
                    "embeddings of {d} values in a shard of {}",
                    dim.unwrap_or(0)
                ),
            );
            continue;
        }
        let parsed = a2o::parse(&name);
        // Long files come in several records (one per chunk): one recording.
        let recording = match seen.get(&name) {
            Some(&r) => r,
            None => {
                seen.insert(name.clone(), report.names.len());
                report.names.push(name.clone());
                if parsed.is_err() {
                    report.unparsed_names.push(name.clone());
                }
                report.names.len() - 1
            }
        };
        let stem = name.rsplit('/').next().unwrap_or(&name);
        let stem = stem.rsplit_once('.').map_or(stem, |(s, _)| s).to_string();
        let (node, recorder, deployment, start_ns) = match &parsed {
            Ok(n) => (
                n.site.clone(),
                n.subsite.clone().unwrap_or_default(),
                n.start.date_naive().to_string(),
                n.start
                    .with_timezone(&Utc)
                    .timestamp_nanos_opt()
                    .unwrap_or(0),
            ),
            Err(_) => (String::new(), String::new(), String::new(), 0),
        };
        if writer.is_none() {
            let f = File::create(part).map_err(|e| format!("{}: {e}", part.display()))?;
            writer = Some(EmbeddingsWriter::new(f, "UTC", d, &extra)?);
        }
        let w = writer.as_mut().expect("made above");
        let secs = |s: f64| (s * 1e9).round() as i64;
        for i in 0..windows {
            let start = timestamp as f64 + hop_s * i as f64;
            let end = start + window_s;
            for c in 0..channels {
                let at = (i * channels + c) * d;
                let scores = nuis.as_ref().map(|n| {
                    let k = n.shape[2];
                    &n.values[(i * channels + c) * k..(i * channels + c) * k + k]
                });
                if opts.filter && scores.is_some_and(|s| !kept(c, s)) {
                    report.filtered += 1;
                    continue;
                }
                let keys = Keys {
                    id: &stem,
                    recording_index: recording as i64,
                    cumulus: None,
                    node: &node,
                    recorder: &recorder,
                    deployment: &deployment,
                    channel: c as i32,
                    window: (start / hop_s).round() as i32,
                    start_time: start,
                    end_time: end,
                    abs_start_ns: start_ns + secs(start),
                    abs_end_ns: start_ns + secs(end),
                };
                let nuisance = |j: usize| Extra::F32(scores.map(|s| s[j]));
                w.push(
                    &keys,
                    (&opts.model, &opts.model_version),
                    &emb.values[at..at + d],
                    &[
                        Extra::Str(Some(&name)),
                        nuisance(0),
                        nuisance(1),
                        nuisance(2),
                    ],
                )
                .map_err(|e| format!("{}: {e}", shard.display()))?;
                report.rows += 1;
            }
        }
    }
    if let Some(w) = writer {
        w.finish()?;
    }
    Ok((report, dim))
}

/// Every shard into `out/embeddings.parquet` (through a temporary name), shards in parallel;
/// the reports in shard order. `recording_index` counts the recordings (file names) in order
/// of first appearance over the shards in order; `window` is the window's place in its file
/// (its start over the hop).
pub fn import(shards: &[PathBuf], out: &Path, opts: &Options) -> Result<Vec<ShardReport>, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let parts_dir = tempfile::Builder::new()
        .prefix(".import-")
        .tempdir_in(out)
        .map_err(|e| format!("{}: {e}", out.display()))?;
    let results: Vec<Result<(ShardReport, Option<usize>), String>> = shards
        .par_iter()
        .enumerate()
        .map(|(k, s)| import_shard(s, &parts_dir.path().join(format!("{k:06}.parquet")), opts))
        .collect();
    let mut reports = Vec::new();
    let mut dim = None;
    for (k, r) in results.into_iter().enumerate() {
        match r {
            Ok((rep, d)) => {
                if let (Some(d), Some(prev)) = (d, dim) {
                    if d != prev {
                        return Err(format!(
                            "{}: embeddings of {d} values, earlier shards {prev}",
                            shards[k].display()
                        ));
                    }
                }
                dim = dim.or(d);
                reports.push(rep);
            }
            Err(e) => reports.push(ShardReport {
                shard: shards[k].clone(),
                errors: vec![(0, e)],
                ..Default::default()
            }),
        }
    }
    let final_path = out.join(soundscape_table::embeddings::FILE);
    let tmp = crate::temp_in(out)?;
    let schema = soundscape_table::embeddings::schema("UTC", dim.unwrap_or(0), &extra_fields());
    let mut writer = ArrowWriter::try_new(
        tmp.reopen().map_err(|e| e.to_string())?,
        schema.clone(),
        Some(soundscape_table::embeddings::properties()),
    )
    .map_err(|e| e.to_string())?;
    let mut global: std::collections::HashMap<&str, i64> = Default::default();
    for (k, rep) in reports.iter().enumerate() {
        let map: Vec<i64> = rep
            .names
            .iter()
            .map(|n| {
                let next = global.len() as i64;
                *global.entry(n.as_str()).or_insert(next)
            })
            .collect();
        let part = parts_dir.path().join(format!("{k:06}.parquet"));
        if part.exists() {
            let f = File::open(&part).map_err(|e| format!("{}: {e}", part.display()))?;
            let batches = ParquetRecordBatchReaderBuilder::try_new(f)
                .and_then(|b| b.build())
                .map_err(|e| format!("{}: {e}", part.display()))?;
            for b in batches {
                let b = b.map_err(|e| e.to_string())?;
                writer
                    .write(&renumber(&b, &map)?)
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    writer.close().map_err(|e| e.to_string())?;
    tmp.persist(&final_path)
        .map_err(|e| format!("{}: {e}", final_path.display()))?;
    Ok(reports)
}

/// A part's batch with its `recording_index` mapped through `map` (the part's recordings
/// to the table's).
fn renumber(b: &RecordBatch, map: &[i64]) -> Result<RecordBatch, String> {
    let ix = b
        .schema()
        .index_of("recording_index")
        .map_err(|e| e.to_string())?;
    let col = b.column(ix).as_primitive::<arrow::datatypes::Int64Type>();
    let shifted: Int64Array = col
        .values()
        .iter()
        .map(|&v| {
            map.get(v as usize)
                .copied()
                .ok_or("a recording_index out of range")
        })
        .collect::<Result<_, _>>()?;
    let mut cols = b.columns().to_vec();
    cols[ix] = std::sync::Arc::new(shifted) as std::sync::Arc<dyn Array>;
    RecordBatch::try_new(b.schema(), cols).map_err(|e| e.to_string())
}
