//! Front ends: one window of audio at the model's rate -> the model's input tensor.
//!
//! Each front end reproduces the preprocessing a model was trained with, so that the network
//! sees what it saw in its own framework; each is tested against that original
//! (docs/embeddings.md#front-ends).

pub mod batbot;
pub mod birdnet;
pub mod logmel;
pub mod pcen;
pub mod resize;

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

/// A built front end: one network input per window of audio, or a picture of the window cut
/// into many inputs.
pub enum Built {
    Window(Box<dyn FrontEnd>),
    Image(batbot::BatbotImage),
}

impl Built {
    /// Values of one network input.
    pub fn input_len(&self) -> usize {
        match self {
            Built::Window(f) => f.len(),
            Built::Image(i) => i.input_len(),
        }
    }

    /// The windowed front end, if this is one.
    pub fn window(&self) -> Option<&dyn FrontEnd> {
        match self {
            Built::Window(f) => Some(f.as_ref()),
            Built::Image(_) => None,
        }
    }
}

/// Builds the front end a manifest describes (reading its constants from `dir`).
pub fn build(manifest: &Manifest, dir: &Path) -> Result<Built, String> {
    let samples = manifest.window_samples();
    let per_window: usize = manifest.input.shape[1..].iter().product();
    let fe: Box<dyn FrontEnd> = match &manifest.front_end {
        Spec::BatbotImage(p) => {
            let img = batbot::BatbotImage::new(p.clone(), manifest.sample_rate)?;
            if img.input_len() != per_window {
                return Err(format!(
                    "the picture windows give {} values but input.shape {:?} takes {per_window}",
                    img.input_len(),
                    manifest.input.shape
                ));
            }
            return Ok(Built::Image(img));
        }
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
        Spec::Pcen(p) => Box::new(pcen::Pcen::new(p.clone(), manifest.sample_rate, samples)?),
    };
    if fe.len() != per_window {
        return Err(format!(
            "the front end gives {} values per window but input.shape {:?} takes {per_window}",
            fe.len(),
            manifest.input.shape
        ));
    }
    Ok(Built::Window(fe))
}
