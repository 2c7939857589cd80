//! `capture-bench`: what capturing live streams costs, as the share of one core that keeps
//! up with real time.
//!
//! Encodes a multi-channel 48 kHz Ogg Opus stream with the FFmpeg command line (30 channels of
//! tones and noise by default, as a Tidzam site streamed them), has `capture-stream` read it
//! from a file as fast as it can (decoding, splitting into mono channels, FLAC encoding of
//! every channel, the index), and divides the process's CPU time (`wait4`) by the audio's
//! duration: 0.25 means a quarter of a core keeps up with the live stream. The capture is
//! limited to one core (`taskset`) when available. With `--detect MODEL` every channel also
//! goes through the live detector (a file is read once, so the capture waits for it and no
//! window is dropped: the figure is the whole cost). Run it with `just bench-capture`.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Parser;
use soundscape_bench::measured;

#[derive(Debug, Parser)]
#[command(
    name = "capture-bench",
    version,
    about = "CPU share of one core that capture-stream needs to keep up with a live multi-channel Opus stream."
)]
struct Args {
    /// Channels of the stream.
    #[arg(long, default_value_t = 30)]
    channels: u32,
    /// Seconds of audio.
    #[arg(long, default_value_t = 120)]
    seconds: u32,
    /// Opus bit rate per channel, kbit/s.
    #[arg(long, default_value_t = 32)]
    kbps: u32,
    /// FLAC compression levels to measure.
    #[arg(long, value_delimiter = ',', default_value = "5,0")]
    flac_levels: Vec<u32>,
    /// Chunk length, seconds.
    #[arg(long, default_value_t = 60)]
    chunk_seconds: u32,
    /// Runs per level (the best is kept).
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Folder of the release binaries.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Also run live detections with this model (e.g. birdnet-v2.4) on every channel.
    #[arg(long)]
    detect: Option<String>,
    /// Folder of the models (for --detect).
    #[arg(long, default_value = "models")]
    models_dir: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bin = std::fs::canonicalize(args.bin_dir.join("capture-stream"))
        .context("build the release binaries first (just bench-capture does)")?;
    let dir = tempfile::tempdir()?;
    let stream = dir.path().join(format!("site_{}ch.opus", args.channels));
    let mut ffmpeg = Command::new("ffmpeg");
    ffmpeg.args(["-v", "error", "-y"]);
    let d = args.seconds.to_string();
    for i in 0..args.channels {
        // A tone per channel under band-limited noise, so that every channel carries its own
        // signal for the codec and the FLAC predictor.
        let f = 300 + 97 * i;
        ffmpeg.args([
            "-f",
            "lavfi",
            "-i",
            &format!("sine=f={f}:r=48000:d={d},volume=0.2"),
            "-f",
            "lavfi",
            "-i",
            &format!("anoisesrc=r=48000:d={d}:a=0.05:c=pink:s={}", i + 1),
        ]);
    }
    let mix: String = (0..args.channels)
        .map(|i| {
            format!(
                "[{}:a][{}:a]amix=inputs=2:normalize=0[m{i}];",
                2 * i,
                2 * i + 1
            )
        })
        .collect();
    let merge: String = (0..args.channels).map(|i| format!("[m{i}]")).collect();
    ffmpeg
        .args([
            "-filter_complex",
            &format!("{mix}{merge}amerge=inputs={}", args.channels),
            "-c:a",
            "libopus",
            "-mapping_family",
            "255",
            "-b:a",
            &format!("{}k", args.kbps * args.channels),
        ])
        .arg(&stream);
    if !ffmpeg.status().context("running ffmpeg")?.success() {
        bail!("ffmpeg could not encode the test stream");
    }
    let config = dir.path().join("sources.json");
    std::fs::write(
        &config,
        serde_json::json!({"sources": [{"name": "site", "url": stream.to_str().unwrap()}]})
            .to_string(),
    )?;
    let detect = match &args.detect {
        Some(model) => {
            let f = dir.path().join("detect.json");
            std::fs::write(&f, serde_json::json!({"selector": model}).to_string())?;
            Some(f)
        }
        None => None,
    };
    let taskset = Command::new("taskset").arg("--version").output().is_ok();
    println!(
        "capture-stream: {} channels of 48 kHz Opus at {} kbit/s each, {} s, {} s chunks{}{}",
        args.channels,
        args.kbps,
        args.seconds,
        args.chunk_seconds,
        if taskset {
            ", one core (taskset -c 0)"
        } else {
            ""
        },
        match &args.detect {
            Some(m) => format!(", live detections with {m} on every channel"),
            None => String::new(),
        }
    );
    println!("flac level | CPU s | share of one core at real time | FLAC MB per channel-hour");
    for &level in &args.flac_levels {
        let mut best = f64::INFINITY;
        let mut mb = 0.0;
        for _ in 0..args.runs.max(1) {
            let out = dir.path().join(format!("out-{level}"));
            let _ = std::fs::remove_dir_all(&out);
            let mut cmd = if taskset {
                let mut c = Command::new("taskset");
                c.args(["-c", "0"]).arg(&bin);
                c
            } else {
                Command::new(&bin)
            };
            cmd.arg("--config")
                .arg(&config)
                .arg("--out")
                .arg(&out)
                .args(["--chunk-seconds", &args.chunk_seconds.to_string()])
                .args(["--flac-level", &level.to_string(), "--no-progress"])
                .env("RUST_LOG", "warn");
            if let Some(f) = &detect {
                cmd.arg("--detect")
                    .arg(f)
                    .arg("--models-dir")
                    .arg(&args.models_dir);
            }
            let (code, _wall, cpu, _rss) = measured(&mut cmd)?;
            if code != 0 {
                bail!("capture-stream exited with {code}");
            }
            if detect.is_some() {
                let report: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(out.join("capture_report.json"))?)?;
                let windows = report["live"]["windows"].as_u64().unwrap_or(0);
                if windows == 0 || report["live"]["dropped_blocks"] != 0 {
                    bail!(
                        "the live detector did not see every window: {}",
                        report["live"]
                    );
                }
            }
            best = best.min(cpu);
            let bytes: u64 = walkdir::WalkDir::new(&out)
                .into_iter()
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "flac"))
                .map(|e| e.metadata().map_or(0, |m| m.len()))
                .sum();
            mb = bytes as f64 / 1e6 / f64::from(args.channels) * 3600.0 / f64::from(args.seconds);
        }
        println!(
            "{level:>10} | {best:>5.2} | {:>30.3} | {mb:>8.1}",
            best / f64::from(args.seconds)
        );
    }
    Ok(())
}
