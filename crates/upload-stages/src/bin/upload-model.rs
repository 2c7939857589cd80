//! `upload-model`: the soundscape content model on the uploaded products.
//!
//! Exit codes: 0 every product set or already right; 3 some products failed (named in the
//! report); 1 the run failed (configuration, login, root node); 2 bad command line.

use std::process::ExitCode;

use clap::Parser;
use soundscape_cli::CommonArgs;

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

fn main() -> ExitCode {
    let args: Args = soundscape_cli::parse();
    args.common.main("upload-model", || {
        upload_stages::run_model(&args.select, &args.common)
    })
}
