//! `upload-alfresco`: products into Alfresco and/or object storage.
//!
//! Exit codes: 0 every product in place; 3 some products failed (named in the report);
//! 1 the run failed (configuration, login); 2 bad command line.

use std::process::ExitCode;

use clap::Parser;
use soundscape_cli::CommonArgs;

#[derive(Debug, Parser)]
#[command(
    name = "upload-alfresco",
    version,
    about = "Upload the products of the unit folders to Alfresco (POST nodes/{root}/children, the unit folders created by relativePath) and/or object storage (--s3 URL). Looks before it writes: the same content is skipped, changed content becomes a new version (or is kept with --existing keep). An upload journal in each unit folder lets a rerun or a restarted pod go on where it stopped.",
    after_help = "Environment: ALFRESCO_URL, ALFRESCO_USER, ALFRESCO_PASSWORD (never logged), ALFRESCO_NODE_ID (= --root-node), ALFRESCO_TICKET_MAX_AGE (seconds, default 1800); for --s3 the AWS_* (or GOOGLE_*, AZURE_*) variables object_store reads, e.g. AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ALLOW_HTTP.\n\
Exit codes: 0 all products in place, 3 some products failed, 1 the run failed, 2 usage error."
)]
struct Args {
    #[command(flatten)]
    select: soundscape_upload::cli::SelectionArgs,
    /// Object storage target: s3://bucket/prefix, gs://, az://, or file:///folder.
    #[arg(long, env = "SOUNDSCAPE_S3_URL")]
    s3: Option<String>,
    /// A file of that name with other content: update (a new version) or keep (leave it).
    #[arg(long, value_enum, default_value_t = upload_stages::ExistingArg::Update)]
    existing: upload_stages::ExistingArg,
    /// Ask the targets even for products the upload journal lists as uploaded.
    #[arg(long)]
    verify: bool,
    /// Object storage: files above this many MiB go up in parts.
    #[arg(long, default_value_t = 64)]
    multipart_threshold_mib: usize,
    /// Object storage: part size in MiB (at least 5 for S3).
    #[arg(long, default_value_t = 16)]
    part_size_mib: usize,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args: Args = soundscape_cli::parse();
    let common = args.common.clone();
    let job = upload_stages::Job {
        select: args.select,
        s3: args.s3,
        existing: args.existing,
        verify: args.verify,
        multipart_threshold: args.multipart_threshold_mib << 20,
        part_size: args.part_size_mib << 20,
        common: args.common,
    };
    common.main("upload-alfresco", || upload_stages::run_upload(&job))
}
