//! numpy's float32 sums over a cell's power values ([`crate::indices`]), each with its scalar
//! twin of the same signature that gives the same bits. Both are summed run by run in numpy's
//! pairwise order, each run in one vector of eight running sums; the kernels get all the runs
//! of a block at once ([`crate::fidelity::sum_by_run_batches`]), so that their tables and
//! constants are loaded once per block, not once per run of about a hundred values:
//! - [`sum_and_extremes`]: the plain sum (TOTAL, and the entropy's `ΣP`) with the smallest and
//!   largest bit pattern, in one pass;
//! - [`plogp_sum`]: the entropy's terms `log2(p) * p` with `p = P / ΣP`, summed as they are
//!   made, never stored. The logarithm is numpy's AVX-512 one ([`crate::fidelity::log2`]): its
//!   16-entry coefficient tables are looked up eight lanes at a time with two permutes and a
//!   blend, or, on CPUs with AVX-512, sixteen lanes at a time with one permute.
//!
//! And float64 sums of ours, not numpy's: [`sums_at_or_below`], the power at or below each of
//! a few thresholds (TAIL and CORE) and of the whole cell, eight running sums each (AVX2, or
//! AVX-512 sixteen values a step).

use super::{use_avx2, use_avx512, Kernel};
use crate::fidelity::{log2, run_slices, run_sum, sum_by_run_batches, sum_by_runs};

/// numpy's float32 sum of `power` ([`crate::fidelity::sum`]) with the smallest and largest bit
/// pattern of its values (`u32::MAX` and 0 for none).
#[inline(always)]
pub fn sum_and_extremes(power: &[f32]) -> (f32, u32, u32) {
    #[cfg(target_arch = "x86_64")]
    if use_avx2(Kernel::CellSum) {
        let (mut lo, mut hi) = (u32::MAX, 0u32);
        let sum = sum_by_run_batches(power, &mut |block, runs, sums| {
            // SAFETY: the CPU has AVX2 (`use_avx2` checks it).
            let (l, h) = unsafe { sum_runs_avx2(block, runs, sums) };
            (lo, hi) = (lo.min(l), hi.max(h));
        });
        return (sum, lo, hi);
    }
    sum_and_extremes_scalar(power)
}

/// The scalar twin of [`sum_and_extremes`].
#[inline(always)]
pub fn sum_and_extremes_scalar(power: &[f32]) -> (f32, u32, u32) {
    let (mut lo, mut hi) = (u32::MAX, 0u32);
    let sum = sum_by_runs(power, &mut |run| {
        for v in run {
            (lo, hi) = (lo.min(v.to_bits()), hi.max(v.to_bits()));
        }
        run_sum(run, |v| v)
    });
    (sum, lo, hi)
}

/// [`sum_run_avx2`] of each of the `runs` of `block` into `sums`, with the extreme bit patterns
/// of all of them.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sum_runs_avx2(block: &[f32], runs: &[(u32, u32)], sums: &mut [f32]) -> (u32, u32) {
    let (mut lo, mut hi) = (u32::MAX, 0u32);
    for (sum, run) in sums.iter_mut().zip(run_slices(block, runs)) {
        // SAFETY: the callee needs this function's own target features.
        let (s, l, h) = unsafe { sum_run_avx2(run) };
        (*sum, lo, hi) = (s, lo.min(l), hi.max(h));
    }
    (lo, hi)
}

/// [`crate::fidelity::run_sum`] of one run (at most 128 values) with its extreme bit
/// patterns, the AVX2 way: the eight running sums are one vector.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn sum_run_avx2(run: &[f32]) -> (f32, u32, u32) {
    use crate::fidelity::lanes_sum;
    use std::arch::x86_64::*;
    let n = run.len();
    let n8 = n - n % 8;
    let (mut lo, mut hi) = (u32::MAX, 0u32);
    for v in &run[n8..] {
        (lo, hi) = (lo.min(v.to_bits()), hi.max(v.to_bits()));
    }
    if n < 8 {
        return (run_sum(run, |v| v), lo, hi);
    }
    let src = run.as_ptr();
    // SAFETY: 8 <= n8 <= run.len() for every load here.
    let first = unsafe { _mm256_loadu_ps(src) };
    let (mut sums, mut lo_v, mut hi_v) = (
        first,
        _mm256_castps_si256(first),
        _mm256_castps_si256(first),
    );
    for i in (8..n8).step_by(8) {
        // SAFETY: as above.
        let x = unsafe { _mm256_loadu_ps(src.add(i)) };
        sums = _mm256_add_ps(sums, x);
        lo_v = _mm256_min_epu32(lo_v, _mm256_castps_si256(x));
        hi_v = _mm256_max_epu32(hi_v, _mm256_castps_si256(x));
    }
    let (mut r, mut l, mut h) = ([0f32; 8], [0u32; 8], [0u32; 8]);
    // SAFETY: each array holds eight lanes.
    unsafe {
        _mm256_storeu_ps(r.as_mut_ptr(), sums);
        _mm256_storeu_si256(l.as_mut_ptr() as *mut __m256i, lo_v);
        _mm256_storeu_si256(h.as_mut_ptr() as *mut __m256i, hi_v);
    }
    let lo = l.into_iter().fold(lo, u32::min);
    let hi = h.into_iter().fold(hi, u32::max);
    (run[n8..].iter().fold(lanes_sum(r), |r, &v| r + v), lo, hi)
}

/// numpy's `(np.log2(p) * p).sum()` in float32 for `p = power / total`: the terms in float32,
/// summed as [`crate::fidelity::sum`] sums stored values.
#[inline(always)]
pub fn plogp_sum(power: &[f32], total: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if use_avx2(Kernel::Entropy) {
        if use_avx512(Kernel::Entropy) {
            // SAFETY: the CPU has AVX-512 F and VL besides AVX2 and FMA (`use_avx512`).
            return sum_by_run_batches(power, &mut |block, runs, sums| unsafe {
                plogp_runs_avx512(block, runs, sums, total)
            });
        }
        // SAFETY: the CPU has AVX2 and FMA (`use_avx2` checks both).
        return sum_by_run_batches(power, &mut |block, runs, sums| unsafe {
            plogp_runs_avx2(block, runs, sums, total)
        });
    }
    plogp_sum_scalar(power, total)
}

/// The scalar twin of [`plogp_sum`].
#[inline(always)]
pub fn plogp_sum_scalar(power: &[f32], total: f32) -> f32 {
    sum_by_runs(power, &mut |run| run_sum(run, |v| term(v, total)))
}

#[inline(always)]
fn term(v: f32, total: f32) -> f32 {
    let p = v / total;
    log2(p) * p
}

/// [`plogp_run_avx2`] of each of the `runs` of `block` into `sums`.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn plogp_runs_avx2(block: &[f32], runs: &[(u32, u32)], sums: &mut [f32], total: f32) {
    for (sum, run) in sums.iter_mut().zip(run_slices(block, runs)) {
        // SAFETY: the callee needs this function's own target features.
        *sum = unsafe { plogp_run_avx2(run, total) };
    }
}

/// [`crate::fidelity::run_sum`] of the terms of one run (at most 128 values), the AVX2 way: the
/// eight running sums are one vector, the terms made eight at a time through the steps of
/// [`crate::fidelity::svml_split`] and [`crate::fidelity::svml_cubic`]. A run with any `p`
/// that is not a positive normal float (zero, subnormal, infinite, NaN) is summed again the
/// scalar way, as are runs under eight values; the last `n % 8` values are scalar too.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn plogp_run_avx2(power: &[f32], total: f32) -> f32 {
    use crate::fidelity::{lanes_sum, LOG2_CUBIC};
    use std::arch::x86_64::*;
    let n = power.len();
    if n < 8 {
        return run_sum(power, |v| term(v, total));
    }
    let n8 = n - n % 8;
    // The two halves of each coefficient row.
    let row = |j: usize, half: usize| {
        // SAFETY: LOG2_CUBIC[j] has 16 entries, so [8 half, 8 half + 8) is in bounds.
        unsafe { _mm256_loadu_si256(LOG2_CUBIC[j][8 * half..].as_ptr() as *const __m256i) }
    };
    let (lo, hi): ([__m256; 4], [__m256; 4]) = (
        std::array::from_fn(|j| _mm256_castsi256_ps(row(j, 0))),
        std::array::from_fn(|j| _mm256_castsi256_ps(row(j, 1))),
    );
    let total_v = _mm256_set1_ps(total);
    let one = _mm256_set1_ps(1.0);
    let frac_mask = _mm256_set1_epi32(0x007f_ffff);
    let one_bits = _mm256_set1_epi32(0x3f80_0000);
    let bias = _mm256_set1_epi32(127);
    let below_normal = _mm256_set1_epi32(0x007f_ffff);
    let infinity = _mm256_set1_epi32(0x7f80_0000);
    let src = power.as_ptr();
    // The terms of values `i..i + 8`, and which lanes hold a positive normal `p` (the others'
    // terms are meaningless).
    let terms = |i: usize| {
        // SAFETY: i + 8 <= power.len().
        let x = unsafe { _mm256_loadu_ps(src.add(i)) };
        let p = _mm256_div_ps(x, total_v);
        let bits = _mm256_castps_si256(p);
        // Positive normal: 0x0080_0000 <= bits < 0x7f80_0000 (as signed integers).
        let normal = _mm256_and_si256(
            _mm256_cmpgt_epi32(bits, below_normal),
            _mm256_cmpgt_epi32(infinity, bits),
        );
        let frac = _mm256_and_si256(bits, frac_mask);
        let upper = _mm256_srli_epi32::<22>(frac);
        let m_bits = _mm256_or_si256(
            frac,
            _mm256_sub_epi32(one_bits, _mm256_slli_epi32::<23>(upper)),
        );
        let exp = _mm256_add_epi32(_mm256_sub_epi32(_mm256_srli_epi32::<23>(bits), bias), upper);
        let r = _mm256_sub_ps(_mm256_castsi256_ps(m_bits), one);
        // vpermps reads the low three bits of each lane of `k`; the fourth (bit 22 of m_bits)
        // picks the upper half, as the blend's sign.
        let k = _mm256_srli_epi32::<19>(m_bits);
        let upper_half = _mm256_castsi256_ps(_mm256_slli_epi32::<9>(m_bits));
        let coef = |j: usize| {
            _mm256_blendv_ps(
                _mm256_permutevar8x32_ps(lo[j], k),
                _mm256_permutevar8x32_ps(hi[j], k),
                upper_half,
            )
        };
        let c = _mm256_fmadd_ps(coef(0), r, coef(1));
        let c = _mm256_fmadd_ps(c, r, coef(2));
        let c = _mm256_fmadd_ps(c, r, coef(3));
        let l = _mm256_fmadd_ps(c, r, _mm256_cvtepi32_ps(exp));
        (_mm256_mul_ps(l, p), normal)
    };
    // No call in the loop (the library `log2f` of the other values): around one, the
    // compiler kept the running sums and every constant on the stack.
    let (mut sums, mut normal) = terms(0);
    for i in (8..n8).step_by(8) {
        let (t, ok) = terms(i);
        sums = _mm256_add_ps(sums, t);
        normal = _mm256_and_si256(normal, ok);
    }
    if _mm256_movemask_ps(_mm256_castsi256_ps(normal)) != 0xff {
        // A zero, subnormal, infinite or NaN `p` (never in a cell without NaN: the powers are
        // at least 1e-6): the whole run the scalar way, which gives the same bits.
        return run_sum(power, |v| term(v, total));
    }
    let mut r = [0f32; 8];
    // SAFETY: `r` holds eight floats.
    unsafe { _mm256_storeu_ps(r.as_mut_ptr(), sums) };
    power[n8..]
        .iter()
        .fold(lanes_sum(r), |r, &v| r + term(v, total))
}

/// [`plogp_run_avx512`] of each of the `runs` of `block` into `sums`.
///
/// # Safety
/// The CPU must have AVX2, FMA and AVX-512 F and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
unsafe fn plogp_runs_avx512(block: &[f32], runs: &[(u32, u32)], sums: &mut [f32], total: f32) {
    for (sum, run) in sums.iter_mut().zip(run_slices(block, runs)) {
        // SAFETY: the callee needs this function's own target features.
        *sum = unsafe { plogp_run_avx512(run, total) };
    }
}

/// [`plogp_run_avx2`] sixteen values a step with AVX-512: each coefficient of the cubics is one
/// 16-entry table lookup (`vpermps` on a 512-bit register reads four index bits), where AVX2
/// needs two permutes and a blend. The eight running sums stay a 256-bit vector, so that value
/// `i` still goes to sum `i % 8` in order: the terms of each step are added half after half.
///
/// # Safety
/// The CPU must have AVX2, FMA and AVX-512 F and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avx512f,avx512vl")]
#[inline]
unsafe fn plogp_run_avx512(power: &[f32], total: f32) -> f32 {
    use crate::fidelity::{lanes_sum, LOG2_CUBIC};
    use std::arch::x86_64::*;
    let n = power.len();
    if n < 8 {
        return run_sum(power, |v| term(v, total));
    }
    let n8 = n - n % 8;
    // SAFETY: each row of LOG2_CUBIC holds sixteen 32-bit patterns.
    let table: [__m512; 4] =
        std::array::from_fn(|j| unsafe { _mm512_loadu_ps(LOG2_CUBIC[j].as_ptr() as *const f32) });
    let total_v = _mm512_set1_ps(total);
    let one = _mm512_set1_ps(1.0);
    let frac_mask = _mm512_set1_epi32(0x007f_ffff);
    let one_bits = _mm512_set1_epi32(0x3f80_0000);
    let smallest_normal = _mm512_set1_epi32(0x0080_0000);
    let normal_span = _mm512_set1_epi32(0x7f80_0000 - 0x0080_0000);
    let src = power.as_ptr();
    // The terms of the values of `lanes` (a mask of 16 from `i`), and which of those lanes
    // hold a positive normal `p`.
    let terms = |i: usize, lanes: __mmask16| {
        // SAFETY: the lanes of `lanes` lie inside `power` (masked lanes are not read).
        let x = unsafe { _mm512_maskz_loadu_ps(lanes, src.add(i)) };
        let p = _mm512_div_ps(x, total_v);
        let bits = _mm512_castps_si512(p);
        // Positive normal: 0x0080_0000 <= bits < 0x7f80_0000, one unsigned comparison.
        let normal = _mm512_mask_cmplt_epu32_mask(
            lanes,
            _mm512_sub_epi32(bits, smallest_normal),
            normal_span,
        );
        let frac = _mm512_and_si512(bits, frac_mask);
        let upper = _mm512_srli_epi32::<22>(frac);
        let m_bits = _mm512_or_si512(
            frac,
            _mm512_sub_epi32(one_bits, _mm512_slli_epi32::<23>(upper)),
        );
        // bits - m_bits is the exponent (with the halving) in the exponent field.
        let exp = _mm512_srai_epi32::<23>(_mm512_sub_epi32(bits, m_bits));
        let r = _mm512_sub_ps(_mm512_castsi512_ps(m_bits), one);
        // vpermps reads the low four bits of each lane of `k`: bits 19-22 of m_bits.
        let k = _mm512_srli_epi32::<19>(m_bits);
        let coef = |j: usize| _mm512_permutexvar_ps(k, table[j]);
        let c = _mm512_fmadd_ps(coef(0), r, coef(1));
        let c = _mm512_fmadd_ps(c, r, coef(2));
        let c = _mm512_fmadd_ps(c, r, coef(3));
        let l = _mm512_fmadd_ps(c, r, _mm512_cvtepi32_ps(exp));
        (_mm512_mul_ps(l, p), normal)
    };
    let halves = |t: __m512| {
        let hi = _mm512_extractf64x4_pd::<1>(_mm512_castps_pd(t));
        (_mm512_castps512_ps256(t), _mm256_castpd_ps(hi))
    };
    // The first eight terms start the sums.
    let (first, mut normal) = terms(0, if n8 >= 16 { 0xffff } else { 0x00ff });
    let (lo, hi) = halves(first);
    let mut sums = lo;
    if n8 >= 16 {
        sums = _mm256_add_ps(sums, hi);
    }
    let mut i = 16;
    while i < n8 {
        let lanes = if i + 16 <= n8 { 0xffff } else { 0x00ff };
        let (t, ok) = terms(i, lanes);
        normal &= ok | !lanes;
        let (lo, hi) = halves(t);
        sums = _mm256_add_ps(sums, lo);
        if lanes == 0xffff {
            sums = _mm256_add_ps(sums, hi);
        }
        i += 16;
    }
    let wanted: __mmask16 = if n8 >= 16 { 0xffff } else { 0x00ff };
    if normal != wanted {
        // A zero, subnormal, infinite or NaN `p`: the whole run the scalar way (the same bits).
        return run_sum(power, |v| term(v, total));
    }
    let mut r = [0f32; 8];
    // SAFETY: `r` holds eight floats.
    unsafe { _mm256_storeu_ps(r.as_mut_ptr(), sums) };
    power[n8..]
        .iter()
        .fold(lanes_sum(r), |r, &v| r + term(v, total))
}

/// Running sums per threshold in [`sums_at_or_below`]: value `i` of the cell goes to sum
/// `i % 8`.
const THRESHOLD_LANES: usize = 8;

/// For each of the `G` thresholds `t` (at most six: two vectors of running sums each must fit
/// the sixteen AVX2 registers with the values), the float64 sum of the values `v <= t`, and the
/// float64 sum of all values: eight running sums each, added in lane order at the end, then
/// the last `n % 8` values one by one.
#[inline(always)]
pub fn sums_at_or_below<const G: usize>(power: &[f32], thresholds: &[f32; G]) -> ([f64; G], f64) {
    const { assert!(G <= 6) };
    #[cfg(target_arch = "x86_64")]
    if use_avx2(Kernel::ThresholdSums) {
        if use_avx512(Kernel::ThresholdSums) {
            // SAFETY: the CPU has AVX-512 F and VL besides AVX2 (`use_avx512` checks it).
            return unsafe { sums_at_or_below_avx512(power, thresholds) };
        }
        // SAFETY: the CPU has AVX2 (`use_avx2` checks it).
        return unsafe { sums_at_or_below_avx2(power, thresholds) };
    }
    sums_at_or_below_scalar(power, thresholds)
}

/// The scalar twin of [`sums_at_or_below`].
#[inline(always)]
pub fn sums_at_or_below_scalar<const G: usize>(
    power: &[f32],
    thresholds: &[f32; G],
) -> ([f64; G], f64) {
    const W: usize = THRESHOLD_LANES;
    let t: [f64; G] = std::array::from_fn(|g| thresholds[g] as f64);
    let (mut lanes, mut all) = ([[0.0f64; W]; G], [0.0f64; W]);
    let chunks = power.chunks_exact(W);
    let rest = chunks.remainder();
    for c in chunks {
        let d: [f64; W] = std::array::from_fn(|k| c[k] as f64);
        for g in 0..G {
            for k in 0..W {
                lanes[g][k] += if d[k] <= t[g] { d[k] } else { 0.0 };
            }
        }
        for k in 0..W {
            all[k] += d[k];
        }
    }
    threshold_sums_end(lanes, all, rest, thresholds)
}

/// The running sums of each threshold, and of all values, added in lane order, then the values
/// `rest` past the last full eight.
#[inline(always)]
fn threshold_sums_end<const G: usize>(
    lanes: [[f64; THRESHOLD_LANES]; G],
    all: [f64; THRESHOLD_LANES],
    rest: &[f32],
    thresholds: &[f32; G],
) -> ([f64; G], f64) {
    let end = |lanes: &[f64; THRESHOLD_LANES], limit: f32| {
        let sum = lanes.iter().fold(0.0, |s, &v| s + v);
        rest.iter()
            .filter(|&&v| v <= limit)
            .fold(sum, |s, &v| s + v as f64)
    };
    (
        std::array::from_fn(|g| end(&lanes[g], thresholds[g])),
        end(&all, f32::INFINITY),
    )
}

/// [`sums_at_or_below`] the AVX2 way: the values widened to float64 four at a time, compared
/// with each threshold, masked and added; the two vectors of a threshold are its lanes 0-3 and
/// 4-7. The running sums stay in registers (the compiled twin stored them back every eight
/// values).
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sums_at_or_below_avx2<const G: usize>(
    power: &[f32],
    thresholds: &[f32; G],
) -> ([f64; G], f64) {
    use std::arch::x86_64::*;
    let n = power.len();
    let n8 = n - n % THRESHOLD_LANES;
    let t: [__m256d; G] = std::array::from_fn(|g| _mm256_set1_pd(thresholds[g] as f64));
    let (mut lo, mut hi) = ([_mm256_setzero_pd(); G], [_mm256_setzero_pd(); G]);
    let (mut all_lo, mut all_hi) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let src = power.as_ptr();
    for i in (0..n8).step_by(THRESHOLD_LANES) {
        // SAFETY: i + 8 <= n8 <= power.len().
        let (a, b) = unsafe {
            (
                _mm256_cvtps_pd(_mm_loadu_ps(src.add(i))),
                _mm256_cvtps_pd(_mm_loadu_ps(src.add(i + 4))),
            )
        };
        for g in 0..G {
            let below_a = _mm256_and_pd(_mm256_cmp_pd::<_CMP_LE_OQ>(a, t[g]), a);
            let below_b = _mm256_and_pd(_mm256_cmp_pd::<_CMP_LE_OQ>(b, t[g]), b);
            lo[g] = _mm256_add_pd(lo[g], below_a);
            hi[g] = _mm256_add_pd(hi[g], below_b);
        }
        all_lo = _mm256_add_pd(all_lo, a);
        all_hi = _mm256_add_pd(all_hi, b);
    }
    let mut lanes = [[0.0f64; THRESHOLD_LANES]; G];
    for g in 0..G {
        // SAFETY: each row holds eight float64, four per store.
        unsafe {
            _mm256_storeu_pd(lanes[g].as_mut_ptr(), lo[g]);
            _mm256_storeu_pd(lanes[g].as_mut_ptr().add(4), hi[g]);
        }
    }
    let mut all = [0.0f64; THRESHOLD_LANES];
    // SAFETY: `all` holds eight float64, four per store.
    unsafe {
        _mm256_storeu_pd(all.as_mut_ptr(), all_lo);
        _mm256_storeu_pd(all.as_mut_ptr().add(4), all_hi);
    }
    threshold_sums_end(lanes, all, &power[n8..], thresholds)
}

/// [`sums_at_or_below_avx2`] sixteen values a step with AVX-512: each threshold is one float32
/// comparison of the sixteen values into a mask (the same as comparing them widened: both sides
/// are float32 values) and two masked additions, of values 0-7 and then 8-15, into the same
/// eight running sums, so that value `i` still goes to sum `i % 8` in order.
///
/// # Safety
/// The CPU must have AVX2 and AVX-512 F and VL.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512vl")]
unsafe fn sums_at_or_below_avx512<const G: usize>(
    power: &[f32],
    thresholds: &[f32; G],
) -> ([f64; G], f64) {
    use std::arch::x86_64::*;
    let n = power.len();
    let n16 = n - n % 16;
    let n8 = n - n % THRESHOLD_LANES;
    let t: [__m512; G] = std::array::from_fn(|g| _mm512_set1_ps(thresholds[g]));
    let mut sums = [_mm512_setzero_pd(); G];
    let mut all = _mm512_setzero_pd();
    let src = power.as_ptr();
    for i in (0..n16).step_by(16) {
        // SAFETY: i + 16 <= n16 <= power.len().
        let (x, a, b) = unsafe {
            (
                _mm512_loadu_ps(src.add(i)),
                _mm512_cvtps_pd(_mm256_loadu_ps(src.add(i))),
                _mm512_cvtps_pd(_mm256_loadu_ps(src.add(i + 8))),
            )
        };
        for g in 0..G {
            let below = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(x, t[g]);
            sums[g] = _mm512_mask_add_pd(sums[g], below as u8, sums[g], a);
            sums[g] = _mm512_mask_add_pd(sums[g], (below >> 8) as u8, sums[g], b);
        }
        all = _mm512_add_pd(_mm512_add_pd(all, a), b);
    }
    if n8 > n16 {
        // SAFETY: n16 + 8 = n8 <= power.len().
        let a = unsafe { _mm512_cvtps_pd(_mm256_loadu_ps(src.add(n16))) };
        for g in 0..G {
            let below = _mm512_cmp_pd_mask::<_CMP_LE_OQ>(a, _mm512_set1_pd(thresholds[g] as f64));
            sums[g] = _mm512_mask_add_pd(sums[g], below, sums[g], a);
        }
        all = _mm512_add_pd(all, a);
    }
    let mut lanes = [[0.0f64; THRESHOLD_LANES]; G];
    for g in 0..G {
        // SAFETY: each row holds eight float64.
        unsafe { _mm512_storeu_pd(lanes[g].as_mut_ptr(), sums[g]) };
    }
    let mut all_lanes = [0.0f64; THRESHOLD_LANES];
    // SAFETY: `all_lanes` holds eight float64.
    unsafe { _mm512_storeu_pd(all_lanes.as_mut_ptr(), all) };
    threshold_sums_end(lanes, all_lanes, &power[n8..], thresholds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::with_kernels_off;

    /// `n` pseudo-random powers from 1e-6 to 1e6 (evenly spread in dB), as the clip leaves
    /// them, the same for the same `seed`.
    fn clipped_powers(seed: u32, n: usize) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                10f32.powf(state as f32 / u32::MAX as f32 * 12.0 - 6.0)
            })
            .collect()
    }

    /// Both twins of the plain sum give [`crate::fidelity::sum`]'s bits and the extremes of
    /// the bit patterns, at lengths around every split of the pairwise summation and of
    /// numpy's blocks, with special values among them.
    #[test]
    fn both_twins_give_the_same_sum_and_extremes() {
        let mut power = clipped_powers(0x2545_f491, 20_011);
        let check = |power: &[f32]| {
            let lo = power.iter().map(|v| v.to_bits()).min().unwrap_or(u32::MAX);
            let hi = power.iter().map(|v| v.to_bits()).max().unwrap_or(0);
            let want = (crate::fidelity::sum(power).to_bits(), lo, hi);
            let bits = |(s, l, h): (f32, u32, u32)| (s.to_bits(), l, h);
            let n = power.len();
            assert_eq!(bits(sum_and_extremes_scalar(power)), want, "{n} values");
            assert_eq!(bits(sum_and_extremes(power)), want, "{n} values");
        };
        for n in (0..140).chain([
            255, 256, 257, 520, 1000, 1032, 5873, 8191, 8192, 8193, 20_011,
        ]) {
            check(&power[..n]);
        }
        for (at, v) in [(3, 0.0), (17, 1e-44), (40, f32::INFINITY), (64, 1e30)] {
            power[at] = v;
        }
        check(&power[..300]);
        if crate::simd::avx2_under_test() {
            assert!(use_avx2(Kernel::CellSum));
        }
    }

    /// Run by run, the AVX2 sums (the plain one, and the entropy's terms on the AVX2 and
    /// AVX-512 paths) give the bits of [`run_sum`], on values of one magnitude (where every
    /// change of the order of additions shows: the tests of whole sums miss some) and on
    /// powers over twelve decades.
    #[test]
    fn avx2_run_sums_are_the_scalar_run_sums() {
        if !crate::simd::avx2_under_test() {
            return;
        }
        let mut state = 0x9e37_79b9u32;
        let even: Vec<f32> = (0..20_011)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                1.0 + (state >> 8) as f32 / (1 << 24) as f32
            })
            .collect();
        for values in [even, clipped_powers(0x2545_f491, 20_011)] {
            for n in [100, 520, 1032, 5873, 8192, 8193, 20_011] {
                sum_by_run_batches(&values[..n], &mut |block, runs, sums| {
                    // SAFETY: `avx2_under_test` checked that the CPU has AVX2.
                    let (lo, hi) = unsafe { sum_runs_avx2(block, runs, sums) };
                    let (mut l, mut h) = (u32::MAX, 0);
                    for (s, run) in sums.iter().zip(run_slices(block, runs)) {
                        assert_eq!(s.to_bits(), run_sum(run, |v| v).to_bits(), "{n} values");
                        for v in run {
                            (l, h) = (l.min(v.to_bits()), h.max(v.to_bits()));
                        }
                    }
                    assert_eq!((lo, hi), (l, h), "{n} values");
                    // The entropy's terms, summed run by run, on both paths.
                    let total = 0.75 * n as f32;
                    let want: Vec<u32> = run_slices(block, runs)
                        .map(|run| run_sum(run, |v| term(v, total)).to_bits())
                        .collect();
                    // SAFETY: `avx2_under_test` checked that the CPU has AVX2 and FMA.
                    unsafe { plogp_runs_avx2(block, runs, sums, total) };
                    assert_eq!(sums.iter().map(|s| s.to_bits()).collect::<Vec<_>>(), want);
                    if crate::simd::cpu_has_avx512() {
                        // SAFETY: the CPU has AVX-512 F and VL besides AVX2 and FMA.
                        unsafe { plogp_runs_avx512(block, runs, sums, total) };
                        let got: Vec<u32> = sums.iter().map(|s| s.to_bits()).collect();
                        assert_eq!(got, want, "{n} values, AVX-512");
                    }
                });
            }
        }
    }

    /// Both twins of the threshold sums give the same bits, and sums within rounding of the
    /// plain float64 sums of the values at or below each threshold: every group size, at
    /// lengths around the eight lanes, thresholds below, between, at and above the values.
    #[test]
    fn both_twins_give_the_same_threshold_sums() {
        let power = clipped_powers(0x1234_5678, 15_011);
        let picks = [0.5e-6f32, power[5], 1.0, power[100], 3e5, 2e6];
        fn check<const G: usize>(power: &[f32], picks: &[f32; 6]) {
            let t: [f32; G] = std::array::from_fn(|g| picks[g]);
            let (scalar, all) = sums_at_or_below_scalar(power, &t);
            let n = power.len();
            // With AVX-512 (where the CPU has it), and its AVX2 path.
            let avx2_only = with_kernels_off(&[Kernel::Avx512], 1, || sums_at_or_below(power, &t));
            for (fast, fast_all) in [sums_at_or_below(power, &t), avx2_only] {
                assert_eq!(
                    fast.map(f64::to_bits),
                    scalar.map(f64::to_bits),
                    "{n} values"
                );
                assert_eq!(fast_all.to_bits(), all.to_bits(), "{n} values");
            }
            let near = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs();
            for g in 0..G {
                let plain: f64 = power
                    .iter()
                    .filter(|&&v| v <= t[g])
                    .map(|&v| v as f64)
                    .sum();
                assert!(near(scalar[g], plain), "{n} values");
            }
            assert!(
                near(all, power.iter().map(|&v| v as f64).sum()),
                "{n} values"
            );
        }
        for n in (0..40).chain([1000, 1008, 15_011]) {
            let p = &power[..n];
            check::<0>(p, &picks);
            check::<1>(p, &picks);
            check::<2>(p, &picks);
            check::<3>(p, &picks);
            check::<4>(p, &picks);
            check::<5>(p, &picks);
            check::<6>(p, &picks);
        }
        if crate::simd::avx2_under_test() {
            assert!(use_avx2(Kernel::ThresholdSums));
            if crate::simd::avx512_under_test() {
                assert!(use_avx512(Kernel::ThresholdSums));
            } else {
                eprintln!("no AVX-512 here (or -avx512): its threshold-sums kernel was not tested");
            }
        }
    }

    /// Both twins give the same bits, and the same as numpy's sum of the stored terms
    /// ([`crate::fidelity::sum`]): on a cell's worth of powers across the whole clipped range,
    /// at lengths around every split of the pairwise summation and of numpy's blocks, and with
    /// zeros, subnormals, infinities and NaN among them.
    #[test]
    fn both_twins_give_the_same_sums() {
        let avx2 = crate::simd::avx2_under_test();
        let mut power = clipped_powers(0x9e37_79b9, 20_011);
        let total: f32 = power.iter().sum();
        let check = |power: &[f32], total: f32| {
            let terms: Vec<f32> = power.iter().map(|&v| term(v, total)).collect();
            let stored = crate::fidelity::sum(&terms);
            let scalar = plogp_sum_scalar(power, total);
            // With AVX-512 (where the CPU has it), and its AVX2 path.
            let avx2_only = with_kernels_off(&[Kernel::Avx512], 1, || plogp_sum(power, total));
            let fast = plogp_sum(power, total);
            // The same bits, but for a NaN's sign and payload, which Rust leaves open.
            let bits = |x: f32| {
                if x.is_nan() {
                    f32::NAN.to_bits()
                } else {
                    x.to_bits()
                }
            };
            let n = power.len();
            assert_eq!(bits(scalar), bits(stored), "{n} values");
            assert_eq!(bits(fast), bits(scalar), "{n} values");
            assert_eq!(bits(avx2_only), bits(scalar), "{n} values, AVX2");
        };
        let lengths = (0..140).chain([255, 256, 257, 1000, 8191, 8192, 8193, 20_011]);
        for n in lengths {
            check(&power[..n], total);
        }
        // Each special value in a group of its own and next to ordinary ones.
        for (at, v) in [
            (3, 0.0),
            (17, 1e-44),
            (40, f32::INFINITY),
            (63, f32::NAN),
            (64, -1.0),
        ] {
            power[at] = v;
        }
        check(&power[..300], total);
        check(&power[..300], f32::INFINITY);
        check(&power[..300], 0.0);
        if avx2 {
            // The dispatcher took the AVX2 twin, so the comparison was not scalar against
            // scalar.
            assert!(use_avx2(Kernel::Entropy));
            if crate::simd::avx512_under_test() {
                assert!(use_avx512(Kernel::Entropy));
            } else {
                eprintln!("no AVX-512 here (or -avx512): its entropy kernel was not tested");
            }
        }
    }
}
