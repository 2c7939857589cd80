//! Front ends: one window of audio at the model's rate -> the model's input tensor.
//!
//! Each front end reproduces the preprocessing a model was trained with, so that the network
//! sees what it saw in its own framework; each is tested against that original
//! (docs/embeddings.md#front-ends).

pub mod birdnet;
pub mod logmel;

use std::path::Path;

use crate::manifest::{FrontEnd as Spec, Manifest};

/// A front end ready to run: fills one window's slice of the input tensor.
pub trait FrontEnd: Send + Sync {
    /// Number of values one window gives (the product of the input shape without the batch
    /// axis).
    fn len(&self) -> usize;
    /// True for a front end that gives nothing (never, for a built one).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Computes the input of one window of `window_samples` samples into `out` (`len()`
    /// values).
    fn compute(&self, window: &[f32], out: &mut [f32]);
}

/// The window's samples as they are, optionally peak-normalised to `peak`.
pub struct Waveform {
    pub samples: usize,
    pub peak: Option<f32>,
}

impl FrontEnd for Waveform {
    fn len(&self) -> usize {
        self.samples
    }

    fn compute(&self, window: &[f32], out: &mut [f32]) {
        out.copy_from_slice(window);
        if let Some(peak) = self.peak {
            let max = window.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            if max > 0.0 {
                let g = peak / max;
                out.iter_mut().for_each(|x| *x *= g);
            }
        }
    }
}

/// Builds the front end a manifest describes (reading its constants from `dir`).
pub fn build(manifest: &Manifest, dir: &Path) -> Result<Box<dyn FrontEnd>, String> {
    let samples = manifest.window_samples();
    let per_window: usize = manifest.input.shape[1..].iter().product();
    let fe: Box<dyn FrontEnd> = match &manifest.front_end {
        Spec::Waveform { peak_normalize } => Box::new(Waveform {
            samples,
            peak: *peak_normalize,
        }),
        Spec::BirdnetMel {
            constants,
            channels,
        } => Box::new(birdnet::BirdnetMel::load(
            &dir.join(constants),
            channels,
            samples,
        )?),
        Spec::LogMel(p) => Box::new(logmel::LogMel::new(
            p.clone(),
            manifest.sample_rate,
            samples,
        )?),
    };
    if fe.len() != per_window {
        return Err(format!(
            "the front end gives {} values per window but input.shape {:?} takes {per_window}",
            fe.len(),
            manifest.input.shape
        ));
    }
    Ok(fe)
}
