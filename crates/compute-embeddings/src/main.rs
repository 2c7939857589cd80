//! `compute-embeddings`: model embeddings and species detections of a set of recordings.
//!
//! Exit codes: 0 every recording done or skipped with a reason; 3 some recordings failed (the
//! others are in the tables); 1 the run itself failed; 2 bad command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use soundscape_cli::CommonArgs;
use soundscape_embed::analyze::{ChannelMode, Settings};
use soundscape_embed::manifest::{list_models, ModelDir};
use soundscape_embed::model::Model;
use soundscape_table::input::UnitDefaults;

#[derive(Debug, Parser)]
#[command(
    name = "compute-embeddings",
    version,
    about = "Compute model embeddings and species detections (BirdNET, the batbot bat classifier, or any ONNX model with a manifest) of a set of recordings.",
    after_help = "Writes OUT/embeddings.parquet, OUT/detections.parquet, their metadata, Raven and Audacity tables in OUT/review/, and OUT/embeddings_report.json.\n\
                  Models live in folders with a model.json under --models-dir (fetch the bundled ones with `just models`).\n\
                  Exit codes: 0 all done (or skipped with a reason), 3 some recordings failed, 1 the run failed, 2 usage error."
)]
struct Args {
    /// CSV or parquet manifest of recordings (columns as for compute-soundscapes; only path
    /// is required).
    #[arg(long, conflicts_with_all = ["input", "unit_dir"], required_unless_present_any = ["input", "unit_dir", "list_models", "write_test_model", "dump_front_end"])]
    manifest: Option<PathBuf>,
    /// Folder of recordings named <PREFIX>_YYYYMMDD_HHMMSS.<ext> (start read as UTC).
    #[arg(long, conflicts_with = "unit_dir")]
    input: Option<PathBuf>,
    /// A unit folder made by dirstruct: recordings from its unit.json; the outputs go there.
    #[arg(long)]
    unit_dir: Option<PathBuf>,
    /// Output folder (the unit folder); not needed with --unit-dir.
    #[arg(long, required_unless_present_any = ["unit_dir", "list_models", "write_test_model"])]
    out: Option<PathBuf>,
    /// Recompute even if the outputs are up to date.
    #[arg(long)]
    force: bool,

    /// Model name (a folder under --models-dir with a model.json).
    #[arg(long, required_unless_present_any = ["list_models", "write_test_model"], help_heading = "Model")]
    model: Option<String>,
    /// Folder of the models.
    #[arg(
        long,
        env = "SOUNDSCAPE_MODELS",
        default_value = "models",
        help_heading = "Model"
    )]
    models_dir: PathBuf,
    /// List the models found under --models-dir with their licences and exit.
    #[arg(long, help_heading = "Model")]
    list_models: bool,
    /// Write the tiny test models of the tests into this models folder and exit.
    #[arg(long, hide = true)]
    write_test_model: Option<PathBuf>,
    /// Write the network input of this recording's first window (little-endian float32) to
    /// --out and exit (for front-end tests); for an image model, the first window's picture
    /// (PGM) and its network windows (OUT.windows).
    #[arg(long, hide = true)]
    dump_front_end: Option<PathBuf>,
    /// Windows per inference call.
    #[arg(long, default_value_t = 1, help_heading = "Model")]
    batch: usize,

    /// Overlap of consecutive windows, seconds (the hop is the window minus this).
    #[arg(long, help_heading = "Windows")]
    overlap: Option<f64>,
    /// Channels of a multi-channel recording: each on its own (a row per window and channel)
    /// or their mean (BirdNET's own tools mix them).
    #[arg(long, value_enum, default_value_t = ChannelMode::Each, help_heading = "Windows")]
    channels: ChannelMode,
    /// Share of a header's declared length that may be missing from the decoded audio.
    #[arg(long, default_value_t = soundscape_audio_tolerance(), help_heading = "Windows")]
    max_truncation: f64,

    /// Scores at or above this become detections.
    #[arg(long, default_value_t = 0.1, help_heading = "Detections")]
    min_confidence: f32,
    /// Slope of BirdNET's sigmoid (0.5 to 1.5 in BirdNET's tools).
    #[arg(long, default_value_t = 1.0, help_heading = "Detections")]
    sensitivity: f32,
    /// Also keep the K best labels of every window, whatever their score.
    #[arg(long, default_value_t = 0, help_heading = "Detections")]
    top_k: usize,
    /// File of labels (one per line: the full label, the scientific or the common name);
    /// only these become detections.
    #[arg(long, help_heading = "Detections")]
    species: Option<PathBuf>,
    /// Do not write the Raven selection tables and Audacity labels.
    #[arg(long, help_heading = "Detections")]
    no_review: bool,
    /// Do not write embeddings.parquet (detections only).
    #[arg(long, help_heading = "Detections")]
    no_embeddings: bool,

    /// Node name where the input gives none.
    #[arg(long, help_heading = "Unit")]
    node: Option<String>,
    /// Recorder serial number where the input gives none.
    #[arg(long, help_heading = "Unit")]
    recorder: Option<String>,
    /// Deployment date where the input gives none (default: date of the first recording).
    #[arg(long, help_heading = "Unit")]
    deployment: Option<String>,
    /// Time-zone label where the input gives none.
    #[arg(long, help_heading = "Unit")]
    time_zone: Option<String>,
    /// Cumulus name written into the metadata.
    #[arg(long, help_heading = "Unit")]
    cumulus: Option<String>,
    /// Unit folder path used in metadata and product ids (default: OUT, absolute).
    #[arg(long, help_heading = "Unit")]
    product_dir: Option<String>,

    #[command(flatten)]
    common: CommonArgs,
}

const fn soundscape_audio_tolerance() -> f64 {
    soundscape_embed::analyze::DEFAULT_MAX_TRUNCATION
}

fn main() -> ExitCode {
    let args: Args = soundscape_cli::parse();
    let common = args.common.clone();
    common.main("compute-embeddings", || run(args))
}

fn run(args: Args) -> anyhow::Result<u8> {
    if let Some(dir) = &args.write_test_model {
        soundscape_embed::testmodel::write(&dir.join(soundscape_embed::testmodel::NAME))
            .and_then(|_| {
                soundscape_embed::testmodel::write_logmel(
                    &dir.join(soundscape_embed::testmodel::LOGMEL_NAME),
                )
            })
            .and_then(|_| {
                soundscape_embed::testmodel::write_image(
                    &dir.join(soundscape_embed::testmodel::IMAGE_NAME),
                )
            })
            .and_then(|_| {
                soundscape_embed::testmodel::write_pcen(
                    &dir.join(soundscape_embed::testmodel::PCEN_NAME),
                )
            })
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        return Ok(0);
    }
    if args.list_models {
        let models = list_models(&args.models_dir);
        if models.is_empty() {
            println!(
                "no models under {} (run `just models`)",
                args.models_dir.display()
            );
        }
        for m in models {
            let mf = &m.manifest;
            println!(
                "{}\t{}\t{} Hz, {} s windows\tlicence: {}\t{}",
                mf.name,
                mf.version,
                mf.sample_rate,
                mf.window_s,
                mf.licence,
                m.dir.display()
            );
        }
        return Ok(0);
    }
    let name = args.model.as_deref().expect("clap requires --model");
    let dir = ModelDir::find(&args.models_dir, name).map_err(anyhow::Error::msg)?;
    tracing::info!(model = name, dir = %dir.dir.display(), licence = %dir.manifest.licence, "loading the model");
    let model = Model::load(dir, args.batch).map_err(anyhow::Error::msg)?;
    if let Some(audio) = &args.dump_front_end {
        let out = args
            .out
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("--dump-front-end needs --out"))?;
        let write = |path: &std::path::Path, bytes: &[u8]| {
            std::fs::write(path, bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        };
        if model.manifest.front_end.is_image() {
            // The picture as a binary PGM, and its network windows, grey bytes one after
            // the other, in OUT.windows.
            let (pic, wins) = soundscape_embed::analyze::first_picture(audio, &model)?;
            let mut pgm = format!("P5\n{} {}\n255\n", pic.width, pic.height).into_bytes();
            pgm.extend_from_slice(&pic.pixels);
            write(out, &pgm)?;
            let mut name = out.as_os_str().to_owned();
            name.push(".windows");
            write(std::path::Path::new(&name), &wins.concat())?;
        } else {
            let values = soundscape_embed::analyze::first_input(audio, &model)?;
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            write(out, &bytes)?;
        }
        return Ok(0);
    }
    let window = model.manifest.window_s;
    let hop_s = match args.overlap {
        Some(o) if !(0.0..window).contains(&o) => {
            anyhow::bail!("--overlap {o} must be at least 0 and less than the window ({window} s)")
        }
        Some(o) => window - o,
        None => model.manifest.hop(),
    };
    let species = match &args.species {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect(),
        None => vec![],
    };
    let settings = Settings {
        channels: args.channels,
        hop_s,
        sensitivity: args.sensitivity,
        min_confidence: args.min_confidence,
        top_k: args.top_k,
        species,
        embeddings: !args.no_embeddings,
        max_truncation: args.max_truncation,
    };
    let defaults = UnitDefaults {
        node: args.node.clone(),
        recorder: args.recorder.clone(),
        deployment: args.deployment.clone(),
        time_zone: args.time_zone.clone(),
        cumulus: args.cumulus.clone(),
    };
    let inputs = soundscape_table::input::read_inputs(
        args.manifest.as_deref(),
        args.input.as_deref(),
        args.unit_dir.as_deref(),
        &defaults,
    )
    .map_err(anyhow::Error::msg)?;
    let out = args
        .out
        .clone()
        .or(args.unit_dir.clone())
        .expect("clap requires --out without --unit-dir");
    tracing::info!(recordings = inputs.rows.len(), out = %out.display(), "computing embeddings");
    let bar = args.common.progress(inputs.rows.len() as u64, "recordings");
    let audio = std::sync::Mutex::new(0.0f64);
    let job = soundscape_embed::stage::Job {
        rows: inputs.rows,
        out: out.clone(),
        model: &model,
        settings,
        cumulus: inputs.cumulus,
        product_dir: args.product_dir.clone().or(inputs.product_dir),
        force: args.force,
        review: !args.no_review,
    };
    let report = soundscape_embed::stage::run(&job, &|_| bar.inc(1), &|secs| {
        let mut a = audio.lock().unwrap();
        *a += secs;
        bar.set_message(format!("{:.2} h of audio", *a / 3600.0));
    })?;
    bar.finish_and_clear();
    let s = &report.summary;
    tracing::info!(
        done = s.done,
        skipped = s.skipped,
        failed = s.failed,
        report = %out.join(soundscape_embed::stage::REPORT).display(),
        "finished"
    );
    Ok(report.exit_code() as u8)
}
