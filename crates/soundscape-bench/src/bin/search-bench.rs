//! `search-bench`: how fast `embeddings search` scans an embeddings table.
//!
//! Writes a table of `--rows` random `--dim`-value embeddings (default one million of 1280,
//! 5 GB; kept in `--workdir` for reruns), then times exact top-K search over it on one
//! thread and on all of them: over the table's row groups, and over its search index (built
//! here, timed too); and the dot products alone over rows in cache (the compute bound). Run
//! it with `just bench-search`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use clap::Parser;
use soundscape_table::embeddings::{EmbeddingsWriter, Keys};
use soundscape_vectors::index::Index;
use soundscape_vectors::search::{scan, search, unit, At, TopK, UseIndex};
use soundscape_vectors::table::Table;

#[derive(Debug, Parser)]
#[command(
    name = "search-bench",
    version,
    about = "Benchmark exact embedding search."
)]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    #[arg(long, default_value_t = 1280)]
    dim: usize,
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Runs of each measurement (the fastest and the mean are reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Keep the table here (reused when it already holds the rows).
    #[arg(long)]
    workdir: Option<PathBuf>,
}

fn write_table(path: &std::path::Path, rows: usize, dim: usize) -> Result<()> {
    let tmp = path.with_extension("partial");
    let f = std::fs::File::create(&tmp).with_context(|| tmp.display().to_string())?;
    let mut w = EmbeddingsWriter::new(f, "UTC", dim, &[]).map_err(|e| anyhow!(e))?;
    let mut noise = soundscape_testkit::Noise::new(0x9e37_79b9_7f4a_7c15);
    let mut v = vec![0f32; dim];
    for i in 0..rows {
        v.iter_mut().for_each(|x| *x = noise.next());
        let k = Keys {
            id: "bench",
            recording_index: (i / 720) as i64,
            cumulus: None,
            node: "node",
            recorder: "rec",
            deployment: "2021-01-01",
            channel: 0,
            window: (i % 720) as i32,
            start_time: (i % 720) as f64 * 5.0,
            end_time: (i % 720) as f64 * 5.0 + 5.0,
            abs_start_ns: i as i64 * 5_000_000_000,
            abs_end_ns: i as i64 * 5_000_000_000 + 5_000_000_000,
        };
        w.push(&k, ("bench", "1"), &v, &[])
            .map_err(|e| anyhow!(e))?;
    }
    w.finish().map_err(|e| anyhow!(e))?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn timed(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<(f64, f64)> {
    let mut t = Vec::new();
    for _ in 0..runs.max(1) {
        let t0 = Instant::now();
        f()?;
        t.push(t0.elapsed().as_secs_f64());
    }
    let fastest = t.iter().copied().fold(f64::INFINITY, f64::min);
    Ok((fastest, t.iter().sum::<f64>() / t.len() as f64))
}

fn main() -> Result<()> {
    let a = Args::parse();
    let dir = match &a.workdir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => std::env::temp_dir().join("soundscape-search-bench"),
    };
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("embeddings-{}x{}.parquet", a.rows, a.dim));
    if !path.exists() {
        eprintln!(
            "search-bench: writing {} ({} x {})",
            path.display(),
            a.rows,
            a.dim
        );
        write_table(&path, a.rows, a.dim)?;
    }
    let table = Table::open(&path).map_err(|e| anyhow!(e))?;
    let tables = [table];
    let gb = (a.rows * a.dim * 4) as f64 / 1e9;
    let query = soundscape_vectors::search::row_embedding(&tables, 12_345 % a.rows as u64)
        .map_err(|e| anyhow!(e))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "search-bench: {} rows of {} float32 ({gb:.2} GB of embeddings, {:.2} GB on disk), top {}, {cores} cores",
        a.rows,
        a.dim,
        std::fs::metadata(&path)?.len() as f64 / 1e9,
        a.top
    );
    let expect = 12_345 % a.rows as u64;
    let pools: Vec<(usize, rayon::ThreadPool)> = [1, cores]
        .into_iter()
        .map(|n| {
            (
                n,
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .expect("pool"),
            )
        })
        .collect();
    let run = |pool: &rayon::ThreadPool,
               threads: usize,
               what: &str,
               use_index: UseIndex|
     -> Result<()> {
        let (fast, mean) = timed(a.runs, || {
            let (hits, _) = pool
                .install(|| search(&tables, &query, a.top, use_index))
                .map_err(|e| anyhow!(e))?;
            anyhow::ensure!(hits[0].row == expect, "the query is not its own first hit");
            Ok(())
        })?;
        println!(
            "  {what}, {threads} thread(s): fastest {fast:.3} s (mean {mean:.3} s), {:.2} s per million rows per core, {:.2} GB/s",
            fast * threads as f64 * 1e6 / a.rows as f64,
            gb / fast
        );
        Ok(())
    };
    // The table itself (its pages warmed by a first search).
    search(&tables, &query, a.top, UseIndex::No).map_err(|e| anyhow!(e))?;
    for (n, pool) in &pools {
        run(pool, *n, "table row groups", UseIndex::No)?;
    }
    let t0 = Instant::now();
    let ix = Index::build(&tables[0]).map_err(|e| anyhow!(e))?;
    println!(
        "  index built in {:.2} s ({})",
        t0.elapsed().as_secs_f64(),
        ix.path.display()
    );
    search(&tables, &query, a.top, UseIndex::IfFresh).map_err(|e| anyhow!(e))?;
    for (n, pool) in &pools {
        run(pool, *n, "index", UseIndex::IfFresh)?;
    }
    // The scan alone over unit rows in memory (one chunk in cache, scanned again and again).
    let mut values = Vec::new();
    let rows_in = soundscape_vectors::index::CHUNK_ROWS.min(a.rows);
    ix.read_rows(0, rows_in, &mut values)
        .map_err(|e| anyhow!(e))?;
    let q = unit(&query);
    let repeats = (a.rows / rows_in).max(1);
    let (fast, mean) = timed(a.runs, || {
        let mut top = TopK::new(a.top);
        for r in 0..repeats {
            let at = At {
                first: (r * rows_in) as u64,
                table: 0,
                table_row: 0,
            };
            scan(&q, &values, at, &mut top, true);
        }
        std::hint::black_box(top.into_sorted());
        Ok(())
    })?;
    let scanned = (repeats * rows_in) as f64;
    println!(
        "  dot products alone (one chunk in cache, {} rows): fastest {fast:.3} s (mean {mean:.3} s), {:.2} s per million rows, {:.2} GB/s",
        repeats * rows_in,
        fast * 1e6 / scanned,
        scanned * a.dim as f64 * 4.0 / 1e9 / fast
    );
    println!(
        "  peak memory: {:.0} MB",
        soundscape_bench::peak_rss_self_mb()
    );
    Ok(())
}
