//! The units manifest (`units.json`): the processing units found by get-audio-df, each with
//! its recordings, sorted and stable. dirstruct, compute-soundscapes and the batch plan
//! ([`crate::batches`]) read it; `unit.json` in each unit folder holds one [`Unit`] of it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::layout::{ProductIds, UnitPath};
use crate::Recording;

/// Current version of the manifest format.
pub const UNITS_VERSION: u32 = 1;
/// File names used on the shared volume.
pub const UNITS_FILE: &str = "units.json";
pub const FANOUT_FILE: &str = "fanout.json";
pub const UNIT_FILE: &str = "unit.json";

/// One processing unit and its recordings (in start order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    /// `<cumulus>/<node>/<recorder>/<deployment>`.
    pub id: String,
    #[serde(flatten)]
    pub path: UnitPath,
    pub recordings: Vec<Recording>,
    /// Sum of the recordings' durations (header values where read), seconds.
    #[serde(default)]
    pub duration_s: f64,
    /// Set by dirstruct: the unit folder as written into ids and metadata.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unit_dir: Option<String>,
    /// Set by dirstruct: product ids of the unit's products.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub products: Vec<ProductIds>,
}

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitsManifest {
    pub version: u32,
    /// Where the recordings were listed from (a folder, manifest, URL or `alfresco`).
    pub source: String,
    /// The audio table beside this file.
    pub audio_table: String,
    pub recordings: usize,
    pub units: Vec<Unit>,
}

impl UnitsManifest {
    pub fn read(path: &Path) -> Result<UnitsManifest, String> {
        crate::fsutil::read_versioned_json(path, "a units manifest", UNITS_VERSION, |m: &Self| {
            m.version
        })
    }

    /// Finds a unit by its id (`<cumulus>/<node>/<recorder>/<deployment>`).
    pub fn unit(&self, id: &str) -> Option<&Unit> {
        let id = id.trim_matches('/');
        self.units.iter().find(|u| u.id == id)
    }
}

/// The unit metadata file compute-soundscapes writes into every unit folder.
pub const SOUNDSCAPE_METADATA_FILE: &str = "soundscape_metadata.json";
/// compute-soundscapes' run report.
pub const COMPUTE_REPORT_FILE: &str = "run_report.json";
/// The report each per-unit stage writes into the unit folder, in pipeline order.
pub const STAGE_REPORTS: [(&str, &str); 5] = [
    ("compute-soundscapes", COMPUTE_REPORT_FILE),
    ("compute-embeddings", "embeddings_report.json"),
    ("spec-n-specvid", "spec_n_specvid_report.json"),
    ("upload-alfresco", "upload_report.json"),
    ("upload-model", "model_report.json"),
];
/// The reports the run-wide stages write into the work folder.
pub const RUN_REPORTS: [(&str, &str); 2] = [
    ("get-audio-df", "run_report.json"),
    ("dirstruct", "dirstruct_report.json"),
];

impl Unit {
    /// Whether `dir` is a unit folder: one dirstruct made (`unit.json`) or one
    /// compute-soundscapes wrote with `--out` (`soundscape_metadata.json`).
    pub fn is_folder(dir: &Path) -> bool {
        dir.join(UNIT_FILE).is_file() || dir.join(SOUNDSCAPE_METADATA_FILE).is_file()
    }

    /// The unit keys of a unit folder: from its `unit.json`, or else from the
    /// `soundscape_metadata.json` that compute-soundscapes writes (with a note saying so).
    pub fn keys_of_folder(dir: &Path) -> Result<(UnitPath, Vec<String>), String> {
        let unit_file = dir.join(UNIT_FILE);
        if unit_file.is_file() {
            return Unit::read(&unit_file).map(|u| (u.path, Vec::new()));
        }
        let meta_file = dir.join(SOUNDSCAPE_METADATA_FILE);
        if !meta_file.is_file() {
            return Err(format!(
                "{}: not a unit folder (neither {UNIT_FILE} from dirstruct nor {SOUNDSCAPE_METADATA_FILE} from compute-soundscapes)",
                dir.display()
            ));
        }
        let text = std::fs::read_to_string(&meta_file)
            .map_err(|e| format!("{}: {e}", meta_file.display()))?;
        let meta: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not JSON: {e}", meta_file.display()))?;
        let field = |k: &str| -> Result<String, String> {
            match &meta[k] {
                serde_json::Value::String(s) if !s.is_empty() => Ok(s.clone()),
                serde_json::Value::Number(n) => Ok(n.to_string()),
                _ => Err(format!("{}: no {k}", meta_file.display())),
            }
        };
        let mut notes = vec![format!(
            "{}: no {UNIT_FILE}; the unit keys come from {SOUNDSCAPE_METADATA_FILE}",
            dir.display()
        )];
        let cumulus = match field("CumulusName") {
            Ok(c) => c,
            Err(_) => {
                notes.push(format!(
                    "{}: names no cumulus (CumulusName); the placeholder cumulus {} is used (give compute-soundscapes --cumulus)",
                    meta_file.display(),
                    crate::layout::PLACEHOLDER_CUMULUS
                ));
                crate::layout::PLACEHOLDER_CUMULUS.to_string()
            }
        };
        let path = UnitPath {
            cumulus,
            node: field("NomenclatureNode")?,
            recorder: field("SerialNumber")?,
            deployment: field("DateDeployment")?,
        };
        path.check()
            .map_err(|e| format!("{}: {e}", meta_file.display()))?;
        Ok((path, notes))
    }

    /// The unit of a unit folder: its `unit.json` when dirstruct made the folder; otherwise
    /// (a `compute-soundscapes --manifest/--input ... --out DIR` folder) the unit keys of
    /// `soundscape_metadata.json` and the recordings that `run_report.json` lists as done.
    /// The second value says what was assumed, for the caller's report.
    pub fn from_folder(dir: &Path) -> Result<(Unit, Vec<String>), String> {
        let unit_file = dir.join(UNIT_FILE);
        if unit_file.is_file() {
            return Unit::read(&unit_file).map(|u| (u, Vec::new()));
        }
        let (path, mut notes) = Unit::keys_of_folder(dir)?;
        notes[0].push_str(&format!(" and the recordings from {COMPUTE_REPORT_FILE}"));
        let report_file = dir.join(COMPUTE_REPORT_FILE);
        let recordings = match std::fs::read_to_string(&report_file) {
            Ok(text) => {
                let report: crate::RunReport = serde_json::from_str(&text)
                    .map_err(|e| format!("{}: not a run report: {e}", report_file.display()))?;
                report
                    .recordings
                    .iter()
                    .filter(|o| o.status == crate::Status::Done)
                    .map(|o| Recording {
                        index: o.index,
                        id: o.id.clone(),
                        path: o.path.clone().into(),
                        start: o.start.unwrap_or_default(),
                        time_zone: o
                            .start
                            .map(|s| crate::timefmt::zone_label(s.offset()))
                            .unwrap_or_default(),
                        unit: path.key(),
                        cumulus: Some(path.cumulus.clone()),
                        latitude: None,
                        longitude: None,
                        declared_duration: o.duration_s,
                        declared_samplerate: o.sample_rate.map(f64::from),
                    })
                    .collect()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("{}: {e}", report_file.display())),
        };
        let duration_s = recordings.iter().filter_map(|r| r.declared_duration).sum();
        Ok((
            Unit {
                id: path.relative(),
                path,
                recordings,
                duration_s,
                unit_dir: None,
                products: Vec::new(),
            },
            notes,
        ))
    }

    /// Reads the `unit.json` that dirstruct writes into a unit folder.
    pub fn read(path: &Path) -> Result<Unit, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read unit file: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: not a unit file: {e}", path.display()))
    }
}
