//! `embeddings export`: `embeddings.parquet` tables into TFRecord shards of
//! `tf.train.Example` records in the layout Perch's tools write and read
//! (`embeddings-NNNNN-of-MMMMM`, with a `config.json` giving the window and hop).
//!
//! A record holds one run of windows of a recording: consecutive windows, each with channels
//! 0..C, starting `hop` seconds apart (`timestamp_s` is the first window's start). A row that
//! breaks the run (a gap, another hop, fewer channels) starts the next record, so rows the
//! import filter dropped cost nothing but a record boundary; a row that cannot sit in a record
//! at all (a window without its channel 0) is reported with its reason.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int32Type, Int64Type};
use prost::Message;

use crate::example::{BytesList, Example, FloatList, FloatTensor, Int64List, Kind};
use crate::import::NUISANCES;
use crate::table::{embedding_values, f32_at, str_at, Table};
use crate::tfrecord::Writer;

#[derive(Debug, Clone)]
pub struct Options {
    /// Records per shard.
    pub records_per_shard: usize,
    /// Write gzip shards (`*.gz`; `tf.data.TFRecordDataset(..., compression_type="GZIP")`).
    pub gzip: bool,
    /// The hop between windows, seconds (default: what the first table shows).
    pub hop_s: Option<f64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            records_per_shard: 10_000,
            gzip: false,
            hop_s: None,
        }
    }
}

/// What an export wrote and what it could not.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ExportReport {
    pub rows: usize,
    pub records: usize,
    pub shards: Vec<PathBuf>,
    pub window_s: f64,
    pub hop_s: f64,
    pub dim: usize,
    /// (table, row in that table, reason) of every row not exported.
    pub skipped: Vec<(PathBuf, usize, String)>,
}

const COLUMNS: [&str; 11] = [
    "id",
    "recording_index",
    "channel",
    "window",
    "start_time",
    "end_time",
    "embedding",
    "source_name",
    "nuisance_empty",
    "nuisance_speech",
    "nuisance_unknown",
];

/// One record being gathered.
struct Pending {
    table: usize,
    recording: i64,
    name: String,
    t0: f64,
    hop: f64,
    /// Windows so far (the last may still be gathering channels).
    windows: usize,
    last_window: i32,
    channels: usize,
    /// Channels of the last window so far.
    have: usize,
    values: Vec<f32>,
    nuisances: Option<Vec<f32>>,
}

impl Pending {
    fn example(&self, dim: usize) -> (Example, usize) {
        let windows = if self.have == self.channels {
            self.windows
        } else {
            self.windows - 1
        };
        let mut e = Example::default();
        e.set(
            "filename",
            Kind::Bytes(BytesList {
                value: vec![self.name.as_bytes().to_vec()],
            }),
        );
        e.set(
            "timestamp_s",
            Kind::Floats(FloatList {
                value: vec![self.t0 as f32],
            }),
        );
        let mut tensor = |name: &str, values: &[f32], k: usize| {
            let shape = vec![windows, self.channels, k];
            e.set(
                name,
                Kind::Bytes(BytesList {
                    value: vec![FloatTensor {
                        shape: shape.clone(),
                        values: values[..windows * self.channels * k].to_vec(),
                    }
                    .encode()],
                }),
            );
            e.set(
                &format!("{name}_shape"),
                Kind::Ints(Int64List {
                    value: shape.iter().map(|&d| d as i64).collect(),
                }),
            );
        };
        tensor("embedding", &self.values, dim);
        if let Some(n) = &self.nuisances {
            tensor("nuisances", n, NUISANCES.len());
        }
        (e, windows * self.channels)
    }
}

/// Shards being written: temporary names until the count is known.
struct Shards {
    out: PathBuf,
    gzip: bool,
    per_shard: usize,
    in_shard: usize,
    done: Vec<tempfile::NamedTempFile>,
    current: Option<(Writer<Box<dyn Write>>, tempfile::NamedTempFile)>,
}

impl Shards {
    fn write(&mut self, data: &[u8]) -> Result<(), String> {
        if self.current.is_none() || self.in_shard == self.per_shard {
            self.close()?;
            let tmp = crate::temp_in(&self.out)?;
            let f = BufWriter::new(tmp.reopen().map_err(|e| e.to_string())?);
            let w: Box<dyn Write> = if self.gzip {
                Box::new(flate2::write::GzEncoder::new(
                    f,
                    flate2::Compression::default(),
                ))
            } else {
                Box::new(f)
            };
            self.current = Some((Writer::new(w), tmp));
            self.in_shard = 0;
        }
        let (w, _) = self.current.as_mut().expect("opened above");
        w.write(data).map_err(|e| e.to_string())?;
        self.in_shard += 1;
        Ok(())
    }

    fn close(&mut self) -> Result<(), String> {
        if let Some((w, tmp)) = self.current.take() {
            let mut inner = w.into_inner();
            inner.flush().map_err(|e| e.to_string())?;
            // Dropping the encoder writes the gzip trailer; flush above reports errors.
            drop(inner);
            self.done.push(tmp);
        }
        Ok(())
    }

    /// Renames the shards to `embeddings-NNNNN-of-MMMMM[.gz]` and removes shards of that
    /// pattern an earlier export left.
    fn finish(mut self) -> Result<Vec<PathBuf>, String> {
        self.close()?;
        let n = self.done.len();
        let ext = if self.gzip { ".gz" } else { "" };
        let names: Vec<String> = (0..n)
            .map(|k| format!("embeddings-{k:05}-of-{n:05}{ext}"))
            .collect();
        if let Ok(dir) = std::fs::read_dir(&self.out) {
            for e in dir.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if is_shard_name(&name) && !names.contains(&name) {
                    std::fs::remove_file(e.path()).map_err(|e| e.to_string())?;
                }
            }
        }
        let mut paths = Vec::new();
        for (tmp, name) in self.done.into_iter().zip(names) {
            let p = self.out.join(name);
            tmp.persist(&p)
                .map_err(|e| format!("{}: {e}", p.display()))?;
            paths.push(p);
        }
        Ok(paths)
    }
}

/// Whether `name` is a shard name export writes.
fn is_shard_name(name: &str) -> bool {
    let stem = name.strip_suffix(".gz").unwrap_or(name);
    let Some(rest) = stem.strip_prefix("embeddings-") else {
        return false;
    };
    let parts: Vec<&str> = rest.split("-of-").collect();
    parts.len() == 2
        && parts
            .iter()
            .all(|p| p.len() == 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The hop the table shows: the start difference of its first two consecutive windows of a
/// recording, else its first window's length.
fn hop_of(t: &Table) -> Result<Option<(f64, f64)>, String> {
    let cols = ["recording_index", "window", "start_time", "end_time"];
    let mut window_s = None;
    for b in t.batches(&cols)? {
        let b = b?;
        let rec = b.column(0).as_primitive::<Int64Type>().values();
        let win = b.column(1).as_primitive::<Int32Type>().values();
        let start = b.column(2).as_primitive::<Float64Type>().values();
        let end = b.column(3).as_primitive::<Float64Type>().values();
        if window_s.is_none() && !start.is_empty() {
            window_s = Some(end[0] - start[0]);
        }
        for i in 1..b.num_rows() {
            if rec[i] == rec[i - 1] && win[i] == win[i - 1] + 1 {
                return Ok(Some((start[i] - start[i - 1], end[0] - start[0])));
            }
        }
    }
    Ok(window_s.map(|w| (w, w)))
}

/// Writes the record of `p`; a last window short of channels becomes a record of its own.
fn emit(
    p: Pending,
    dim: usize,
    shards: &mut Shards,
    report: &mut ExportReport,
) -> Result<(), String> {
    let short = (p.have < p.channels).then(|| {
        let w = p.windows - 1;
        Pending {
            windows: 1,
            channels: p.have,
            t0: p.t0 + p.hop * w as f64,
            values: p.values[w * p.channels * dim..].to_vec(),
            nuisances: p
                .nuisances
                .as_ref()
                .map(|n| n[w * p.channels * NUISANCES.len()..].to_vec()),
            name: p.name.clone(),
            ..p
        }
    });
    for p in std::iter::once(p).chain(short) {
        let (e, rows) = p.example(dim);
        report.rows += rows;
        report.records += 1;
        shards.write(&e.encode_to_vec())?;
    }
    Ok(())
}

/// Every table into shards in `out`, with `config.json`.
pub fn export(tables: &[PathBuf], out: &Path, opts: &Options) -> Result<ExportReport, String> {
    let tables: Vec<Table> = tables
        .iter()
        .map(|p| Table::open(p))
        .collect::<Result<_, _>>()?;
    let dim = tables.first().map_or(0, |t| t.dim);
    if let Some(t) = tables.iter().find(|t| t.dim != dim) {
        return Err(format!(
            "{}: embeddings of {} values, {} has {dim}",
            t.path.display(),
            t.dim,
            tables[0].path.display()
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut report = ExportReport {
        dim,
        ..Default::default()
    };
    let shown = tables
        .iter()
        .find_map(|t| hop_of(t).transpose())
        .transpose()?;
    let (hop, window) = shown.unwrap_or((5.0, 5.0));
    let hop = opts.hop_s.unwrap_or(hop);
    (report.hop_s, report.window_s) = (hop, window);
    let mut shards = Shards {
        out: out.to_path_buf(),
        gzip: opts.gzip,
        per_shard: opts.records_per_shard.max(1),
        in_shard: 0,
        done: vec![],
        current: None,
    };
    let mut pending: Option<Pending> = None;
    for (ti, t) in tables.iter().enumerate() {
        let mut row0 = 0;
        let with_nuisances = NUISANCES.iter().all(|n| t.has(&format!("nuisance_{n}")));
        for b in t.batches(&COLUMNS)? {
            let b: RecordBatch = b?;
            let (values, _) = embedding_values(&b)?;
            let rec = b
                .column_by_name("recording_index")
                .ok_or("no recording_index")?
                .as_primitive::<Int64Type>()
                .values();
            let i32s = |n: &str| {
                b.column_by_name(n)
                    .map(|c| c.as_primitive::<Int32Type>().values().to_vec())
                    .ok_or_else(|| format!("{}: no {n} column", t.path.display()))
            };
            let (chan, win) = (i32s("channel")?, i32s("window")?);
            let start = b
                .column_by_name("start_time")
                .ok_or("no start_time")?
                .as_primitive::<Float64Type>()
                .values();
            for i in 0..b.num_rows() {
                let (c, w, s) = (chan[i] as usize, win[i], start[i]);
                let emb = &values[i * dim..(i + 1) * dim];
                let nuis = with_nuisances
                    .then(|| {
                        NUISANCES
                            .iter()
                            .map(|n| f32_at(&b, &format!("nuisance_{n}"), i))
                            .collect::<Option<Vec<f32>>>()
                    })
                    .flatten();
                // Another channel of the window being gathered?
                let joins_window = pending.as_ref().is_some_and(|p| {
                    p.table == ti
                        && p.recording == rec[i]
                        && p.last_window == w
                        && p.have == c
                        && (p.windows == 1 || c < p.channels)
                });
                // The first channel of the run's next window?
                let next_window = pending.as_ref().is_some_and(|p| {
                    p.table == ti
                        && p.recording == rec[i]
                        && c == 0
                        && w == p.last_window + 1
                        && p.have == p.channels
                        && (s - (p.t0 + hop * p.windows as f64)).abs() < 1e-6
                });
                if joins_window || next_window {
                    let p = pending.as_mut().expect("checked");
                    if next_window {
                        p.windows += 1;
                        p.last_window = w;
                        p.have = 0;
                    } else if p.windows == 1 {
                        p.channels = p.channels.max(c + 1);
                    }
                    p.have += 1;
                    p.values.extend_from_slice(emb);
                    match (&mut p.nuisances, nuis) {
                        (Some(n), Some(v)) => n.extend(v),
                        (n, _) => *n = None,
                    }
                    continue;
                }
                if let Some(p) = pending.take() {
                    emit(p, dim, &mut shards, &mut report)?;
                }
                if c != 0 {
                    report.skipped.push((
                        t.path.clone(),
                        row0 + i,
                        format!(
                            "channel {c} of window {w} of {} without the window's channel 0 before it: \
                             a record's tensor holds channels 0..C",
                            str_at(&b, "id", i)
                        ),
                    ));
                    continue;
                }
                let source = str_at(&b, "source_name", i);
                pending = Some(Pending {
                    table: ti,
                    recording: rec[i],
                    name: if source.is_empty() {
                        str_at(&b, "id", i)
                    } else {
                        source
                    },
                    t0: s,
                    hop,
                    windows: 1,
                    last_window: w,
                    channels: 1,
                    have: 1,
                    values: emb.to_vec(),
                    nuisances: nuis,
                });
            }
            row0 += b.num_rows();
        }
    }
    if let Some(p) = pending.take() {
        emit(p, dim, &mut shards, &mut report)?;
    }
    report.shards = shards.finish()?;
    write_config(out, &report)?;
    Ok(report)
}

/// The `config.json` Perch's tools read beside the shards (window, hop, embedding size).
fn write_config(out: &Path, r: &ExportReport) -> Result<(), String> {
    let config = serde_json::json!({
        "embed_fn_config": {
            "write_embeddings": true,
            "write_logits": false,
            "write_separated_audio": false,
            "write_raw_audio": false,
            "write_frontend": false,
            "model_key": "exported",
            "model_config": {
                "embedding_size": r.dim,
                "window_size_s": r.window_s,
                "hop_size_s": r.hop_s,
            },
            "file_id_depth": 0,
        },
        "source_file_patterns": [],
        "num_shards_per_file": -1,
        "shard_len_s": -1,
    });
    let path = out.join("config.json");
    let tmp = crate::temp_in(out)?;
    serde_json::to_writer_pretty(tmp.as_file(), &config).map_err(|e| e.to_string())?;
    tmp.persist(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names() {
        assert!(is_shard_name("embeddings-00000-of-00003"));
        assert!(is_shard_name("embeddings-00002-of-00003.gz"));
        assert!(!is_shard_name("embeddings-1730850444-00000-of-00001"));
        assert!(!is_shard_name("embeddings.parquet"));
    }
}
