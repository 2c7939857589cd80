//! `listing-bench`: how long get-audio-df takes to list a large archive.
//!
//! Builds a SiPeCaM-like tree of small WAV files (`--files`, default 100,000, in units of
//! `--per-unit` files under `<cumulus>/<node>/<recorder>/<deployment>/audio/`), then runs the
//! release `get-audio-df` binary on it with header reading on and off, and reports wall time
//! and files per second. Run it with `just bench-listing`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use rayon::prelude::*;

#[derive(Debug, Parser)]
#[command(
    name = "listing-bench",
    version,
    about = "Benchmark get-audio-df on a large folder tree."
)]
struct Args {
    /// Number of audio files.
    #[arg(long, default_value_t = 100_000)]
    files: usize,
    /// Files per processing unit.
    #[arg(long, default_value_t = 288)]
    per_unit: usize,
    /// Threads for get-audio-df (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Keep the tree here (reused when it already holds the files).
    #[arg(long)]
    workdir: Option<PathBuf>,
}

/// A 0.1 s, 48 kHz PCM16 mono WAV.
fn wav() -> Vec<u8> {
    soundscape_testkit::wav_of(48_000, &[0i16; 4800], None)
}

fn build_tree(root: &Path, files: usize, per_unit: usize) -> Result<()> {
    let marker = root.join(format!(".complete-{files}-{per_unit}"));
    if marker.exists() {
        return Ok(());
    }
    let bytes = wav();
    (0..files).into_par_iter().try_for_each(|i| -> Result<()> {
        let unit = i / per_unit;
        let k = i % per_unit;
        let dir = root.join(format!(
            "{}/1_{:02}_1_{:04}/SER{:06}/2021-08-{:02}/audio",
            90 + unit % 4,
            unit % 100,
            unit,
            unit,
            1 + unit % 28
        ));
        std::fs::create_dir_all(&dir)?;
        let (h, m) = ((k * 5) / 60 % 24, (k * 5) % 60);
        std::fs::write(
            dir.join(format!(
                "R{unit:05}_202108{:02}_{h:02}{m:02}00.wav",
                1 + unit % 28
            )),
            &bytes,
        )?;
        Ok(())
    })?;
    std::fs::write(marker, b"")?;
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let tmp;
    let root = match &args.workdir {
        Some(w) => w.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let tree = root.join("archive");
    let t0 = Instant::now();
    build_tree(&tree, args.files, args.per_unit)?;
    println!(
        "tree of {} files ready in {:.1} s",
        args.files,
        t0.elapsed().as_secs_f64()
    );
    let exe = std::env::current_exe()?;
    let bin = exe.with_file_name("get-audio-df");
    if !bin.exists() {
        bail!(
            "{} not found: build it first (just bench-listing)",
            bin.display()
        );
    }
    let cores = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    println!("| mode | files | threads | wall s | files/s |\n|---|---|---|---|---|");
    for (label, probe) in [("names only (--no-probe)", false), ("headers read", true)] {
        let out = root.join(format!("out-{probe}"));
        let mut c = Command::new(&bin);
        c.args(["--source"]).arg(&tree).args(["--out"]).arg(&out);
        c.args([
            "--layout",
            "sipecam",
            "--no-progress",
            "--threads",
            &cores.to_string(),
        ]);
        if !probe {
            c.arg("--no-probe");
        }
        let t = Instant::now();
        let st = c.output().context("running get-audio-df")?;
        let secs = t.elapsed().as_secs_f64();
        if !st.status.success() {
            bail!(
                "get-audio-df failed: {}",
                String::from_utf8_lossy(&st.stderr)
            );
        }
        println!(
            "| {label} | {} | {cores} | {secs:.2} | {:.0} |",
            args.files,
            args.files as f64 / secs
        );
    }
    Ok(())
}
