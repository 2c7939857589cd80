//! The detection settings (`--detect detect.json`) and the models they name:
//!
//! ```json
//! {"selector": "birdnet-v2.4", "experts": {}, "margin": 0.5, "min_score": 0.1, "predictions": 5}
//! ```
//!
//! `selector` is a model of the embeddings stage (a folder under the models folder);
//! `experts` maps a selector class (its full label) to the model that refines it. Every model
//! of a cascade takes the same sample rate and window, so one resampled window serves all.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use soundscape_embed::manifest::ModelDir;
use soundscape_embed::model::Model;

/// The settings file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    pub selector: String,
    #[serde(default)]
    pub experts: BTreeMap<String, String>,
    /// How much the winning class must beat the best unrelated one by (Tidzam: 0.5).
    #[serde(default = "default_margin")]
    pub margin: f32,
    /// Lowest score of a winning class and of a listed prediction.
    #[serde(default = "default_min_score")]
    pub min_score: f32,
    /// Predictions listed per window (the best ones at or above `min_score`).
    #[serde(default = "default_predictions")]
    pub predictions: usize,
    /// Slope of a sigmoid activation (BirdNET's sensitivity).
    #[serde(default = "default_sensitivity")]
    pub sensitivity: f32,
    /// Step between windows in seconds (default: the model's hop).
    #[serde(default)]
    pub hop_s: Option<f64>,
}

fn default_margin() -> f32 {
    0.5
}
fn default_min_score() -> f32 {
    0.1
}
fn default_predictions() -> usize {
    5
}
fn default_sensitivity() -> f32 {
    1.0
}

/// The loaded models: the selector and, per selector class, its expert.
pub struct Models {
    pub config: DetectConfig,
    pub selector: Model,
    pub selector_labels: Vec<String>,
    /// (index of the selector class, the expert, its labels).
    pub experts: Vec<(usize, Model, Vec<String>)>,
    /// Samples per window and per hop, at `rate`.
    pub window: usize,
    pub hop: usize,
    pub rate: u32,
}

fn load(models_dir: &Path, name: &str) -> Result<Model, String> {
    let dir = ModelDir::find(models_dir, name).map_err(|e| e.to_string())?;
    let model = Model::load(dir, 1)?;
    if model.front_end.window().is_none() {
        return Err(format!(
            "model {name}: an image model cannot run on live windows"
        ));
    }
    if model.labels.is_empty() {
        return Err(format!("model {name} has no labels: it cannot detect"));
    }
    Ok(model)
}

fn labels(m: &Model) -> Vec<String> {
    m.labels.iter().map(|l| l.raw.clone()).collect()
}

impl Models {
    /// Reads the settings file and loads (and checks) its models.
    pub fn load(path: &Path, models_dir: &Path) -> Result<Models, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let config: DetectConfig = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a detection settings file: {e}", path.display()))?;
        Models::new(config, models_dir).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn new(config: DetectConfig, models_dir: &Path) -> Result<Models, String> {
        if !(0.0..=1.0).contains(&config.margin) || !(0.0..=1.0).contains(&config.min_score) {
            return Err("margin and min_score are between 0 and 1".into());
        }
        let selector = load(models_dir, &config.selector)?;
        let selector_labels = labels(&selector);
        let (rate, win) = (
            selector.manifest.sample_rate,
            selector.manifest.window_samples(),
        );
        let mut experts = Vec::new();
        for (class, name) in &config.experts {
            let i = selector_labels
                .iter()
                .position(|l| l == class)
                .ok_or_else(|| {
                    format!(
                        "expert {name}: the selector {} has no class {class:?}",
                        config.selector
                    )
                })?;
            let m = load(models_dir, name)?;
            if m.manifest.sample_rate != rate || m.manifest.window_samples() != win {
                return Err(format!(
                    "expert {name} takes {} Hz windows of {} samples, the selector {} Hz windows of {win}: a cascade's models must agree",
                    m.manifest.sample_rate,
                    m.manifest.window_samples(),
                    rate
                ));
            }
            let l = labels(&m);
            experts.push((i, m, l));
        }
        let hop_s = config.hop_s.unwrap_or_else(|| selector.manifest.hop());
        let hop = (hop_s * rate as f64).round() as usize;
        if hop == 0 {
            return Err(format!("hop_s {hop_s} is shorter than one sample"));
        }
        Ok(Models {
            config,
            selector,
            selector_labels,
            experts,
            window: win,
            hop,
            rate,
        })
    }

    /// The combined classes of one window.
    pub fn classify(&self, window: &[f32]) -> Result<Vec<crate::cascade::Class>, String> {
        let s = self.config.sensitivity;
        let sel = soundscape_embed::analyze::window_scores(&self.selector, window, s)?;
        let mut ex = Vec::with_capacity(self.experts.len());
        for (_, m, _) in &self.experts {
            ex.push(soundscape_embed::analyze::window_scores(m, window, s)?);
        }
        let experts: Vec<(usize, &[String], &[f32])> = self
            .experts
            .iter()
            .zip(&ex)
            .map(|((i, _, l), s)| (*i, l.as_slice(), s.as_slice()))
            .collect();
        Ok(crate::cascade::combine(
            (&self.selector_labels, &sel),
            &experts,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use soundscape_embed::testmodel;

    fn config(json: serde_json::Value) -> DetectConfig {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_cascade_loads_when_its_models_agree() {
        let dir = tempfile::tempdir().unwrap();
        testmodel::write(&dir.path().join(testmodel::NAME)).unwrap();
        // The same network over 2 s windows of 8 kHz: it cannot share the selector's windows.
        let long = dir.path().join("test-long");
        testmodel::write(&long).unwrap();
        let mut m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(long.join("model.json")).unwrap()).unwrap();
        m["name"] = "test-long".into();
        m["window_s"] = 2.0.into();
        m["sample_rate"] = 8000.into();
        std::fs::write(long.join("model.json"), m.to_string()).unwrap();
        let m = Models::new(
            config(serde_json::json!({"selector": testmodel::NAME, "experts": {"tone_3k": testmodel::NAME}})),
            dir.path(),
        )
        .unwrap();
        assert_eq!((m.rate, m.window, m.hop), (16_000, 16_000, 16_000));
        assert_eq!(m.experts[0].0, 1);
        // One window of the 3 kHz cosine: the expert's classes are children of tone_3k.
        let w: Vec<f32> = (0..16_000)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 3000.0 * i as f32 / 16_000.0).cos())
            .collect();
        let c = m.classify(&w).unwrap();
        assert_eq!(c.len(), 6);
        assert_eq!(c[4].name, "tone_3k-tone_3k");
        assert_eq!(c[4].parent, Some(1));
        assert!((c[4].score - c[1].score * c[1].score).abs() < 1e-6);
        let win = crate::cascade::decide(&c, 0.3, 0.1).map(|i| c[i].name.clone());
        assert_eq!(win.as_deref(), Some("tone_3k-tone_3k"));
        for (json, needle) in [
            (
                serde_json::json!({"selector": testmodel::NAME, "experts": {"birds": testmodel::NAME}}),
                "no class",
            ),
            (
                serde_json::json!({"selector": testmodel::NAME, "experts": {"tone_1k": "test-long"}}),
                "must agree",
            ),
            (
                serde_json::json!({"selector": "nothing-here"}),
                "nothing-here",
            ),
            (
                serde_json::json!({"selector": testmodel::NAME, "margin": 2.0}),
                "between 0 and 1",
            ),
        ] {
            let e = Models::new(config(json.clone()), dir.path())
                .err()
                .unwrap_or_default();
            assert!(e.contains(needle), "{json}: {e}");
        }
        assert!(serde_json::from_value::<DetectConfig>(
            serde_json::json!({"selector": "x", "colour": 1})
        )
        .is_err());
    }
}
