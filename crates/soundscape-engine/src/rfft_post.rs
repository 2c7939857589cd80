//! A real FFT's magnitudes (or soundscape powers) straight from the half-length complex FFT,
//! eight bins at a time with AVX2.
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
//! [`abs_complex64`].

use std::sync::Arc;

use realfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::indices::power;
use crate::stft::abs_complex64;

/// The half-length complex FFT and realfft's post-processing twiddles.
pub(crate) struct FusedRfft {
    fft: Arc<dyn Fft<f64>>,
    scratch: Vec<Complex<f64>>,
    /// The complex FFT's output (`M` values).
    spectrum: Vec<Complex<f64>>,
    /// realfft's twiddles for `k = 1..M/2`, `0.5 exp(-2 pi i k / N)`, real and imaginary
    /// parts apart.
    twiddles_re: Vec<f64>,
    twiddles_im: Vec<f64>,
    /// The bins rounded to float32, real and imaginary parts apart (`M + 1` each).
    re: Vec<f32>,
    im: Vec<f32>,
}

impl FusedRfft {
    /// The fused transform for `n_fft`, or `None` where it does not apply (no AVX2, or
    /// `n_fft` not a multiple of 4, realfft's even-twiddle case).
    pub(crate) fn new(n_fft: usize) -> Option<FusedRfft> {
        if n_fft % 4 != 0 || n_fft < 8 || !crate::simd::has_avx2() {
            return None;
        }
        Some(FusedRfft::new_unchecked(n_fft))
    }

    fn new_unchecked(n_fft: usize) -> FusedRfft {
        let m = n_fft / 2;
        let fft = FftPlanner::<f64>::new().plan_fft_forward(m);
        // realfft's `compute_twiddle(i, n) * 0.5`, computed the same way.
        let twiddles: Vec<Complex<f64>> = (1..m / 2)
            .map(|i| {
                let angle = -2f64 * std::f64::consts::PI / n_fft as f64 * i as f64;
                Complex::new(angle.cos() * 0.5, angle.sin() * 0.5)
            })
            .collect();
        let twiddles_re = twiddles.iter().map(|t| t.re).collect();
        let twiddles_im = twiddles.iter().map(|t| t.im).collect();
        FusedRfft {
            scratch: vec![Complex::default(); fft.get_outofplace_scratch_len()],
            spectrum: vec![Complex::default(); m],
            fft,
            twiddles_re,
            twiddles_im,
            re: vec![0.0; m + 1],
            im: vec![0.0; m + 1],
        }
    }

    /// The first `out.len()` bins of the real FFT of `input` (`N` windowed samples; used as
    /// scratch), as magnitudes or, with `POWER`, as [`power`] of the magnitudes.
    pub(crate) fn run<const POWER: bool>(&mut self, input: &mut [f64], out: &mut [f32]) {
        let m = self.spectrum.len();
        assert_eq!(input.len(), 2 * m);
        // SAFETY: `Complex<f64>` is `repr(C)`, two f64; `input` has 2m values (as realfft does).
        let packed =
            unsafe { std::slice::from_raw_parts_mut(input.as_mut_ptr() as *mut Complex<f64>, m) };
        self.fft
            .process_outofplace_with_scratch(packed, &mut self.spectrum, &mut self.scratch);
        self.post();
        // SAFETY: `new` checked that the CPU has AVX2.
        unsafe { magnitudes_avx2::<POWER>(&self.re, &self.im, out) };
    }

    /// realfft's post-processing of `spectrum`: all `M + 1` bins, rounded to float32, into
    /// `re` and `im`.
    fn post(&mut self) {
        let z = &self.spectrum;
        let m = z.len();
        let (tw_re, tw_im) = (&self.twiddles_re, &self.twiddles_im);
        let (re, im) = (&mut self.re[..], &mut self.im[..]);
        // SAFETY: `new` checked that the CPU has AVX2; the lengths are as the function needs.
        let done = unsafe { post_pairs_avx2(z, tw_re, tw_im, re, im) };
        let mut put = |k: usize, c: Complex<f64>| {
            re[k] = c.re as f32;
            im[k] = c.im as f32;
        };
        // The first and last bins: sum and difference of the first value's parts.
        put(0, Complex::new(z[0].re + z[0].im, 0.0));
        put(m, Complex::new(z[0].re - z[0].im, 0.0));
        // The centre: the conjugate.
        put(m / 2, Complex::new(z[m / 2].re, -z[m / 2].im));
        // The pairs the vector loop left.
        for k in done + 1..m / 2 {
            let (x, x_rev) = post_pair(z, Complex::new(tw_re[k - 1], tw_im[k - 1]), k);
            put(k, x);
            put(m - k, x_rev);
        }
    }
}

/// Bins `k` and `M - k` from the complex FFT's values, exactly as realfft computes them.
#[inline(always)]
fn post_pair(z: &[Complex<f64>], twiddle: Complex<f64>, k: usize) -> (Complex<f64>, Complex<f64>) {
    let (out, out_rev) = (z[k], z[z.len() - k]);
    let sum = out + out_rev;
    let diff = out - out_rev;
    let half = 0.5;
    let twiddled_re_sum = sum * twiddle.re;
    let twiddled_im_sum = sum * twiddle.im;
    let twiddled_re_diff = diff * twiddle.re;
    let twiddled_im_diff = diff * twiddle.im;
    let half_sum_re = half * sum.re;
    let half_diff_im = half * diff.im;
    let output_twiddled_real = twiddled_re_sum.im + twiddled_im_diff.re;
    let output_twiddled_im = twiddled_im_sum.im - twiddled_re_diff.re;
    (
        Complex::new(
            half_sum_re + output_twiddled_real,
            half_diff_im + output_twiddled_im,
        ),
        Complex::new(
            half_sum_re - output_twiddled_real,
            output_twiddled_im - half_diff_im,
        ),
    )
}

/// [`post_pair`] for `k = 1, 2, ...` eight at a time, the bins rounded to float32 into `re`
/// and `im`, as far as whole groups of eight go below `M/2` (the last group may overlap the one
/// before); returns the last `k` done (0 for none).
///
/// # Safety
/// The CPU must have AVX2; `re` and `im` have `M + 1` places; the twiddle arrays `M/2 - 1`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn post_pairs_avx2(
    z: &[Complex<f64>],
    tw_re: &[f64],
    tw_im: &[f64],
    re: &mut [f32],
    im: &mut [f32],
) -> usize {
    use std::arch::x86_64::*;
    let m = z.len();
    assert!(re.len() == m + 1 && im.len() == m + 1);
    assert!(tw_re.len() == m / 2 - 1 && tw_im.len() == m / 2 - 1);
    if m / 2 < 9 {
        return 0;
    }
    // Lanes (k, k+2, k+1, k+3, k+4, ...) in order, and the partners' lanes (M-k, M-k-2, ...)
    // in the order of their places M-k-7..=M-k.
    let forward = _mm256_setr_epi32(0, 2, 1, 3, 4, 6, 5, 7);
    let backward = _mm256_setr_epi32(7, 5, 6, 4, 3, 1, 2, 0);
    let (rp, ip) = (re.as_mut_ptr(), im.as_mut_ptr());
    let mut k = 1;
    loop {
        // SAFETY: 1 <= k and k + 8 <= M/2, as `post_group` needs; k..k+8 and M-k-7..=M-k lie
        // in 1..M, inside `re` and `im`.
        unsafe {
            let [re0, im0, rre0, rim0] = post_group(z, tw_re, tw_im, k);
            let [re1, im1, rre1, rim1] = post_group(z, tw_re, tw_im, k + 4);
            store8(rp.add(k), re0, re1, forward);
            store8(ip.add(k), im0, im1, forward);
            store8(rp.add(m - k - 7), rre0, rre1, backward);
            store8(ip.add(m - k - 7), rim0, rim1, backward);
        }
        if k + 8 == m / 2 {
            return m / 2 - 1;
        }
        // The next group, or the last whole one (overlapping, the same values again).
        k = (k + 8).min(m / 2 - 8);
    }
}

/// Stores the eight values `lo, hi` at `p`, lane `i` taken from lane `order[i]`.
///
/// # Safety
/// The CPU must have AVX2; `p` must have room for eight values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn store8(
    p: *mut f32,
    lo: std::arch::x86_64::__m128,
    hi: std::arch::x86_64::__m128,
    order: std::arch::x86_64::__m256i,
) {
    use std::arch::x86_64::*;
    // SAFETY: as the caller promises.
    unsafe { _mm256_storeu_ps(p, _mm256_permutevar8x32_ps(_mm256_set_m128(hi, lo), order)) }
}

/// [`abs_complex64`] (and, with `POWER`, [`power`]) of `re[i] + i im[i]` into `out[i]`.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn magnitudes_avx2<const POWER: bool>(re: &[f32], im: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = out.len().min(re.len()).min(im.len());
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n, inside all three slices.
        unsafe {
            let x = magnitudes8::<POWER>(
                _mm256_loadu_ps(re.as_ptr().add(i)),
                _mm256_loadu_ps(im.as_ptr().add(i)),
            );
            _mm256_storeu_ps(out.as_mut_ptr().add(i), x);
        }
        i += 8;
    }
    for j in i..n {
        let a = abs_complex64(re[j], im[j]);
        out[j] = if POWER { power(a) } else { a };
    }
}

/// Bins `k..k+4` and their partners `M-k-3..=M-k` (realfft's arithmetic in float64, lanes in
/// the order `k, k+2, k+1, k+3`): the real and imaginary parts of both, rounded to float32.
///
/// # Safety
/// The CPU must have AVX2; `1 <= k` and `k + 4 <= M/2`; the twiddle arrays have `M/2 - 1`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn post_group(
    z: &[Complex<f64>],
    tw_re: &[f64],
    tw_im: &[f64],
    k: usize,
) -> [std::arch::x86_64::__m128; 4] {
    use std::arch::x86_64::*;
    let m = z.len();
    let zp = z.as_ptr() as *const f64;
    // SAFETY: z[k..k+4] and z[M-k-3..=M-k] are in bounds, and the twiddles of k..k+4 are at
    // k-1..k+3 < M/2 - 1.
    unsafe {
        let a = _mm256_loadu_pd(zp.add(2 * k));
        let b = _mm256_loadu_pd(zp.add(2 * k + 4));
        let (fr, fi) = (_mm256_unpacklo_pd(a, b), _mm256_unpackhi_pd(a, b));
        let c = _mm256_loadu_pd(zp.add(2 * (m - k - 3)));
        let d = _mm256_loadu_pd(zp.add(2 * (m - k - 1)));
        // (M-k-1, M-k-3, M-k, M-k-2) with the 128-bit halves swapped: the partners of
        // (k, k+2, k+1, k+3).
        let (lo, hi) = (_mm256_unpacklo_pd(d, c), _mm256_unpackhi_pd(d, c));
        let rr = _mm256_permute2f128_pd::<1>(lo, lo);
        let ri = _mm256_permute2f128_pd::<1>(hi, hi);
        let twr =
            _mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_loadu_pd(tw_re.as_ptr().add(k - 1)));
        let twi =
            _mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_loadu_pd(tw_im.as_ptr().add(k - 1)));
        let half = _mm256_set1_pd(0.5);
        let (sum_re, sum_im) = (_mm256_add_pd(fr, rr), _mm256_add_pd(fi, ri));
        let (diff_re, diff_im) = (_mm256_sub_pd(fr, rr), _mm256_sub_pd(fi, ri));
        let half_sum_re = _mm256_mul_pd(half, sum_re);
        let half_diff_im = _mm256_mul_pd(half, diff_im);
        let real = _mm256_add_pd(_mm256_mul_pd(sum_im, twr), _mm256_mul_pd(diff_re, twi));
        let imag = _mm256_sub_pd(_mm256_mul_pd(sum_im, twi), _mm256_mul_pd(diff_re, twr));
        [
            _mm256_cvtpd_ps(_mm256_add_pd(half_sum_re, real)),
            _mm256_cvtpd_ps(_mm256_add_pd(half_diff_im, imag)),
            _mm256_cvtpd_ps(_mm256_sub_pd(half_sum_re, real)),
            _mm256_cvtpd_ps(_mm256_sub_pd(imag, half_diff_im)),
        ]
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn post_pairs_avx2(
    _: &[Complex<f64>],
    _: &[f64],
    _: &[f64],
    _: &mut [f32],
    _: &mut [f32],
) -> usize {
    unreachable!("the fused transform needs AVX2")
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn magnitudes_avx2<const POWER: bool>(_: &[f32], _: &[f32], _: &mut [f32]) {
    unreachable!("the fused transform needs AVX2")
}

/// [`abs_complex64`] (and, with `POWER`, [`power`]) of eight values, operation for operation.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn magnitudes8<const POWER: bool>(
    re: std::arch::x86_64::__m256,
    im: std::arch::x86_64::__m256,
) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let sign = _mm256_set1_ps(-0.0);
    let (re, im) = (_mm256_andnot_ps(sign, re), _mm256_andnot_ps(sign, im));
    // `if re >= im { (re, im) } else { (im, re) }`, NaN included: max(a, b) = a > b ? a : b.
    let larger = _mm256_max_ps(re, im);
    let smaller = _mm256_min_ps(im, re);
    let d = _mm256_div_ps(smaller, larger);
    let d = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(larger, _mm256_setzero_ps()), d);
    let one = _mm256_set1_pd(1.0);
    let lo = _mm256_cvtps_pd(_mm256_castps256_ps128(d));
    let hi = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(d));
    let lo = _mm256_cvtpd_ps(_mm256_add_pd(_mm256_mul_pd(lo, lo), one));
    let hi = _mm256_cvtpd_ps(_mm256_add_pd(_mm256_mul_pd(hi, hi), one));
    let a = _mm256_mul_ps(_mm256_sqrt_ps(_mm256_set_m128(hi, lo)), larger);
    if POWER {
        // `clamp(1e-3, 1e3)` keeping NaN: max(lo, a) = lo > a ? lo : a, then the same for hi.
        let c = _mm256_max_ps(_mm256_set1_ps(1e-3), a);
        let c = _mm256_min_ps(_mm256_set1_ps(1e3), c);
        _mm256_mul_ps(c, c)
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    fn signal(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|i| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let noise = ((s >> 40) as f64 / (1u64 << 24) as f64 - 0.5) * 1e-3;
                (i as f64 * 0.37).sin() * 0.8 + noise
            })
            .collect()
    }

    #[test]
    fn fused_bins_are_realfft_bit_for_bit() {
        if !crate::simd::avx2_under_test() {
            return; // scalar paths only: the fused transform is not used
        }
        for n_fft in [8usize, 16, 36, 40, 64, 100, 1024, 2048] {
            let mut fused = FusedRfft::new(n_fft).expect("n_fft is a multiple of 4");
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
