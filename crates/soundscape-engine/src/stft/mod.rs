//! The magnitude STFT in docs/method.md#stft, streamed.
//!
//! librosa (≤ 0.9, as in production) pads the whole signal by `n_fft/2` samples on each side
//! with numpy `reflect` padding (the mirror excludes the edge sample); frame `t` covers padded
//! samples `[hop*t, hop*t + n_fft)`. Each frame (float32 samples) is multiplied by a periodic
//! Hann window computed as SciPy does (float64), transformed by a float64 real FFT, rounded to
//! complex64, and its magnitude taken in float32 as numpy's `abs` computes it
//! ([`abs_complex64`]). With AVX2 the FFT's last step and the magnitudes run fused
//! ([`fused`]), to the same bits; with AVX-512 the 1024-sample STFT's window product is taken
//! as its FFT loads the frame (`simd::fft512`).
//!
//! The arithmetic that must match the original comes from [`crate::fidelity`]; the fast paths
//! from [`crate::simd`]. Nothing else of the crate is used here.
//!
//! [`Framer`] turns a stream of sample blocks into frames without holding the whole signal:
//! it keeps only the samples that the next frames still need.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

pub mod fused;
mod staggered;

use crate::fidelity::{abs_complex64, hann_periodic, power};
use fused::FusedRfft;
pub(crate) use staggered::{slot, Staggered};

/// One STFT column at a time: window, float64 FFT, complex64 rounding, float32 magnitude.
pub struct Stft {
    n_fft: usize,
    window: Staggered<f64>,
    fft: Arc<dyn RealToComplex<f64>>,
    input: Staggered<f64>,
    output: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    /// With AVX2, the FFT's post-processing fused with the magnitudes (the same bits).
    fused: Option<FusedRfft>,
}

impl Stft {
    pub fn new(n_fft: usize) -> Stft {
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n_fft);
        Stft {
            n_fft,
            window: Staggered::from_slice(&hann_periodic(n_fft), slot::WINDOW),
            input: Staggered::new(n_fft, slot::INPUT),
            output: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
            fused: FusedRfft::new(n_fft),
        }
    }

    pub fn n_bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Magnitudes of one frame (`frame.len() == n_fft`) into `out` (first `out.len()` bins).
    pub fn magnitudes(&mut self, frame: &[f32], out: &mut [f32]) {
        self.column::<false>(frame, out);
    }

    /// The soundscape's power values `clip(|X|, 1e-3, 1e3)^2` of one frame into `out`
    /// ([`power`] of each magnitude, in the same pass).
    pub fn powers(&mut self, frame: &[f32], out: &mut [f32]) {
        self.column::<true>(frame, out);
    }

    /// Window, FFT and magnitudes (powers with `POWER`): fused where the CPU allows, else
    /// realfft and then the magnitudes.
    fn column<const POWER: bool>(&mut self, frame: &[f32], out: &mut [f32]) {
        debug_assert_eq!(frame.len(), self.n_fft);
        if let Some(fused) = &mut self.fused {
            return fused.run_frame::<POWER>(frame, &self.window, &mut self.input, out);
        }
        window(&mut self.input, frame, &self.window);
        self.fft
            .process_with_scratch(&mut self.input, &mut self.output, &mut self.scratch)
            .expect("FFT buffer sizes are fixed at construction");
        if POWER {
            column_powers(out, &self.output);
        } else {
            column_magnitudes(out, &self.output);
        }
    }
}

crate::simd::kernel! { Window:
    /// `input = frame * window` in float64.
    fn window(input: &mut [f64], frame: &[f32], window: &[f64]) {
        for ((x, &s), &w) in input.iter_mut().zip(frame).zip(window) {
            *x = s as f64 * w;
        }
    }
}

/// Complex64 rounding and magnitude of each bin, mapped by `f`.
#[inline(always)]
fn map_magnitudes(out: &mut [f32], spectrum: &[Complex<f64>], f: impl Fn(f32) -> f32) {
    for (o, c) in out.iter_mut().zip(spectrum) {
        *o = f(abs_complex64(c.re as f32, c.im as f32));
    }
}

crate::simd::kernel! { Columns:
    fn column_magnitudes(out: &mut [f32], spectrum: &[Complex<f64>]) {
        map_magnitudes(out, spectrum, |a| a)
    }
}

crate::simd::kernel! { Columns:
    fn column_powers(out: &mut [f32], spectrum: &[Complex<f64>]) {
        map_magnitudes(out, spectrum, power)
    }
}

/// Cuts a streamed signal of known length `n` into centred, reflect-padded frames.
pub struct Framer {
    n_fft: usize,
    hop: usize,
    n: usize,
    /// Samples `[buf_start, buf_start + buf.len())` of the signal.
    buf: Vec<f32>,
    buf_start: usize,
    received: usize,
    frame: Vec<f32>,
}

impl Framer {
    /// A framer for a signal of exactly `n` samples (`n > n_fft/2`).
    pub fn new(n_fft: usize, hop: usize, n: usize) -> Framer {
        assert!(n > n_fft / 2, "signal shorter than half a frame");
        Framer {
            n_fft,
            hop,
            n,
            buf: Vec::new(),
            buf_start: 0,
            received: 0,
            frame: vec![0.0; n_fft],
        }
    }

    /// Adds samples; anything past the `n` announced samples is ignored.
    pub fn push(&mut self, samples: &[f32]) {
        let take = samples.len().min(self.n - self.received);
        self.buf.extend_from_slice(&samples[..take]);
        self.received += take;
    }

    /// Ends the signal at `n` samples (no more than announced): a stream shorter than its
    /// header. Frames made so far are unaffected (they never reached past what was received).
    pub fn truncate(&mut self, n: usize) {
        assert!(
            n <= self.n && n >= self.received,
            "truncate to what was received"
        );
        self.n = n;
    }

    /// Whether frame `t` can be built from what has been received.
    pub fn ready(&self, t: usize) -> bool {
        let pad = self.n_fft / 2;
        let start = (t * self.hop) as isize - pad as isize;
        // One past the last original sample needed: the frame's own end, or, for a frame that
        // starts before the signal, its mirror image of sample `-start` (one further than the
        // frame's end when `start = -pad`: a decoder that delivers exactly `pad` samples first,
        // as Vorbis does, must not make frame 0 ready).
        let last = (start + self.n_fft as isize).max(1 - start) as usize;
        self.received >= last.min(self.n)
    }

    /// Frame `t` (must be [`ready`](Self::ready)); samples before the frame's start are kept
    /// only as long as later frames may need them.
    pub fn frame(&mut self, t: usize) -> &[f32] {
        let pad = self.n_fft / 2;
        let start = (t * self.hop) as isize - pad as isize;
        let end = start + self.n_fft as isize;
        let (b0, n) = (self.buf_start as isize, self.n as isize);
        if start >= 0 && end <= n {
            // Inside the signal: the samples as they are, without a copy.
            let a = (start - b0) as usize;
            return &self.buf[a..a + self.n_fft];
        }
        for (k, f) in self.frame.iter_mut().enumerate() {
            let mut j = start + k as isize;
            if j < 0 {
                j = -j;
            }
            if j >= n {
                j = 2 * (n - 1) - j;
            }
            *f = self.buf[(j - b0) as usize];
        }
        &self.frame
    }

    /// Drops samples that no frame from `t` on can need.
    pub fn release_before_frame(&mut self, t: usize) {
        let pad = self.n_fft / 2;
        // Frame t starts at t*hop - pad; the tail reflection can reach one sample further back.
        let keep_from = (t * self.hop)
            .saturating_sub(pad + 1)
            .min(self.n.saturating_sub(pad + 1));
        // Compact in large steps so that the memmove cost stays negligible.
        if keep_from >= self.buf_start + (1 << 16) {
            let drop = keep_from - self.buf_start;
            self.buf.drain(..drop);
            self.buf_start = keep_from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference STFT column by direct DFT with numpy-style reflect padding of a whole signal.
    fn reference_column(x: &[f32], t: usize, n_fft: usize, hop: usize) -> Vec<f32> {
        let n = x.len() as isize;
        let pad = (n_fft / 2) as isize;
        let w = hann_periodic(n_fft);
        let frame: Vec<f64> = (0..n_fft)
            .map(|k| {
                let mut j = (t * hop) as isize - pad + k as isize;
                if j < 0 {
                    j = -j;
                }
                if j >= n {
                    j = 2 * (n - 1) - j;
                }
                x[j as usize] as f64 * w[k]
            })
            .collect();
        (0..=n_fft / 2)
            .map(|b| {
                let (mut re, mut im) = (0.0f64, 0.0f64);
                for (k, v) in frame.iter().enumerate() {
                    let a = -2.0 * std::f64::consts::PI * (b * k) as f64 / n_fft as f64;
                    re += v * a.cos();
                    im += v * a.sin();
                }
                ((re as f32 as f64).powi(2) + (im as f32 as f64).powi(2)).sqrt() as f32
            })
            .collect()
    }

    /// The fused path and the plain one (realfft, then the magnitudes) give the same bits,
    /// magnitudes and powers alike: with AVX2 the fused kernels against the plain compiled
    /// twins, with `SOUNDSCAPE_SIMD=off` the kernels' scalar twins against the plain scalar path.
    #[test]
    fn fused_and_plain_columns_are_the_same_bits() {
        let n_fft = 1024;
        let mut fused = Stft::new(n_fft);
        fused.fused = Some(FusedRfft::new_unchecked(n_fft));
        let mut plain = Stft::new(n_fft);
        plain.fused = None;
        let frame: Vec<f32> = (0..n_fft)
            .map(|i| ((i * 7919 % 1031) as f32 / 515.0 - 1.0) * 0.3 + (i as f32 * 0.05).sin())
            .collect();
        let (mut a, mut b) = (vec![0f32; n_fft / 2 + 1], vec![0f32; n_fft / 2 + 1]);
        fused.magnitudes(&frame, &mut a);
        plain.magnitudes(&frame, &mut b);
        assert_eq!(a, b);
        fused.powers(&frame, &mut a);
        plain.powers(&frame, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn streamed_frames_match_whole_signal_reflect_padding() {
        let (n_fft, hop) = (64, 32);
        // Blocks of every size, among them exactly half a frame: Vorbis decoders deliver
        // `n_fft / 2` samples first, and frame 0 needs one sample more (its mirrored start).
        for (n, block) in [96usize, 128, 131, 200]
            .into_iter()
            .flat_map(|n| [1usize, 7, 31, 32, 33, 64, n].map(|b| (n, b)))
        {
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * 0.5)
                .collect();
            let mut fr = Framer::new(n_fft, hop, n);
            let mut stft = Stft::new(n_fft);
            let frames = 1 + n / hop;
            let mut t = 0;
            let mut got = Vec::new();
            for chunk in x.chunks(block) {
                fr.push(chunk);
                while t < frames && fr.ready(t) {
                    let mut col = vec![0.0; n_fft / 2 + 1];
                    let f = fr.frame(t).to_vec();
                    stft.magnitudes(&f, &mut col);
                    got.push(col);
                    t += 1;
                    fr.release_before_frame(t);
                }
            }
            assert_eq!(got.len(), frames, "n={n} block={block}");
            for (t, col) in got.iter().enumerate() {
                let want = reference_column(&x, t, n_fft, hop);
                for (a, b) in col.iter().zip(&want) {
                    assert!(
                        (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                        "n={n} block={block} t={t}: {a} vs {b}"
                    );
                }
            }
        }
    }
}
