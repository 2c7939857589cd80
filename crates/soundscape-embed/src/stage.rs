//! The compute-embeddings stage: recordings in parallel through one model, every recording
//! done, skipped or failed with its reason in `embeddings_report.json`, the tables written in
//! input order. A rerun whose inputs, model and settings are unchanged and whose outputs are
//! complete does nothing.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use rayon::prelude::*;
use soundscape_core::fsutil::write_json_atomic;
use soundscape_core::ids::product_id;
use soundscape_core::{Outcome, Recording, RunReport, Status};
use soundscape_table::input::{Row, AUDIO_EXTENSIONS};
use soundscape_table::metadata::{product_metadata, ProductInfo};

use crate::analyze::{allowed_labels, analyze, AnalyzeError, RecordingResult, Settings};
use crate::frontend::batbot::PictureError;
use crate::model::Model;
use crate::tables::{self, ModelTag, DETECTIONS, EMBEDDINGS, REVIEW_DIR};

pub const REPORT: &str = "embeddings_report.json";
pub const EMBEDDINGS_METADATA: &str = soundscape_core::products::EMBEDDINGS_METADATA_FILE;
pub const DETECTIONS_METADATA: &str = soundscape_core::products::DETECTIONS_METADATA_FILE;
pub const STAGE: &str = "compute-embeddings";

pub struct Job<'a> {
    pub rows: Vec<Row>,
    pub out: PathBuf,
    pub model: &'a Model,
    pub settings: Settings,
    pub cumulus: Option<String>,
    /// Path written as the unit folder in metadata and ids (default: `out`, absolute).
    pub product_dir: Option<String>,
    pub force: bool,
    /// Write the Raven and Audacity tables.
    pub review: bool,
}

fn fingerprint(job: &Job) -> String {
    let manifest = serde_json::to_vec(&job.model.manifest).unwrap_or_default();
    let settings = serde_json::to_vec(&job.settings).unwrap_or_default();
    let rest = format!("{:?}|{:?}|{}", job.cumulus, job.product_dir, job.review);
    soundscape_table::input::rows_fingerprint(&[&manifest, &settings, rest.as_bytes()], &job.rows)
}

/// One recording through the model, into its outcome (and its windows when done).
pub fn process(
    rec: &Recording,
    model: &Model,
    settings: &Settings,
    allowed: Option<&[bool]>,
    on_audio: &(dyn Fn(f64) + Sync),
) -> (Outcome, Option<RecordingResult>) {
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
    let result = analyze(path, model, settings, allowed, on_audio);
    o.seconds = t0.elapsed().as_secs_f64();
    match result {
        Ok(r) => {
            o.duration_s = Some(r.duration_s);
            o.sample_rate = Some(r.sample_rate);
            o.channels = Some(r.channels);
            o.slices = r.windows.len();
            o.rows = r.windows.iter().map(|w| w.detections.len()).sum();
            o.warnings = r.warnings.clone();
            if r.windows.is_empty() && r.blank_windows > 0 {
                o.status = Status::Skipped;
                o.reason = Some(format!(
                    "no signal in the model's band: the pictures of all {} window(s) of its {:.3} s are blank (silent)",
                    r.blank_windows, r.duration_s
                ));
            } else if r.windows.is_empty() {
                o.status = Status::Skipped;
                o.reason = Some(format!(
                    "{:.3} s of audio is shorter than the model's shortest window ({} s) (too-short)",
                    r.duration_s,
                    model.manifest.min_window()
                ));
            }
            for w in &o.warnings {
                tracing::warn!(recording = %rec.id, "{w}");
            }
            (o, Some(r))
        }
        Err(e @ AnalyzeError::Picture(PictureError::RateTooLow(..))) => {
            // Nothing the model listens to can be in the recording: not a fault of the file.
            o.status = Status::Skipped;
            o.reason = Some(e.to_string());
            tracing::warn!(recording = %rec.id, "skipped: {e}");
            (o, None)
        }
        Err(e) => {
            o.status = Status::Failed;
            let mut reason = format!("{e} ({})", e.kind());
            if let Some(t) = &local {
                reason = reason.replace(
                    &t.path().display().to_string(),
                    &rec.path.display().to_string(),
                );
            }
            o.reason = Some(reason);
            tracing::error!(recording = %rec.id, "failed: {e}");
            (o, None)
        }
    }
}

/// Runs the stage.
pub fn run(
    job: &Job,
    on_recording: &(dyn Fn(&Outcome) + Sync),
    on_audio: &(dyn Fn(f64) + Sync),
) -> Result<RunReport> {
    if job.rows.is_empty() {
        anyhow::bail!("nothing to do: the input lists no recordings (no audio files with the extensions {AUDIO_EXTENSIONS:?}, or an empty manifest)");
    }
    std::fs::create_dir_all(&job.out)
        .with_context(|| format!("cannot create {}", job.out.display()))?;
    let fp = fingerprint(job);
    if !job.force {
        if let Some(report) = RunReport::up_to_date(&job.out.join(REPORT), &fp) {
            tracing::info!(out = %job.out.display(), "outputs are up to date; nothing to do (use --force to recompute)");
            return Ok(report);
        }
    }
    let model = job.model;
    let allowed = allowed_labels(&model.labels, &job.settings.species);
    if let Some(a) = &allowed {
        if !a.iter().any(|&x| x) {
            anyhow::bail!(
                "none of the {} species given is a label of {}",
                job.settings.species.len(),
                model.manifest.name
            );
        }
    }
    let mut report = RunReport::new(STAGE, env!("CARGO_PKG_VERSION"));
    report.input_fingerprint = Some(fp);
    let results: Vec<(Outcome, Option<RecordingResult>)> = job
        .rows
        .par_iter()
        .map(|row| {
            let r = match row {
                Ok(rec) => soundscape_core::isolate::run_recording(rec, || {
                    process(rec, model, &job.settings, allowed.as_deref(), on_audio)
                }),
                Err(e) => {
                    tracing::error!(path = %e.path.display(), "failed: {}", e.reason);
                    (
                        Outcome::new(
                            e.index,
                            &e.id,
                            &e.path.display().to_string(),
                            Status::Failed,
                            Some(e.reason.clone()),
                        ),
                        None,
                    )
                }
            };
            on_recording(&r.0);
            r
        })
        .collect();
    let done: Vec<(&Recording, &RecordingResult)> = job
        .rows
        .iter()
        .zip(&results)
        .filter_map(|(row, (_, r))| Some((row.as_ref().ok()?, r.as_ref()?)))
        .collect();
    let tag = ModelTag {
        name: &model.manifest.name,
        version: &model.manifest.version,
    };
    let mut products: Vec<(&str, &str, &str)> = Vec::new();
    let mut write = |file: &str, what: &str, f: &dyn Fn(&Path) -> Result<usize, String>| {
        let path = job.out.join(file);
        match soundscape_core::isolate::run_item(file, || f(&path))
            .unwrap_or_else(|m| Err(format!("internal error: {m}")))
        {
            Ok(rows) => {
                tracing::info!(path = %path.display(), rows, "{what} written");
                report.outputs.push(path.display().to_string());
                true
            }
            Err(e) => {
                report
                    .errors
                    .push(format!("{}: cannot write the {what}: {e}", path.display()));
                false
            }
        }
    };
    if job.settings.embeddings
        && model.manifest.outputs.embedding.is_some()
        && write(EMBEDDINGS, "embeddings", &|p| {
            tables::write_embeddings(p, &done, &tag, model.network.embedding_dim())
        })
    {
        products.push((EMBEDDINGS, EMBEDDINGS_METADATA, "Embeddings"));
    }
    if model.manifest.outputs.scores.is_some() {
        if write(DETECTIONS, "detections", &|p| {
            tables::write_detections(p, &done, &model.labels, &tag)
        }) {
            products.push((DETECTIONS, DETECTIONS_METADATA, "Detections"));
        }
        if job.review {
            match tables::write_review(&job.out.join(REVIEW_DIR), &done, &model.labels) {
                Ok(paths) => report
                    .outputs
                    .extend(paths.iter().map(|p| p.display().to_string())),
                Err(e) => report.errors.push(format!("review tables: {e}")),
            }
        }
    }
    let product_dir = job.product_dir.clone().unwrap_or_else(|| {
        std::path::absolute(&job.out)
            .unwrap_or(job.out.clone())
            .display()
            .to_string()
    });
    let product_dir = product_dir.trim_end_matches('/').to_string();
    let mut units: Vec<_> = job
        .rows
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| &r.unit)
        .collect();
    units.sort();
    units.dedup();
    if let [unit] = units.as_slice() {
        for (file, meta, name) in products {
            let info = ProductInfo {
                product_id: product_id(&format!("{product_dir}/{file}")),
                product_parent: Some(product_id(&product_dir)),
                product_name: name,
                product_path: format!("{product_dir}/{file}"),
                spectrum: "Audible",
                cumulus: job.cumulus.as_deref(),
                unit,
            };
            let configs = serde_json::json!({
                "model": model.manifest.name,
                "model_version": model.manifest.version,
                "licence": model.manifest.licence,
                "sample_rate": model.manifest.sample_rate,
                "window_s": model.manifest.window_s,
                "settings": job.settings,
            });
            let path = job.out.join(meta);
            match product_metadata(&info, Some(configs))
                .map_err(anyhow::Error::msg)
                .and_then(|m| Ok(write_json_atomic(&path, &m)?))
            {
                Ok(()) => report.outputs.push(path.display().to_string()),
                Err(e) => report.errors.push(format!("{}: {e}", path.display())),
            }
        }
    } else if units.len() > 1 {
        report.warnings.push(format!(
            "the input holds {} units; no product metadata was written (give one unit per --out folder)",
            units.len()
        ));
    }
    report.recordings = results.into_iter().map(|(o, _)| o).collect();
    report.finish();
    write_json_atomic(&job.out.join(REPORT), &report)
        .with_context(|| format!("cannot write {}", job.out.join(REPORT).display()))?;
    Ok(report)
}
