//! `soundscape`: the pipeline as one command.
//!
//! - `run`: every stage on this machine (stage binaries as processes, a folder as the shared
//!   volume, units spread over the cores), uploads only when a target is configured;
//! - `render`: the Argo `WorkflowTemplate` and `Workflow` YAML, checked against the schema;
//! - `collect`: the run summary and the run's tables as one Hive-partitioned dataset (the last
//!   step of every run, and by hand after a rerun);
//! - `submit`, `rerun`, `status`, `logs`: the workflow on a Kubernetes cluster with Argo
//!   Workflows ([`cluster`]);
//! - `batch`: one per-unit stage over the units of one batch (what the workflow's pods run).
//!
//! Exit codes: 0 every step done; 3 some steps partial or failed (named in the report);
//! 1 the run could not start; 2 bad command line.

mod cluster;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use soundscape_cli::CommonArgs;
use soundscape_collect::RunDirs;
use soundscape_workflow::local::{report, LocalRun, StepRun};
use soundscape_workflow::spec::Toleration;
use soundscape_workflow::{argo, batch, soundscape, Settings};

#[derive(Debug, Parser)]
#[command(
    name = "soundscape",
    version,
    about = "The soundscape pipeline: list recordings, lay out the units, compute the soundscapes, draw spectrograms and videos, upload. `run` does it on this machine; `render` writes the Argo Workflows YAML for a Kubernetes cluster.",
    after_help = "Exit codes: 0 all steps done, 3 some steps partial or failed (see the report), 1 the run could not start, 2 usage error."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Recordings: a folder, a CSV/parquet manifest, an s3:// (gs://, az://) prefix, or `alfresco`.
    #[arg(long)]
    input: String,
    /// Output folder (the shared volume): `work/` (tables, manifests, logs, report) and
    /// `results/` (unit folders with the products).
    #[arg(long)]
    out: PathBuf,
    /// Workflow parameter as NAME=VALUE (repeat), e.g. cumulus=92, layout=sipecam,
    /// alfresco-root-node=<id>, s3-url=s3://bucket/prefix.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_kv)]
    set: Vec<(String, String)>,
    /// Units processed at once (default: the number of cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Folder of the stage binaries (default: beside this program).
    #[arg(long, env = "SOUNDSCAPE_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, clap::Args)]
struct RenderArgs {
    /// Folder for the YAML files.
    #[arg(long, default_value = "argo")]
    out: PathBuf,
    /// Container image of the stage binaries.
    #[arg(long)]
    image: Option<String>,
    /// Container image with the FFmpeg libraries, for spec-n-specvid.
    #[arg(long)]
    video_image: Option<String>,
    /// Kubernetes namespace.
    #[arg(long)]
    namespace: Option<String>,
    /// Batch DAGs running at once.
    #[arg(long)]
    parallelism: Option<u32>,
    /// Label the pods' nodes must carry, as KEY=VALUE (repeat).
    #[arg(long = "node-selector", value_name = "KEY=VALUE", value_parser = parse_kv)]
    node_selector: Vec<(String, String)>,
    /// Taint the pods tolerate, as KEY[=VALUE][:EFFECT] (repeat), e.g. dedicated=audio:NoSchedule.
    #[arg(long = "toleration", value_name = "KEY[=VALUE][:EFFECT]")]
    tolerations: Vec<Toleration>,
    /// PriorityClass of the pods.
    #[arg(long)]
    priority_class: Option<String>,
    /// When the CronWorkflow runs over the stream chunks of the day before (cron format).
    #[arg(long)]
    schedule: Option<String>,
    /// Time zone of the schedule and of "the day before".
    #[arg(long)]
    timezone: Option<String>,
    /// Folder capture-stream writes its chunks into, on the shared volume.
    #[arg(long)]
    streams_dir: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, clap::Args)]
struct CollectArgs {
    /// Folder of a run (`soundscape run --out`): DIR/work, DIR/results, DIR/dataset.
    #[arg(long, required_unless_present_all = ["work_dir", "results_dir"])]
    run_dir: Option<PathBuf>,
    /// Work folder (units.json, reports); default RUN_DIR/work.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Unit folders; default RUN_DIR/results.
    #[arg(long)]
    results_dir: Option<PathBuf>,
    /// Where the dataset goes; default RUN_DIR/dataset (or beside the work folder).
    #[arg(long)]
    dataset_dir: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, clap::Args)]
struct BatchArgs {
    /// The per-unit stage (the name of its step).
    #[arg(long)]
    step: String,
    /// The batch plan (batches.json, written by get-audio-df).
    #[arg(long)]
    plan: PathBuf,
    /// The batch number.
    #[arg(long)]
    batch: usize,
    /// Folder of the batch reports (REPORTS/STEP/BATCH.json).
    #[arg(long)]
    reports: PathBuf,
    /// A stage this one follows: its units that failed there are skipped (repeat).
    #[arg(long)]
    after: Vec<String>,
    /// The stage binary and its arguments; `{unit}` stands for the unit id.
    #[arg(last = true, required = true)]
    command: Vec<String>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run every stage on this machine.
    Run(RunArgs),
    /// Write the Argo WorkflowTemplate and Workflow YAML.
    Render(RenderArgs),
    /// Gather the run summary (work/run_summary.json) and the run's tables as one
    /// Hive-partitioned Parquet dataset (only what changed is rewritten).
    Collect(CollectArgs),
    /// Run one per-unit stage for the units of one batch of the plan (used by the workflow's pods).
    Batch(BatchArgs),
    /// Apply the WorkflowTemplate, create a Workflow on the cluster and follow it to the end.
    Submit {
        #[command(flatten)]
        ns: cluster::Namespace,
        #[command(flatten)]
        args: cluster::SubmitArgs,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Run one stage for one unit (or a run-wide stage alone) as a Workflow from the template.
    Rerun {
        /// Stage: get-audio-df, dirstruct, compute-soundscapes, compute-embeddings, spec-n-specvid,
        /// upload-alfresco, upload-model.
        #[arg(long)]
        stage: String,
        /// Unit id <cumulus>/<node>/<recorder>/<deployment> (per-unit stages).
        #[arg(long)]
        unit: Option<String>,
        #[command(flatten)]
        ns: cluster::Namespace,
        #[command(flatten)]
        args: cluster::SubmitArgs,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// The phase and steps of a submitted workflow, with failed pods and log commands.
    Status {
        /// Workflow name (printed by submit).
        name: String,
        #[command(flatten)]
        ns: cluster::Namespace,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// The logs of a submitted workflow's pods.
    Logs {
        /// Workflow name.
        name: String,
        /// Only steps whose name contains this (e.g. compute-soundscapes, or a unit id).
        #[arg(long)]
        step: Option<String>,
        #[command(flatten)]
        ns: cluster::Namespace,
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// Runs an async command on a fresh runtime.
fn block_on(f: impl std::future::Future<Output = anyhow::Result<u8>>) -> anyhow::Result<u8> {
    tokio::runtime::Runtime::new()
        .context("tokio runtime")?
        .block_on(f)
}

pub(crate) fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not NAME=VALUE"))
}

fn bin_dir(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(d) = given {
        return Ok(d.to_path_buf());
    }
    let exe = std::env::current_exe().context("where is this program")?;
    Ok(exe.parent().context("program folder")?.to_path_buf())
}

fn run(a: &RunArgs) -> anyhow::Result<u8> {
    let p = soundscape(&Settings::default());
    let out = std::path::absolute(&a.out).context("output folder")?;
    let mut params: HashMap<String, String> = HashMap::new();
    params.insert("source".into(), a.input.clone());
    params.insert("work-dir".into(), out.join("work").display().to_string());
    params.insert(
        "results-dir".into(),
        out.join("results").display().to_string(),
    );
    params.insert(
        "dataset-dir".into(),
        out.join("dataset").display().to_string(),
    );
    params.insert(
        "extract-dir".into(),
        out.join("samples").display().to_string(),
    );
    // A local folder has no fixed layout unless asked for.
    params.insert("layout".into(), String::new());
    p.check_params(&a.set).map_err(anyhow::Error::msg)?;
    params.extend(a.set.iter().cloned());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = a.jobs.unwrap_or(cores).max(1);
    let local = LocalRun {
        bin_dir: bin_dir(a.bin_dir.as_deref())?,
        params: params.clone(),
        jobs,
        threads_per_step: Some((cores / jobs).max(1)),
    };
    let bar = a.common.progress(0, "steps");
    let each = |r: &StepRun| {
        bar.inc(1);
        let unit = r.unit.as_deref().unwrap_or("run");
        match r.status {
            "failed" => {
                tracing::error!(step = %r.step, unit, "{}", r.reason.as_deref().unwrap_or(""))
            }
            "partial" => {
                tracing::warn!(step = %r.step, unit, "{}", r.reason.as_deref().unwrap_or(""))
            }
            _ => {
                tracing::info!(step = %r.step, unit, status = r.status, seconds = r.seconds, "step ended")
            }
        }
    };
    let per_unit = p.unit_steps().count();
    let wide = p.steps.len() - per_unit;
    let runs = local
        .run(&p, &each, |units| {
            bar.set_length((wide + units * per_unit) as u64)
        })
        .map_err(anyhow::Error::msg)?;
    bar.finish_and_clear();
    let rep = report(&runs, &params);
    let path = out
        .join("work")
        .join(soundscape_workflow::local::REPORT_FILE);
    soundscape_core::fsutil::write_json_atomic(&path, &rep)
        .with_context(|| format!("{}: cannot write the report", path.display()))?;
    let s = &rep["summary"];
    tracing::info!(units = %s["units"], done = %s["done"], partial = %s["partial"], skipped = %s["skipped"], failed = %s["failed"], report = %path.display(), "finished");
    let bad = runs
        .iter()
        .any(|r| r.status == "failed" || r.status == "partial");
    Ok(if bad { 3 } else { 0 })
}

fn render(a: &RenderArgs) -> anyhow::Result<u8> {
    let mut s = Settings::default();
    if let Some(i) = &a.image {
        s.image = i.clone();
    }
    if let Some(i) = &a.video_image {
        s.video_image = i.clone();
    }
    if let Some(n) = &a.namespace {
        s.namespace = n.clone();
    }
    if let Some(n) = a.parallelism {
        s.parallelism = n;
    }
    s.node_selector.extend(a.node_selector.iter().cloned());
    s.tolerations.extend(a.tolerations.iter().cloned());
    s.priority_class.clone_from(&a.priority_class);
    for (slot, given) in [
        (&mut s.schedule, &a.schedule),
        (&mut s.timezone, &a.timezone),
        (&mut s.streams_dir, &a.streams_dir),
    ] {
        if let Some(v) = given {
            slot.clone_from(v);
        }
    }
    let files = argo::files(&soundscape(&s)).map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&a.out).with_context(|| a.out.display().to_string())?;
    for (name, yaml) in files {
        let path = a.out.join(name);
        soundscape_core::fsutil::write_atomic(&path, yaml.as_bytes())
            .with_context(|| path.display().to_string())?;
        println!("{}", path.display());
    }
    Ok(0)
}

fn collect(a: &CollectArgs) -> anyhow::Result<u8> {
    let base = a.run_dir.as_deref().map(RunDirs::under);
    let work = a
        .work_dir
        .clone()
        .or_else(|| base.as_ref().map(|b| b.work.clone()))
        .context("give --run-dir or --work-dir")?;
    let results = a
        .results_dir
        .clone()
        .or_else(|| base.as_ref().map(|b| b.results.clone()))
        .context("give --run-dir or --results-dir")?;
    let dataset = a
        .dataset_dir
        .clone()
        .or_else(|| base.as_ref().map(|b| b.dataset.clone()))
        .unwrap_or_else(|| work.parent().unwrap_or(Path::new(".")).join("dataset"));
    let dirs = RunDirs {
        work,
        results,
        dataset,
    };
    let (summary, got) = soundscape_collect::collect(&dirs).map_err(anyhow::Error::msg)?;
    for line in summary.lines() {
        println!("{line}");
    }
    tracing::info!(
        written = got.written,
        kept = got.kept,
        removed = got.removed,
        failed = got.failed.len(),
        rows = got.rows,
        dataset = %dirs.dataset.display(),
        summary = %dirs.work.join(soundscape_collect::summary::SUMMARY_FILE).display(),
        "collected"
    );
    Ok(if summary.status == "done" {
        0
    } else {
        soundscape_cli::PARTIAL_EXIT_CODE
    })
}

fn run_batch(a: &BatchArgs) -> anyhow::Result<u8> {
    let job = batch::BatchJob {
        step: a.step.clone(),
        plan: a.plan.clone(),
        batch: a.batch,
        reports: a.reports.clone(),
        after: a.after.clone(),
        command: a.command.clone(),
    };
    let runs = batch::run(&job, &|r| {
        let unit = r.unit.as_deref().unwrap_or("");
        match r.status {
            "done" => tracing::info!(step = %r.step, unit, seconds = r.seconds, "unit done"),
            s => tracing::warn!(step = %r.step, unit, status = s, "{}", r.reason.as_deref().unwrap_or("")),
        }
    })
    .map_err(anyhow::Error::msg)?;
    let count = |s: &str| runs.iter().filter(|r| r.status == s).count();
    let (done, partial) = (count("done"), count("partial"));
    tracing::info!(step = %a.step, batch = a.batch, units = runs.len(), done, partial, skipped = count("skipped"), failed = count("failed"), "batch finished");
    if runs.is_empty() {
        tracing::info!("nothing to do: batch {} has no units", a.batch);
    }
    Ok(if done == runs.len() {
        0
    } else if done + partial == 0 && count("failed") > 0 {
        1
    } else {
        soundscape_cli::PARTIAL_EXIT_CODE
    })
}

fn main() -> ExitCode {
    let cli: Cli = soundscape_cli::parse();
    match &cli.command {
        Cmd::Run(a) => a.common.main("soundscape run", || run(a)),
        Cmd::Render(a) => a.common.main("soundscape render", || render(a)),
        Cmd::Collect(a) => a.common.main("soundscape collect", || collect(a)),
        Cmd::Batch(a) => a.common.main("soundscape batch", || run_batch(a)),
        Cmd::Submit { ns, args, common } => {
            common.main("soundscape submit", || block_on(cluster::submit(ns, args)))
        }
        Cmd::Rerun {
            stage,
            unit,
            ns,
            args,
            common,
        } => common.main("soundscape rerun", || {
            block_on(cluster::rerun(ns, args, stage, unit.as_deref()))
        }),
        Cmd::Status { name, ns, common } => {
            common.main("soundscape status", || block_on(cluster::status(ns, name)))
        }
        Cmd::Logs {
            name,
            step,
            ns,
            common,
        } => common.main("soundscape logs", || {
            block_on(cluster::logs(ns, name, step.as_deref()))
        }),
    }
}
