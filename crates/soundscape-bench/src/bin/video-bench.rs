//! `video-bench`: spectrogram video rendering speed, as audio seconds per wall second on one
//! core (x264 with one thread), for a 60 s 48 kHz recording at 500x800 and 60 fps. The
//! recording is synthetic: noise (the hardest case for the encoder) with a tone and bursts.
//! Run it with `just bench-video`.

use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use soundscape_specvid::video::{spectrogram_video, VideoConfig, VideoQuality};

#[derive(Debug, Parser)]
#[command(
    name = "video-bench",
    version,
    about = "Benchmark the spectrogram video on one core."
)]
struct Args {
    /// Recording length, seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u32,
    /// x264 presets to time.
    #[arg(long, value_delimiter = ',', default_value = "ultrafast,veryfast")]
    presets: Vec<String>,
    /// x264 constant quantizer.
    #[arg(long, default_value_t = 23)]
    qp: u32,
    /// x264 constant rate factor instead of a constant quantizer.
    #[arg(long)]
    crf: Option<u32>,
    /// Encode every frame, repeated pictures too (constant frame rate).
    #[arg(long)]
    constant_frame_rate: bool,
    /// Extra libx264 settings (`key=value:key=value`).
    #[arg(long)]
    x264_params: Option<String>,
    /// Distinct pictures per second.
    #[arg(long, default_value_t = VideoConfig::default().images_per_second)]
    images_per_second: u32,
}

fn write_wav(path: &std::path::Path, seconds: u32) -> Result<()> {
    let rate = 48_000u32;
    let mut noise = soundscape_testkit::Noise::new(0x2545F4914F6CDD1D);
    let samples: Vec<i16> = (0..rate * seconds)
        .map(|i| {
            let noise = noise.next() as f64 * 0.2;
            let t = i as f64 / rate as f64;
            let burst = if (t * 2.0).fract() < 0.1 { 0.3 } else { 0.0 };
            let tau = std::f64::consts::TAU;
            let s = noise + 0.2 * (t * 3000.0 * tau).sin() + burst * (t * 8000.0 * tau).sin();
            (s * 32767.0) as i16
        })
        .collect();
    std::fs::write(path, soundscape_testkit::wav_of(rate, &samples, None))?;
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let wav = dir.path().join("bench.wav");
    write_wav(&wav, args.seconds)?;
    println!(
        "| preset | quality | audio s | pictures encoded | wall s | x real time | MB |\n|---|---|---|---|---|---|---|"
    );
    for preset in &args.presets {
        let cfg = VideoConfig {
            preset: preset.clone(),
            threads: 1,
            quality: VideoQuality::from_flags(args.qp, args.crf),
            repeat_frames: args.constant_frame_rate,
            x264_params: args.x264_params.clone(),
            images_per_second: args.images_per_second,
            ..Default::default()
        };
        let mp4 = dir.path().join(format!("{preset}.mp4"));
        let t0 = Instant::now();
        let v = spectrogram_video(&wav, &mp4, "bench", &cfg).map_err(anyhow::Error::msg)?;
        let s = t0.elapsed().as_secs_f64();
        let mb = std::fs::metadata(&mp4)?.len() as f64 / 1e6;
        println!(
            "| {preset} | {} | {:.0} | {} | {s:.2} | {:.1} | {mb:.1} |",
            cfg.quality,
            v.duration,
            v.encoded,
            v.duration / s
        );
    }
    Ok(())
}
