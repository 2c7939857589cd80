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
        println!(
            "{rate} Hz, {} min, 1 core: {:.2} s for {} windows = {:.0}x real time",
            args.minutes,
            total,
            r.windows.len(),
            audio_s / total
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
    let t0 = Instant::now();
    let what = match &model.front_end {
        Built::Window(fe) => {
            for _ in 0..n {
                fe.compute(&window, &mut input[..fe.len()]);
            }
            format!("per {} s window: front end", model.manifest.window_s)
        }
        Built::Image(img) => {
            let rate = model.manifest.sample_rate;
            let mut count = 0;
            for _ in 0..n {
                let pic = img.picture(&window, rate).map_err(anyhow::Error::msg)?;
                count = img.windows(&pic).map_err(anyhow::Error::msg)?.len();
            }
            format!(
                "per {} s picture ({count} image windows): picture and windows",
                model.manifest.window_s
            )
        }
    };
    let fe = t0.elapsed().as_secs_f64() / n as f64;
    let t0 = Instant::now();
    for _ in 0..n {
        model
            .network
            .run(&mut input, 1, &model.manifest.input.shape)
            .map_err(anyhow::Error::msg)?;
    }
    let net = t0.elapsed().as_secs_f64() / n as f64;
    println!(
        "{what} {:.2} ms, network {:.2} ms per input{}",
        fe * 1e3,
        net * 1e3,
        match &model.front_end {
            Built::Window(_) => format!(
                " ({:.0}x real time for the network alone)",
                model.manifest.window_s / net
            ),
            Built::Image(_) => String::new(),
        }
    );
    println!("peak memory: {:.0} MB", peak_rss_self_mb());
    Ok(())
}
