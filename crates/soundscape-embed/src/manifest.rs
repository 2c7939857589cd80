//! The model manifest (`model.json` beside the weights): everything the stage needs to know
//! about a model, so that adding a model is a file, not code (docs/embeddings.md#manifest).
//!
//! A manifest names the weights and the files that go with them (labels, front-end
//! constants) with their sha256, the audio the model takes (sample rate, window, hop), the
//! front end that turns a window of audio into the input tensor, the tensors to read, and how
//! scores are made from the model's outputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// File name of a manifest inside a model's folder.
pub const MANIFEST_FILE: &str = "model.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The name users give to `--model` (`birdnet-v2.4`).
    pub name: String,
    /// Version written into every row.
    pub version: String,
    /// Licence of the weights (SPDX id or a plain statement), shown by `--list-models`.
    pub licence: String,
    /// Where the weights come from (package and version), for people.
    #[serde(default)]
    pub source: String,
    /// ONNX file of the network, relative to the manifest's folder.
    pub weights: String,
    /// One label per line, in output order; absent for embedding-only models.
    #[serde(default)]
    pub labels: Option<String>,
    /// How a label line splits into scientific and common names.
    #[serde(default)]
    pub label_format: LabelFormat,
    /// sha256 of every file above (and of front-end constants), by file name.
    pub sha256: BTreeMap<String, String>,
    /// sha256 of the published files the model was made from (for people and `just models`).
    #[serde(default)]
    pub source_sha256: BTreeMap<String, String>,
    /// Sample rate the model takes, Hz.
    pub sample_rate: u32,
    /// Length of one window of audio, seconds.
    pub window_s: f64,
    /// Default step between windows, seconds (default: the window length, no overlap).
    #[serde(default)]
    pub hop_s: Option<f64>,
    /// A last window shorter than this is dropped; a longer one is padded with zeros
    /// (default: half a window).
    #[serde(default)]
    pub min_window_s: Option<f64>,
    /// How audio at another rate is brought to `sample_rate` (default: rubato).
    #[serde(default)]
    pub resampler: crate::resample::Kind,
    pub front_end: FrontEnd,
    pub input: InputSpec,
    pub outputs: OutputSpec,
    /// How scores are made from the scores output.
    #[serde(default)]
    pub activation: Activation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelFormat {
    /// The whole line is the label; scientific and common names are left empty.
    #[default]
    Plain,
    /// `Scientific name_Common name` (BirdNET).
    ScientificCommon,
}

/// The front end: audio window -> input tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FrontEnd {
    /// The window's samples as they are (`[1, samples]`), optionally peak-normalised.
    Waveform {
        #[serde(default)]
        peak_normalize: Option<f32>,
    },
    /// BirdNET V2.4's two-channel mel spectrogram, computed in Rust so that the network runs
    /// from the tensor after it (docs/embeddings.md#birdnet).
    BirdnetMel {
        /// Little-endian f32 file of the constants: window 1, mel matrix 1, window 2, mel
        /// matrix 2, in that order, with the shapes below.
        constants: String,
        channels: Vec<BirdnetChannel>,
    },
    /// VGGish/YAMNet log-mel patches (`[patches, 96, 64]`-style input).
    LogMel(crate::frontend::logmel::LogMelParams),
    /// PCEN of the magnitude spectrogram, as `librosa.pcen` (`[frames, bins]`).
    Pcen(crate::frontend::pcen::PcenParams),
    /// batbot's spectrogram picture of each window of audio (`window_s` is the longest
    /// stretch drawn as one picture), cut into square image windows whose scores are averaged
    /// (the bats-ai / batbot species classifier).
    BatbotImage(crate::frontend::batbot::BatbotParams),
}

impl FrontEnd {
    /// Front ends that draw a picture of a whole window of audio and give the network many
    /// inputs for it (their scores are averaged into the window's).
    pub fn is_image(&self) -> bool {
        matches!(self, FrontEnd::BatbotImage(_))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BirdnetChannel {
    pub frame_length: usize,
    pub frame_step: usize,
    pub mel_bands: usize,
    /// The learned exponent applied to the squared mel energies.
    pub exponent: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Input tensor name (default: the graph's first input).
    #[serde(default)]
    pub name: Option<String>,
    /// Shape of one window's input, batch axis first (its size is set by the stage).
    pub shape: Vec<usize>,
    /// Element type of the input tensor.
    #[serde(default)]
    pub dtype: Dtype,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dtype {
    #[default]
    F32,
    /// Bytes (image models whose graph normalises its own input).
    U8,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Name of the embedding output (`[batch, dim]`), if the model gives one.
    #[serde(default)]
    pub embedding: Option<String>,
    /// Name of the scores output (`[batch, labels]`), if the model classifies.
    #[serde(default)]
    pub scores: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Activation {
    /// The output already is a score.
    #[default]
    Identity,
    /// BirdNET's `1 / (1 + exp(-sensitivity * clip(x, -clip, clip)))`.
    Sigmoid {
        #[serde(default = "default_clip")]
        clip: f32,
    },
    /// Softmax over the labels.
    Softmax,
}

fn default_clip() -> f32 {
    15.0
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A manifest with the folder it was read from.
#[derive(Debug, Clone)]
pub struct ModelDir {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl ModelDir {
    /// Reads and checks `dir/model.json` (not the files' hashes: see [`ModelDir::verify`]).
    pub fn open(dir: &Path) -> Result<ModelDir, ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Io {
            path: path.clone(),
            source,
        })?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| ManifestError::Invalid {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        manifest.check().map_err(|reason| ManifestError::Invalid {
            path: path.clone(),
            reason,
        })?;
        Ok(ModelDir {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// Finds model `name` under `models_dir`: a folder whose manifest has that name
    /// (normally `models_dir/<name>/model.json`).
    pub fn find(models_dir: &Path, name: &str) -> Result<ModelDir, ManifestError> {
        let direct = models_dir.join(name);
        if direct.join(MANIFEST_FILE).exists() {
            return ModelDir::open(&direct);
        }
        let known = list_models(models_dir);
        if let Some(m) = known.iter().find(|m| m.manifest.name == name) {
            return Ok(m.clone());
        }
        let names: Vec<_> = known.iter().map(|m| m.manifest.name.as_str()).collect();
        Err(ManifestError::Invalid {
            path: models_dir.to_path_buf(),
            reason: if names.is_empty() {
                format!("no model {name:?}: this folder holds no models (run `just models` to fetch them, or pass --models-dir)")
            } else {
                format!("no model {name:?} (known here: {})", names.join(", "))
            },
        })
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Checks the sha256 of every file the manifest lists.
    pub fn verify(&self) -> Result<(), ManifestError> {
        for (file, want) in &self.manifest.sha256 {
            let path = self.path(file);
            let got = sha256_file(&path).map_err(|source| ManifestError::Io {
                path: path.clone(),
                source,
            })?;
            if !got.eq_ignore_ascii_case(want) {
                return Err(ManifestError::Invalid {
                    path,
                    reason: format!("sha256 {got} differs from the manifest's {want} (fetch the model again with `just models`)"),
                });
            }
        }
        Ok(())
    }
}

/// Every model folder directly under `models_dir` with a readable manifest.
pub fn list_models(models_dir: &Path) -> Vec<ModelDir> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(models_dir) {
        for e in entries.flatten() {
            if e.path().join(MANIFEST_FILE).exists() {
                if let Ok(m) = ModelDir::open(&e.path()) {
                    out.push(m);
                }
            }
        }
    }
    out.sort_by(|a, b| a.manifest.name.cmp(&b.manifest.name));
    out
}

/// The sha256 of a file, in lower-case hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

impl Manifest {
    /// Window length in samples at the model's rate.
    pub fn window_samples(&self) -> usize {
        (self.window_s * self.sample_rate as f64).round() as usize
    }

    /// Default hop in seconds.
    pub fn hop(&self) -> f64 {
        self.hop_s.unwrap_or(self.window_s)
    }

    pub fn min_window(&self) -> f64 {
        self.min_window_s.unwrap_or(self.window_s / 2.0)
    }

    fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("name is empty".into());
        }
        if self.sample_rate == 0 || self.window_s.is_nan() || self.window_s <= 0.0 {
            return Err("sample_rate and window_s must be positive".into());
        }
        if let Some(h) = self.hop_s {
            if h.is_nan() || h <= 0.0 {
                return Err("hop_s must be positive".into());
            }
        }
        let m = self.min_window();
        if !(m > 0.0 && m <= self.window_s) {
            return Err("min_window_s must be in (0, window_s]".into());
        }
        if self.outputs.embedding.is_none() && self.outputs.scores.is_none() {
            return Err("outputs names neither an embedding nor scores".into());
        }
        if self.outputs.scores.is_some() && self.labels.is_none() {
            return Err("a model with scores needs a labels file".into());
        }
        if self.input.shape.len() < 2 {
            return Err("input.shape needs a batch axis and at least one more".into());
        }
        for f in std::iter::once(&self.weights).chain(self.labels.iter()) {
            if !self.sha256.contains_key(f) {
                return Err(format!("sha256 lists no hash for {f}"));
            }
        }
        if let FrontEnd::BirdnetMel {
            constants,
            channels,
        } = &self.front_end
        {
            if !self.sha256.contains_key(constants) {
                return Err(format!("sha256 lists no hash for {constants}"));
            }
            if channels.is_empty() {
                return Err("birdnet_mel needs at least one channel".into());
            }
        }
        Ok(())
    }
}
