//! `spec-n-specvid`: representative recordings of a unit and their spectrogram pictures.
//!
//! Exit codes: 0 every chosen recording drawn; 3 some failed (named in the report); 1 the run
//! failed; 2 bad command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use soundscape_cli::CommonArgs;
use soundscape_specvid::compressed::CompressedConfig;
use soundscape_specvid::select::SelectConfig;
use soundscape_specvid::spectrogram::SpectrogramConfig;
use soundscape_specvid::unit::{run_unit, UnitJob};
use soundscape_specvid::video::{Ultrasonic, VideoConfig, VideoQuality};

#[derive(Debug, Parser)]
#[command(
    name = "spec-n-specvid",
    version,
    about = "Choose the recordings that best represent each hour of a unit; draw their spectrograms (waveform over the dB spectrogram) and make their scrolling spectrogram videos (MP4, H.264 + AAC).",
    after_help = "Reads UNIT_DIR/unit.json (dirstruct) and UNIT_DIR/hashed_soundscape.parquet (compute-soundscapes); writes <id>.png, <id>.mp4, <id>_compressed.png with <id>_spectrogram_metadata.json, <id>_spectrogram_video_metadata.json, <id>_compressed.json (segments and metadata), selection.json and spec_n_specvid_report.json there.\n\
                  Exit codes: 0 all drawn, 3 some recordings failed, 1 the run failed, 2 usage error."
)]
struct Args {
    /// The unit folder.
    #[arg(long)]
    unit_dir: PathBuf,
    /// Recordings per hour of the day.
    #[arg(long, default_value_t = 3)]
    per_hour: usize,
    /// Bands up to this frequency (Hz) enter the choice.
    #[arg(long, default_value_t = 10000.0)]
    max_freq: f64,
    /// Dynamic range of the spectrogram, dB.
    #[arg(long, default_value_t = 80.0)]
    top_db: f32,
    /// Do not make the compressed spectrograms (activity only, as bats-ai).
    #[arg(long)]
    no_compressed: bool,
    /// Padding around each active stretch of a compressed spectrogram, seconds.
    #[arg(long, default_value_t = 0.1)]
    compressed_pad: f64,
    /// Do not make the scrolling spectrogram videos.
    #[arg(long, help_heading = "Video")]
    no_video: bool,
    /// libx264 preset (veryfast gives files about 40 % smaller at a third of the speed of
    /// ultrafast, for about the same quality).
    #[arg(long, default_value = "ultrafast", help_heading = "Video")]
    video_preset: String,
    /// libx264 constant quantizer (quality; lower is better and larger).
    #[arg(long, default_value_t = 23, help_heading = "Video")]
    video_qp: u32,
    /// libx264 constant rate factor instead of a constant quantizer (slower: x264 looks at
    /// every frame at half size first).
    #[arg(long, conflicts_with = "video_qp", help_heading = "Video")]
    video_crf: Option<u32>,
    /// Distinct pictures per second of video (60 scrolls on every frame; the original made 24).
    #[arg(long, default_value_t = 24, help_heading = "Video")]
    video_images_per_second: u32,
    /// Encode every one of the 60 frames per second, repeated pictures too (constant frame
    /// rate, for editors that need it; by default a picture is encoded once and lasts its
    /// frames).
    #[arg(long, help_heading = "Video")]
    video_constant_frame_rate: bool,
    /// Time expansion of ultrasonic videos: `auto` plays recordings sampled above 96 kHz ten
    /// times slower (sound and picture), `off` plays every recording as recorded, a number
    /// expands every recording by that factor.
    #[arg(long, default_value = "auto", value_parser = parse_expansion, help_heading = "Video")]
    video_time_expansion: Ultrasonic,
    /// Spectrum label written into the metadata.
    #[arg(long, default_value = "Audible")]
    spectrum: String,
    #[command(flatten)]
    common: CommonArgs,
}

fn parse_expansion(s: &str) -> Result<Ultrasonic, String> {
    match s {
        "auto" => Ok(Ultrasonic::Auto(10)),
        "off" => Ok(Ultrasonic::TimeExpansion(1)),
        n => match n.parse::<u32>() {
            Ok(k) if (1..=100).contains(&k) => Ok(Ultrasonic::TimeExpansion(k)),
            _ => Err(format!("{n:?}: give auto, off or a factor from 1 to 100")),
        },
    }
}

fn main() -> ExitCode {
    let args: Args = soundscape_cli::parse();
    let common = args.common.clone();
    common.main("spec-n-specvid", || {
        let job = UnitJob {
            unit_dir: args.unit_dir.clone(),
            select: SelectConfig {
                per_hour: args.per_hour,
                max_freq: args.max_freq,
                ..Default::default()
            },
            spectrogram: SpectrogramConfig {
                top_db: args.top_db,
                ..Default::default()
            },
            video: (!args.no_video).then(|| VideoConfig {
                preset: args.video_preset.clone(),
                quality: VideoQuality::from_flags(args.video_qp, args.video_crf),
                images_per_second: args.video_images_per_second,
                repeat_frames: args.video_constant_frame_rate,
                ultrasonic: args.video_time_expansion,
                ..Default::default()
            }),
            compressed: (!args.no_compressed).then(|| CompressedConfig {
                pad: args.compressed_pad,
                ..Default::default()
            }),
            spectrum: args.spectrum.clone(),
        };
        let report = run_unit(&job).map_err(anyhow::Error::msg)?;
        for w in &report.warnings {
            tracing::warn!("{w}");
        }
        tracing::info!(
            drawn = report.summary.done,
            failed = report.summary.failed,
            unit = %args.unit_dir.display(),
            "spectrograms written"
        );
        Ok(report.exit_code() as u8)
    })
}
