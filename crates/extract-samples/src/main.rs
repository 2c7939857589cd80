//! `extract-samples`: clips of chosen classes cut from the recordings around their detections
//! into `OUT/<dst>/<class>/`, each with a JSON sidecar, by the rules of a rules file.
//!
//! Exit codes: 0 every matching detection decided (extracted, not drawn, filtered, or decided
//! by an earlier run); 3 some detections or recordings failed (named in the report); 1 the run
//! failed; 2 bad command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use soundscape_cli::CommonArgs;
use soundscape_extract::{Recordings, Rules};

#[derive(Debug, Parser)]
#[command(
    name = "extract-samples",
    version,
    about = "Cut clips of chosen classes from the recordings around their detections (Tidzam's class-triggered extraction), for people to label.",
    after_help = "Writes OUT/<dst>/<class>/<id>_chNN_<start>ms.wav with a .json sidecar (dst is `unchecked` unless a rule says), OUT/extracted.jsonl (every decided detection; a rerun skips them) and OUT/extract_report.json.\n\
                  The recordings are found in --manifest, --input or --unit-dir, else beside the table (unit.json, or embeddings_report.json of compute-embeddings), else in the table's `path` column.\n\
                  Exit codes: 0 all decided, 3 some detections failed, 1 the run failed, 2 usage error."
)]
struct Args {
    /// Detections table (detections.parquet of compute-embeddings, or any table with its
    /// column names).
    #[arg(long)]
    detections: PathBuf,
    /// Rules file (JSON; docs/extract.md).
    #[arg(long)]
    rules: PathBuf,
    /// Output folder (the clips, the ledger and the report).
    #[arg(long)]
    out: PathBuf,
    /// Seed of the draws (default: the rules file's, else 0).
    #[arg(long)]
    seed: Option<u64>,
    /// CSV or parquet manifest of the recordings the table was made from.
    #[arg(long, conflicts_with_all = ["input", "unit_dir"])]
    manifest: Option<PathBuf>,
    /// Folder of the recordings the table was made from.
    #[arg(long, conflicts_with = "unit_dir")]
    input: Option<PathBuf>,
    /// Unit folder made by dirstruct whose recordings the table was made from.
    #[arg(long)]
    unit_dir: Option<PathBuf>,

    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args: Args = soundscape_cli::parse();
    let common = args.common.clone();
    common.main("extract-samples", || run(args))
}

fn run(args: Args) -> anyhow::Result<u8> {
    let rules = Rules::read(&args.rules).map_err(anyhow::Error::msg)?;
    if rules.set.rules.is_empty() {
        println!("extract-samples: the rules file has no rules: nothing to extract");
        return Ok(0);
    }
    let recordings = if args.manifest.is_some() || args.input.is_some() || args.unit_dir.is_some() {
        let inputs = soundscape_table::input::read_inputs(
            args.manifest.as_deref(),
            args.input.as_deref(),
            args.unit_dir.as_deref(),
            &Default::default(),
        )
        .map_err(anyhow::Error::msg)?;
        let from = args
            .manifest
            .as_ref()
            .or(args.input.as_ref())
            .or(args.unit_dir.as_ref())
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Recordings::given(inputs.rows.into_iter().flatten().collect(), &from)
    } else {
        Recordings::beside(&args.detections).map_err(anyhow::Error::msg)?
    };
    let seed = args.seed.or(rules.set.seed).unwrap_or(0);
    let bar = args.common.progress(0, "recordings");
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let job = soundscape_extract::Job {
        detections: &args.detections,
        rules: &rules,
        out: &args.out,
        seed,
        recordings,
        progress: &progress,
    };
    let report = soundscape_extract::run(&job).map_err(anyhow::Error::msg)?;
    bar.finish_and_clear();
    let s = &report.summary;
    if s.matched == 0 {
        println!(
            "extract-samples: no detection of {} ({} rows) matches the rules: nothing to extract",
            args.detections.display(),
            report.table_rows
        );
    } else {
        println!(
            "extract-samples: {} matching detections: {} extracted, {} not drawn, {} filtered, {} decided before, {} failed ({})",
            s.matched,
            s.extracted,
            s.not_drawn,
            s.filtered,
            s.already_decided,
            s.failed,
            args.out.join(soundscape_extract::extract::REPORT_FILE).display()
        );
    }
    Ok(report.exit_code())
}
