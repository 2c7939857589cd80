//! `compute-soundscapes`: the soundscape table of a set of recordings.
//!
//! Exit codes: 0 every recording done or skipped with a reason; 3 some recordings failed (the
//! others are in the table); 1 the run itself failed; 2 bad command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use soundscape_cli::CommonArgs;
use soundscape_engine::analyze::AnalyzeOptions;
use soundscape_engine::{EngineConfig, HasherConfig, IndexName, SliceConfig};
use soundscape_table::input::UnitDefaults;

#[derive(Debug, Parser)]
#[command(
    name = "compute-soundscapes",
    version,
    about = "Compute the soundscape table (TOTAL, CORE, TAIL, INFORMATION, ICOMPLEXITY, EXAG per 30 s x 250 Hz cell, with the crono hash) of a set of recordings.",
    after_help = "Writes OUT/hashed_soundscape.parquet, OUT/soundscape_metadata.json, the plots OUT/sequence.png, OUT/mean_soundscape.png, OUT/std_soundscape.png with their metadata, and OUT/run_report.json.\n\
                  Exit codes: 0 all done (or skipped with a reason), 3 some recordings failed, 1 the run failed, 2 usage error."
)]
struct Args {
    /// CSV manifest of recordings (columns: path, start, id, node, recorder, deployment,
    /// latitude, longitude, time_zone, duration, samplerate; only path is required).
    #[arg(long, conflicts_with_all = ["input", "unit_dir"], required_unless_present_any = ["input", "unit_dir"])]
    manifest: Option<PathBuf>,
    /// Folder of recordings named <PREFIX>_YYYYMMDD_HHMMSS.<ext> (start read as UTC).
    #[arg(long, conflicts_with = "unit_dir")]
    input: Option<PathBuf>,
    /// A unit folder made by dirstruct: recordings, cumulus and product ids from its
    /// unit.json; the outputs go there.
    #[arg(long)]
    unit_dir: Option<PathBuf>,
    /// Output folder (the unit folder); not needed with --unit-dir.
    #[arg(long, required_unless_present = "unit_dir")]
    out: Option<PathBuf>,
    /// Recompute even if the outputs are up to date.
    #[arg(long)]
    force: bool,

    /// Node name where the input gives none.
    #[arg(long, help_heading = "Unit")]
    node: Option<String>,
    /// Recorder serial number where the input gives none.
    #[arg(long, help_heading = "Unit")]
    recorder: Option<String>,
    /// Deployment date where the input gives none (default: date of the first recording).
    #[arg(long, help_heading = "Unit")]
    deployment: Option<String>,
    /// Time-zone label where the input gives none (default: from the start offset).
    #[arg(long, help_heading = "Unit")]
    time_zone: Option<String>,
    /// Cumulus name written into the metadata.
    #[arg(long, help_heading = "Unit")]
    cumulus: Option<String>,
    /// Spectrum label written into the metadata.
    #[arg(long, default_value = "Audible", help_heading = "Unit")]
    spectrum: String,
    /// Unit folder path used in metadata and product ids (default: OUT, absolute).
    #[arg(long, help_heading = "Unit")]
    product_dir: Option<String>,

    /// Slice length, seconds.
    #[arg(long, default_value_t = 30.0, help_heading = "Slices")]
    time_unit: f64,
    /// Number of frequency bands.
    #[arg(long, default_value_t = 96, help_heading = "Slices")]
    frequency_bins: usize,
    /// Lower frequency limit, Hz.
    #[arg(long, default_value_t = 0.0, help_heading = "Slices")]
    min_freq: f64,
    /// Upper frequency limit, Hz.
    #[arg(long, default_value_t = 24000.0, help_heading = "Slices")]
    max_freq: f64,
    /// FFT length.
    #[arg(long, default_value_t = 1024, help_heading = "Slices")]
    n_fft: usize,
    /// STFT hop, samples.
    #[arg(long, default_value_t = 512, help_heading = "Slices")]
    hop_length: usize,
    /// Slice step as a fraction of the slice length.
    #[arg(long, default_value_t = 1.0, help_heading = "Slices")]
    time_hop: f64,
    /// Band step as a fraction of the band width.
    #[arg(long, default_value_t = 1.0, help_heading = "Slices")]
    frequency_hop: f64,
    /// Indices to compute, in column order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "TOTAL,EXAG,INFORMATION,CORE,ICOMPLEXITY,TAIL",
        help_heading = "Slices"
    )]
    indices: Vec<String>,
    /// Fail recordings with another sample rate (default: accept any; bands above the
    /// Nyquist frequency are then NaN).
    #[arg(long, help_heading = "Slices")]
    expect_sample_rate: Option<u32>,
    /// Share of a header's declared length that may be missing from the decoded audio: within
    /// it a recording is analysed on what was decoded (with a warning), beyond it it fails as
    /// truncated.
    #[arg(long, default_value_t = soundscape_engine::analyze::TRUNCATION_TOLERANCE, help_heading = "Slices")]
    max_truncation: f64,

    /// Hash column name.
    #[arg(long, default_value = "crono_hash_30m", help_heading = "Hash")]
    hash_name: String,
    /// Hash unit, seconds.
    #[arg(long, default_value_t = 1800, help_heading = "Hash")]
    hash_unit: i64,
    /// Hash cycle length in units.
    #[arg(long, default_value_t = 48, help_heading = "Hash")]
    hash_module: i64,
    /// Local start of the hash cycle.
    #[arg(long, default_value = "2018-01-01 00:00:00", help_heading = "Hash")]
    hash_start: String,
    /// Format of --hash-start.
    #[arg(long, default_value = "%Y-%m-%d %H:%M:%S", help_heading = "Hash")]
    hash_start_format: String,
    /// IANA time zone of --hash-start.
    #[arg(long, default_value = "America/Mexico_City", help_heading = "Hash")]
    hash_zone: String,

    /// Do not draw the sequence, mean and std plots.
    #[arg(long, help_heading = "Plots")]
    no_plots: bool,
    /// Index shown in red.
    #[arg(long, default_value = "EXAG", help_heading = "Plots")]
    red: String,
    /// Index shown in green.
    #[arg(long, default_value = "INFORMATION", help_heading = "Plots")]
    green: String,
    /// Index shown in blue.
    #[arg(long, default_value = "CORE", help_heading = "Plots")]
    blue: String,
    /// Show bands whose lower edge is at most this, Hz.
    #[arg(long, default_value_t = 10000.0, help_heading = "Plots")]
    plot_max_freq: f64,
    /// Time zone of the plot labels and hours (IANA name or +HH:MM; default: the unit's).
    #[arg(long, help_heading = "Plots")]
    plot_zone: Option<String>,

    #[command(flatten)]
    common: CommonArgs,
}

fn parse_index(name: &str) -> Result<IndexName, String> {
    IndexName::TABLE_ORDER
        .into_iter()
        .find(|i| i.as_str().eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| {
            format!(
                "unknown index {name:?} (known: TOTAL, EXAG, INFORMATION, CORE, ICOMPLEXITY, TAIL)"
            )
        })
}

fn main() -> ExitCode {
    let args: Args = soundscape_cli::parse();
    let common = args.common.clone();
    common.main("compute-soundscapes", || run(args))
}

fn plot_config(args: &Args) -> anyhow::Result<Option<compute_soundscapes::PlotConfig>> {
    if args.no_plots {
        return Ok(None);
    }
    let channels = [&args.red, &args.green, &args.blue]
        .map(|n| parse_index(n).map(|i| i.as_str().to_string()));
    let [r, g, b] = channels;
    let zone = args
        .plot_zone
        .as_deref()
        .map(|z| {
            soundscape_plots::Zone::parse(z).ok_or_else(|| {
                anyhow::anyhow!("--plot-zone {z:?} is not a time zone name or +HH:MM offset")
            })
        })
        .transpose()?;
    Ok(Some(compute_soundscapes::PlotConfig {
        channels: [
            r.map_err(anyhow::Error::msg)?,
            g.map_err(anyhow::Error::msg)?,
            b.map_err(anyhow::Error::msg)?,
        ],
        max_min_freq: args.plot_max_freq,
        zone,
        ..Default::default()
    }))
}

fn run(args: Args) -> anyhow::Result<u8> {
    let indices = args
        .indices
        .iter()
        .map(|s| parse_index(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let config = EngineConfig {
        slice: SliceConfig {
            time_unit: args.time_unit,
            frequency_bins: args.frequency_bins,
            frequency_limits: (args.min_freq, args.max_freq),
            n_fft: args.n_fft,
            hop_length: args.hop_length,
            time_hop: args.time_hop,
            frequency_hop: args.frequency_hop,
        },
        hasher: HasherConfig {
            hash_name: args.hash_name.clone(),
            time_unit: args.hash_unit,
            time_module: args.hash_module,
            start_time: args.hash_start.clone(),
            start_format: args.hash_start_format.clone(),
            start_tzone: args.hash_zone.clone(),
        },
        indices,
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
    let rows = inputs.rows;
    let cumulus = inputs.cumulus;
    let product_dir = args.product_dir.clone().or(inputs.product_dir);
    let out = match (&args.out, &args.unit_dir) {
        (Some(o), _) => o.clone(),
        (None, Some(d)) => d.clone(),
        (None, None) => unreachable!("clap requires --out without --unit-dir"),
    };
    tracing::info!(recordings = rows.len(), out = %out.display(), "computing soundscapes");

    let bar = args.common.progress(rows.len() as u64, "recordings");
    let audio = std::sync::Mutex::new(0.0f64);
    let job = compute_soundscapes::Job {
        rows,
        out: out.clone(),
        config,
        options: AnalyzeOptions {
            expected_sample_rate: args.expect_sample_rate,
            max_shortfall: Some(args.max_truncation),
        },
        cumulus,
        spectrum: args.spectrum.clone(),
        product_dir,
        force: args.force,
        plots: plot_config(&args)?,
    };
    let result = compute_soundscapes::run(&job, &|_| bar.inc(1), &|secs| {
        let mut a = audio.lock().unwrap();
        *a += secs;
        bar.set_message(format!("{:.2} h of audio", *a / 3600.0));
    })?;
    bar.finish_and_clear();
    let s = &result.report.summary;
    tracing::info!(
        done = s.done,
        skipped = s.skipped,
        failed = s.failed,
        report = %out.join(compute_soundscapes::REPORT).display(),
        "finished"
    );
    Ok(result.report.exit_code() as u8)
}
