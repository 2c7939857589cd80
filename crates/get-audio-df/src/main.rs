//! `get-audio-df`: list recordings into the audio table and the processing units.
//!
//! Exit codes: 0 every listed recording kept or filtered out with a reason; 3 some could not
//! be listed (named in the report); 1 the run failed; 2 bad command line.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::Parser;
use get_audio_df::{AlfrescoSource, Job, Source};
use soundscape_alfresco::{AlfrescoConfig, SearchQuery};
use soundscape_cli::CommonArgs;
use soundscape_inventory::folder::{FolderOptions, Layout, StartFallback};
use soundscape_inventory::Filters;
use soundscape_table::input::UnitDefaults;

#[derive(Debug, Parser)]
#[command(
    name = "get-audio-df",
    version,
    about = "List recordings (a folder, a CSV/parquet manifest, an s3:// gs:// az:// file:// prefix, or 'alfresco') into the audio table and the processing units.",
    after_help = "Writes OUT/audio.parquet, OUT/units.json, OUT/batches.json, OUT/fanout.json and OUT/run_report.json.\n\
                  Alfresco settings come from ALFRESCO_URL, X_API_KEY (and ALFRESCO_SEARCH_URL, ALFRESCO_USER, ALFRESCO_PASSWORD).\n\
                  Object-store credentials come from AWS_* / GOOGLE_* / AZURE_* variables.\n\
                  Exit codes: 0 all listed, 3 some recordings could not be listed, 1 the run failed, 2 usage error."
)]
struct Args {
    /// A folder, a manifest (.csv or .parquet), an object-store prefix URL, or `alfresco`.
    #[arg(long)]
    source: String,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Folder levels under the source, e.g. `{cumulus}/{node}/{recorder}/{deployment}`
    /// (`sipecam` for that one; `{*}` skips a level). Default: a tree of SiPeCaM shape is read
    /// as `sipecam`; otherwise each folder is a unit where no recorder serial names one (the
    /// report says which was done).
    #[arg(long, default_value = "", env = "SOUNDSCAPE_LAYOUT")]
    layout: String,
    /// Do not read file headers (trust names and declared metadata).
    #[arg(long)]
    no_probe: bool,

    /// For files that carry no start time (no GUANO timestamp, AudioMoth comment or
    /// YYYYMMDD_HHMMSS in the name): `mtime` takes the file's modification time (UTC).
    #[arg(long, value_parser = ["mtime"], help_heading = "Start times")]
    start_from: Option<String>,
    /// For files that carry no start time: the start of the first such file of each folder
    /// (name order); the folder's later files follow back to back. ISO 8601, e.g.
    /// 2021-08-04T05:00:00-05:00 (UTC without an offset).
    #[arg(long, conflicts_with_all = ["start_from", "starts"], help_heading = "Start times")]
    start: Option<String>,
    /// For files that carry no start time: a CSV with columns `folder` (relative to the
    /// source, `.` for the source itself) and `start`, files back to back as for --start.
    #[arg(long, conflicts_with = "start_from", help_heading = "Start times")]
    starts: Option<PathBuf>,

    /// Keep only this cumulus (repeat for several). With a single value it is also the
    /// cumulus of recordings whose source names none.
    #[arg(
        long,
        help_heading = "Filters",
        env = "SOUNDSCAPE_CUMULUS",
        value_delimiter = ','
    )]
    cumulus: Vec<String>,
    /// Keep only this sample rate, Hz.
    #[arg(long, help_heading = "Filters", env = "SOUNDSCAPE_SAMPLE_RATE")]
    sample_rate: Option<f64>,
    /// Keep recordings starting on or after this date (YYYY-MM-DD, local to the recording).
    #[arg(long, help_heading = "Filters", env = "SOUNDSCAPE_FROM")]
    from: Option<NaiveDate>,
    /// Keep recordings starting on or before this date.
    #[arg(long, help_heading = "Filters", env = "SOUNDSCAPE_TO")]
    to: Option<NaiveDate>,
    /// Keep at most this many recordings.
    #[arg(long, help_heading = "Filters", env = "SOUNDSCAPE_LIMIT")]
    limit: Option<usize>,

    /// Node name where the source gives none.
    #[arg(long, help_heading = "Unit defaults")]
    node: Option<String>,
    /// Recorder serial where the source gives none (else the AudioMoth/GUANO serial).
    #[arg(long, help_heading = "Unit defaults")]
    recorder: Option<String>,
    /// Deployment where the source gives none (else the recorder's first day).
    #[arg(long, help_heading = "Unit defaults")]
    deployment: Option<String>,
    /// Time-zone label where the source gives none.
    #[arg(long, help_heading = "Unit defaults")]
    time_zone: Option<String>,

    /// Search page size (at most 10000).
    #[arg(long, default_value_t = 9000, help_heading = "Alfresco")]
    page_size: usize,
    /// Sort fields of the search, for stable paging.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "cm:created,cm:name",
        help_heading = "Alfresco"
    )]
    sort: Vec<String>,
    /// Local mount of the document library, the prefix of the listed paths.
    #[arg(long, default_value = soundscape_inventory::alfresco::DEFAULT_MOUNT, help_heading = "Alfresco")]
    mount: PathBuf,
    /// Seconds before a search request times out.
    #[arg(long, default_value_t = 120, help_heading = "Alfresco")]
    timeout: u64,

    /// Batches the workflow fans out over at most: the units are cut into batches of
    /// ceil(units / N) (one unit per batch while there are no more than N units).
    #[arg(long, default_value_t = soundscape_core::batches::DEFAULT_WIDTH as u32, env = "SOUNDSCAPE_FANOUT_WIDTH", value_parser = clap::value_parser!(u32).range(1..))]
    fan_out_width: u32,

    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args: Args = soundscape_cli::parse();
    let common = args.common.clone();
    common.main("get-audio-df", || run(args))
}

fn run(args: Args) -> anyhow::Result<u8> {
    let source = Source::parse(&args.source)?;
    let layout = match args.layout.as_str() {
        "sipecam" => Layout::SIPECAM,
        other => other,
    };
    let single_cumulus = (args.cumulus.len() == 1).then(|| args.cumulus[0].clone());
    let folder = FolderOptions {
        layout: Layout::parse(layout).map_err(anyhow::Error::msg)?,
        defaults: UnitDefaults {
            node: args.node.clone(),
            recorder: args.recorder.clone(),
            deployment: args.deployment.clone(),
            time_zone: args.time_zone.clone(),
            cumulus: single_cumulus.clone(),
        },
        probe: !args.no_probe,
        group_by_folder: false,
        start_fallback: match (&args.start_from, &args.start, &args.starts) {
            (Some(_), _, _) => StartFallback::Mtime,
            (_, Some(t), _) => StartFallback::Fixed(
                soundscape_core::timefmt::parse_start(t)
                    .map_err(|e| anyhow::anyhow!("--start {t:?}: {e}"))?,
            ),
            (_, _, Some(csv)) => StartFallback::read_folder_csv(csv).map_err(anyhow::Error::msg)?,
            _ => StartFallback::None,
        },
    };
    let alfresco = if source == Source::Alfresco {
        let mut config = AlfrescoConfig::from_env()?;
        config.timeout = std::time::Duration::from_secs(args.timeout);
        Some(AlfrescoSource {
            config,
            query: SearchQuery {
                cumulus: single_cumulus,
                sample_rate: args.sample_rate,
                extra: None,
                page_size: args.page_size,
                sort: args.sort.iter().map(|f| (f.clone(), true)).collect(),
                limit: args.limit,
            },
            mount: args.mount.clone(),
        })
    } else {
        None
    };
    let job = Job {
        source,
        out: args.out.clone(),
        folder,
        filters: Filters {
            cumulus: args.cumulus.clone(),
            sample_rate: args.sample_rate,
            from: args.from,
            to: args.to,
            limit: args.limit,
        },
        alfresco,
        fan_out_width: args.fan_out_width as usize,
    };
    let report = get_audio_df::run(&job)?;
    Ok(report.exit_code() as u8)
}
