//! `upload-model`: the soundscape content model on the uploaded products.
//!
//! Exit codes: 0 every product set or already right; 3 some products failed (named in the
//! report); 1 the run failed (configuration, login, root node); 2 bad command line.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use soundscape_alfresco::{AlfrescoConfig, Session};
use soundscape_cli::CommonArgs;
use soundscape_upload::report::UploadReport;

pub const REPORT: &str = "model_report.json";

#[derive(Debug, Parser)]
#[command(
    name = "upload-model",
    version,
    about = "Set nodeType soundscape:product and the soundscape:* properties (from each product's metadata JSON) on the products upload-alfresco put in Alfresco. Unit folders are listed page by page; products already right are left alone.",
    after_help = "Environment: ALFRESCO_URL, ALFRESCO_USER, ALFRESCO_PASSWORD (never logged), ALFRESCO_NODE_ID (= --root-node).\n\
Exit codes: 0 all products set, 3 some products failed, 1 the run failed, 2 usage error."
)]
struct Args {
    #[command(flatten)]
    select: soundscape_upload::cli::SelectionArgs,
    #[command(flatten)]
    common: CommonArgs,
}

fn run(args: &Args) -> anyhow::Result<u8> {
    let root = args
        .select
        .root_node
        .clone()
        .context("give --root-node (or ALFRESCO_NODE_ID)")?;
    let units = args.select.units().map_err(anyhow::Error::msg)?;
    let session = Session::new(AlfrescoConfig::from_env()?)?;
    let total: usize = units.iter().map(|u| u.products.len()).sum();
    let mut report = UploadReport::new("upload-model", env!("CARGO_PKG_VERSION"));
    let rt = tokio::runtime::Runtime::new().context("tokio runtime")?;
    let bar = args.common.progress(total as u64, "products");
    rt.block_on(soundscape_upload::model::apply(
        &session,
        &root,
        &units,
        &soundscape_upload::model::ModelOptions {
            jobs: args.select.jobs,
            ..Default::default()
        },
        &mut report,
        |_| bar.inc(1),
    ));
    bar.finish_and_clear();
    soundscape_upload::report::finish(report, &args.select.report_path(REPORT))
        .map_err(anyhow::Error::msg)
}

fn main() -> ExitCode {
    let args = Args::parse();
    args.common.main("upload-model", || run(&args))
}
