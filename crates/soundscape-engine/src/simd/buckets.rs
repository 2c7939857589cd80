//! The kernel of the bucketed cell ([`crate::indices`]'s `buckets`): the values of the marked
//! buckets (a gather and a compaction, eight values at a time), with its scalar twin of the
//! same signature that gives the same result; and the bucket layout both sides share.
//!
//! Measured and dropped: an AVX2 prefix sum of the 16-bit bucket counters (eight buckets at a
//! time) gained nothing measurable once the cell's other passes were vectorised
//! (`just bench --kernels`, BENCHMARKS.md).

use super::{use_avx2, Kernel};

/// Counters per bucket: values `i` and `i + 1` of a cell go to different counters of their
/// bucket, so that a run of equal buckets (a clipped floor, a steady tone) does not chain each
/// increment to the last.
pub const LANES: usize = 2;
/// A bucket's entry in the marks of [`marked_values`] when it is not wanted.
pub const UNMARKED: u16 = u16::MAX;

/// Buckets per block of [`block_starts`]: 16 buckets of two 16-bit counters are one cache line.
pub const BLOCK: usize = 16;

/// Into `out` (cleared first): for each block of [`BLOCK`] buckets of `counts` (`LANES`
/// counters each), the values in the blocks before it; then the total. The sum of a block's
/// counters vectorises; only the blocks' sums are chained.
#[inline(always)]
pub fn block_starts<C: Copy + Into<u32>>(counts: &[C], out: &mut Vec<u32>) {
    out.clear();
    let mut at = 0u32;
    out.extend(counts.chunks(BLOCK * LANES).map(|block| {
        let s = at;
        at += counted(block);
        s
    }));
    out.push(at);
}

/// The sum of some bucket counters (16 or 32 bits wide).
#[inline(always)]
pub fn counted<C: Copy + Into<u32>>(counters: &[C]) -> u32 {
    counters.iter().fold(0u32, |s, &c| s + c.into())
}

/// The values of `power` whose bucket (`(bits - min_bits) >> shift`) has an entry other than
/// [`UNMARKED`] in `marks`, in order, into `out` (cleared first). `marks` has a spare entry
/// past the last bucket (the vector path reads two entries at a time).
#[inline(always)]
pub fn marked_values(power: &[f32], marks: &[u16], min_bits: u32, shift: u32, out: &mut Vec<f32>) {
    #[cfg(target_arch = "x86_64")]
    if use_avx2(Kernel::MarkedValues) {
        // SAFETY: the CPU has AVX2 (`use_avx2` checks it).
        return unsafe { marked_values_avx2(power, marks, min_bits, shift, out) };
    }
    marked_values_scalar(power, marks, min_bits, shift, out)
}

/// The scalar twin of [`marked_values`].
#[inline(always)]
pub fn marked_values_scalar(
    power: &[f32],
    marks: &[u16],
    min_bits: u32,
    shift: u32,
    out: &mut Vec<f32>,
) {
    out.clear();
    marked_values_from(power, marks, min_bits, shift, out);
}

#[inline(always)]
fn marked_values_from(power: &[f32], marks: &[u16], min_bits: u32, shift: u32, out: &mut Vec<f32>) {
    for &p in power {
        if marks[((p.to_bits() - min_bits) >> shift) as usize] != UNMARKED {
            out.push(p);
        }
    }
}

/// For each 8-bit lane mask, the numbers of its set lanes in order, one per byte.
const COMPACT: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut mask = 0;
    while mask < 256 {
        let (mut lane, mut k) = (0, 0);
        while lane < 8 {
            if mask & (1 << lane) != 0 {
                table[mask] |= (lane as u64) << (8 * k);
                k += 1;
            }
            lane += 1;
        }
        mask += 1;
    }
    table
};

/// The AVX2 twin of [`marked_values`], eight values at a time without branches: the bucket
/// entries are fetched with one gather instruction and the marked values packed to the front
/// of the vector (a permutation looked up by lane mask) and stored; the last few scalar.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub unsafe fn marked_values_avx2(
    power: &[f32],
    marks: &[u16],
    min_bits: u32,
    shift: u32,
    out: &mut Vec<f32>,
) {
    use std::arch::x86_64::*;
    out.clear();
    let n8 = power.len() / 8 * 8;
    // The gather reads 32 bits at byte 2k, entries k and k + 1 of `marks`: bucket numbers are
    // clamped to `marks.len() - 2` so that no value, however wrong for `min_bits` and
    // `shift`, reads outside (one instruction per eight values, no pass of its own).
    if n8 > 0 {
        assert!(
            marks.len() >= 2,
            "the marks of at least one bucket and a spare entry"
        );
    }
    let max_key = _mm256_set1_epi32(marks.len().saturating_sub(2).min(i32::MAX as usize) as i32);
    out.reserve(n8 + 8);
    let min = _mm256_set1_epi32(min_bits as i32);
    let shift_v = _mm_cvtsi32_si128(shift as i32);
    let none = _mm256_set1_epi32(UNMARKED as i32);
    let base = marks.as_ptr() as *const i32;
    let dst = out.as_mut_ptr();
    let mut len = 0usize;
    let mut i = 0;
    while i < n8 {
        // SAFETY: i + 8 <= power.len(); the bucket numbers k are clamped to k + 1 < marks.len(),
        // so a 32-bit read at byte 2k is inside `marks`; `out` has room for len + 8 <= n8 + 8
        // values.
        unsafe {
            let v = _mm256_loadu_si256(power.as_ptr().add(i) as *const __m256i);
            let keys = _mm256_srl_epi32(_mm256_sub_epi32(v, min), shift_v);
            let keys = _mm256_min_epu32(keys, max_key);
            let got = _mm256_and_si256(_mm256_i32gather_epi32::<2>(base, keys), none);
            let unmarked = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(got, none)));
            let hit = !unmarked as usize & 0xff;
            let order =
                _mm256_cvtepu8_epi32(_mm_loadl_epi64(COMPACT.as_ptr().add(hit) as *const __m128i));
            _mm256_storeu_si256(
                dst.add(len) as *mut __m256i,
                _mm256_permutevar8x32_epi32(v, order),
            );
            len += hit.count_ones() as usize;
        }
        i += 8;
    }
    // SAFETY: the first `len` places were written.
    unsafe { out.set_len(len) };
    marked_values_from(&power[n8..], marks, min_bits, shift, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both paths pick exactly the values of the marked buckets, in order, whatever the length
    /// (the last values go through the scalar loop).
    #[test]
    fn marked_values_are_those_of_the_marked_buckets_on_both_paths() {
        let mut state = 7u32;
        let power: Vec<f32> = (0..1000)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let a = ((state >> 8) as f32 / (1 << 24) as f32) * 4.0;
                a.clamp(1e-3, 1e3).powi(2)
            })
            .collect();
        let min_bits = power.iter().map(|p| p.to_bits()).min().unwrap();
        let max_bits = power.iter().map(|p| p.to_bits()).max().unwrap();
        let shift = 12;
        let nb = ((max_bits - min_bits) >> shift) as usize + 1;
        let marks: Vec<u16> = (0..=nb)
            .map(|b| {
                if b % 7 == 3 && b < nb {
                    b as u16
                } else {
                    UNMARKED
                }
            })
            .collect();
        let avx2 = super::super::avx2_under_test();
        let mut out = Vec::new();
        for len in [0, 1, 7, 8, 9, 63, 64, 999, 1000] {
            let want: Vec<f32> = power[..len]
                .iter()
                .copied()
                .filter(|p| marks[((p.to_bits() - min_bits) >> shift) as usize] != UNMARKED)
                .collect();
            assert!(!want.is_empty() || len < 64);
            marked_values_scalar(&power[..len], &marks, min_bits, shift, &mut out);
            assert_eq!(out, want, "{len} values, scalar");
            if avx2 {
                // SAFETY: `avx2_under_test` checked that the CPU has AVX2.
                unsafe { marked_values_avx2(&power[..len], &marks, min_bits, shift, &mut out) };
                assert_eq!(out, want, "{len} values, AVX2");
            }
        }
    }
}
