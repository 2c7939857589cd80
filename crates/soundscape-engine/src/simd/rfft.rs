//! The two kernels of the fused real FFT ([`crate::stft`]'s `fused`): realfft's
//! post-processing of the half-length complex FFT, eight bins at a time, and numpy's
//! magnitudes (or the soundscape's powers) of float32 bins, eight at a time. Each has a
//! scalar twin of the same signature that gives the same bits.

use realfft::num_complex::Complex;

use super::{use_avx2, use_avx512, Kernel};
use crate::fidelity::{abs_complex64, power};

/// `x` (an even number of float64 values) as complex values, two per value, the layout
/// realfft also uses to run a real FFT of length `N` as a complex one of length `N/2`.
pub fn as_complex(x: &mut [f64]) -> &mut [Complex<f64>] {
    assert!(x.len().is_multiple_of(2), "an even number of values");
    // SAFETY: `Complex<f64>` is `repr(C)`, two f64 (alignment that of f64); the new slice
    // covers exactly the same memory and borrows `x` mutably for its lifetime.
    unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr() as *mut Complex<f64>, x.len() / 2) }
}

/// Bins `k` and `M - k` from the complex FFT's values `z` (`M` of them), exactly as realfft
/// computes them, `twiddle` its `0.5 exp(-2 pi i k / N)`.
#[inline(always)]
pub fn post_pair(
    z: &[Complex<f64>],
    twiddle: Complex<f64>,
    k: usize,
) -> (Complex<f64>, Complex<f64>) {
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

/// Bins `1..M/2` and their partners `M/2+1..M` ([`post_pair`] for every `k` in `1..M/2`),
/// rounded to float32 into `re` and `im` (`M + 1` places each; bins 0, `M/2` and `M` are left
/// to the caller). `tw_re`, `tw_im`: the twiddles of `k = 1..M/2`.
pub fn post_pairs(
    z: &[Complex<f64>],
    tw_re: &[f64],
    tw_im: &[f64],
    re: &mut [f32],
    im: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if use_avx2(Kernel::FusedRfft) {
        if use_avx512(Kernel::FusedRfft) {
            // SAFETY: the CPU has AVX-512 F and VL besides AVX2 (`use_avx512` checks it).
            return unsafe { post_pairs_avx512(z, tw_re, tw_im, re, im) };
        }
        // SAFETY: the CPU has AVX2 (`use_avx2` checks it).
        return unsafe { post_pairs_avx2(z, tw_re, tw_im, re, im) };
    }
    post_pairs_scalar(z, tw_re, tw_im, re, im)
}

/// The scalar twin of [`post_pairs`].
pub fn post_pairs_scalar(
    z: &[Complex<f64>],
    tw_re: &[f64],
    tw_im: &[f64],
    re: &mut [f32],
    im: &mut [f32],
) {
    post_pairs_from(1, z, tw_re, tw_im, re, im);
}

/// [`post_pairs`] for `k` from `first` on.
#[inline(always)]
fn post_pairs_from(
    first: usize,
    z: &[Complex<f64>],
    tw_re: &[f64],
    tw_im: &[f64],
    re: &mut [f32],
    im: &mut [f32],
) {
    let m = z.len();
    for k in first..m / 2 {
        let (x, x_rev) = post_pair(z, Complex::new(tw_re[k - 1], tw_im[k - 1]), k);
        re[k] = x.re as f32;
        im[k] = x.im as f32;
        re[m - k] = x_rev.re as f32;
        im[m - k] = x_rev.im as f32;
    }
}

/// The AVX2 twin of [`post_pairs`]: four `k` at a time as far as whole groups go (the last
/// group may overlap the one before), the rest scalar.
///
/// The loop is bound by the one port that shuffles, so the lanes are put in place by the
/// loads: each vector is built from two 128-bit loads (the second inserted from memory, which
/// needs no shuffle), in the order `k, k+1, k+2, k+3` for the bins and `M-k, M-k-1, ...` for
/// their partners, so that one unpack splits real and imaginary parts and the twiddles are
/// read as they lie. The bins are stored as they come; only the partners are reversed.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub unsafe fn post_pairs_avx2(
    z: &[Complex<f64>],
    tw_re: &[f64],
    tw_im: &[f64],
    re: &mut [f32],
    im: &mut [f32],
) {
    use std::arch::x86_64::*;
    let m = z.len();
    check_lengths(m, tw_re, tw_im, re, im);
    if m / 2 < 5 {
        return post_pairs_from(1, z, tw_re, tw_im, re, im);
    }
    let (rp, ip) = (re.as_mut_ptr(), im.as_mut_ptr());
    for k in group_starts(m, 4) {
        // SAFETY: 1 <= k and k + 4 <= M/2, as `post_group` needs; k..k+4 and M-k-3..=M-k lie
        // in 1..M, inside `re` and `im` (`check_lengths`).
        unsafe {
            let [re_k, im_k, re_partner, im_partner] = post_group(z, tw_re, tw_im, k);
            _mm_storeu_ps(rp.add(k), re_k);
            _mm_storeu_ps(ip.add(k), im_k);
            // Lanes M-k, M-k-1, M-k-2, M-k-3: reversed into their places.
            _mm_storeu_ps(rp.add(m - k - 3), reversed(re_partner));
            _mm_storeu_ps(ip.add(m - k - 3), reversed(im_partner));
        }
    }
}

/// The lengths [`post_pairs`] works with: `M + 1` bins and `M/2 - 1` twiddles.
fn check_lengths(m: usize, tw_re: &[f64], tw_im: &[f64], re: &[f32], im: &[f32]) {
    assert!(re.len() == m + 1 && im.len() == m + 1);
    assert!(tw_re.len() == m / 2 - 1 && tw_im.len() == m / 2 - 1);
}

/// The first `k` of each group of `width` bins in `1..M/2`, in order; the last group ends at
/// `M/2` and may overlap the one before (its bins are computed again, to the same values).
/// `M/2` must be more than `width`.
fn group_starts(m: usize, width: usize) -> impl Iterator<Item = usize> {
    assert!(m / 2 > width);
    std::iter::successors(Some(1), move |&k| {
        (k + width < m / 2).then(|| (k + width).min(m / 2 - width))
    })
}

/// Bins `k..k+4` and their partners `M-k, M-k-1, M-k-2, M-k-3` (realfft's arithmetic in
/// float64, lanes in that order): the real and imaginary parts of both, rounded to float32.
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
    // SAFETY: z[k..k+4] and z[M-k-3..=M-k] are in bounds, and the twiddles of k..k+4 are at
    // k-1..k+3 < M/2 - 1.
    unsafe {
        // (re, im) of k, k+2 and of k+1, k+3: unpacked, the real parts of k..k+4 in order.
        let (a, b) = (pair(z, k, k + 2), pair(z, k + 1, k + 3));
        let (fr, fi) = (_mm256_unpacklo_pd(a, b), _mm256_unpackhi_pd(a, b));
        // The same for the partners M-k, M-k-1, M-k-2, M-k-3.
        let (c, d) = (pair(z, m - k, m - k - 2), pair(z, m - k - 1, m - k - 3));
        let (rr, ri) = (_mm256_unpacklo_pd(c, d), _mm256_unpackhi_pd(c, d));
        let twr = _mm256_loadu_pd(tw_re.as_ptr().add(k - 1));
        let twi = _mm256_loadu_pd(tw_im.as_ptr().add(k - 1));
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

/// [`post_pairs_avx2`] eight `k` at a time with AVX-512: a two-register permute splits eight
/// complex values into real and imaginary parts in one step (and puts the partners in the
/// order `M-k, M-k-1, ...` in the same step), and each conversion to float32 takes eight
/// values, so the port that moves lanes does about half the work per bin. Transforms too short
/// for a group of eight take the AVX2 path.
///
/// # Safety
/// The CPU must have AVX2 and AVX-512 F and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512vl")]
pub unsafe fn post_pairs_avx512(
    z: &[Complex<f64>],
    tw_re: &[f64],
    tw_im: &[f64],
    re: &mut [f32],
    im: &mut [f32],
) {
    use std::arch::x86_64::*;
    let m = z.len();
    check_lengths(m, tw_re, tw_im, re, im);
    if m / 2 < 9 {
        // SAFETY: the CPU has AVX2, as the caller promises.
        return unsafe { post_pairs_avx2(z, tw_re, tw_im, re, im) };
    }
    let zp = z.as_ptr() as *const f64;
    let (rp, ip) = (re.as_mut_ptr(), im.as_mut_ptr());
    // Real and imaginary parts of the eight complex values in two registers, in order; and
    // of the partners, last first.
    let (even, odd) = (
        _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14),
        _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15),
    );
    let (even_back, odd_back) = (
        _mm512_setr_epi64(14, 12, 10, 8, 6, 4, 2, 0),
        _mm512_setr_epi64(15, 13, 11, 9, 7, 5, 3, 1),
    );
    let backward = _mm512_setr_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    let half = _mm512_set1_pd(0.5);
    for k in group_starts(m, 8) {
        // SAFETY: 1 <= k and k + 8 <= M/2: z[k..k+8] and z[M-k-7..=M-k] lie in 1..M, the
        // twiddles of k..k+8 at k-1..k+7 < M/2 - 1, and the stores k..k+8 and M-k-7..=M-k
        // inside `re` and `im` (`check_lengths`).
        unsafe {
            let (a, b) = (
                _mm512_loadu_pd(zp.add(2 * k)),
                _mm512_loadu_pd(zp.add(2 * k + 8)),
            );
            let (fr, fi) = (
                _mm512_permutex2var_pd(a, even, b),
                _mm512_permutex2var_pd(a, odd, b),
            );
            let c = _mm512_loadu_pd(zp.add(2 * (m - k - 7)));
            let d = _mm512_loadu_pd(zp.add(2 * (m - k - 3)));
            let (rr, ri) = (
                _mm512_permutex2var_pd(c, even_back, d),
                _mm512_permutex2var_pd(c, odd_back, d),
            );
            let twr = _mm512_loadu_pd(tw_re.as_ptr().add(k - 1));
            let twi = _mm512_loadu_pd(tw_im.as_ptr().add(k - 1));
            let (sum_re, sum_im) = (_mm512_add_pd(fr, rr), _mm512_add_pd(fi, ri));
            let (diff_re, diff_im) = (_mm512_sub_pd(fr, rr), _mm512_sub_pd(fi, ri));
            let half_sum_re = _mm512_mul_pd(half, sum_re);
            let half_diff_im = _mm512_mul_pd(half, diff_im);
            let real = _mm512_add_pd(_mm512_mul_pd(sum_im, twr), _mm512_mul_pd(diff_re, twi));
            let imag = _mm512_sub_pd(_mm512_mul_pd(sum_im, twi), _mm512_mul_pd(diff_re, twr));
            _mm256_storeu_ps(rp.add(k), _mm512_cvtpd_ps(_mm512_add_pd(half_sum_re, real)));
            _mm256_storeu_ps(
                ip.add(k),
                _mm512_cvtpd_ps(_mm512_add_pd(half_diff_im, imag)),
            );
            // Lanes M-k, M-k-1, ..., M-k-7: reversed into their places (one permute each).
            let partner_re = _mm512_permutexvar_pd(backward, _mm512_sub_pd(half_sum_re, real));
            let partner_im = _mm512_permutexvar_pd(backward, _mm512_sub_pd(imag, half_diff_im));
            _mm256_storeu_ps(rp.add(m - k - 7), _mm512_cvtpd_ps(partner_re));
            _mm256_storeu_ps(ip.add(m - k - 7), _mm512_cvtpd_ps(partner_im));
        }
    }
}

/// `z[lo]` and `z[hi]` in the low and high halves of one vector: a 128-bit load and a second
/// one inserted from memory (no shuffle).
///
/// # Safety
/// The CPU must have AVX2; `lo` and `hi` must be in bounds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn pair(z: &[Complex<f64>], lo: usize, hi: usize) -> std::arch::x86_64::__m256d {
    use std::arch::x86_64::*;
    debug_assert!(lo < z.len() && hi < z.len());
    let zp = z.as_ptr() as *const f64;
    // SAFETY: as the caller promises.
    unsafe { _mm256_loadu2_m128d(zp.add(2 * hi), zp.add(2 * lo)) }
}

/// The four lanes of `v` in reverse order.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn reversed(v: std::arch::x86_64::__m128) -> std::arch::x86_64::__m128 {
    use std::arch::x86_64::*;
    _mm_shuffle_ps::<0b00_01_10_11>(v, v)
}

/// [`abs_complex64`] (and, with `POWER`, [`power`]) of `re[i] + i im[i]` into `out[i]`, for
/// the first `out.len()` values.
pub fn magnitudes<const POWER: bool>(re: &[f32], im: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if use_avx2(Kernel::FusedRfft) {
        // SAFETY: the CPU has AVX2 and FMA (`use_avx2` checks both).
        return unsafe { magnitudes_avx2::<POWER>(re, im, out) };
    }
    magnitudes_scalar::<POWER>(re, im, out)
}

/// The scalar twin of [`magnitudes`].
pub fn magnitudes_scalar<const POWER: bool>(re: &[f32], im: &[f32], out: &mut [f32]) {
    magnitudes_from::<POWER>(0, re, im, out)
}

#[inline(always)]
fn magnitudes_from<const POWER: bool>(first: usize, re: &[f32], im: &[f32], out: &mut [f32]) {
    let n = out.len().min(re.len()).min(im.len());
    for j in first..n {
        let a = abs_complex64(re[j], im[j]);
        out[j] = if POWER { power(a) } else { a };
    }
}

/// The AVX2 twin of [`magnitudes`]: eight values at a time, the same bits (see
/// `magnitudes8`), the last few scalar.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn magnitudes_avx2<const POWER: bool>(re: &[f32], im: &[f32], out: &mut [f32]) {
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
    magnitudes_from::<POWER>(i, re, im, out)
}

/// [`abs_complex64`] (and, with `POWER`, [`power`]) of eight values: operation for operation
/// but for the square of the ratio, one float32 fused multiply-add (the same bits).
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
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
    // The float32 fused multiply-add: for every d in [0, 1] the same bits as the scalar
    // twin's float64 form (see `abs_complex64`), without the eight conversions and two lane
    // moves that form costs a vector on the shuffle port.
    let fma = _mm256_fmadd_ps(d, d, _mm256_set1_ps(1.0));
    let a = _mm256_mul_ps(_mm256_sqrt_ps(fma), larger);
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
pub(crate) mod tests {
    use super::*;

    /// A tone with a little noise, the test signal of the FFT kernels and the fused transform.
    pub(crate) fn values(n: usize, seed: u64) -> Vec<f64> {
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

    /// The AVX2 post-processing (and the AVX-512 one, where the CPU has it) gives the scalar
    /// twin's bits, for transforms too short for a group, exactly a group, and with an
    /// overlapping last group.
    #[test]
    fn post_pairs_twins_are_the_same_bits() {
        if !super::super::avx2_under_test() {
            return;
        }
        for m in [4usize, 10, 12, 16, 18, 20, 32, 34, 36, 50, 512, 1024] {
            let mut x = values(2 * m, m as u64);
            let z = as_complex(&mut x).to_vec();
            let tw_re: Vec<f64> = (1..m / 2).map(|i| (i as f64 * 0.1).cos() * 0.5).collect();
            let tw_im: Vec<f64> = (1..m / 2).map(|i| -(i as f64 * 0.1).sin() * 0.5).collect();
            let (mut re_a, mut im_a) = (vec![0f32; m + 1], vec![0f32; m + 1]);
            let (mut re_s, mut im_s) = (vec![0f32; m + 1], vec![0f32; m + 1]);
            // SAFETY: `avx2_under_test` checked that the CPU has AVX2.
            unsafe { post_pairs_avx2(&z, &tw_re, &tw_im, &mut re_a, &mut im_a) };
            post_pairs_scalar(&z, &tw_re, &tw_im, &mut re_s, &mut im_s);
            assert_eq!(re_a, re_s, "M = {m}, real parts");
            assert_eq!(im_a, im_s, "M = {m}, imaginary parts");
            if crate::simd::cpu_has_avx512() {
                let (mut re_w, mut im_w) = (vec![0f32; m + 1], vec![0f32; m + 1]);
                // SAFETY: the CPU has AVX2 (above) and AVX-512 F and VL.
                unsafe { post_pairs_avx512(&z, &tw_re, &tw_im, &mut re_w, &mut im_w) };
                assert_eq!(re_w, re_s, "M = {m}, real parts, AVX-512");
                assert_eq!(im_w, im_s, "M = {m}, imaginary parts, AVX-512");
            }
        }
    }

    /// The float32 fused multiply-add `d * d + 1` of the AVX2 magnitudes gives the bits of
    /// the scalar twin's float64 form for every float32 `d` in [0, 1] (all the ratios
    /// `smaller / larger` there are), checked pattern by pattern.
    #[test]
    fn fused_ratio_square_is_the_float64_form_for_every_ratio() {
        if !super::super::avx2_under_test() {
            return;
        }
        /// Patterns `first..first + 8 * n` that differ, counted.
        #[target_feature(enable = "avx2,fma")]
        unsafe fn differing(first: u32, n: u32) -> u32 {
            use std::arch::x86_64::*;
            let (mut bad, one) = (0, _mm256_set1_pd(1.0));
            let mut bits = _mm256_add_epi32(
                _mm256_set1_epi32(first as i32),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            );
            for _ in 0..n {
                let d = _mm256_castsi256_ps(bits);
                let fused = _mm256_fmadd_ps(d, d, _mm256_set1_ps(1.0));
                let square = |x: __m256d| _mm256_cvtpd_ps(_mm256_fmadd_pd(x, x, one));
                let (lo, hi) = (
                    _mm256_cvtps_pd(_mm256_castps256_ps128(d)),
                    _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(d)),
                );
                // The float64 product of two float32 is exact, so fusing it changes nothing.
                let wide = _mm256_set_m128(square(hi), square(lo));
                let same =
                    _mm256_cmpeq_epi32(_mm256_castps_si256(fused), _mm256_castps_si256(wide));
                bad += 8 - _mm256_movemask_ps(_mm256_castsi256_ps(same)).count_ones();
                bits = _mm256_add_epi32(bits, _mm256_set1_epi32(8));
            }
            bad
        }
        let end = 1f32.to_bits() + 1;
        // SAFETY: `avx2_under_test` checked that the CPU has AVX2 and FMA.
        let bad = unsafe { differing(0, end.div_ceil(8)) };
        assert_eq!(bad, 0, "ratios whose fused square differs");
    }

    /// The AVX2 magnitudes give the scalar twin's bits, NaN, infinities, zeros and clipping
    /// included, for every length around a vector's width.
    #[test]
    fn magnitude_twins_are_the_same_bits() {
        if !super::super::avx2_under_test() {
            return;
        }
        let mut re: Vec<f32> = values(40, 3).iter().map(|&v| (v * 3e3) as f32).collect();
        let mut im: Vec<f32> = values(40, 5).iter().map(|&v| (v * 1e-2) as f32).collect();
        re[..6].copy_from_slice(&[0.0, -0.0, f32::NAN, f32::INFINITY, 1e-30, 0.0]);
        im[..6].copy_from_slice(&[0.0, 3.0, 1.0, 2.0, -1e-30, f32::NAN]);
        for n in [0usize, 1, 7, 8, 9, 16, 23, 40] {
            let (mut a, mut s) = (vec![0f32; n], vec![0f32; n]);
            // SAFETY: `avx2_under_test` checked that the CPU has AVX2.
            unsafe { magnitudes_avx2::<false>(&re, &im, &mut a) };
            magnitudes_scalar::<false>(&re, &im, &mut s);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&s), "{n} magnitudes");
            // SAFETY: as above.
            unsafe { magnitudes_avx2::<true>(&re, &im, &mut a) };
            magnitudes_scalar::<true>(&re, &im, &mut s);
            assert_eq!(bits(&a), bits(&s), "{n} powers");
        }
    }
}
