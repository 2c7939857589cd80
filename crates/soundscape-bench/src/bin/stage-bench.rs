//! `stage-bench`: what each stage of the pipeline costs per unit and per audio hour, measured
//! on whole processes, for the capacity table of docs/capacity.md.
//!
//! Writes one unit of synthetic 48 kHz recordings (`--recordings` of `--minutes` each: one
//! audio hour by default), runs `soundscape run` over it with the release binaries (uploads to
//! a `file://` store; embeddings when `--model` is given and `just models` fetched it), then
//! reads what each stage's report says it used (wall seconds from the run report, CPU seconds
//! and peak resident memory from the `resources` every stage stamps into its report) and
//! prints one row per stage. `collect` is timed again on its own, as a child measured with
//! `wait4`. Run it with `just bench-stages`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde_json::Value;
use soundscape_bench::{measured, write_wav};

#[derive(Debug, Parser)]
#[command(
    name = "stage-bench",
    version,
    about = "Time, CPU and peak memory of every stage on one synthetic unit (one audio hour by default)."
)]
struct Args {
    /// Recordings in the unit.
    #[arg(long, default_value_t = 6)]
    recordings: u32,
    /// Length of each recording, minutes.
    #[arg(long, default_value_t = 10)]
    minutes: u32,
    /// A model of the embeddings stage (e.g. birdnet-v2.4), from --models-dir.
    #[arg(long)]
    model: Option<String>,
    /// Where `just models` put the models.
    #[arg(long, default_value = "models")]
    models_dir: PathBuf,
    /// Folder of the release stage binaries.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Keep the run folder here instead of a temporary one.
    #[arg(long)]
    workdir: Option<PathBuf>,
}

/// One stage's row.
struct Row {
    stage: String,
    wall_s: f64,
    cpu_s: f64,
    peak_mb: f64,
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    Ok(serde_json::from_str(&text)?)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bins = std::fs::canonicalize(&args.bin_dir).with_context(|| {
        format!(
            "{}: build the release binaries first",
            args.bin_dir.display()
        )
    })?;
    let tmp = tempfile::tempdir()?;
    let dir = args
        .workdir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let audio = dir.join("audio");
    std::fs::create_dir_all(&audio)?;
    let mut manifest = String::from("path,start,node,recorder,deployment,time_zone,cumulus\n");
    for i in 0..args.recordings {
        let start_min = 6 * 60 + i * args.minutes;
        let (h, m) = (start_min / 60, start_min % 60);
        let wav = audio.join(format!("BENCH_20240501_{h:02}{m:02}00.wav"));
        write_wav(&wav, args.minutes * 60, u64::from(i) + 1)?;
        manifest.push_str(&format!(
            "{},2024-05-01T{h:02}:{m:02}:00-06:00,1_00_1_0000,BENCH,2024-05-01,America/Mexico_City,1\n",
            wav.display()
        ));
    }
    std::fs::write(dir.join("manifest.csv"), manifest)?;
    let hours = f64::from(args.recordings * args.minutes) / 60.0;
    let out = dir.join("out");
    let store = dir.join("store");
    std::fs::create_dir_all(&store)?;
    let mut run = Command::new(bins.join("soundscape"));
    run.arg("run")
        .arg("--input")
        .arg(dir.join("manifest.csv"))
        .arg("--out")
        .arg(&out)
        .args(["--no-progress", "--set"])
        .arg(format!("s3-url=file://{}", store.display()))
        .env("SOUNDSCAPE_BIN_DIR", &bins)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(m) = &args.model {
        let models = std::fs::canonicalize(&args.models_dir)
            .with_context(|| format!("{}: run `just models`", args.models_dir.display()))?;
        run.args(["--set", &format!("model={m}"), "--set"])
            .arg(format!("models-dir={}", models.display()));
    }
    let (code, wall, _, _) = measured(&mut run)?;
    if code != 0 {
        bail!(
            "soundscape run ended with {code}: see {}",
            out.join("work/logs").display()
        );
    }
    let summary = read_json(&out.join("work/run_summary.json"))?;
    let steps = read_json(&out.join("work/workflow_report.json"))?;
    let mut rows = Vec::new();
    for s in summary["stages"].as_array().into_iter().flatten() {
        let stage = s["stage"].as_str().unwrap_or_default().to_string();
        let wall_s: f64 = steps["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["step"] == stage.as_str() && r["status"] != "skipped")
            .map(|r| r["seconds"].as_f64().unwrap_or(0.0))
            .sum();
        if wall_s == 0.0 {
            continue;
        }
        rows.push(Row {
            stage,
            wall_s,
            cpu_s: s["cpu_seconds"].as_f64().unwrap_or(0.0),
            peak_mb: s["peak_rss_mb"].as_f64().unwrap_or(0.0),
        });
    }
    // collect once more from scratch, alone.
    std::fs::remove_dir_all(out.join("dataset")).ok();
    let mut collect = Command::new(bins.join("soundscape"));
    collect
        .arg("collect")
        .arg("--run-dir")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let (code, wall_s, cpu_s, peak_mb) = measured(&mut collect)?;
    if code != 0 {
        bail!("soundscape collect ended with {code}");
    }
    rows.push(Row {
        stage: "collect".into(),
        wall_s,
        cpu_s,
        peak_mb,
    });
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "one unit: {} recordings of {} min of 48 kHz 16-bit mono ({hours:.2} audio hours), {cores} cores, whole run {wall:.1} s",
        args.recordings, args.minutes
    );
    println!(
        "{:<20} {:>9} {:>9} {:>10} {:>16} {:>16}",
        "stage", "wall s", "CPU s", "peak MB", "wall s/audio h", "CPU s/audio h"
    );
    for r in &rows {
        println!(
            "{:<20} {:>9.2} {:>9.2} {:>10.1} {:>16.2} {:>16.2}",
            r.stage,
            r.wall_s,
            r.cpu_s,
            r.peak_mb,
            r.wall_s / hours,
            r.cpu_s / hours
        );
    }
    Ok(())
}
