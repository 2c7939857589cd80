//! The kernel of the entropy ([`crate::indices`]): numpy's float32 terms `log2(p) * p` with
//! `p = P / ΣP`, one per power value of a cell, with its scalar twin of the same signature
//! that gives the same bits. The logarithm is numpy's AVX-512 one ([`crate::fidelity::log2`]):
//! its 16-entry coefficient tables are looked up eight lanes at a time with two permutes and
//! a blend.

use super::{use_avx2, Kernel};
use crate::fidelity::log2;

/// `log2(P / total) * (P / total)` in float32 for every value of `power`, into `out` (cleared
/// first), as numpy computes `np.log2(p) * p` for `p = power / total`.
#[inline(always)]
pub fn plogp_terms(power: &[f32], total: f32, out: &mut Vec<f32>) {
    #[cfg(target_arch = "x86_64")]
    if use_avx2(Kernel::Entropy) {
        // SAFETY: the CPU has AVX2 and FMA (`use_avx2` checks both).
        return unsafe { plogp_terms_avx2(power, total, out) };
    }
    plogp_terms_scalar(power, total, out)
}

/// The scalar twin of [`plogp_terms`].
#[inline(always)]
pub fn plogp_terms_scalar(power: &[f32], total: f32, out: &mut Vec<f32>) {
    out.clear();
    out.extend(power.iter().map(|&v| term(v, total)));
}

#[inline(always)]
fn term(v: f32, total: f32) -> f32 {
    let p = v / total;
    log2(p) * p
}

/// The AVX2 twin of [`plogp_terms`]: eight values at a time through the steps of
/// [`crate::fidelity::svml_split`] and [`crate::fidelity::svml_cubic`]; a group of eight with
/// any `p` that is not a positive normal float (zero, subnormal, infinite, NaN) takes the
/// scalar path, as do the last few values.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn plogp_terms_avx2(power: &[f32], total: f32, out: &mut Vec<f32>) {
    use crate::fidelity::LOG2_CUBIC;
    use std::arch::x86_64::*;
    out.clear();
    out.reserve(power.len());
    let n8 = power.len() / 8 * 8;
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
    let dst = out.as_mut_ptr();
    let mut i = 0;
    while i < n8 {
        // SAFETY: i + 8 <= power.len(), and `out` has room for power.len() values.
        let x = unsafe { _mm256_loadu_ps(src.add(i)) };
        let p = _mm256_div_ps(x, total_v);
        let bits = _mm256_castps_si256(p);
        // Positive normal: 0x0080_0000 <= bits < 0x7f80_0000 (as signed integers).
        let normal = _mm256_and_si256(
            _mm256_cmpgt_epi32(bits, below_normal),
            _mm256_cmpgt_epi32(infinity, bits),
        );
        let t = if _mm256_movemask_ps(_mm256_castsi256_ps(normal)) == 0xff {
            let frac = _mm256_and_si256(bits, frac_mask);
            let upper = _mm256_srli_epi32::<22>(frac);
            let m_bits = _mm256_or_si256(
                frac,
                _mm256_sub_epi32(one_bits, _mm256_slli_epi32::<23>(upper)),
            );
            let exp =
                _mm256_add_epi32(_mm256_sub_epi32(_mm256_srli_epi32::<23>(bits), bias), upper);
            let r = _mm256_sub_ps(_mm256_castsi256_ps(m_bits), one);
            // vpermps reads the low three bits of each lane of `k`; the fourth (bit 22 of
            // m_bits) picks the upper half, as the blend's sign.
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
            _mm256_mul_ps(l, p)
        } else {
            let mut lanes = [0f32; 8];
            for (k, lane) in lanes.iter_mut().enumerate() {
                // SAFETY: i + k < power.len().
                *lane = term(unsafe { *src.add(i + k) }, total);
            }
            // SAFETY: `lanes` holds eight floats.
            unsafe { _mm256_loadu_ps(lanes.as_ptr()) }
        };
        // SAFETY: as above.
        unsafe { _mm256_storeu_ps(dst.add(i), t) };
        i += 8;
    }
    // SAFETY: the first n8 values of `out` were written above.
    unsafe { out.set_len(n8) };
    out.extend(power[n8..].iter().map(|&v| term(v, total)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both twins give the same bits: on a cell's worth of powers across the whole clipped
    /// range, at every length around a multiple of eight, and with zeros, subnormals,
    /// infinities and NaN among them.
    #[test]
    fn both_twins_give_the_same_terms() {
        let avx2 = crate::simd::avx2_under_test();
        let mut state = 0x9e37_79b9u32;
        let mut next = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state
        };
        // Powers from 1e-6 to 1e6, as the clip leaves them.
        let mut power: Vec<f32> = (0..4099)
            .map(|_| 10f32.powf(next() as f32 / u32::MAX as f32 * 12.0 - 6.0))
            .collect();
        let total: f32 = power.iter().sum();
        let check = |power: &[f32], total: f32| {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            plogp_terms_scalar(power, total, &mut a);
            plogp_terms(power, total, &mut b);
            assert_eq!(a.len(), power.len());
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b));
        };
        for n in [0, 1, 7, 8, 9, 15, 16, 17, 4096, 4099] {
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
        check(&power, total);
        check(&power, f32::INFINITY);
        check(&power, 0.0);
        if avx2 {
            // The dispatcher took the AVX2 twin, so the comparison was not scalar against
            // scalar.
            assert!(use_avx2(Kernel::Entropy));
        }
    }
}
