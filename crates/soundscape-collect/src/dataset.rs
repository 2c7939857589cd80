//! The run's tables as one Hive-partitioned Parquet dataset:
//! `<dataset>/<table>/cumulus=<c>/node=<n>/recorder=<r>/deployment=<d>/part-0.parquet`, for
//! the soundscape tables and, where a unit has them, its embeddings and detections.
//!
//! The partition keys live in the paths only (the files drop their own `cumulus`, `node`,
//! `recorder` and `deployment` columns, as Hive does), so DuckDB, polars and pyarrow read one
//! glob with `hive_partitioning` and every key comes back as a column. Timestamps are stored in
//! UTC (the same instants; each unit's zone stays in `time_zone` where the table has it), so
//! units from different zones share one schema; the pandas index column and metadata are
//! dropped. Files are written under a temporary name and renamed.
//!
//! Collecting again rewrites only the partitions whose source table changed (size and
//! modification time, kept in `<dataset>/_collect.json`), and removes the partitions of units
//! whose table is gone.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchReader};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use soundscape_core::products::{DETECTIONS_FILE, EMBEDDINGS_FILE, SOUNDSCAPE_FILE};
use soundscape_core::units::UnitsManifest;
use soundscape_core::UnitPath;

/// The tables collected: the dataset folder of each and its file in a unit folder.
pub const TABLES: [(&str, &str); 3] = [
    ("soundscapes", SOUNDSCAPE_FILE),
    ("embeddings", EMBEDDINGS_FILE),
    ("detections", DETECTIONS_FILE),
];
/// The partition keys, outermost first.
pub const KEYS: [&str; 4] = ["cumulus", "node", "recorder", "deployment"];
/// Columns the dataset files leave out besides the keys.
const DROPPED: [&str; 1] = ["__index_level_0__"];
const STATE_FILE: &str = "_collect.json";
const PART: &str = "part-0.parquet";

/// What a collected partition was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Source {
    path: String,
    bytes: u64,
    mtime_ns: u128,
}

impl Source {
    fn of(path: &Path) -> Option<Source> {
        let m = std::fs::metadata(path).ok()?;
        let mtime_ns = m
            .modified()
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_nanos();
        Some(Source {
            path: path.display().to_string(),
            bytes: m.len(),
            mtime_ns,
        })
    }
}

/// `<table>` → `<unit id>` → source.
type State = BTreeMap<String, BTreeMap<String, Source>>;

/// What became of the partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collected {
    /// Rewritten because new or changed.
    pub written: usize,
    /// Unchanged since the last collect.
    pub kept: usize,
    /// Removed: their unit's table is gone.
    pub removed: usize,
    /// Tables that could not be collected, with the reason.
    pub failed: Vec<(String, String)>,
    /// Rows written this time.
    pub rows: u64,
}

/// A partition key value as a path segment: kept as it is when it has only letters, digits
/// and `_ - .`; else percent-encoded, byte by byte, as Hive does.
pub fn segment(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"_-.".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The partition folder of a unit.
pub fn partition(root: &Path, table: &str, u: &UnitPath) -> PathBuf {
    let vals = [&u.cumulus, &u.node, &u.recorder, &u.deployment];
    let mut p = root.join(table);
    for (k, v) in KEYS.iter().zip(vals) {
        p.push(format!("{k}={}", segment(v)));
    }
    p
}

fn utc(dt: &DataType) -> Option<DataType> {
    match dt {
        DataType::Timestamp(unit, Some(tz)) if tz.as_ref() != "UTC" => {
            Some(DataType::Timestamp(*unit, Some("UTC".into())))
        }
        _ => None,
    }
}

/// The dataset schema of a unit table: keys and dropped columns out, timestamps in UTC.
fn target_schema(source: &Schema) -> (SchemaRef, Vec<usize>) {
    let mut keep = Vec::new();
    let mut fields: Vec<Field> = Vec::new();
    for (i, f) in source.fields().iter().enumerate() {
        if KEYS.contains(&f.name().as_str()) || DROPPED.contains(&f.name().as_str()) {
            continue;
        }
        keep.push(i);
        let dt = utc(f.data_type()).unwrap_or_else(|| f.data_type().clone());
        fields.push(Field::new(f.name(), dt, f.is_nullable()));
    }
    (Arc::new(Schema::new(fields)), keep)
}

/// Rewrites one unit table into its partition; returns the rows written.
fn rewrite(src: &Path, dir: &Path) -> Result<u64, String> {
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", src.display());
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(src).map_err(|e| err(&e))?)
        .map_err(|e| err(&e))?
        .with_batch_size(8192)
        .build()
        .map_err(|e| err(&e))?;
    let (schema, keep) = target_schema(&reader.schema());
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .set_created_by(format!("soundscape collect {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut rows = 0u64;
    // A temporary file that is renamed once complete, and removed when anything fails.
    let part = dir.join(PART);
    soundscape_core::fsutil::write_atomic_with(&part, |out| {
        let io = |e: String| std::io::Error::other(e);
        let mut w =
            ArrowWriter::try_new(out, schema.clone(), Some(props)).map_err(|e| io(err(&e)))?;
        for batch in reader {
            let batch = batch.map_err(|e| io(err(&e)))?;
            let cols: Vec<ArrayRef> = keep
                .iter()
                .zip(schema.fields())
                .map(|(&i, f)| {
                    let c = batch.column(i);
                    if c.data_type() == f.data_type() {
                        Ok(c.clone())
                    } else {
                        arrow::compute::cast(c, f.data_type()).map_err(|e| io(err(&e)))
                    }
                })
                .collect::<Result<_, _>>()?;
            let b = RecordBatch::try_new(schema.clone(), cols).map_err(|e| io(err(&e)))?;
            rows += b.num_rows() as u64;
            w.write(&b).map_err(|e| io(err(&e)))?;
        }
        w.close().map_err(|e| io(err(&e)))?;
        Ok(())
    })
    .map_err(|e| format!("{}: {e}", part.display()))?;
    Ok(rows)
}

fn read_state(root: &Path) -> State {
    std::fs::read_to_string(root.join(STATE_FILE))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Removes a partition folder and the key folders above it that it leaves empty.
fn remove_partition(table_root: &Path, dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    let mut d = dir.parent();
    while let Some(p) = d {
        if p == table_root || std::fs::remove_dir(p).is_err() {
            break;
        }
        d = p.parent();
    }
}

/// Collects the tables of every unit of `manifest` (folders under `results`) into `root`.
pub fn collect(manifest: &UnitsManifest, results: &Path, root: &Path) -> Result<Collected, String> {
    std::fs::create_dir_all(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let old = read_state(root);
    let mut state = State::new();
    let mut done = Collected::default();
    for (table, file) in TABLES {
        let before = old.get(table).cloned().unwrap_or_default();
        let jobs: Vec<(&soundscape_core::Unit, Source)> = manifest
            .units
            .iter()
            .filter_map(|u| Source::of(&results.join(&u.id).join(file)).map(|s| (u, s)))
            .collect();
        let outcomes: Vec<(String, Source, Result<Option<u64>, String>)> = jobs
            .into_par_iter()
            .map(|(u, src)| {
                let dir = partition(root, table, &u.path);
                let same = before.get(&u.id) == Some(&src) && dir.join(PART).is_file();
                let r = if same {
                    Ok(None)
                } else {
                    rewrite(Path::new(&src.path), &dir).map(Some)
                };
                (u.id.clone(), src, r)
            })
            .collect();
        let mut now = BTreeMap::new();
        for (id, src, r) in outcomes {
            match r {
                Ok(None) => {
                    done.kept += 1;
                    now.insert(id, src);
                }
                Ok(Some(rows)) => {
                    done.written += 1;
                    done.rows += rows;
                    now.insert(id, src);
                }
                Err(e) => done.failed.push((format!("{table} {id}"), e)),
            }
        }
        let table_root = root.join(table);
        for u in &manifest.units {
            let gone = !now.contains_key(&u.id) && !results.join(&u.id).join(file).exists();
            if gone && partition(root, table, &u.path).exists() {
                remove_partition(&table_root, &partition(root, table, &u.path));
                done.removed += 1;
            }
        }
        // Units collected before that are no longer in the run.
        for id in before.keys().filter(|id| manifest.unit(id).is_none()) {
            let parts: Vec<&str> = id.split('/').collect();
            if let [c, n, r, d] = parts[..] {
                let u = UnitPath {
                    cumulus: c.into(),
                    node: n.into(),
                    recorder: r.into(),
                    deployment: d.into(),
                };
                let dir = partition(root, table, &u);
                if dir.exists() {
                    remove_partition(&table_root, &dir);
                    done.removed += 1;
                }
            }
        }
        if !now.is_empty() {
            state.insert(table.to_string(), now);
        }
    }
    soundscape_core::fsutil::write_json_atomic(&root.join(STATE_FILE), &state)
        .map_err(|e| format!("{}: {e}", root.join(STATE_FILE).display()))?;
    Ok(done)
}
