//! A real FFT's magnitudes (or soundscape powers) straight from the half-length complex FFT,
//! eight bins at a time with AVX2 (the kernels are in [`crate::simd::rfft`]).
//!
//! realfft computes a real FFT of length `N` as a complex FFT of length `M = N/2` over the
//! interleaved samples, followed by a post-processing pass that turns the `M` complex values
//! into the `M + 1` bins; the STFT then rounds each bin to complex64 and takes numpy's
//! magnitude. On AVX2 machines this module does the post-processing itself, with realfft's
//! twiddles and realfft's arithmetic operation for operation (so the bins are the same bits),
//! writing the bins rounded to float32 as separate real and imaginary arrays, then takes the
//! magnitudes of those on full float32 vectors. That saves writing and rereading the complex
//! float64 spectrum and a deinterleaving per bin. The two steps are separate loops on purpose:
//! a magnitude waits on a division and a square root, and a loop short enough lets the CPU
//! overlap many of them. The tests check the result bit for bit against realfft followed by
//! [`abs_complex64`](crate::fidelity::abs_complex64).
//!
//! For `N = 1024` on CPUs with AVX-512 the half-length FFT is [`Fft512`], rustfft's steps on
//! twice as many values a register, which also multiplies the frame by the window as it
//! loads it (`FusedRfft::run_frame`): the window pass and its stores are saved.

use std::sync::Arc;

use realfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use super::{slot, Staggered};
use crate::simd::fft512::{self, Fft512};
use crate::simd::rfft::{as_complex, magnitudes, post_pairs};
use crate::simd::{use_avx2, use_avx512, Kernel};

/// The half-length complex FFT and realfft's post-processing twiddles.
pub(crate) struct FusedRfft {
    fft: Arc<dyn Fft<f64>>,
    /// For the 1024-sample STFT on CPUs with AVX-512: the half-length FFT four columns a
    /// register, rustfft's bits ([`Fft512`]).
    fft512: Option<Fft512>,
    scratch: Staggered<Complex<f64>>,
    /// The complex FFT's output (`M` values).
    spectrum: Staggered<Complex<f64>>,
    /// realfft's twiddles for `k = 1..M/2`, `0.5 exp(-2 pi i k / N)`, real and imaginary
    /// parts apart.
    twiddles_re: Staggered<f64>,
    twiddles_im: Staggered<f64>,
    /// The bins rounded to float32, real and imaginary parts apart (`M + 1` each).
    re: Staggered<f32>,
    im: Staggered<f32>,
}

impl FusedRfft {
    /// The fused transform for `n_fft`, or `None` where it does not apply (no AVX2, or
    /// `n_fft` not a multiple of 4, realfft's even-twiddle case).
    pub(crate) fn new(n_fft: usize) -> Option<FusedRfft> {
        if !n_fft.is_multiple_of(4) || n_fft < 8 || !use_avx2(Kernel::FusedRfft) {
            return None;
        }
        Some(FusedRfft::new_unchecked(n_fft))
    }

    pub(super) fn new_unchecked(n_fft: usize) -> FusedRfft {
        let m = n_fft / 2;
        let fft = FftPlanner::<f64>::new().plan_fft_forward(m);
        // realfft's `compute_twiddle(i, n) * 0.5`, computed the same way.
        let twiddles: Vec<Complex<f64>> = (1..m / 2)
            .map(|i| {
                let angle = -2f64 * std::f64::consts::PI / n_fft as f64 * i as f64;
                Complex::new(angle.cos() * 0.5, angle.sin() * 0.5)
            })
            .collect();
        let twiddles_re: Vec<f64> = twiddles.iter().map(|t| t.re).collect();
        let twiddles_im: Vec<f64> = twiddles.iter().map(|t| t.im).collect();
        let fft512 = if m == fft512::LEN && use_avx512(Kernel::FusedRfft) {
            Fft512::new()
        } else {
            None
        };
        FusedRfft {
            fft512,
            scratch: Staggered::new(fft.get_outofplace_scratch_len(), slot::SCRATCH),
            spectrum: Staggered::new(m, slot::SPECTRUM),
            fft,
            twiddles_re: Staggered::from_slice(&twiddles_re, slot::TWIDDLES_RE),
            twiddles_im: Staggered::from_slice(&twiddles_im, slot::TWIDDLES_IM),
            re: Staggered::new(m + 1, slot::RE),
            im: Staggered::new(m + 1, slot::IM),
        }
    }

    /// The first `out.len()` bins of the real FFT of `input` (`N` windowed samples; used as
    /// scratch), as magnitudes or, with `POWER`, as [`power`](crate::fidelity::power) of the
    /// magnitudes.
    pub(crate) fn run<const POWER: bool>(&mut self, input: &mut [f64], out: &mut [f32]) {
        let m = self.spectrum.len();
        assert_eq!(input.len(), 2 * m);
        match &self.fft512 {
            Some(fft) => fft.forward(as_complex(input), &mut self.spectrum),
            None => self.fft.process_outofplace_with_scratch(
                as_complex(input),
                &mut self.spectrum,
                &mut self.scratch,
            ),
        }
        self.finish::<POWER>(out);
    }

    /// [`FusedRfft::run`] of `frame` times `window` (the STFT's window product, float64):
    /// the 512-point AVX-512 transform takes the product as it loads its input, the other
    /// transforms from `input` (`N` values of scratch).
    pub(crate) fn run_frame<const POWER: bool>(
        &mut self,
        frame: &[f32],
        window: &[f64],
        input: &mut [f64],
        out: &mut [f32],
    ) {
        match &self.fft512 {
            Some(fft) => {
                fft.forward_windowed(frame, window, &mut self.spectrum);
                self.finish::<POWER>(out);
            }
            None => {
                super::window(input, frame, window);
                self.run::<POWER>(input, out);
            }
        }
    }

    /// The bins from the complex FFT's output: post-processing, then magnitudes or powers.
    fn finish<const POWER: bool>(&mut self, out: &mut [f32]) {
        self.post();
        magnitudes::<POWER>(&self.re, &self.im, out);
    }

    /// realfft's post-processing of `spectrum`: all `M + 1` bins, rounded to float32, into
    /// `re` and `im`.
    fn post(&mut self) {
        let z = &self.spectrum;
        let m = z.len();
        let (tw_re, tw_im) = (&self.twiddles_re, &self.twiddles_im);
        let (re, im) = (&mut self.re[..], &mut self.im[..]);
        post_pairs(z, tw_re, tw_im, re, im);
        let mut put = |k: usize, c: Complex<f64>| {
            re[k] = c.re as f32;
            im[k] = c.im as f32;
        };
        // The first and last bins: sum and difference of the first value's parts.
        put(0, Complex::new(z[0].re + z[0].im, 0.0));
        put(m, Complex::new(z[0].re - z[0].im, 0.0));
        // The centre: the conjugate.
        put(m / 2, Complex::new(z[m / 2].re, -z[m / 2].im));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fidelity::{abs_complex64, power};
    use crate::simd::rfft::tests::values as signal;
    use realfft::RealFftPlanner;

    /// realfft, then complex64 rounding and [`abs_complex64`] (and [`power`]) bin by bin.
    fn reference(input: &[f64], power_of: bool) -> Vec<f32> {
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(input.len());
        let mut x = input.to_vec();
        let mut spectrum = fft.make_output_vec();
        fft.process(&mut x, &mut spectrum).unwrap();
        spectrum
            .iter()
            .map(|c| {
                let a = abs_complex64(c.re as f32, c.im as f32);
                if power_of {
                    power(a)
                } else {
                    a
                }
            })
            .collect()
    }

    #[test]
    fn fused_bins_are_realfft_bit_for_bit() {
        // Built whatever the CPU: with `SOUNDSCAPE_SIMD=off` this tests the kernels' scalar
        // twins against realfft.
        for n_fft in [8usize, 16, 36, 40, 64, 100, 1024, 2048] {
            let mut fused = FusedRfft::new_unchecked(n_fft);
            for seed in 0..4 {
                let x = signal(n_fft, seed);
                for power_of in [false, true] {
                    let want = reference(&x, power_of);
                    let mut got = vec![f32::NAN; n_fft / 2 + 1];
                    let mut input = x.clone();
                    if power_of {
                        fused.run::<true>(&mut input, &mut got);
                    } else {
                        fused.run::<false>(&mut input, &mut got);
                    }
                    for (k, (a, b)) in got.iter().zip(&want).enumerate() {
                        assert_eq!(
                            a.to_bits(),
                            b.to_bits(),
                            "n_fft {n_fft} bin {k}: {a} vs {b}"
                        );
                    }
                    // Fewer bins than the transform has: the first ones.
                    let mut short = vec![0f32; n_fft / 3];
                    let mut input = x.clone();
                    fused.run::<false>(&mut input, &mut short);
                    if !power_of {
                        assert_eq!(short[..], want[..n_fft / 3]);
                    }
                }
            }
        }
    }

    #[test]
    fn sizes_the_fused_transform_does_not_take() {
        assert!(FusedRfft::new(1022).is_none());
        assert!(FusedRfft::new(4).is_none());
    }
}
