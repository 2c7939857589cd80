//! The compute-soundscapes stage: recordings in, soundscape table, metadata and run report out.
//!
//! Recordings are analysed in parallel (rayon), the table is written in input order, and every
//! recording ends in the run report as done, skipped or failed with its reason. A rerun whose
//! inputs and settings are unchanged and whose outputs are complete does nothing.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use rayon::prelude::*;
use soundscape_core::fsutil::write_json_atomic;
use soundscape_core::ids::product_id;
use soundscape_core::{Outcome, Recording, RunReport, Status};
use soundscape_engine::analyze::AnalyzeOptions;
use soundscape_engine::{analyze_recording, EngineConfig, RecordingAnalysis};
use soundscape_table::input::{Row, RowError, AUDIO_EXTENSIONS};
use soundscape_table::metadata::{product_configs, product_metadata, ProductInfo};
use soundscape_table::soundscape::write_soundscape;

use soundscape_core::layout::{MEAN, SEQUENCE, STD};
pub use soundscape_plots::PlotConfig;

pub const PARQUET: &str = "hashed_soundscape.parquet";
pub const METADATA: &str = "soundscape_metadata.json";
pub const REPORT: &str = "run_report.json";

/// What to do and where.
pub struct Job {
    pub rows: Vec<Row>,
    pub out: PathBuf,
    pub config: EngineConfig,
    pub options: AnalyzeOptions,
    /// Cumulus name written into the metadata.
    pub cumulus: Option<String>,
    /// Spectrum label of the metadata (`Audible`).
    pub spectrum: String,
    /// Path written as the unit folder in metadata and ids (default: `out`, absolute).
    pub product_dir: Option<String>,
    /// Recompute even if the outputs are up to date.
    pub force: bool,
    /// The three soundscape plots (sequence, mean, std); `None` skips them.
    pub plots: Option<PlotConfig>,
}

impl Job {
    /// A job with the SiPeCaM settings: default engine configuration, spectrum `Audible`.
    pub fn new(rows: Vec<Row>, out: PathBuf) -> Job {
        Job {
            rows,
            out,
            config: EngineConfig::default(),
            options: AnalyzeOptions::default(),
            cumulus: None,
            spectrum: "Audible".into(),
            product_dir: None,
            force: false,
            plots: Some(PlotConfig::default()),
        }
    }
}

/// How the run went.
pub struct RunResult {
    pub report: RunReport,
    /// True when nothing had to be done.
    pub up_to_date: bool,
}

fn fingerprint(job: &Job) -> String {
    let config = serde_json::to_vec(&job.config).unwrap_or_default();
    let rest = format!(
        "{:?}|{:?}|{:?}|{:?}",
        job.cumulus, job.spectrum, job.product_dir, job.plots
    );
    soundscape_table::input::rows_fingerprint(&[&config, rest.as_bytes()], &job.rows)
}

fn outcome_of_row_error(e: &RowError) -> Outcome {
    Outcome::new(
        e.index,
        &e.id,
        &e.path.display().to_string(),
        Status::Failed,
        Some(e.reason.clone()),
    )
}

/// Warnings about metadata that disagrees with the file header.
fn declared_mismatches(rec: &Recording, a: &RecordingAnalysis) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(d) = rec.declared_duration {
        if (d - a.duration).abs() > 1e-3 {
            w.push(format!(
                "declared duration {d} s differs from the file header ({:.6} s); the header is used",
                a.duration
            ));
        }
    }
    if let Some(sr) = rec.declared_samplerate {
        if (sr - a.info.sample_rate as f64).abs() > 0.5 {
            w.push(format!(
                "declared sample rate {sr} Hz differs from the file header ({} Hz); the header is used",
                a.info.sample_rate
            ));
        }
    }
    w
}

/// Analyses one recording into its outcome (and its cells when done).
pub fn process(
    rec: &Recording,
    cfg: &EngineConfig,
    opts: &AnalyzeOptions,
    progress: &(dyn Fn(f64) + Sync),
) -> (Outcome, Option<RecordingAnalysis>) {
    let t0 = Instant::now();
    let mut o = Outcome::start(rec);
    // Recordings in an object store are streamed into a local temporary copy first.
    let local = match soundscape_inventory::fetch::local_copy(&rec.path) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(recording = %rec.id, "failed: {e}");
            o.status = Status::Failed;
            o.reason = Some(e);
            o.seconds = t0.elapsed().as_secs_f64();
            return (o, None);
        }
    };

    let path = local.as_ref().map(|t| t.path()).unwrap_or(&rec.path);
    let result = analyze_recording(path, cfg, opts, progress);
    o.seconds = t0.elapsed().as_secs_f64();
    match result {
        Ok(a) => {
            o.duration_s = Some(a.duration);
            o.sample_rate = Some(a.info.sample_rate);
            o.channels = Some(a.info.channels);
            o.slices = a.grid.slices.len();
            o.rows = a.cells.len();
            o.warnings = a.warnings.clone();
            o.warnings.extend(declared_mismatches(rec, &a));
            for w in &o.warnings {
                tracing::warn!(recording = %rec.id, path = %rec.path.display(), "{w}");
            }
            (o, Some(a))
        }
        Err(e) => {
            o.status = if e.is_skip() {
                Status::Skipped
            } else {
                Status::Failed
            };
            let mut reason = format!("{} ({})", e, e.kind());
            if let Some(t) = &local {
                // Name the recording, not its temporary copy.
                reason = reason.replace(
                    &t.path().display().to_string(),
                    &rec.path.display().to_string(),
                );
            }
            o.reason = Some(reason);
            if e.is_skip() {
                tracing::warn!(recording = %rec.id, "skipped: {e}");
            } else {
                tracing::error!(recording = %rec.id, "failed: {e}");
            }
            (o, None)
        }
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Runs the stage. `on_recording` is called after each recording, `on_audio` with audio
/// seconds as slices finish (for progress bars).
pub fn run(
    job: &Job,
    on_recording: &(dyn Fn(&Outcome) + Sync),
    on_audio: &(dyn Fn(f64) + Sync),
) -> Result<RunResult> {
    job.config
        .validate()
        .map_err(anyhow::Error::msg)
        .context("invalid settings")?;
    if job.rows.is_empty() {
        anyhow::bail!("nothing to do: the input lists no recordings (no audio files with the extensions {AUDIO_EXTENSIONS:?}, or an empty manifest)");
    }
    std::fs::create_dir_all(&job.out)
        .with_context(|| format!("cannot create {}", job.out.display()))?;
    let fp = fingerprint(job);
    if !job.force {
        if let Some(report) = RunReport::up_to_date(&job.out.join(REPORT), &fp) {
            tracing::info!(out = %job.out.display(), "outputs are up to date; nothing to do (use --force to recompute)");
            return Ok(RunResult {
                report,
                up_to_date: true,
            });
        }
    }

    let mut report = RunReport::new("compute-soundscapes", env!("CARGO_PKG_VERSION"));
    report.input_fingerprint = Some(fp);
    let results: Vec<(Outcome, Option<RecordingAnalysis>)> = job
        .rows
        .par_iter()
        .map(|row| {
            let r = match row {
                Ok(rec) => soundscape_core::isolate::run_recording(rec, || {
                    process(rec, &job.config, &job.options, on_audio)
                }),
                Err(e) => {
                    tracing::error!(path = %e.path.display(), "failed: {}", e.reason);
                    (outcome_of_row_error(e), None)
                }
            };
            on_recording(&r.0);
            r
        })
        .collect();

    let recordings: Vec<&Recording> = job.rows.iter().filter_map(|r| r.as_ref().ok()).collect();
    let done: Vec<(&Recording, &RecordingAnalysis)> = job
        .rows
        .iter()
        .zip(&results)
        .filter_map(|(row, (_, a))| Some((row.as_ref().ok()?, a.as_ref()?)))
        .collect();

    let parquet = job.out.join(PARQUET);
    let written = soundscape_core::isolate::run_item("table", || {
        write_soundscape(&parquet, &job.config, &done).map_err(|e| e.to_string())
    })
    .unwrap_or_else(|m| Err(format!("internal error: {m}")));
    match written {
        Ok(rows) => {
            tracing::info!(path = %parquet.display(), rows, "soundscape table written");
            report.outputs.push(parquet.display().to_string());
        }
        Err(e) => report.errors.push(format!(
            "{}: cannot write the table: {e}",
            parquet.display()
        )),
    }

    let product_dir = job
        .product_dir
        .clone()
        .unwrap_or_else(|| absolute(&job.out).display().to_string());
    let product_dir = product_dir.trim_end_matches('/').to_string();
    let mut units: Vec<_> = recordings.iter().map(|r| &r.unit).collect();
    units.sort();
    units.dedup();
    match units.as_slice() {
        [unit] => {
            let info = ProductInfo {
                product_id: product_id(&product_dir),
                product_parent: None,
                product_name: "Soundscape",
                product_path: format!("{product_dir}/{PARQUET}"),
                spectrum: &job.spectrum,
                cumulus: job.cumulus.as_deref(),
                unit,
            };
            let npartitions = rayon::current_num_threads();
            let configs = product_configs(&job.config, npartitions);
            let write_meta = |info: &ProductInfo, file: &str| -> Result<PathBuf> {
                let path = job.out.join(file);
                let m =
                    product_metadata(info, Some(configs.clone())).map_err(anyhow::Error::msg)?;
                write_json_atomic(&path, &m)?;
                Ok(path)
            };
            match write_meta(&info, METADATA) {
                Ok(p) => report.outputs.push(p.display().to_string()),
                Err(e) => report
                    .errors
                    .push(format!("{}: {e}", job.out.join(METADATA).display())),
            }
            if let (Some(cfg), false) = (&job.plots, done.is_empty()) {
                let label = format!(
                    "{} / {} / {} / {}",
                    job.cumulus.as_deref().unwrap_or("-"),
                    unit.node,
                    unit.recorder,
                    unit.deployment
                );
                let plotted = soundscape_core::isolate::run_item("plots", || {
                    soundscape_plots::plot_unit(&parquet, &job.out, &label, cfg)
                        .map_err(|e| e.to_string())
                })
                .unwrap_or_else(|m| Err(format!("internal error: {m}")));
                match plotted {
                    Ok(written) => {
                        for (path, product) in written.iter().zip([SEQUENCE, MEAN, STD]) {
                            report.outputs.push(path.display().to_string());
                            let plot = ProductInfo {
                                product_id: product_id(&format!("{product_dir}/{}", product.file)),
                                product_parent: Some(product_id(&product_dir)),
                                product_name: product.name,
                                product_path: format!("{product_dir}/{}", product.file),
                                ..info.clone()
                            };
                            match write_meta(&plot, product.metadata) {
                                Ok(p) => report.outputs.push(p.display().to_string()),
                                Err(e) => report.errors.push(format!("{}: {e}", product.metadata)),
                            }
                        }
                        tracing::info!(dir = %job.out.display(), "plots written");
                    }
                    Err(e) => report.errors.push(format!("plots: {e}")),
                }
            }
        }
        [] => {}
        many => {
            let w = format!(
                "the input holds {} units ({}); no unit metadata or plots were written (give one unit per --out folder, as get-audio-df and dirstruct lay them out)",
                many.len(),
                many.iter()
                    .map(|u| format!("{}/{}/{}", u.node, u.recorder, u.deployment))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            tracing::warn!("{w}");
            report.warnings.push(w);
        }
    }

    report.recordings = results.into_iter().map(|(o, _)| o).collect();
    report.finish();
    write_json_atomic(&job.out.join(REPORT), &report)
        .with_context(|| format!("cannot write {}", job.out.join(REPORT).display()))?;
    Ok(RunResult {
        report,
        up_to_date: false,
    })
}
