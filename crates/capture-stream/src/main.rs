//! `capture-stream`: a long-running service that captures live audio streams into FLAC chunks
//! for the batch pipeline.
//!
//! Exit codes: 0 stopped by a signal or every source ended, with every chunk written; 3 some
//! source failed or some chunk could not be written (named in the report); 1 the run failed
//! (bad sources file, output folder or port); 2 bad command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use soundscape_cli::CommonArgs;
use soundscape_stream::capture::Settings;
use soundscape_stream::config::SourcesFile;
use soundscape_stream::service;

#[derive(Debug, Parser)]
#[command(
    name = "capture-stream",
    version,
    about = "Capture live audio streams (Icecast/Shoutcast Ogg Opus, Ogg Vorbis, MP3 over HTTP; local files and FIFOs) into mono FLAC chunks named <source>[_chNN]_YYYYMMDD_HHMMSS.flac, with a chunk index.",
    after_help = "Writes OUT/<source>/<YYYY-MM-DD>/<chunks>.flac, OUT/chunks.jsonl (every chunk and every gap with its cause) and, when it stops, OUT/capture_report.json.\n\
                  With --store URL the chunks go to URL/<source>/<YYYY-MM-DD>/ and the index to URL/_index/<YYYY-MM-DD>/<HH>.jsonl; OUT keeps what the store does not have yet.\n\
                  The sources file: {\"sources\": [{\"name\": \"north\", \"url\": \"http://host:8000/north.opus\", \"permanent\": true, \"channels\": [0, 1]}]}.\n\
                  Stop it with SIGTERM or SIGINT: the open chunks are finished first.\n\
                  Exit codes: 0 stopped or all sources ended, 3 some source failed or chunk was lost, 1 the run failed, 2 usage error."
)]
struct Args {
    /// The sources file (JSON).
    #[arg(long, env = "SOUNDSCAPE_SOURCES")]
    config: PathBuf,
    /// Output folder (with --store: the spool the chunks wait in until the store has them).
    #[arg(long, env = "SOUNDSCAPE_CAPTURE_OUT")]
    out: PathBuf,
    /// Put the chunks and the index into object storage under this URL (s3://bucket/prefix,
    /// gs://, az://, file://), credentials from the environment (docs/streams.md#object-storage).
    #[arg(long, env = "SOUNDSCAPE_CAPTURE_STORE", value_parser = store_url)]
    store: Option<String>,
    /// Chunk length in seconds; chunks start on multiples of it (UTC).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    chunk_seconds: u32,
    /// Serve GET /health and GET /metrics on this address (e.g. 0.0.0.0:9100).
    #[arg(long, env = "SOUNDSCAPE_CAPTURE_HTTP")]
    http: Option<SocketAddr>,
    /// Seconds without data after which a source counts as stalled and is reconnected.
    #[arg(long, default_value_t = 10.0)]
    stall_timeout: f64,
    /// Longest wait between reconnection attempts, seconds (the wait doubles from 0.5 s).
    #[arg(long, default_value_t = 60.0)]
    max_backoff: f64,
    /// FLAC compression level, 0 (fastest) to 12.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=12))]
    flac_level: u32,
    /// Seconds to wait for the sources to finish their chunks after a stop.
    #[arg(long, default_value_t = 20.0)]
    grace: f64,
    /// Check the sources file, list the sources and exit (nothing is captured or written).
    #[arg(long)]
    check: bool,
    /// Live detections: a settings file naming the model (or Tidzam's selector and experts)
    /// to run on every window of every channel (docs/streams.md#live-detections).
    #[arg(long, env = "SOUNDSCAPE_DETECT", help_heading = "Live detections")]
    detect: Option<PathBuf>,
    /// Folder of the models.
    #[arg(
        long,
        env = "SOUNDSCAPE_MODELS",
        default_value = "models",
        help_heading = "Live detections"
    )]
    models_dir: PathBuf,
    /// Cut clips of the live detections by the rules of extract-samples (docs/extract.md)
    /// into OUT/<dst>/<class>/ (needs --detect).
    #[arg(long, requires = "detect", help_heading = "Live detections")]
    extract_rules: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

fn store_url(s: &str) -> Result<String, String> {
    if soundscape_store::is_store_url(s) {
        Ok(s.trim_end_matches('/').to_string())
    } else {
        Err("an object-store URL: s3://bucket/prefix, gs://, az:// or file://".into())
    }
}

fn seconds(name: &str, v: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(v).map_err(|_| anyhow::anyhow!("--{name}: {v} is not a duration"))
}

fn run(args: &Args) -> anyhow::Result<u8> {
    let file = SourcesFile::read(&args.config)?;
    if args.check {
        println!("{}: {} sources", args.config.display(), file.sources.len());
        for s in &file.sources {
            let channels = s
                .channels
                .as_ref()
                .map_or("all channels".to_string(), |c| format!("channels {c:?}"));
            let mode = if s.permanent {
                "permanent"
            } else {
                "read once"
            };
            println!("  {}: {} ({mode}, {channels})", s.name, s.url);
        }
        if let Some(url) = &args.store {
            soundscape_store::open_store(url).map_err(anyhow::Error::msg)?;
            println!("chunks and index to {url} (spool {})", args.out.display());
        }
        if let Some(p) = &args.detect {
            let m = soundscape_live::config::Models::load(p, &args.models_dir)
                .map_err(anyhow::Error::msg)?;
            println!(
                "{}: live detections with {} ({} Hz, windows of {} samples every {}; {} experts; licence: {})",
                p.display(),
                m.config.selector,
                m.rate,
                m.window,
                m.hop,
                m.experts.len(),
                m.selector.manifest.licence
            );
        }
        return Ok(0);
    }
    if file.sources.is_empty() {
        println!(
            "capture-stream: {} lists no sources: nothing to capture",
            args.config.display()
        );
        return Ok(0);
    }
    let mut settings = Settings::new(args.out.clone());
    settings.chunk_seconds = args.chunk_seconds;
    settings.stall_timeout = seconds("stall-timeout", args.stall_timeout)?;
    settings.backoff_max = seconds("max-backoff", args.max_backoff)?.max(settings.backoff_min);
    settings.flac_level = args.flac_level;
    settings.store = args.store.clone();
    let detect = match &args.detect {
        Some(p) => Some(
            soundscape_live::config::Models::load(p, &args.models_dir)
                .map_err(anyhow::Error::msg)?,
        ),
        None => None,
    };
    let report = service::run(
        &file,
        settings,
        args.http,
        seconds("grace", args.grace)?,
        detect,
        match &args.extract_rules {
            Some(p) => Some(soundscape_live::ExtractRules::read(p).map_err(anyhow::Error::msg)?),
            None => None,
        },
    )?;
    for s in &report.sources {
        tracing::info!(
            source = %s.outcome.name,
            outcome = s.outcome.outcome,
            chunks = s.stats.chunks,
            samples = s.stats.samples,
            "source done"
        );
    }
    Ok(if report.partial() { 3 } else { 0 })
}

fn main() -> ExitCode {
    let args: Args = soundscape_cli::parse();
    args.common.main("capture-stream", || run(&args))
}
