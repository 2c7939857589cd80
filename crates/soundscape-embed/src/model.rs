//! A model ready to run: its manifest checked, its files verified, its labels read, its front
//! end built and its network loaded.

use crate::frontend::{self, Built};
use crate::manifest::{LabelFormat, ModelDir};
use crate::network::Network;

/// One output label, split as the manifest's label format says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub raw: String,
    pub scientific: String,
    pub common: String,
}

impl Label {
    pub fn parse(line: &str, format: LabelFormat) -> Label {
        let raw = line.trim_end_matches(['\r', '\n']).to_string();
        let (scientific, common) = match format {
            LabelFormat::Plain => (String::new(), String::new()),
            LabelFormat::ScientificCommon => match raw.split_once('_') {
                Some((s, c)) => (s.to_string(), c.to_string()),
                None => (raw.clone(), String::new()),
            },
        };
        Label {
            raw,
            scientific,
            common,
        }
    }
}

pub struct Model {
    pub dir: ModelDir,
    pub manifest: crate::manifest::Manifest,
    pub labels: Vec<Label>,
    pub front_end: Built,
    pub network: Network,
}

impl Model {
    /// Loads a model, checking the sha256 of its files first.
    pub fn load(dir: ModelDir, batch: usize) -> Result<Model, String> {
        dir.verify().map_err(|e| e.to_string())?;
        let manifest = dir.manifest.clone();
        let labels = match &manifest.labels {
            Some(f) => {
                let path = dir.path(f);
                std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| Label::parse(l, manifest.label_format))
                    .collect()
            }
            None => vec![],
        };
        let front_end = frontend::build(&manifest, &dir.dir)
            .map_err(|e| format!("{}: {e}", dir.dir.display()))?;
        let network = Network::load(&manifest, &dir.path(&manifest.weights), batch.max(1))?;
        Ok(Model {
            dir,
            manifest,
            labels,
            front_end,
            network,
        })
    }
}
