//! The six acoustic indices of one cell (docs/method.md#indices), without sorting the cell.
//!
//! With `A` the magnitude cell, `P = clip(A, 1e-3, 1e3)^2` (float32) and `R = 10 log10 P`
//! (float32 dB):
//! - TOTAL = 10 log10 ΣP;
//! - TAIL = dB of the mean power of the cells with `pct(90) < R <= pct(100)`;
//! - CORE = dB of the mean power over the decile(s) holding the histogram mode(s) of R
//!   (`decile_mod`, 100 bins, tolerance 0.1);
//! - EXAG = TAIL - CORE;
//! - INFORMATION = 1 - H and ICOMPLEXITY = 4 H (1 - H), H the normalised Shannon entropy of
//!   the power distribution.
//!
//! The original calls `np.percentile` about 18 times per cell, each a partial sort. Here a
//! cell is read in a few passes and never sorted or grouped whole:
//! 1. numpy's float32 sum (TOTAL) with the extremes, in one pass;
//! 2. the entropy's float32 terms `log2(p) * p`, summed the same way as they are made
//!    (INFORMATION, ICOMPLEXITY; `entropy`);
//! 3. the counts per value-ordered bucket (the high bits of the float pattern above the
//!    minimum; R is a monotone function of P, but for four single values
//!    (`fidelity::log10`), so the order is that of R too);
//! 4. the values of the few buckets that the 101 percentile ranks and the 99 histogram edges
//!    of `decile_mod` land in (known from the counts and the extremes alone), picked out (with
//!    AVX2 eight values at a time, without branches): every percentile follows from its
//!    bucket sorted, every histogram count from the values near its edge;
//! 5. the float64 power sums below the handful of thresholds TAIL and CORE select, and of
//!    the whole cell, in one pass.
//!
//! A percentile threshold becomes the exact power threshold (a short search over float bit
//! patterns); a histogram edge only needs bracketing, from the estimate `10^(x/10)`. So R is
//! only evaluated where it is looked at. A fully sorted reference implementation is kept in
//! the tests, and the hot passes are compiled for AVX2 as well (`simd`).
//!
//! Numerics follow numpy 1.x as the original ran it (`crate::fidelity`): float32 percentile
//! neighbours with a float64 `linear` interpolation (difference in float32), percentile
//! thresholds rounded to float32 where R is compared with them, float32 histogram edges from a
//! float64 linspace, round-half-even of the mean mode percentile, numpy's AVX-512 `log10` and
//! `log2`, numpy's float32 sum for TOTAL and the entropy. The means of TAIL and CORE are
//! summed in float64 (numpy: float32 pairwise), which moves them by one float32 step at most
//! (docs/fidelity.md#where-the-last-bits-differ).

mod buckets;
#[cfg(test)]
pub(crate) mod reference;
#[cfg(test)]
mod tests;

use crate::fidelity::{
    as_compared, decibels, histogram_edges, log10, mean_to_db, percentile, power,
    HISTOGRAM_BINS as BINS,
};
use crate::simd::sums::{plogp_sum, sum_and_extremes};
use buckets::{Gathered, PERCENTILE_READS};

/// Indices of one cell. All NaN for an empty cell, and for a cell holding a NaN value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellIndices {
    pub total: f64,
    pub core: f64,
    pub tail: f64,
    pub exag: f64,
    pub information: f64,
    pub icomplexity: f64,
}

impl CellIndices {
    pub const NAN: CellIndices = CellIndices {
        total: f64::NAN,
        core: f64::NAN,
        tail: f64::NAN,
        exag: f64::NAN,
        information: f64::NAN,
        icomplexity: f64::NAN,
    };

    /// Value of the named index.
    pub fn get(&self, name: crate::IndexName) -> f64 {
        use crate::IndexName::*;
        match name {
            TOTAL => self.total,
            CORE => self.core,
            TAIL => self.tail,
            EXAG => self.exag,
            INFORMATION => self.information,
            ICOMPLEXITY => self.icomplexity,
        }
    }
}

/// Reusable buffers for one worker.
#[derive(Default)]
pub struct CellScratch {
    /// Power values for [`CellScratch::indices_of_magnitudes`].
    power: Vec<f32>,
    /// `LANES` counters per bucket (16-bit ones for cells small enough).
    counts16: Vec<u16>,
    counts32: Vec<u32>,
    /// Values in the blocks of buckets before block `i` (see [`buckets::Starts`]).
    block_start: Vec<u32>,
    /// Where each bucket's values were gathered (an index into `gathered`), or `NOT_GATHERED`.
    gathered_at: Vec<u16>,
    /// The gathered buckets: their bucket number, their values' place in `values`, and
    /// whether those are sorted yet.
    gathered: Vec<Gathered>,
    values: Vec<f32>,
    /// The values of the buckets being gathered, in cell order (see [`marked_values`]).
    hits: Vec<f32>,
    /// The ranks the percentiles read, in the order they read them, with their buckets.
    ranks: Vec<buckets::Rank>,
}

crate::simd::kernel! { CellIndices:
    fn cell_indices(scratch: &mut CellScratch, power: &[f32]) -> CellIndices {
        scratch.indices_inline(power)
    }
}

impl CellScratch {
    /// Indices of the cell whose magnitudes are `magnitudes`, column by column (see
    /// [`CellScratch::indices`]).
    pub fn indices_of_magnitudes(&mut self, magnitudes: &[f32]) -> CellIndices {
        let mut p = std::mem::take(&mut self.power);
        p.clear();
        p.extend(magnitudes.iter().map(|&a| power(a)));
        let c = self.indices(&p);
        self.power = p;
        c
    }

    /// Indices of the cell whose power values are `power`, column by column as numpy holds
    /// the spectrogram (Fortran order: each frame's rows of the band, then the next frame's).
    /// The order only moves TOTAL's last bit (numpy's float32 sum follows memory order).
    pub fn indices(&mut self, power: &[f32]) -> CellIndices {
        cell_indices(self, power)
    }

    #[inline(always)]
    fn indices_inline(&mut self, power: &[f32]) -> CellIndices {
        let n = power.len();
        if n == 0 {
            return CellIndices::NAN;
        }
        // Pass 1: numpy's float32 sum, in the memory order of the cell (F order), with the
        // range: its last bit shows in TOTAL, and the entropy divides by it.
        let (sum32, min_bits, max_bits) = sum_and_extremes(power);
        if max_bits > f32::INFINITY.to_bits() {
            // A NaN among the values (from NaN samples: the clip keeps them). numpy's
            // percentiles and histogram cannot rank it (the original stops with an error), and
            // the bucket ranks would place it above every value: no index of the cell is known.
            return CellIndices::NAN;
        }
        let total = 10.0 * log10(sum32) as f64;
        // Pass 2: the entropy.
        let h = entropy(power, sum32);
        // Pass 3: the counts per bucket.
        let mut cell = self.buckets(power, min_bits, max_bits);
        let information = 1.0 - h;
        let icomplexity = 4.0 * h * (1.0 - h);

        // Pass 4: gather the few buckets that rank queries and histogram edges land in.
        cell.gather_needed();

        // The values the percentiles read, then their R, apart: the logarithm stays in this
        // function's AVX2 copy (a closure the compiler leaves out of line is compiled for the
        // baseline, where every fused multiply-add is a call).
        let mut reads = [0f32; PERCENTILE_READS];
        let count = cell.read_values(&mut reads);
        for r in &mut reads[..count] {
            *r = decibels(*r);
        }
        let mut read = reads.iter();
        let mut pct = [0f64; 101];
        for (q, p) in pct.iter_mut().enumerate() {
            *p = percentile(n, q as u32, |_| *read.next().expect("one value per read"));
        }
        let (min, max) = cell.extremes_db();
        // All values equal: no decile holds a mode, and CORE selects nothing (NaN).
        let core_ranges = if min == max {
            Vec::new()
        } else {
            // A loop here, not a closure handed to `mode_deciles`: the compiler left that out
            // of line, compiled for the baseline.
            let edges = histogram_edges(min, max);
            let mut under = [n; BINS + 1];
            under[0] = 0;
            for (i, &e) in edges.iter().enumerate().take(BINS).skip(1) {
                under[i] = cell.count_below_histogram_edge(i, e);
            }
            mode_deciles(&pct, &edges, &under)
        };
        // Pass 5: the power below the thresholds of TAIL and CORE.
        let tail_ranges = [tail_range(&pct)];
        let sets: [&[(f64, f64)]; 2] = [&tail_ranges, &core_ranges];
        let [(tail_count, tail_sum), (core_count, core_sum)] = cell.selections(sets);
        let (tail, core) = (
            mean_to_db(tail_sum, tail_count),
            mean_to_db(core_sum, core_count),
        );
        CellIndices {
            total,
            core,
            tail,
            exag: tail - core,
            information,
            icomplexity,
        }
    }
}

/// The normalised entropy `H = -Σ p log2 p / log2 N` with `p = P / ΣP`, as numpy computes
/// `-(np.log2(p) * p).sum() / np.log2(N)`: `sum32` is numpy's float32 ΣP, the terms are
/// float32 and summed as numpy sums them ([`plogp_sum`]), in the cell's memory order; only the
/// division by `log2 N` is float64. A cell of one value gives NaN (0 / 0), as in numpy.
#[inline(always)]
fn entropy(power: &[f32], sum32: f32) -> f64 {
    -(plogp_sum(power, sum32) as f64) / (power.len() as f64).log2()
}

/// TAIL's selection `pct(90) < R <= pct(100)`, as the selections compare it ([`as_compared`]).
fn tail_range(pct: &[f64; 101]) -> (f64, f64) {
    (as_compared(pct[90]), as_compared(pct[100]))
}

/// `decile_mod(R, tolerance=0.1)` given the percentiles, the histogram edges of R
/// ([`histogram_edges`] of its extremes, which differ) and `under[i]`, the number of values
/// with `R < edges[i]` (`under[0] = 0`, `under[BINS] = n`): the percentile ranges of the
/// deciles holding the histogram mode(s), as the selections compare them ([`as_compared`]).
#[inline(always)]
fn mode_deciles(
    pct: &[f64; 101],
    edges: &[f32; BINS + 1],
    under: &[usize; BINS + 1],
) -> Vec<(f64, f64)> {
    // Counts with edges[i] <= x < edges[i+1]; the last bin also holds the right edge.
    let counts: [usize; BINS] = std::array::from_fn(|i| under[i + 1].saturating_sub(under[i]));
    let max_count = *counts.iter().max().unwrap() as f64;
    let threshold = max_count - 0.1 * max_count;
    let mut deciles = [false; 11];
    for i in 0..BINS {
        if (counts[i] as f64) < threshold {
            continue;
        }
        let mode = (edges[i + 1] + edges[i]) as f64 / 2.0;
        let diffs: [f64; 101] = std::array::from_fn(|q| (pct[q] - mode).abs());
        let min_diff = diffs.iter().cloned().fold(f64::INFINITY, f64::min);
        let (mut s, mut c) = (0.0f64, 0usize);
        for (q, d) in diffs.iter().enumerate() {
            if *d == min_diff {
                s += q as f64;
                c += 1;
            }
        }
        let q_star = (s / c as f64).round_ties_even() as usize;
        deciles[(q_star / 10 + 1).min(10)] = true;
    }
    (1..=10)
        .filter(|&d| deciles[d])
        .map(|d| (as_compared(pct[(d - 1) * 10]), as_compared(pct[d * 10])))
        .collect()
}
