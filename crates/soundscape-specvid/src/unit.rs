//! The spec-n-specvid stage on one unit folder: choose the recordings, draw each one's
//! spectrogram picture with its metadata, and report every choice as done or failed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use soundscape_core::fsutil::write_json_atomic;
use soundscape_core::ids::product_id;
use soundscape_core::layout::SOUNDSCAPE;
use soundscape_core::products;
use soundscape_core::units::UNIT_FILE;
use soundscape_core::{Outcome, RunReport, Status, Unit};
use soundscape_table::metadata::{product_metadata, ProductInfo};

use crate::compressed::{compressed_spectrogram, CompressedConfig};
use crate::select::{select, SelectConfig};
use crate::spectrogram::{spectrogram_png, SpectrogramConfig};
use crate::video::{spectrogram_video, VideoConfig};

pub const REPORT: &str = "spec_n_specvid_report.json";
pub const SELECTION: &str = "selection.json";

pub struct UnitJob {
    pub unit_dir: PathBuf,
    pub select: SelectConfig,
    pub spectrogram: SpectrogramConfig,
    /// The scrolling spectrogram videos; `None` skips them.
    pub video: Option<VideoConfig>,
    /// The compressed spectrograms (activity only); `None` skips them.
    pub compressed: Option<CompressedConfig>,
    pub spectrum: String,
}

/// Runs the stage on a unit folder made by dirstruct and filled by compute-soundscapes, or
/// made by `compute-soundscapes --out` alone (the recordings then come from its run report).
pub fn run_unit(job: &UnitJob) -> Result<RunReport, String> {
    let dir = &job.unit_dir;
    let (unit, notes) = Unit::from_folder(dir)?;
    let table = dir.join(SOUNDSCAPE.file);
    if !table.is_file() {
        return Err(format!(
            "{}: no {} (run compute-soundscapes on this folder first)",
            dir.display(),
            SOUNDSCAPE.file
        ));
    }
    let choices = select(&table, &job.select)?;
    if choices.is_empty() {
        return Err(format!(
            "{}: nothing to draw: the table holds no slices (every recording was skipped or failed; see {})",
            table.display(),
            soundscape_core::units::COMPUTE_REPORT_FILE
        ));
    }
    write_json_atomic(
        &dir.join(SELECTION),
        &choices
            .iter()
            .map(|c| json!({"hour": c.hour, "id": c.id, "distance": c.distance, "slice_start": c.slice_start}))
            .collect::<Vec<_>>(),
    )
    .map_err(|e| format!("{}: {e}", dir.join(SELECTION).display()))?;
    let unit_dir = unit
        .unit_dir
        .clone()
        .unwrap_or_else(|| dir.display().to_string());
    let key = unit.path.key();
    let mut report = RunReport::new("spec-n-specvid", env!("CARGO_PKG_VERSION"));
    report.warnings.extend(notes);
    let mut drawn: Vec<&str> = Vec::new();
    for c in &choices {
        if drawn.contains(&c.id.as_str()) {
            continue; // chosen for two hours: one picture
        }
        drawn.push(&c.id);
        let t0 = Instant::now();
        let Some(rec) = unit.recordings.iter().find(|r| r.id == c.id) else {
            report.recordings.push(Outcome::new(
                0,
                &c.id,
                "",
                Status::Failed,
                Some(format!(
                    "recording {} is in the table but not in the unit's recordings ({UNIT_FILE} or {})",
                    c.id,
                    soundscape_core::units::COMPUTE_REPORT_FILE
                )),
            ));
            continue;
        };
        let mut o = Outcome::start(rec);
        let mut outputs = Vec::new();
        let drawn_ok = soundscape_core::isolate::run_item(&rec.id, || {
            let file = products::spectrogram_file(&rec.id);
            let title = format!(
                "{} | {} / {} / {} / {} | {}",
                rec.id,
                unit.path.cumulus,
                key.node,
                key.recorder,
                key.deployment,
                soundscape_core::timefmt::time_raw(&rec.start)
            );
            match spectrogram_png(&rec.path, &dir.join(&file), &title, &job.spectrogram) {
                Ok(duration) => {
                    o.duration_s = Some(duration);
                    let path = format!("{unit_dir}/{file}");
                    let info = ProductInfo {
                        product_id: product_id(&path),
                        product_parent: Some(product_id(&unit_dir)),
                        product_name: "Spectrogram",
                        product_path: path,
                        spectrum: &job.spectrum,
                        cumulus: Some(&unit.path.cumulus),
                        unit: &key,
                    };
                    let meta_file = dir.join(products::spectrogram_metadata_file(&rec.id));
                    let written = product_metadata(&info, None).and_then(|mut m| {
                        m["AudioID"] = json!(rec.id);
                        write_json_atomic(&meta_file, &m).map_err(|e| e.to_string())
                    });
                    let written = written.map_err(|e| format!("{}: {e}", meta_file.display()));
                    record(
                        &mut outputs,
                        &mut o,
                        written,
                        [&dir.join(&file), &meta_file],
                    );
                    if let (Some(ccfg), Status::Done) = (&job.compressed, o.status) {
                        let file = products::compressed_file(&rec.id);
                        let path = format!("{unit_dir}/{file}");
                        let json_file = dir.join(products::compressed_json_file(&rec.id));
                        let made = compressed_spectrogram(&rec.path, &dir.join(&file), ccfg)
                            .and_then(|c| {
                                let info = ProductInfo {
                                    product_id: product_id(&path),
                                    product_name: "Compressed spectrogram",
                                    product_path: path.clone(),
                                    ..info.clone()
                                };
                                let mut m = product_metadata(&info, None)?;
                                m["AudioID"] = json!(rec.id);
                                m["segments"] = c.to_json();
                                write_json_atomic(&json_file, &m).map_err(|e| e.to_string())
                            });
                        let made = made.map_err(|e| {
                            format!("{}: compressed spectrogram: {e}", rec.path.display())
                        });
                        record(&mut outputs, &mut o, made, [&dir.join(&file), &json_file]);
                    }
                    if let (Some(vcfg), Status::Done) = (&job.video, o.status) {
                        let file = products::video_file(&rec.id);
                        let path = format!("{unit_dir}/{file}");
                        let meta_file = dir.join(products::video_metadata_file(&rec.id));
                        let made = spectrogram_video(&rec.path, &dir.join(&file), &title, vcfg).and_then(|v| {
                            let info = ProductInfo {
                                product_id: product_id(&path),
                                product_name: "spectrogram_video",
                                product_path: path.clone(),
                                ..info.clone()
                            };
                            let mut m = product_metadata(&info, None)?;
                            m["product_description"] =
                                json!("Spectrogram video: the spectrogram scrolls past a fixed cursor at the playback position");
                            m["ClipStart"] = json!(0.0);
                            m["ClipEnd"] = json!(v.duration);
                            m["SoundtrackSampleRate"] = json!(v.audio_rate);
                            m["TimeExpansion"] = json!(v.time_expansion);
                            m["AudioID"] = json!(rec.id);
                            write_json_atomic(&meta_file, &m).map_err(|e| e.to_string())
                        });
                        let made = made.map_err(|e| format!("{}: video: {e}", rec.path.display()));
                        record(&mut outputs, &mut o, made, [&dir.join(&file), &meta_file]);
                    }
                }
                Err(e) => {
                    o.status = Status::Failed;
                    o.reason = Some(e);
                }
            }
        });
        if let Err(message) = drawn_ok {
            o.status = Status::Failed;
            o.reason = Some(soundscape_core::isolate::panic_reason(
                &rec.path.display().to_string(),
                &message,
            ));
        }
        report.outputs.extend(outputs);
        o.seconds = t0.elapsed().as_secs_f64();
        report.recordings.push(o);
    }
    report.finish();
    write_json_atomic(&dir.join(REPORT), &report).map_err(|e| e.to_string())?;
    Ok(report)
}

/// Notes a product and its metadata as outputs, or the recording as failed.
fn record(
    outputs: &mut Vec<String>,
    o: &mut Outcome,
    result: Result<(), String>,
    files: [&Path; 2],
) {
    match result {
        Ok(()) => outputs.extend(files.iter().map(|f| f.display().to_string())),
        Err(e) => {
            o.status = Status::Failed;
            o.reason = Some(e);
        }
    }
}

/// Whether a folder looks like a unit folder this stage can work on.
pub fn is_unit_dir(dir: &Path) -> bool {
    Unit::is_folder(dir) && dir.join(SOUNDSCAPE.file).is_file()
}
