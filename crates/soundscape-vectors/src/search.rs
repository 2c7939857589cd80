//! `embeddings search`: the K windows most like a query by cosine similarity, exact, over
//! tables of any size. Row groups are read one at a time (only the `embedding` column) by
//! the threads of a pool, each keeping its own K best; the lists are merged at the end, so
//! memory is one row group per thread and K hits, whatever the tables hold.
//!
//! The similarity of a row `x` is `q·x / (|q| |x|)` in float32, summed in 16 lanes (which
//! compilers turn into SIMD registers); a zero row has similarity 0, a row with a NaN is
//! never a hit. Where a table has a fresh index ([`crate::index`]), its unit rows are read
//! instead of the table's row groups (the same similarities within float32 rounding).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use arrow::array::AsArray;
use arrow::array::{ArrayRef, Float32Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use rayon::prelude::*;

use std::path::PathBuf;

use crate::index::{Index, CHUNK_ROWS};
use crate::table::{embedding_values, Table};

/// One hit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Row number counted across the tables in order.
    pub row: u64,
    /// Which table, and the row in it.
    pub table: usize,
    pub table_row: usize,
    pub similarity: f32,
}

/// Heap order: the worst hit on top (lowest similarity; at equal similarity the later row),
/// so the heap keeps the K best and ties go to the earlier row.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Worst(Hit);

impl Eq for Worst {}

impl Ord for Worst {
    fn cmp(&self, o: &Self) -> Ordering {
        o.0.similarity
            .total_cmp(&self.0.similarity)
            .then(self.0.row.cmp(&o.0.row))
    }
}

impl PartialOrd for Worst {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// The K best of what is pushed.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Worst>,
}

impl TopK {
    pub fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// The similarity a row must beat to enter (minus infinity until K are held).
    #[inline]
    pub fn bar(&self) -> f32 {
        if self.heap.len() < self.k {
            f32::NEG_INFINITY
        } else {
            self.heap
                .peek()
                .map_or(f32::NEG_INFINITY, |w| w.0.similarity)
        }
    }

    pub fn push(&mut self, h: Hit) {
        if self.k == 0 || h.similarity.is_nan() {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(Worst(h));
        } else if Worst(h) < *self.heap.peek().expect("k > 0") {
            self.heap.pop();
            self.heap.push(Worst(h));
        }
    }

    pub fn merge(mut self, other: TopK) -> TopK {
        for w in other.heap {
            self.push(w.0);
        }
        self
    }

    /// The hits, best first.
    pub fn into_sorted(self) -> Vec<Hit> {
        let mut v: Vec<Hit> = self.heap.into_iter().map(|w| w.0).collect();
        v.sort_by(|a, b| {
            b.similarity
                .total_cmp(&a.similarity)
                .then(a.row.cmp(&b.row))
        });
        v
    }
}

const LANES: usize = 16;

/// `(q·x, x·x)` in float32, summed lane by lane.
#[inline]
pub fn dot_and_norm(q: &[f32], x: &[f32]) -> (f32, f32) {
    debug_assert_eq!(q.len(), x.len());
    let mut dot = [0f32; LANES];
    let mut nn = [0f32; LANES];
    let (qc, qr) = q.split_at(q.len() / LANES * LANES);
    let (xc, xr) = x.split_at(qc.len());
    for (qa, xa) in qc.chunks_exact(LANES).zip(xc.chunks_exact(LANES)) {
        for l in 0..LANES {
            dot[l] += qa[l] * xa[l];
            nn[l] += xa[l] * xa[l];
        }
    }
    let (mut d, mut n) = (0f32, 0f32);
    for (a, b) in qr.iter().zip(xr) {
        d += a * b;
        n += b * b;
    }
    (d + dot.iter().sum::<f32>(), n + nn.iter().sum::<f32>())
}

/// `q·x` in float32, summed lane by lane.
#[inline]
pub fn dot(q: &[f32], x: &[f32]) -> f32 {
    debug_assert_eq!(q.len(), x.len());
    let mut dot = [0f32; LANES];
    let (qc, qr) = q.split_at(q.len() / LANES * LANES);
    let (xc, xr) = x.split_at(qc.len());
    for (qa, xa) in qc.chunks_exact(LANES).zip(xc.chunks_exact(LANES)) {
        for l in 0..LANES {
            dot[l] += qa[l] * xa[l];
        }
    }
    let tail: f32 = qr.iter().zip(xr).map(|(a, b)| a * b).sum();
    tail + dot.iter().sum::<f32>()
}

/// The cosine similarity of `x` to the unit vector `q`.
#[inline]
pub fn similarity(q_unit: &[f32], x: &[f32]) -> f32 {
    let (d, n) = dot_and_norm(q_unit, x);
    if n == 0.0 {
        0.0
    } else {
        d / n.sqrt()
    }
}

/// `v` scaled to length 1 (a zero vector stays zero).
pub fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n == 0.0 {
        v.to_vec()
    } else {
        v.iter().map(|x| x / n).collect()
    }
}

/// Where a run of rows starts: its first row counted across the tables, its table, and its
/// first row in that table.
#[derive(Debug, Clone, Copy)]
pub struct At {
    pub first: u64,
    pub table: usize,
    pub table_row: usize,
}

/// The similarities of every row of `values` (`dim` each) to `q_unit`, pushed into `top`;
/// `units` says the rows are unit vectors already (an index's), so a dot product is enough.
pub fn scan(q_unit: &[f32], values: &[f32], at: At, top: &mut TopK, units: bool) {
    if units {
        scan_with(q_unit, values, at, top, dot)
    } else {
        scan_with(q_unit, values, at, top, similarity)
    }
}

#[inline]
fn scan_with(
    q_unit: &[f32],
    values: &[f32],
    at: At,
    top: &mut TopK,
    similarity: impl Fn(&[f32], &[f32]) -> f32,
) {
    for (i, x) in values.chunks_exact(q_unit.len()).enumerate() {
        let s = similarity(q_unit, x);
        if s >= top.bar() {
            top.push(Hit {
                row: at.first + i as u64,
                table: at.table,
                table_row: at.table_row + i,
                similarity: s,
            });
        }
    }
}

/// Whether search reads a table's index ([`crate::index`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseIndex {
    /// Read the tables themselves.
    No,
    /// The index where it is fresh, else the table.
    IfFresh,
    /// Build a missing or stale index first (falling back to the table where it cannot be
    /// written).
    Build,
}

/// What search read for one table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Source {
    pub table: PathBuf,
    /// `index`, `index (built)` or `table`.
    pub read: String,
    /// Why the index was not used, where it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One piece of work: rows of a table's index, or one of its row groups.
enum Piece<'a> {
    Index(&'a Index, usize, usize),
    Group(usize),
}

/// The `k` rows of `tables` most like `query`, best first, on the current rayon pool; and
/// what was read for each table.
pub fn search(
    tables: &[Table],
    query: &[f32],
    k: usize,
    use_index: UseIndex,
) -> Result<(Vec<Hit>, Vec<Source>), String> {
    let q = unit(query);
    let mut sources = Vec::new();
    let mut indexes = Vec::new();
    for t in tables {
        if t.dim != q.len() {
            return Err(format!(
                "{}: embeddings of {} values, the query has {}",
                t.path.display(),
                t.dim,
                q.len()
            ));
        }
        let (ix, read, note) = match use_index {
            UseIndex::No => (None, "table", None),
            _ => match Index::open_fresh(t) {
                Some(ix) => (Some(ix), "index", None),
                None if use_index == UseIndex::Build => match Index::build(t) {
                    Ok(ix) => (Some(ix), "index (built)", None),
                    Err(e) => (None, "table", Some(format!("no index: {e}"))),
                },
                None => (None, "table", Some("no fresh index".to_string())),
            },
        };
        sources.push(Source {
            table: t.path.clone(),
            read: read.into(),
            note,
        });
        indexes.push(ix);
    }
    let mut work = Vec::new();
    let mut base = 0u64;
    for (ti, t) in tables.iter().enumerate() {
        match &indexes[ti] {
            Some(ix) => {
                for start in (0..ix.rows).step_by(CHUNK_ROWS) {
                    let n = CHUNK_ROWS.min(ix.rows - start);
                    work.push((ti, Piece::Index(ix, start, n), start, base + start as u64));
                }
            }
            None => {
                for (g, start) in t.group_starts().into_iter().enumerate() {
                    work.push((ti, Piece::Group(g), start, base + start as u64));
                }
            }
        }
        base += t.rows() as u64;
    }
    let top = work
        .par_iter()
        .try_fold(
            || (TopK::new(k), Vec::new()),
            |(mut top, mut buf), (ti, piece, start, first)| {
                let at = At {
                    first: *first,
                    table: *ti,
                    table_row: *start,
                };
                match piece {
                    Piece::Index(ix, s, n) => {
                        ix.read_rows(*s, *n, &mut buf)?;
                        scan(&q, &buf, at, &mut top, true);
                    }
                    Piece::Group(g) => {
                        let b = tables[*ti].group(*g, &["embedding"])?;
                        let (values, _) = embedding_values(&b)?;
                        scan(&q, values, at, &mut top, false);
                    }
                }
                Ok::<_, String>((top, buf))
            },
        )
        .map(|r| r.map(|(top, _)| top))
        .try_reduce(|| TopK::new(k), |a, b| Ok(a.merge(b)))?;
    Ok((top.into_sorted(), sources))
}

/// The embedding of row `row` counted across `tables`.
pub fn row_embedding(tables: &[Table], row: u64) -> Result<Vec<f32>, String> {
    let mut base = 0u64;
    for t in tables {
        let n = t.rows() as u64;
        if row < base + n {
            let (g, i) = t.group_of((row - base) as usize);
            let b = t.group(g, &["embedding"])?;
            let (values, dim) = embedding_values(&b)?;
            return Ok(values[i * dim..(i + 1) * dim].to_vec());
        }
        base += n;
    }
    Err(format!("row {row}: the tables hold {base} rows"))
}

/// The hits as a table: `rank` (from 1), `row`, `similarity`, `distance` (1 - similarity),
/// `table`, `table_row`, then the hit's key columns (times in UTC). Each row group holding a
/// hit is read once.
pub fn hits_table(tables: &[Table], hits: &[Hit]) -> Result<RecordBatch, String> {
    let mut keys = soundscape_table::embeddings::key_fields("UTC");
    keys.push(Field::new("source_name", DataType::Utf8, true));
    let names: Vec<&str> = keys.iter().map(|f| f.name().as_str()).collect();
    let mut groups: HashMap<(usize, usize), RecordBatch> = HashMap::new();
    let mut parts: Vec<RecordBatch> = Vec::with_capacity(hits.len());
    let schema = Arc::new(Schema::new(keys.clone()));
    for h in hits {
        let t = &tables[h.table];
        let (g, i) = t.group_of(h.table_row);
        if let std::collections::hash_map::Entry::Vacant(slot) = groups.entry((h.table, g)) {
            let b = t.group(g, &names)?;
            // Every table's instants in UTC, whatever its zone.
            let cols = keys
                .iter()
                .map(|f| match b.column_by_name(f.name()) {
                    Some(c) => cast(c, f.data_type()).map_err(|e| e.to_string()),
                    // Only imported tables name their source files.
                    None if f.is_nullable() && f.name() == "source_name" => {
                        Ok(arrow::array::new_null_array(f.data_type(), b.num_rows()))
                    }
                    None => Err(format!("{}: no {} column", t.path.display(), f.name())),
                })
                .collect::<Result<Vec<ArrayRef>, String>>()?;
            let b = RecordBatch::try_new(schema.clone(), cols).map_err(|e| e.to_string())?;
            slot.insert(b);
        }
        parts.push(groups[&(h.table, g)].slice(i, 1));
    }
    let keys_of_hits =
        arrow::compute::concat_batches(&schema, &parts).map_err(|e| e.to_string())?;
    let mut fields = vec![
        Field::new("rank", DataType::Int32, false),
        Field::new("row", DataType::Int64, false),
        Field::new("similarity", DataType::Float32, false),
        Field::new("distance", DataType::Float32, false),
        Field::new("table", DataType::Utf8, false),
        Field::new("table_row", DataType::Int64, false),
    ];
    fields.extend(keys);
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from_iter_values(1..=hits.len() as i32)),
        Arc::new(Int64Array::from_iter_values(
            hits.iter().map(|h| h.row as i64),
        )),
        Arc::new(Float32Array::from_iter_values(
            hits.iter().map(|h| h.similarity.clamp(-1.0, 1.0)),
        )),
        Arc::new(Float32Array::from_iter_values(
            hits.iter().map(|h| 1.0 - h.similarity.clamp(-1.0, 1.0)),
        )),
        Arc::new(StringArray::from_iter_values(
            hits.iter()
                .map(|h| tables[h.table].path.display().to_string()),
        )),
        Arc::new(Int64Array::from_iter_values(
            hits.iter().map(|h| h.table_row as i64),
        )),
    ];
    cols.extend(keys_of_hits.columns().iter().cloned());
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|e| e.to_string())
}

/// Clips (16-bit WAV) and spectrogram thumbnails (128 px PNG) of the hits whose audio can be
/// found, in `out/clips/` and `out/thumbnails/` (`<rank>_<id>_<start>s`); the batch gains
/// `clip` and `thumbnail` columns (paths relative to `out`, null where there is none), and the
/// reasons of the missing ones are counted.
pub fn with_media(
    tables: &[Table],
    hits: &[Hit],
    batch: &RecordBatch,
    out: &Path,
    root: Option<PathBuf>,
) -> Result<(RecordBatch, BTreeMap<String, usize>), String> {
    let locator = crate::media::Locator::new(tables, root);
    let ix = batch
        .column_by_name("recording_index")
        .ok_or("no recording_index")?
        .as_primitive::<Int64Type>();
    let start = batch
        .column_by_name("start_time")
        .ok_or("no start_time")?
        .as_primitive::<Float64Type>();
    let end = batch
        .column_by_name("end_time")
        .ok_or("no end_time")?
        .as_primitive::<Float64Type>();
    let mut missing: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_file: BTreeMap<PathBuf, Vec<usize>> = BTreeMap::new();
    for (k, h) in hits.iter().enumerate() {
        match locator.locate(h.table, Some(ix.value(k)), batch, k) {
            Ok(p) => by_file.entry(p).or_default().push(k),
            Err(why) => *missing.entry(why).or_default() += 1,
        }
    }
    let (clips_dir, thumbs_dir) = (out.join("clips"), out.join("thumbnails"));
    for d in [&clips_dir, &thumbs_dir] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let mut clip: Vec<Option<String>> = vec![None; hits.len()];
    let mut thumb: Vec<Option<String>> = vec![None; hits.len()];
    for (path, ks) in by_file {
        let windows: Vec<(f64, f64)> = ks.iter().map(|&k| (start.value(k), end.value(k))).collect();
        let media = crate::media::clips(&path, &windows)
            .and_then(|c| crate::media::tiles(&path, &windows, 128).map(|t| (c, t)));
        match media {
            Ok(((rate, samples), tiles)) => {
                for ((&k, s), t) in ks.iter().zip(samples).zip(tiles) {
                    let name = format!(
                        "{:03}_{}_{}s",
                        k + 1,
                        crate::table::str_at(batch, "id", k),
                        start.value(k)
                    );
                    let (c, p) = (
                        format!("clips/{name}.wav"),
                        format!("thumbnails/{name}.png"),
                    );
                    crate::media::write_wav(&out.join(&c), rate, &s)?;
                    crate::media::write_tile(&out.join(&p), 128, &t)?;
                    clip[k] = Some(c);
                    thumb[k] = Some(p);
                }
            }
            Err(e) => *missing.entry(e).or_default() += ks.len(),
        }
    }
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("clip", DataType::Utf8, true));
    fields.push(Field::new("thumbnail", DataType::Utf8, true));
    let mut cols = batch.columns().to_vec();
    cols.push(Arc::new(StringArray::from(clip)));
    cols.push(Arc::new(StringArray::from(thumb)));
    let b = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).map_err(|e| e.to_string())?;
    Ok((b, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_agree_with_a_plain_sum() {
        for dim in [1, 7, 16, 33, 128, 1280] {
            let q: Vec<f32> = (0..dim).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
            let x: Vec<f32> = (0..dim).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
            let (d, n) = dot_and_norm(&q, &x);
            let d64: f64 = q.iter().zip(&x).map(|(a, b)| *a as f64 * *b as f64).sum();
            let n64: f64 = x.iter().map(|b| *b as f64 * *b as f64).sum();
            // Small integers: every partial sum is exact in float32.
            assert_eq!((d as f64, n as f64), (d64, n64), "dim {dim}");
        }
    }

    #[test]
    fn top_k_keeps_the_best_and_ties_go_to_the_earlier_row() {
        let mut t = TopK::new(3);
        for (row, s) in [
            (0, 0.5),
            (1, 0.9),
            (2, 0.1),
            (3, 0.9),
            (4, f32::NAN),
            (5, 0.7),
            (6, 0.9),
        ] {
            t.push(Hit {
                row,
                table: 0,
                table_row: row as usize,
                similarity: s,
            });
        }
        let rows: Vec<u64> = t.into_sorted().iter().map(|h| h.row).collect();
        assert_eq!(rows, [1, 3, 6]);
        let mut a = TopK::new(2);
        let mut b = TopK::new(2);
        for (row, s) in [(0, 0.2), (1, 0.8)] {
            a.push(Hit {
                row,
                table: 0,
                table_row: 0,
                similarity: s,
            });
        }
        for (row, s) in [(2, 0.9), (3, 0.1)] {
            b.push(Hit {
                row,
                table: 0,
                table_row: 0,
                similarity: s,
            });
        }
        let rows: Vec<u64> = a.merge(b).into_sorted().iter().map(|h| h.row).collect();
        assert_eq!(rows, [2, 1]);
    }

    #[test]
    fn zero_rows_have_similarity_zero() {
        assert_eq!(similarity(&unit(&[1.0, 0.0]), &[0.0, 0.0]), 0.0);
        assert!((similarity(&unit(&[3.0, 4.0]), &[6.0, 8.0]) - 1.0).abs() < 1e-7);
    }
}
