//! BirdNET V2.4's spectrogram front end, as its TFLite graph computes it before the network
//! (docs/embeddings.md#birdnet):
//!
//! 1. the 3 s window is min-max scaled to [-1, 1]: `((x - min) / (max(x - min) + 1e-6) - 0.5) * 2`;
//! 2. per channel, frames of `frame_length` every `frame_step` samples (no padding), times the
//!    graph's stored periodic Hann window, real FFT;
//! 3. the **real part** of each bin (the graph casts complex to float, which keeps the real
//!    part; it is not the magnitude), times the stored mel matrix;
//! 4. squared, then raised to the channel's learned exponent;
//! 5. mel axis reversed (high bands first), laid out `[bands, frames]`, channels last:
//!    `[1, 96, 511, 2]`.
//!
//! The scaling is done in float32 as the graph does; the FFT and the mel sums in float64,
//! which comes closer to the graph's float32 results than float32 arithmetic in another order
//! (the power's steep slope near zero magnifies rounding differences). The power itself is
//! taken in float32 of the float64 square: the largest difference to the graph is the same as
//! with a float64 power, at a third of its cost.
//!
//! The mel matrices are BirdNET's own (not a standard construction) and are read from the
//! constants file extracted from the TFLite model by `just models`. They are mostly zeros, so
//! each band keeps only its non-zero bin range.

use std::path::Path;
use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

use super::FrontEnd;
use crate::manifest::BirdnetChannel;

struct Band {
    lo: usize,
    weights: Vec<f64>,
}

struct Channel {
    frame_length: usize,
    frame_step: usize,
    exponent: f32,
    window: Vec<f64>,
    bands: Vec<Band>,
    fft: Arc<dyn RealToComplex<f64>>,
}

pub struct BirdnetMel {
    samples: usize,
    frames: usize,
    bands: usize,
    channels: Vec<Channel>,
}

fn read_f32s(path: &Path) -> Result<Vec<f32>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() % 4 != 0 {
        return Err(format!("{}: not a little-endian f32 file", path.display()));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

impl BirdnetMel {
    /// Reads the constants file (window 1, mel matrix 1, window 2, mel matrix 2, ...).
    pub fn load(path: &Path, specs: &[BirdnetChannel], samples: usize) -> Result<Self, String> {
        let values = read_f32s(path)?;
        let mut at = 0usize;
        let mut take = |n: usize| -> Result<&[f32], String> {
            let s = values.get(at..at + n).ok_or_else(|| {
                format!(
                    "{}: holds {} values, fewer than the manifest's channels need",
                    path.display(),
                    values.len()
                )
            })?;
            at += n;
            Ok(s)
        };
        let mut channels = Vec::new();
        let mut planner = RealFftPlanner::<f64>::new();
        let mut frames = None;
        for c in specs {
            let bins = c.frame_length / 2 + 1;
            let window = take(c.frame_length)?.iter().map(|&w| w as f64).collect();
            let mel = take(c.mel_bands * bins)?;
            let bands = mel
                .chunks_exact(bins)
                .map(|row| {
                    let lo = row.iter().position(|&w| w != 0.0).unwrap_or(0);
                    let hi = row.iter().rposition(|&w| w != 0.0).map_or(lo, |i| i + 1);
                    Band {
                        lo,
                        weights: row[lo..hi].iter().map(|&w| w as f64).collect(),
                    }
                })
                .collect();
            if samples < c.frame_length || c.frame_step == 0 {
                return Err(format!(
                    "a window of {samples} samples is shorter than a frame of {}",
                    c.frame_length
                ));
            }
            let n = (samples - c.frame_length) / c.frame_step + 1;
            if *frames.get_or_insert(n) != n {
                return Err("the channels give different frame counts".into());
            }
            channels.push(Channel {
                frame_length: c.frame_length,
                frame_step: c.frame_step,
                exponent: c.exponent,
                window,
                bands,
                fft: planner.plan_fft_forward(c.frame_length),
            });
        }
        let _ = take;
        if at != values.len() {
            return Err(format!(
                "{}: holds {} values, the manifest's channels use {at}",
                path.display(),
                values.len()
            ));
        }
        let bands = specs[0].mel_bands;
        if specs.iter().any(|c| c.mel_bands != bands) {
            return Err("the channels have different band counts".into());
        }
        Ok(BirdnetMel {
            samples,
            frames: frames.unwrap_or(0),
            bands,
            channels,
        })
    }
}

impl FrontEnd for BirdnetMel {
    fn len(&self) -> usize {
        self.bands * self.frames * self.channels.len()
    }

    fn compute(&self, window: &[f32], out: &mut [f32]) {
        debug_assert_eq!(window.len(), self.samples);
        let min = window.iter().copied().fold(f32::INFINITY, f32::min);
        let max = window
            .iter()
            .map(|x| x - min)
            .fold(f32::NEG_INFINITY, f32::max);
        let scale = max + 1e-6;
        let x: Vec<f32> = window
            .iter()
            .map(|v| ((v - min) / scale - 0.5) * 2.0)
            .collect();
        let nch = self.channels.len();
        for (ci, ch) in self.channels.iter().enumerate() {
            let mut frame = ch.fft.make_input_vec();
            let mut spectrum = ch.fft.make_output_vec();
            let mut scratch = ch.fft.make_scratch_vec();
            let mut re = vec![0f64; spectrum.len()];
            for f in 0..self.frames {
                let s = &x[f * ch.frame_step..f * ch.frame_step + ch.frame_length];
                for ((d, &v), w) in frame.iter_mut().zip(s).zip(&ch.window) {
                    *d = v as f64 * w;
                }
                ch.fft
                    .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)
                    .expect("buffers sized by the plan");
                for (r, c) in re.iter_mut().zip(&spectrum) {
                    *r = c.re;
                }
                for (j, band) in ch.bands.iter().enumerate() {
                    let m: f64 = band
                        .weights
                        .iter()
                        .zip(&re[band.lo..])
                        .map(|(w, r)| w * r)
                        .sum();
                    let row = self.bands - 1 - j;
                    out[(row * self.frames + f) * nch + ci] = ((m * m) as f32).powf(ch.exponent);
                }
            }
        }
    }
}
