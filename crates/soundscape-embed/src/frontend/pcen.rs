//! Per-channel energy normalisation (PCEN) of a magnitude spectrogram, as `librosa.pcen`
//! computes it (docs/embeddings.md#pcen): the front end of models such as Google's humpback
//! whale model and batdetect2, which take PCEN instead of log energies.
//!
//! The spectrogram: frames of `n_fft` samples every `hop` (no centre padding), a periodic Hann
//! window, the magnitude of each bin, times `scale`, only the bins whose centre lies in
//! `fmin..=fmax`. Then, per bin, a first-order smoother `M[t] = b S[t] + (1 - b) M[t - 1]`
//! started as librosa starts it (as if the past had been 1), with
//! `b = (sqrt(1 + 4 T^2) - 1) / (2 T^2)` for `T = time_constant * rate / hop` frames, and
//! `P = bias^power * expm1(power * log1p(S * exp(-gain * (ln eps + log1p(M / eps))) / bias))`.
//! One window gives `frames x bins` values, frames first, bins from low to high. Computed in
//! f64.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};

use super::FrontEnd;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcenParams {
    pub n_fft: usize,
    pub hop: usize,
    /// Band kept, Hz (default: all bins).
    #[serde(default)]
    pub fmin: f64,
    #[serde(default)]
    pub fmax: Option<f64>,
    /// Factor on the magnitudes first (batdetect2: 2^31).
    #[serde(default = "one")]
    pub scale: f64,
    #[serde(default = "d_gain")]
    pub gain: f64,
    #[serde(default = "d_bias")]
    pub bias: f64,
    #[serde(default = "d_power")]
    pub power: f64,
    /// Seconds (batdetect2's `sr = rate / 10` is a time constant ten times shorter).
    #[serde(default = "d_tc")]
    pub time_constant: f64,
    #[serde(default = "d_eps")]
    pub eps: f64,
}

fn one() -> f64 {
    1.0
}
fn d_gain() -> f64 {
    0.98
}
fn d_bias() -> f64 {
    2.0
}
fn d_power() -> f64 {
    0.5
}
fn d_tc() -> f64 {
    0.4
}
fn d_eps() -> f64 {
    1e-6
}

pub struct Pcen {
    p: PcenParams,
    samples: usize,
    frames: usize,
    bins: std::ops::RangeInclusive<usize>,
    b: f64,
    window: Vec<f64>,
    fft: Arc<dyn RealToComplex<f64>>,
}

impl Pcen {
    pub fn new(p: PcenParams, sample_rate: u32, samples: usize) -> Result<Pcen, String> {
        if p.n_fft == 0 || p.hop == 0 || samples < p.n_fft {
            return Err(format!(
                "pcen: n_fft and hop must be positive and a window ({samples} samples) must hold a frame of {}",
                p.n_fft
            ));
        }
        if p.time_constant <= 0.0 || p.eps <= 0.0 || p.bias < 0.0 {
            return Err("pcen: time_constant and eps must be positive, bias not negative".into());
        }
        let df = sample_rate as f64 / p.n_fft as f64;
        let fmax = p.fmax.unwrap_or(sample_rate as f64 / 2.0);
        let kept: Vec<usize> = (0..=p.n_fft / 2)
            .filter(|&k| (p.fmin..=fmax).contains(&(k as f64 * df)))
            .collect();
        let (Some(&lo), Some(&hi)) = (kept.first(), kept.last()) else {
            return Err(format!("pcen: no bin lies in {}–{fmax} Hz", p.fmin));
        };
        let t = p.time_constant * sample_rate as f64 / p.hop as f64;
        let b = ((1.0 + 4.0 * t * t).sqrt() - 1.0) / (2.0 * t * t);
        let n = p.n_fft as f64;
        let window = (0..p.n_fft)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n).cos())
            .collect();
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(p.n_fft);
        Ok(Pcen {
            frames: 1 + (samples - p.n_fft) / p.hop,
            p,
            samples,
            bins: lo..=hi,
            b,
            window,
            fft,
        })
    }

    fn bins(&self) -> usize {
        self.bins.end() - self.bins.start() + 1
    }
}

impl FrontEnd for Pcen {
    fn len(&self) -> usize {
        self.frames * self.bins()
    }

    fn compute(&self, window: &[f32], out: &mut [f32]) {
        debug_assert_eq!(window.len(), self.samples);
        let p = &self.p;
        let nb = self.bins();
        let mut frame = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        // The smoother's state per bin: librosa's lfilter_zi, the steady state of input 1.
        let mut state = vec![1.0 - self.b; nb];
        for f in 0..self.frames {
            let s = &window[f * p.hop..f * p.hop + p.n_fft];
            for ((d, &v), w) in frame.iter_mut().zip(s).zip(&self.window) {
                *d = v as f64 * w;
            }
            self.fft
                .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)
                .expect("buffers sized by the plan");
            let row = &mut out[f * nb..(f + 1) * nb];
            for ((o, z), c) in row
                .iter_mut()
                .zip(state.iter_mut())
                .zip(&spectrum[self.bins.clone()])
            {
                let s = c.norm() * p.scale;
                let m = self.b * s + *z;
                *z = (1.0 - self.b) * m;
                let smooth = (-p.gain * (p.eps.ln() + (m / p.eps).ln_1p())).exp();
                let v = if p.power == 0.0 {
                    (s * smooth).ln_1p()
                } else if p.bias == 0.0 {
                    (p.power * (s.ln() + smooth.ln())).exp()
                } else {
                    p.bias.powf(p.power) * (p.power * (s * smooth / p.bias).ln_1p()).exp_m1()
                };
                *o = v as f32;
            }
        }
    }
}
