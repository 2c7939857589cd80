//! `soundscape-bench`: how fast and how lean the engine is, on synthetic 48 kHz audio.
//!
//! 1. Engine speed on one core: a one-hour 16-bit mono WAV analysed in-process on a one-thread
//!    pool, reported as seconds of compute per hour of audio (best of `--repeat`).
//! 2. Peak memory: the `compute-soundscapes` stage binary run on that file with one thread, its
//!    maximum resident set size read back with `getrusage(RUSAGE_CHILDREN)`.
//! 3. Plots: the three pictures of that run's table (`plot_unit`), on one thread and on all.
//! 4. With `--kernels`: the gain of each AVX2 kernel, the one-core run again with that kernel
//!    alone on its scalar twin (and with all of them), as time added per audio hour.
//! 5. Scaling: several shorter recordings on 1..=N threads, as speed-up over one thread.
//!
//! Run it with `just bench` (release build). Figures go into BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use rayon::prelude::*;
use soundscape_bench::write_wav;
use soundscape_engine::analyze::AnalyzeOptions;
use soundscape_engine::simd::{with_kernels_off, Kernel};
use soundscape_engine::{analyze_recording, EngineConfig};

#[derive(Debug, Parser)]
#[command(
    name = "soundscape-bench",
    version,
    about = "Benchmark the soundscape engine on synthetic 48 kHz audio."
)]
struct Args {
    /// Length of the long recording, minutes.
    #[arg(long, default_value_t = 60)]
    minutes: u32,
    /// Timed repetitions of the one-core run (the best is reported).
    #[arg(long, default_value_t = 2)]
    repeat: usize,
    /// Recordings (of 10 minutes) for the scaling run.
    #[arg(long, default_value_t = 8)]
    scaling_files: usize,
    /// Keep generated audio here instead of a temporary folder.
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Skip the peak-memory run of the stage binary.
    #[arg(long)]
    no_memory: bool,
    /// Also time the phases (decode, STFT, indices) separately on one core.
    #[arg(long)]
    breakdown: bool,
    /// Also measure each AVX2 kernel's gain: the one-core run with that kernel on its scalar
    /// twin (the cells stay the same bits).
    #[arg(long)]
    kernels: bool,
}

/// Best one-core time of `long` over `repeat` runs, the kernels `off` on their scalar twins.
fn one_core(long: &Path, hours: f64, repeat: usize, off: &[Kernel]) -> Result<f64> {
    let (cfg, opts) = (EngineConfig::default(), AnalyzeOptions::default());
    let mut best = f64::INFINITY;
    for _ in 0..repeat.max(1) {
        let t0 = Instant::now();
        let a = with_kernels_off(off, 1, || analyze_recording(long, &cfg, &opts, &|_| {}))?;
        best = best.min(t0.elapsed().as_secs_f64());
        assert_eq!(a.cells.len(), a.grid.slices.len() * 96);
    }
    Ok(best / hours)
}

/// The three plots of the table in `out`, best of `repeat`, on one thread and on `cores`.
fn plots(out: &Path, repeat: usize, cores: usize) -> Result<()> {
    let table = out.join("hashed_soundscape.parquet");
    if !table.exists() {
        println!("plots: skipped, no table from the peak-memory run");
        return Ok(());
    }
    let dir = out.join("plots-bench");
    std::fs::create_dir_all(&dir)?;
    let cfg = soundscape_plots::PlotConfig::default();
    for threads in [1, cores] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        let mut best = f64::INFINITY;
        for _ in 0..repeat.max(1) {
            let t0 = Instant::now();
            pool.install(|| soundscape_plots::plot_unit(&table, &dir, "bench", &cfg))
                .map_err(anyhow::Error::msg)?;
            best = best.min(t0.elapsed().as_secs_f64());
        }
        println!("plots of the unit (3 PNG, 2000x1500), {threads} thread(s): {best:.3} s");
    }
    Ok(())
}

/// One row per kernel: seconds per audio hour with it on its scalar twin against all on,
/// the two measured in alternation (`repeat` pairs, the best of each), so that a machine whose
/// speed drifts moves both alike.
fn kernel_gains(long: &Path, hours: f64, repeat: usize) -> Result<()> {
    if !soundscape_engine::simd::cpu_has_avx2_and_fma() || soundscape_engine::scalar_only() {
        println!(
            "kernels: this run has no AVX2 paths to compare (no AVX2 and FMA, or SOUNDSCAPE_SIMD=off)"
        );
        return Ok(());
    }
    println!("kernel gains, 1 core, s per audio hour ({repeat} alternating pairs, best of each):");
    // `columns` only runs where the fused transform does not: it is measured with that off.
    let mut rows: Vec<(String, Vec<Kernel>, Vec<Kernel>)> = Kernel::ALL
        .iter()
        .map(|&k| match k {
            Kernel::Columns => (
                "columns (no fused-rfft)".to_string(),
                vec![Kernel::FusedRfft],
                vec![Kernel::FusedRfft, k],
            ),
            _ => (k.name().to_string(), vec![], vec![k]),
        })
        .collect();
    rows.push(("all of them".into(), vec![], Kernel::ALL.to_vec()));
    for (name, base, off) in rows {
        let (mut on_s, mut off_s) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..repeat.max(1) {
            on_s = on_s.min(one_core(long, hours, 1, &base)?);
            off_s = off_s.min(one_core(long, hours, 1, &off)?);
        }
        println!(
            "  {name:<24} AVX2 {on_s:.3}  scalar twin {off_s:.3}  gain {:.3} s ({:.1} %)",
            off_s - on_s,
            100.0 * (off_s - on_s) / off_s
        );
    }
    Ok(())
}

/// Times decoding, decoding + STFT, and the index computation alone, on one core.
fn breakdown(path: &Path, hours: f64) -> Result<()> {
    use soundscape_engine::fidelity::power;
    use soundscape_engine::indices::CellScratch;
    use soundscape_engine::stft::{Framer, Stft};
    let t0 = Instant::now();
    let mut r = soundscape_audio::AudioReader::open(path)?;
    let n = r.info().frames.unwrap_or(0) as usize;
    while r.next_block()?.is_some() {}
    let decode = t0.elapsed().as_secs_f64();

    let t0 = Instant::now();
    let mut r = soundscape_audio::AudioReader::open(path)?;
    let mut fr = Framer::new(1024, 512, n);
    let mut stft = Stft::new(1024);
    let mut col = vec![0f32; 513];
    let (mut t, frames) = (0usize, 1 + n / 512);
    let mut sink = 0f32;
    while let Some(b) = r.next_block()? {
        fr.push(b);
        while t < frames && fr.ready(t) {
            stft.magnitudes(fr.frame(t), &mut col);
            sink += col[7];
            t += 1;
            fr.release_before_frame(t);
        }
    }
    let stft_s = t0.elapsed().as_secs_f64() - decode;

    // Indices on synthetic cells of the SiPeCaM size (5 or 6 rows x 2813 columns).
    let cells = (hours * 120.0 * 96.0) as usize;
    let mut scratch = CellScratch::default();
    let mut power_buf = Vec::new();
    let mut state = 7u64;
    let values: Vec<f32> = (0..6 * 2813)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 3.0
        })
        .collect();
    let t0 = Instant::now();
    for k in 0..cells {
        let len = if k % 3 == 0 { 6 * 2813 } else { 5 * 2813 };
        power_buf.clear();
        power_buf.extend(values[..len].iter().map(|&a| power(a)));
        sink += scratch.indices(&power_buf).total as f32;
    }
    let idx = t0.elapsed().as_secs_f64();
    println!(
        "breakdown per audio hour, 1 core: decode {:.2} s, framing+STFT {:.2} s, indices {:.2} s  ({sink:.0})",
        decode / hours,
        stft_s / hours,
        idx / hours
    );
    Ok(())
}

/// Peak resident memory of the largest finished child, MB.
#[allow(unsafe_code)]
fn peak_rss_of_children_mb() -> f64 {
    // SAFETY: `rusage` is plain integers, for which all zeros is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0 // kilobytes on Linux
}

fn main() -> Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let dir = args
        .workdir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let cfg = EngineConfig::default();
    let opts = AnalyzeOptions::default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("soundscape-bench: {cores} cores available");

    // 1. One core, one long file.
    // In a folder of its own, so that the stage run below reads this file alone.
    std::fs::create_dir_all(dir.join("long"))?;
    let long = dir.join("long").join("BENCH_20210804_000000.wav");
    if !long.exists() {
        println!("generating {} min of 48 kHz audio ...", args.minutes);
        write_wav(&long, args.minutes * 60, 1)?;
    }
    let hours = args.minutes as f64 / 60.0;
    let per_hour = one_core(&long, hours, args.repeat, &[])?;
    let best = per_hour * hours;
    println!(
        "engine, 1 core: {:.2} s for {:.2} h of audio = {:.2} s per audio hour ({:.0}x real time)",
        best,
        hours,
        best / hours,
        hours * 3600.0 / best
    );

    if args.breakdown {
        breakdown(&long, hours)?;
    }
    if args.kernels {
        kernel_gains(&long, hours, args.repeat)?;
    }

    // 2. Peak memory of the stage binary on the long file.
    if !args.no_memory {
        let exe = std::env::current_exe()?.with_file_name("compute-soundscapes");
        if !exe.exists() {
            bail!(
                "{} not found: build it first (just bench does)",
                exe.display()
            );
        }
        let out = dir.join("out-memory");
        let status = Command::new(&exe)
            .args([
                "--input",
                long.parent().and_then(Path::to_str).context("path")?,
                "--out",
                out.to_str().context("path")?,
            ])
            .args([
                "--threads",
                "1",
                "--force",
                "--no-progress",
                "--log-format",
                "json",
            ])
            .env("RUST_LOG", "warn")
            .status()?;
        if !status.success() {
            bail!("compute-soundscapes failed: {status}");
        }
        println!(
            "compute-soundscapes, 1 thread, {:.2} h file: peak memory {:.0} MB",
            hours,
            peak_rss_of_children_mb()
        );
    }
    // 3. Plots of that run's table (or of an earlier run's in --workdir).
    plots(&dir.join("out-memory"), args.repeat, cores)?;

    // 5. Scaling over recordings.
    if args.scaling_files == 0 {
        println!("scaling: skipped (--scaling-files 0)");
        return Ok(());
    }
    let sdir = dir.join("scaling");
    std::fs::create_dir_all(&sdir)?;
    let files: Vec<PathBuf> = (0..args.scaling_files)
        .map(|k| sdir.join(format!("S{k}_20210804_{:02}0000.wav", k % 24)))
        .collect();
    for (k, f) in files.iter().enumerate() {
        if !f.exists() {
            write_wav(f, 600, 100 + k as u64)?;
        }
    }
    let audio_h = files.len() as f64 * 600.0 / 3600.0;
    let mut base = 0.0;
    let mut threads = 1;
    while threads <= cores {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        let t0 = Instant::now();
        pool.install(|| {
            files
                .par_iter()
                .try_for_each(|f| analyze_recording(f, &cfg, &opts, &|_| {}).map(|_| ()))
        })?;
        let s = t0.elapsed().as_secs_f64();
        if threads == 1 {
            base = s;
        }
        println!(
            "{} recordings ({:.2} h), {threads} thread(s): {:.2} s = {:.2} s per audio hour, speed-up {:.2}x",
            files.len(),
            audio_h,
            s,
            s / audio_h,
            base / s
        );
        threads *= 2;
        if threads > cores && threads / 2 != cores {
            threads = cores;
        }
    }
    Ok(())
}
