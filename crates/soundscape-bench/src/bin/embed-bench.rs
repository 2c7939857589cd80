//! Benchmark of compute-embeddings: audio seconds per second of compute on one core, end to end
//! (decode, resample, front end, network), with the share of each part and the peak memory.
//!
//! `just bench-embed` (needs `just models`). Figures in BENCHMARKS.md.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use soundscape_bench::{peak_rss_self_mb, write_wav_at};
use soundscape_embed::analyze::{analyze, Settings, DEFAULT_MAX_TRUNCATION};
use soundscape_embed::frontend::Built;
use soundscape_embed::manifest::ModelDir;
use soundscape_embed::model::Model;

#[derive(Parser)]
#[command(
    about = "Benchmark of compute-embeddings on one core: x real time end to end, per part, peak memory."
)]
struct Args {
    /// Model to run.
    #[arg(long, default_value = "birdnet-v2.4")]
    model: String,
    #[arg(long, env = "SOUNDSCAPE_MODELS", default_value = "models")]
    models_dir: PathBuf,
    /// Minutes of synthetic audio.
    #[arg(long, default_value_t = 10)]
    minutes: u32,
    /// Sample rates of the recordings (one run each).
    #[arg(long, value_delimiter = ',', default_value = "48000,32000")]
    rates: Vec<u32>,
    /// Windows per inference call.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Also time the network's operations by kind.
    #[arg(long)]
    profile: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let dir = ModelDir::find(&args.models_dir, &args.model)?;
    let t0 = Instant::now();
    let model = Model::load(dir, args.batch).map_err(anyhow::Error::msg)?;
    println!(
        "{}: loaded and optimised in {:.2} s",
        args.model,
        t0.elapsed().as_secs_f64()
    );
    let settings = Settings {
        channels: Default::default(),
        hop_s: model.manifest.hop(),
        sensitivity: 1.0,
        min_confidence: 0.1,
        top_k: 0,
        species: vec![],
        embeddings: true,
        max_truncation: DEFAULT_MAX_TRUNCATION,
    };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let tmp = tempfile::tempdir()?;
    for &rate in &args.rates {
        let wav = tmp.path().join(format!("BENCH{rate}_20240501_060000.wav"));
        write_wav_at(&wav, args.minutes * 60, 1, rate)?;
        let audio_s = args.minutes as f64 * 60.0;
        let t0 = Instant::now();
        let r = one.install(|| analyze(&wav, &model, &settings, None, &|_| {}))?;
        let total = t0.elapsed().as_secs_f64();
        let speed = audio_s / total;
        println!(
            "{rate} Hz, {} min, 1 core: {:.2} s for {} windows = {:.*}x real time",
            args.minutes,
            total,
            r.windows.len(),
            if speed < 10.0 { 2 } else { 0 },
            speed
        );
    }
    // The parts, per window.
    let w = model.manifest.window_samples();
    // A tone over deterministic noise, so that a picture has something in every band.
    let window: Vec<f32> = (0..w)
        .map(|i| {
            ((i as f32) * 0.001).sin() * 0.3 + ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.01
        })
        .collect();
    let mut input = vec![0.0; model.front_end.input_len() * args.batch];
    let n = 50;
    // Each part `n` times; the mean, and the fastest run (the least disturbed by the host).
    let timed = |f: &mut dyn FnMut() -> anyhow::Result<()>| -> anyhow::Result<(f64, f64)> {
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let t0 = Instant::now();
            f()?;
            times.push(t0.elapsed().as_secs_f64());
        }
        let mean = times.iter().sum::<f64>() / n as f64;
        Ok((mean, times.iter().copied().fold(f64::INFINITY, f64::min)))
    };
    let (what, fe) = match &model.front_end {
        Built::Window(fe) => {
            let len = fe.len();
            let t = timed(&mut || {
                fe.compute(&window, &mut input[..len]);
                Ok(())
            })?;
            (
                format!("per {} s window: front end", model.manifest.window_s),
                t,
            )
        }
        Built::Image(img) => {
            let rate = model.manifest.sample_rate;
            let mut count = 0;
            let t = timed(&mut || {
                let pic = img.picture(&window, rate).map_err(anyhow::Error::msg)?;
                count = img.windows(&pic).map_err(anyhow::Error::msg)?.len();
                Ok(())
            })?;
            (
                format!(
                    "per {} s picture ({count} image windows): picture and windows",
                    model.manifest.window_s
                ),
                t,
            )
        }
    };
    let net = timed(&mut || {
        model
            .network
            .run(&mut input.clone(), 1, &model.manifest.input.shape)
            .map(|_| ())
            .map_err(anyhow::Error::msg)
    })?;
    println!(
        "{what} {:.2} ms (fastest {:.2}), network {:.2} ms (fastest {:.2}) per input{}",
        fe.0 * 1e3,
        fe.1 * 1e3,
        net.0 * 1e3,
        net.1 * 1e3,
        match &model.front_end {
            Built::Window(_) => format!(
                " ({:.0}x real time for the network alone)",
                model.manifest.window_s / net.0
            ),
            Built::Image(_) => String::new(),
        }
    );
    if args.profile {
        let shape = &model.manifest.input.shape;
        let ops = model
            .network
            .profile(&input, shape, n)
            .map_err(anyhow::Error::msg)?;
        let total: f64 = ops.iter().map(|o| o.1).sum();
        println!(
            "network time by operation ({:.2} ms per input in all):",
            total * 1e3
        );
        for (op, secs) in ops.iter().take(12) {
            println!(
                "  {op:<28} {:>7.2} ms  {:>4.1} %",
                secs * 1e3,
                100.0 * secs / total
            );
        }
    }
    println!("peak memory: {:.0} MB", peak_rss_self_mb());
    Ok(())
}
