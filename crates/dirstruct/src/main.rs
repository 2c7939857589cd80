//! `dirstruct`: make the results folders of the processing units.
//!
//! Exit codes: 0 every unit ready; 3 some units failed (bad keys; named in the report);
//! 1 the run failed; 2 bad command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use soundscape_cli::CommonArgs;

#[derive(Debug, Parser)]
#[command(
    name = "dirstruct",
    version,
    about = "Create RESULTS/<cumulus>/<node>/<recorder>/<deployment>/ for every unit of a units manifest, with unit.json (recordings and product ids). Never deletes anything.",
    after_help = "Exit codes: 0 all units ready, 3 some units failed, 1 the run failed, 2 usage error."
)]
struct Args {
    /// Units manifest written by get-audio-df.
    #[arg(long)]
    units: PathBuf,
    /// Results folder.
    #[arg(long)]
    results_dir: PathBuf,
    /// Results folder as written into product ids and metadata (default: RESULTS_DIR,
    /// absolute). `/shared_volume/audio/soundscapes` reproduces the original ids.
    #[arg(long)]
    id_root: Option<String>,
    /// Only this unit (`<cumulus>/<node>/<recorder>/<deployment>`; repeat for several).
    #[arg(long)]
    unit: Vec<String>,
    /// Report file (default: dirstruct_report.json beside the units manifest).
    #[arg(long)]
    report: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args: Args = soundscape_cli::parse();
    let common = args.common.clone();
    let job = dirstruct::Job {
        units: args.units,
        results_dir: args.results_dir,
        id_root: args.id_root,
        only: args.unit,
        report: args.report,
    };
    common.main("dirstruct", || Ok(dirstruct::run(&job)?.exit_code() as u8))
}
