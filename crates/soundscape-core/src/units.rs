//! The units manifest (`units.json`): the processing units found by get-audio-df, each with
//! its recordings, sorted and stable. dirstruct, compute-soundscapes and the workflow fan-out
//! read it; `unit.json` in each unit folder holds one [`Unit`] of it.

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
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read units manifest: {e}", path.display()))?;
        let m: UnitsManifest = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a units manifest: {e}", path.display()))?;
        if m.version != UNITS_VERSION {
            return Err(format!(
                "{}: units manifest version {} (this program reads {UNITS_VERSION})",
                path.display(),
                m.version
            ));
        }
        Ok(m)
    }

    /// Finds a unit by its id (`<cumulus>/<node>/<recorder>/<deployment>`).
    pub fn unit(&self, id: &str) -> Option<&Unit> {
        let id = id.trim_matches('/');
        self.units.iter().find(|u| u.id == id)
    }

    /// The unit ids, the list the workflow fans out over.
    pub fn fanout(&self) -> Vec<String> {
        self.units.iter().map(|u| u.id.clone()).collect()
    }
}

impl Unit {
    /// Reads the `unit.json` that dirstruct writes into a unit folder.
    pub fn read(path: &Path) -> Result<Unit, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read unit file: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: not a unit file: {e}", path.display()))
    }
}
