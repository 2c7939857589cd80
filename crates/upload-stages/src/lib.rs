//! The upload stages over [`soundscape_upload`]:
//!
//! - `upload-alfresco` ([`run_upload`]) opens the targets from the command line and the
//!   environment, uploads, and writes `upload_report.json`;
//! - `upload-model` ([`run_model`]) sets the content model and writes `model_report.json`.

use std::sync::Arc;

use anyhow::Context;
use soundscape_alfresco::{AlfrescoConfig, Session};
use soundscape_cli::CommonArgs;
use soundscape_upload::alfresco::AlfrescoTarget;
use soundscape_upload::cli::SelectionArgs;
use soundscape_upload::report::UploadReport;
use soundscape_upload::store::StoreTarget;
use soundscape_upload::{Existing, Target, UploadOptions};

pub const UPLOAD_REPORT: &str = "upload_report.json";
pub const MODEL_REPORT: &str = "model_report.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExistingArg {
    Update,
    Keep,
}

#[derive(Debug, Clone)]
pub struct Job {
    pub select: SelectionArgs,
    pub s3: Option<String>,
    pub existing: ExistingArg,
    pub verify: bool,
    pub multipart_threshold: usize,
    pub part_size: usize,
    pub common: CommonArgs,
}

fn targets(job: &Job) -> anyhow::Result<Vec<Target>> {
    let mut targets = Vec::new();
    if let Some(root) = &job.select.root_node {
        let cfg = AlfrescoConfig::from_env()?;
        targets.push(Target::Alfresco(AlfrescoTarget::new(
            Arc::new(Session::new(cfg)?),
            root,
        )));
    }
    if let Some(url) = &job.s3 {
        let mut t = StoreTarget::open(url).map_err(anyhow::Error::msg)?;
        t.multipart_threshold = job.multipart_threshold;
        t.part_size = job.part_size;
        targets.push(Target::Store(t));
    }
    if targets.is_empty() {
        anyhow::bail!(
            "nothing to upload to: give --root-node (with ALFRESCO_URL, ALFRESCO_USER, ALFRESCO_PASSWORD) and/or --s3 URL"
        );
    }
    Ok(targets)
}

/// The selected unit folders and what was assumed about them; an error when they hold no
/// product of the chosen kinds, since a user who asks for an upload expects one.
fn selected_units(
    select: &SelectionArgs,
) -> anyhow::Result<(Vec<soundscape_upload::catalog::UnitProducts>, Vec<String>)> {
    let units = select.units().map_err(anyhow::Error::msg)?;
    let total: usize = units.iter().map(|u| u.products.len()).sum();
    if total == 0 {
        let kinds: Vec<&str> = select.kinds().iter().map(|k| k.name()).collect();
        anyhow::bail!(
            "nothing to upload: {} unit folder(s) hold no products of the kinds {} (run compute-soundscapes and spec-n-specvid first, or choose other --products)",
            units.len(),
            kinds.join(", ")
        );
    }
    let notes: Vec<String> = units.iter().flat_map(|u| u.notes.clone()).collect();
    for n in &notes {
        tracing::warn!("{n}");
    }
    Ok((units, notes))
}

/// Runs upload-alfresco; returns the exit code.
pub fn run_upload(job: &Job) -> anyhow::Result<u8> {
    let (units, notes) = selected_units(&job.select)?;
    let rt = tokio::runtime::Runtime::new().context("tokio runtime")?;
    let mut report = UploadReport::new("upload-alfresco", env!("CARGO_PKG_VERSION"));
    report.warnings.extend(notes);
    let total: usize = units.iter().map(|u| u.products.len()).sum();
    rt.block_on(async {
        let targets = targets(job)?;
        report.targets = targets.iter().map(|t| t.id().to_string()).collect();
        tracing::info!(units = units.len(), products = total, targets = ?report.targets, "uploading");
        let opts = UploadOptions {
            existing: match job.existing {
                ExistingArg::Update => Existing::Update,
                ExistingArg::Keep => Existing::Keep,
            },
            jobs: job.select.jobs,
            verify: job.verify,
        };
        let bar = job.common.progress((total * targets.len()) as u64, "uploads");
        soundscape_upload::upload(&units, &targets, &opts, &mut report, |o| {
            bar.inc(1);
            if let Some(r) = o.reason.as_deref().filter(|_| o.status == soundscape_core::Status::Failed) {
                tracing::error!(unit = %o.unit, file = %o.file, target = %o.target, "{r}");
            }
        })
        .await;
        bar.finish_and_clear();
        anyhow::Ok(())
    })?;
    soundscape_upload::report::finish(report, &job.select.report_path(UPLOAD_REPORT))
        .map_err(anyhow::Error::msg)
}

/// Runs upload-model; returns the exit code.
pub fn run_model(select: &SelectionArgs, common: &CommonArgs) -> anyhow::Result<u8> {
    let root = select
        .root_node
        .clone()
        .context("give --root-node (or ALFRESCO_NODE_ID)")?;
    let (units, notes) = selected_units(select)?;
    let session = Session::new(AlfrescoConfig::from_env()?)?;
    let total: usize = units.iter().map(|u| u.products.len()).sum();
    let mut report = UploadReport::new("upload-model", env!("CARGO_PKG_VERSION"));
    report.warnings.extend(notes);
    let rt = tokio::runtime::Runtime::new().context("tokio runtime")?;
    let bar = common.progress(total as u64, "products");
    let opts = soundscape_upload::model::ModelOptions {
        jobs: select.jobs,
        ..Default::default()
    };
    rt.block_on(soundscape_upload::model::apply(
        &session,
        &root,
        &units,
        &opts,
        &mut report,
        |_| bar.inc(1),
    ));
    bar.finish_and_clear();
    soundscape_upload::report::finish(report, &select.report_path(MODEL_REPORT))
        .map_err(anyhow::Error::msg)
}
