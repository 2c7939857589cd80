//! The search index of an embeddings table: its embeddings as unit vectors, one float32 row
//! after the other, in a file beside the table (`embeddings.vectors` for
//! `embeddings.parquet`). Parquet stores a fixed-size list with a definition and repetition
//! level per value, and decoding those costs some 50 times the similarity scan; the index is
//! read at the speed of the disk or the page cache, and its rows need one multiply-add per
//! value instead of two (the norms are done).
//!
//! The header records the table's length and modification time: an index that no longer
//! matches its table is stale and is not used (search rebuilds it or reads the table). It is
//! written under a temporary name and renamed, so a reader never sees half of one.
//!
//! Layout (little-endian): magic `SSVECT01`, dim u32, reserved u32, rows u64, the table's
//! byte length u64, its modification time in nanoseconds since the epoch i64; then
//! `rows × dim` float32.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::table::{embedding_values, Table};

const MAGIC: &[u8; 8] = b"SSVECT01";
const HEADER: u64 = 40;

/// Rows read and scanned at a time by one thread.
pub const CHUNK_ROWS: usize = 4096;

/// Where the index of `table` lives.
pub fn path_of(table: &Path) -> PathBuf {
    table.with_extension("vectors")
}

/// The (length, modification time) a table's index records.
fn stamp(table: &Path) -> Result<(u64, i64), String> {
    let m = std::fs::metadata(table).map_err(|e| format!("{}: {e}", table.display()))?;
    let t = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64);
    Ok((m.len(), t))
}

/// An open index.
#[derive(Debug)]
pub struct Index {
    pub path: PathBuf,
    file: File,
    pub dim: usize,
    pub rows: usize,
}

impl Index {
    /// The index of `table` if there is one and it matches the table as it is now.
    pub fn open_fresh(table: &Table) -> Option<Index> {
        let path = path_of(&table.path);
        let mut file = File::open(&path).ok()?;
        let mut h = [0u8; HEADER as usize];
        file.read_exact(&mut h).ok()?;
        let u32_at = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().expect("8 bytes"));
        let (dim, rows) = (u32_at(8) as usize, u64_at(16) as usize);
        let (len, mtime) = stamp(&table.path).ok()?;
        let whole = file.metadata().ok()?.len() == HEADER + (rows * dim * 4) as u64;
        let fresh = &h[..8] == MAGIC
            && dim == table.dim
            && rows == table.rows()
            && u64_at(24) == len
            && u64_at(32) as i64 == mtime
            && whole;
        fresh.then_some(Index {
            path,
            file,
            dim,
            rows,
        })
    }

    /// Writes the index of `table` (streaming its row groups) and opens it.
    pub fn build(table: &Table) -> Result<Index, String> {
        let path = path_of(&table.path);
        let dir = path.parent().unwrap_or(Path::new("."));
        let tmp = crate::temp_in(dir)?;
        let (len, mtime) = stamp(&table.path)?;
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        let io = |e: std::io::Error| format!("{}: {e}", path.display());
        w.write_all(MAGIC).map_err(io)?;
        w.write_all(&(table.dim as u32).to_le_bytes()).map_err(io)?;
        w.write_all(&0u32.to_le_bytes()).map_err(io)?;
        for v in [table.rows() as u64, len, mtime as u64] {
            w.write_all(&v.to_le_bytes()).map_err(io)?;
        }
        let mut row = Vec::with_capacity(table.dim * 4);
        for b in table.batches(&["embedding"])? {
            let b = b?;
            let (values, dim) = embedding_values(&b)?;
            for x in values.chunks_exact(dim) {
                row.clear();
                for v in crate::search::unit(x) {
                    row.extend_from_slice(&v.to_le_bytes());
                }
                w.write_all(&row).map_err(io)?;
            }
        }
        w.into_inner().map_err(|e| io(e.into_error()))?;
        tmp.as_file().sync_all().map_err(io)?;
        // The table changed while it was read: the index would be stale at once.
        if stamp(&table.path)? != (len, mtime) {
            return Err(format!("{}: changed while indexed", table.path.display()));
        }
        tmp.persist(&path).map_err(|e| io(e.error))?;
        Index::open_fresh(table).ok_or_else(|| format!("{}: not readable back", path.display()))
    }

    /// Rows `first..first + n` into `buf`, read straight into its float32s.
    pub fn read_rows(&self, first: usize, n: usize, buf: &mut Vec<f32>) -> Result<(), String> {
        buf.resize(n * self.dim, 0.0);
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(buf.as_mut_slice());
        self.file
            .read_exact_at(bytes, HEADER + (first * self.dim * 4) as u64)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        if cfg!(target_endian = "big") {
            buf.iter_mut()
                .for_each(|v| *v = f32::from_bits(u32::from_le(v.to_bits())));
        }
        Ok(())
    }
}
