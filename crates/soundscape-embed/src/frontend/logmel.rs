//! The VGGish/YAMNet log-mel front end (docs/embeddings.md#log-mel): periodic Hann frames
//! (25 ms every 10 ms at 16 kHz, no centre padding), magnitude of a zero-padded real FFT,
//! an HTK-scale triangular mel matrix built in the mel domain (band edges equally spaced in
//! mel between `fmin` and `fmax`, no area normalisation, DC row zeroed), `ln(mel + offset)`.
//! One window gives one patch of `frames x bands` values, frames first. Computed in f64 as
//! the numpy original does.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};

use super::FrontEnd;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogMelParams {
    #[serde(default = "d_frame")]
    pub frame_length: usize,
    #[serde(default = "d_step")]
    pub frame_step: usize,
    #[serde(default = "d_fft")]
    pub fft_length: usize,
    #[serde(default = "d_bands")]
    pub mel_bands: usize,
    #[serde(default = "d_fmin")]
    pub fmin: f64,
    #[serde(default = "d_fmax")]
    pub fmax: f64,
    /// 0.01 for VGGish, 0.001 for YAMNet.
    pub log_offset: f64,
    /// Frames per patch (96).
    #[serde(default = "d_patch")]
    pub patch_frames: usize,
}

fn d_frame() -> usize {
    400
}
fn d_step() -> usize {
    160
}
fn d_fft() -> usize {
    512
}
fn d_bands() -> usize {
    64
}
fn d_fmin() -> f64 {
    125.0
}
fn d_fmax() -> f64 {
    7500.0
}
fn d_patch() -> usize {
    96
}

/// HTK mel scale.
pub fn hz_to_mel(f: f64) -> f64 {
    1127.0 * (1.0 + f / 700.0).ln()
}

/// The `bins x bands` mel weight matrix, row-major by FFT bin.
pub fn mel_matrix(bins: usize, bands: usize, sample_rate: f64, fmin: f64, fmax: f64) -> Vec<f64> {
    let nyquist = sample_rate / 2.0;
    let bin_mel: Vec<f64> = (0..bins)
        .map(|k| hz_to_mel(nyquist * k as f64 / (bins - 1) as f64))
        .collect();
    let (lo, hi) = (hz_to_mel(fmin), hz_to_mel(fmax));
    let edges: Vec<f64> = (0..bands + 2)
        .map(|i| lo + (hi - lo) * i as f64 / (bands + 1) as f64)
        .collect();
    let mut w = vec![0.0; bins * bands];
    for b in 0..bands {
        let (l, c, u) = (edges[b], edges[b + 1], edges[b + 2]);
        for (k, &m) in bin_mel.iter().enumerate().skip(1) {
            let v = ((m - l) / (c - l)).min((u - m) / (u - c)).max(0.0);
            w[k * bands + b] = v;
        }
    }
    w
}

pub struct LogMel {
    p: LogMelParams,
    samples: usize,
    window: Vec<f64>,
    mel: Vec<f64>,
    fft: Arc<dyn RealToComplex<f64>>,
}

impl LogMel {
    pub fn new(p: LogMelParams, sample_rate: u32, samples: usize) -> Result<Self, String> {
        if p.fft_length < p.frame_length || p.frame_step == 0 || p.patch_frames == 0 {
            return Err("log_mel: fft_length must hold a frame, frame_step and patch_frames must be positive".into());
        }
        let need = p.frame_length + (p.patch_frames - 1) * p.frame_step;
        if samples != need {
            return Err(format!(
                "log_mel: {} frames of {} every {} need windows of {need} samples, the manifest gives {samples}",
                p.patch_frames, p.frame_length, p.frame_step
            ));
        }
        let n = p.frame_length as f64;
        let window = (0..p.frame_length)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n).cos())
            .collect();
        let bins = p.fft_length / 2 + 1;
        let mel = mel_matrix(bins, p.mel_bands, sample_rate as f64, p.fmin, p.fmax);
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(p.fft_length);
        Ok(LogMel {
            p,
            samples,
            window,
            mel,
            fft,
        })
    }
}

impl FrontEnd for LogMel {
    fn len(&self) -> usize {
        self.p.patch_frames * self.p.mel_bands
    }

    fn compute(&self, window: &[f32], out: &mut [f32]) {
        debug_assert_eq!(window.len(), self.samples);
        let bands = self.p.mel_bands;
        let mut frame = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        for f in 0..self.p.patch_frames {
            let s = &window[f * self.p.frame_step..f * self.p.frame_step + self.p.frame_length];
            frame.iter_mut().for_each(|v| *v = 0.0);
            for ((d, &v), w) in frame.iter_mut().zip(s).zip(&self.window) {
                *d = v as f64 * w;
            }
            self.fft
                .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)
                .expect("buffers sized by the plan");
            let row = &mut out[f * bands..(f + 1) * bands];
            let mut acc = vec![0.0f64; bands];
            for (k, c) in spectrum.iter().enumerate() {
                let mag = c.norm();
                for (a, w) in acc.iter_mut().zip(&self.mel[k * bands..(k + 1) * bands]) {
                    *a += mag * w;
                }
            }
            for (o, a) in row.iter_mut().zip(acc) {
                *o = (a + self.p.log_offset).ln() as f32;
            }
        }
    }
}
