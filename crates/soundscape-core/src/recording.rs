//! A recording (one audio file to analyse) and the processing unit it belongs to.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The processing unit of SiPeCaM: node, recorder serial and deployment date (docs/files.md#get-audio-df).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UnitKey {
    pub node: String,
    pub recorder: String,
    pub deployment: String,
}

impl UnitKey {
    /// Placeholder node name used when the input says nothing about nodes: SiPeCaM
    /// nomenclature with integrity flag 1.
    pub const PLACEHOLDER_NODE: &'static str = "0_00_1_0000";
    pub const PLACEHOLDER_RECORDER: &'static str = "UNKNOWN";

    /// `NodeCategoryIntegrity` in docs/method.md#metadata: the 3rd `_` token of the node, 0 = "Degradado",
    /// 1 = "Integro". Anything else is an error (the original lost the unit silently).
    pub fn node_integrity(&self) -> Result<&'static str, String> {
        match self.node.split('_').nth(2) {
            Some("0") => Ok("Degradado"),
            Some("1") => Ok("Integro"),
            other => Err(format!(
                "node name {:?} has no integrity flag (3rd '_' token must be 0 or 1, found {:?})",
                self.node, other
            )),
        }
    }
}

/// One audio file with everything the engine and the products need to know about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    /// Row position in the input table; written as the pandas index of the soundscape table.
    pub index: usize,
    /// Recording id (Alfresco node id, or the file stem).
    pub id: String,
    pub path: PathBuf,
    /// Start of the recording, with the offset the recorder was configured with.
    pub start: DateTime<FixedOffset>,
    /// Time zone label stored with the recording (SiPeCaM `sipecam:Timezone`).
    pub time_zone: String,
    pub unit: UnitKey,
    /// Cumulus (SiPeCaM site group) the recording belongs to, when the input names one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cumulus: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// Duration declared by metadata (seconds), checked against the file header.
    pub declared_duration: Option<f64>,
    /// Sample rate declared by metadata (Hz), checked against the file header.
    pub declared_samplerate: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(node: &str) -> UnitKey {
        UnitKey {
            node: node.into(),
            recorder: "R".into(),
            deployment: "2021-08-04".into(),
        }
    }

    #[test]
    fn integrity_flag() {
        assert_eq!(key("1_95_1_1350").node_integrity().unwrap(), "Integro");
        assert_eq!(key("1_95_0_1350").node_integrity().unwrap(), "Degradado");
        assert!(key("1_95_x_1350").node_integrity().is_err());
        assert!(key("node").node_integrity().is_err());
    }
}
