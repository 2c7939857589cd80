//! The six acoustic indices of one cell (SPEC §4.5), from a single sort.
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
//! The original calls `np.percentile` about 18 times per cell, each a partial sort. Here the
//! power values are sorted once (radix sort; R is a monotone function of P, so the order is
//! that of R too) and every percentile, histogram count and interval mean becomes a lookup:
//! percentiles by index, histogram counts by binary search, means by prefix sums. R is only
//! evaluated where it is looked at.
//!
//! Numerics follow numpy 1.x as the original ran it: float32 percentile neighbours with a
//! float64 `linear` interpolation (difference in float32), percentile thresholds compared in
//! float64 (the golden output excludes values equal to the float32 rounding of a threshold
//! that lies below them), float32 histogram edges from a float64
//! linspace, round-half-even of the mean mode percentile. Sums are taken in float64 (numpy
//! uses float32 pairwise sums), which moves results by far less than the tolerances of SPEC §10.

/// Indices of one cell. All NaN for an empty cell.
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
    /// Power values of the cell (filled by the caller through [`CellScratch::power_mut`]).
    power: Vec<f32>,
    prefix: Vec<f64>,
}

/// `P = clip(a, 1e-3, 1e3)^2` in float32.
#[inline(always)]
pub fn power(a: f32) -> f32 {
    let c = a.clamp(1e-3f32, 1e3f32);
    c * c
}

/// `log2(x)` of a positive, normal float32, in float64, to about 1e-10 absolute: exponent
/// plus `2 atanh(s) / ln 2` with `s = (m-1)/(m+1)`, `m` the mantissa in [sqrt(1/2), sqrt(2)).
/// Branch-free so that the entropy loop vectorises; used where the tolerance is 1e-5.
#[inline(always)]
pub fn log2_positive(x: f32) -> f64 {
    let bits = x.to_bits();
    // Move mantissas above sqrt(2) down an octave: m in [0.707, 1.414).
    let adj = ((bits & 0x007f_ffff) + 0x004a_fb0d) >> 23; // 1 when the mantissa >= sqrt(2)
    let e = ((bits >> 23) & 0xff) as i32 - 127 + adj as i32;
    let m = f32::from_bits((bits & 0x007f_ffff) | ((127 - adj) << 23)) as f64;
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series = 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0)))));
    e as f64 + 2.0 * std::f64::consts::LOG2_E * s * series
}

/// `R = 10 * log10(P)` in float32.
#[inline(always)]
fn decibels(p: f32) -> f32 {
    10.0f32 * p.log10()
}

impl CellScratch {
    /// Clears the power buffer and returns it for filling.
    pub fn power_mut(&mut self) -> &mut Vec<f32> {
        self.power.clear();
        &mut self.power
    }

    /// Indices of the cell whose magnitudes are `magnitudes` (any order).
    pub fn indices_of_magnitudes(&mut self, magnitudes: &[f32]) -> CellIndices {
        let p = self.power_mut();
        p.extend(magnitudes.iter().map(|&a| power(a)));
        self.indices()
    }

    /// Indices of the power values currently in the buffer. Reorders the buffer.
    pub fn indices(&mut self) -> CellIndices {
        let n = self.power.len();
        if n == 0 {
            return CellIndices::NAN;
        }
        // Entropy and total: one pass in float64 (four lanes, so that it vectorises).
        let (mut sum4, mut plogp4) = ([0.0f64; 4], [0.0f64; 4]);
        let chunks = self.power.chunks_exact(4);
        let rest = chunks.remainder();
        for c in chunks {
            for k in 0..4 {
                let p = c[k] as f64;
                sum4[k] += p;
                plogp4[k] += p * log2_positive(c[k]);
            }
        }
        let (mut sum, mut sum_plogp) = (sum4.iter().sum::<f64>(), plogp4.iter().sum::<f64>());
        for &p in rest {
            sum += p as f64;
            sum_plogp += p as f64 * log2_positive(p);
        }
        let total32 = sum as f32;
        let total = 10.0 * total32.log10() as f64;
        // Σ p log2 p with p = P / ΣP, divided by log2 N (float64, as numpy promotes it).
        let h = if n > 1 {
            -(sum_plogp / sum - sum.log2()) / (n as f64).log2()
        } else {
            f64::NAN // log2(1) = 0: numpy gives NaN (0/0) too
        };
        let information = 1.0 - h;
        let icomplexity = 4.0 * h * (1.0 - h);

        radsort::sort(&mut self.power);
        self.prefix.clear();
        self.prefix.reserve(n + 1);
        let mut acc = 0.0f64;
        self.prefix.push(0.0);
        for &p in &self.power {
            acc += p as f64;
            self.prefix.push(acc);
        }
        let sorted = Sorted { p: &self.power, prefix: &self.prefix };
        let pct: [f64; 101] = std::array::from_fn(|q| sorted.percentile(q as u32));

        let tail = sorted.mean_db(&[(pct[90], pct[100])]);
        let core = match sorted.mode_deciles(&pct) {
            Some(ranges) => sorted.mean_db(&ranges),
            None => f64::NAN,
        };
        CellIndices { total, core, tail, exag: tail - core, information, icomplexity }
    }
}

/// A sorted cell with the prefix sums of its power.
struct Sorted<'a> {
    p: &'a [f32],
    prefix: &'a [f64],
}

impl Sorted<'_> {
    #[inline]
    fn r(&self, k: usize) -> f32 {
        decibels(self.p[k])
    }

    /// numpy `percentile(R, q)`, method `linear` (numpy ≥ 1.22 `_lerp`).
    fn percentile(&self, q: u32) -> f64 {
        let n = self.p.len();
        let vi = (n - 1) as f64 * (q as f64 / 100.0);
        if vi >= (n - 1) as f64 {
            return self.r(n - 1) as f64;
        }
        let prev = vi.floor();
        let gamma = vi - prev;
        let i = prev as usize;
        let (a, b) = (self.r(i), self.r(i + 1));
        let diff = (b - a) as f64;
        if gamma >= 0.5 {
            b as f64 - diff * (1.0 - gamma)
        } else {
            a as f64 + diff * gamma
        }
    }

    /// Number of sorted values with `R(k) < x`, or `R(k) <= x` when `inclusive` (R widened
    /// to float64 for the comparison).
    fn count_until(&self, x: f64, inclusive: bool) -> usize {
        self.p.partition_point(|&p| {
            let r = decibels(p) as f64;
            if inclusive { r <= x } else { r < x }
        })
    }

    /// dB of the mean power over the union of `lo < R <= hi` for each `(lo, hi)`, compared in
    /// float64. NaN when nothing is selected.
    fn mean_db(&self, ranges: &[(f64, f64)]) -> f64 {
        let mut spans: Vec<(usize, usize)> = ranges
            .iter()
            .map(|&(lo, hi)| (self.count_until(lo, true), self.count_until(hi, true)))
            .filter(|(a, b)| b > a)
            .collect();
        spans.sort_unstable();
        let (mut count, mut sum) = (0usize, 0.0f64);
        let mut reach = 0usize;
        for (a, b) in spans {
            let a = a.max(reach);
            if b > a {
                count += b - a;
                sum += self.prefix[b] - self.prefix[a];
                reach = b;
            }
        }
        if count == 0 {
            return f64::NAN;
        }
        let mean32 = ((sum as f32) as f64 / count as f64) as f32;
        10.0 * mean32.log10() as f64
    }

    /// `decile_mod(R, tolerance=0.1)`: percentile ranges of the deciles holding the
    /// histogram mode(s). `None` when all values are equal (no range can select anything).
    fn mode_deciles(&self, pct: &[f64; 101]) -> Option<Vec<(f64, f64)>> {
        let n = self.p.len();
        let (min, max) = (self.r(0) as f64, self.r(n - 1) as f64);
        if min == max {
            return None;
        }
        const BINS: usize = 100;
        let step = (max - min) / BINS as f64;
        let mut edges = [0f32; BINS + 1];
        for (i, e) in edges.iter_mut().enumerate().take(BINS) {
            *e = (i as f64 * step + min) as f32;
        }
        edges[BINS] = max as f32;
        // Counts with edges[i] <= x < edges[i+1]; the last bin also holds the right edge.
        let mut below = [0usize; BINS + 1];
        for (i, &e) in edges.iter().enumerate().take(BINS) {
            below[i] = if i == 0 { 0 } else { self.count_until(e as f64, false) };
        }
        below[BINS] = n;
        let counts: [usize; BINS] = std::array::from_fn(|i| below[i + 1].saturating_sub(below[i]));
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
        Some(
            (1..=10)
                .filter(|&d| deciles[d])
                .map(|d| (pct[(d - 1) * 10], pct[d * 10]))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(p: f64) -> f64 {
        10.0 * p.log10()
    }

    fn cell(values: &[f32]) -> CellIndices {
        CellScratch::default().indices_of_magnitudes(values)
    }

    #[test]
    fn constant_cell() {
        let c = cell(&[2.0; 1000]);
        assert!((c.total - db(4.0 * 1000.0)).abs() < 1e-5);
        assert!(c.core.is_nan() && c.tail.is_nan() && c.exag.is_nan());
        assert!(c.information.abs() < 1e-12, "{}", c.information);
        assert!(c.icomplexity.abs() < 1e-11);
    }

    #[test]
    fn silence_is_clipped_to_the_floor() {
        // All zeros: every power is (1e-3)^2, TOTAL = 10 log10(N * 1e-6).
        let c = cell(&[0.0; 14065]);
        assert!((c.total - db(14065.0 * 1e-6)).abs() < 1e-4, "{}", c.total);
        assert!(c.core.is_nan() && c.tail.is_nan());
    }

    #[test]
    fn two_levels() {
        // 900 quiet values (power 1) and 100 loud ones (power 100).
        let mut v = vec![1.0f32; 900];
        v.extend(std::iter::repeat(10.0f32).take(100));
        let c = cell(&v);
        assert!((c.total - db(900.0 + 100.0 * 100.0)).abs() < 1e-4);
        // pct(90) lies between the levels' boundary: 0.9*999 = 899.1 -> between R=0 and R=20,
        // so the top decile holds exactly the 100 loud values.
        assert!((c.tail - 20.0).abs() < 1e-5, "tail {}", c.tail);
        // The mode is the quiet level; its decile is strictly above pct(lower), which here
        // equals the quiet level, so the selection is empty except where deciles reach up.
        // Quiet values: R = 0. Mode bin centre ~0.1 dB, nearest percentiles q=0..89 (all 0.0):
        // mean q = 44.5 -> 44 (half-even) -> decile 5: range (pct40, pct50] = (0, 0] -> empty.
        assert!(c.core.is_nan(), "core {}", c.core);
        // Entropy of the two-level distribution.
        let s: f64 = 900.0 + 10000.0;
        let (p1, p2): (f64, f64) = (1.0 / s, 100.0 / s);
        let h = -(900.0 * p1 * p1.log2() + 100.0 * p2 * p2.log2()) / 1000f64.log2();
        assert!((c.information - (1.0 - h)).abs() < 1e-9);
        assert!((c.icomplexity - 4.0 * h * (1.0 - h)).abs() < 1e-9);
    }

    #[test]
    fn linear_ramp_core_is_the_mode_decile() {
        // R uniform in dB from -20 to 20: a flat histogram, every bin is a mode, every decile
        // is selected, CORE = mean power over all values except the minimum.
        let n = 10_000;
        let r: Vec<f64> = (0..n).map(|i| -20.0 + 40.0 * i as f64 / (n - 1) as f64).collect();
        let a: Vec<f32> = r.iter().map(|&x| 10f64.powf(x / 20.0) as f32).collect();
        let c = cell(&a);
        let p: Vec<f64> = a.iter().map(|&x| (x * x) as f64).collect();
        let mean_all_but_min = (p.iter().sum::<f64>() - p[0]) / (n - 1) as f64;
        assert!((c.core - db(mean_all_but_min)).abs() < 1e-3, "{} vs {}", c.core, db(mean_all_but_min));
        let top: Vec<f64> = p[9000..].to_vec();
        let tail = db(top.iter().sum::<f64>() / top.len() as f64);
        assert!((c.tail - tail).abs() < 1e-2, "{} vs {}", c.tail, tail);
        assert!((c.exag - (c.tail - c.core)).abs() < 1e-12);
    }

    #[test]
    fn several_modes_take_the_union_of_their_deciles() {
        // Three clusters: 45 % at -10 dB (+- tiny spread), 10 % spread, 45 % at +10 dB.
        let mut r = Vec::new();
        for i in 0..4500 {
            r.push(-10.0 + (i % 10) as f64 * 1e-3);
        }
        for i in 0..1000 {
            r.push(-9.0 + 18.0 * i as f64 / 1000.0);
        }
        for i in 0..4500 {
            r.push(10.0 + (i % 10) as f64 * 1e-3);
        }
        let a: Vec<f32> = r.iter().map(|&x| 10f64.powf(x / 20.0) as f32).collect();
        let c = cell(&a);
        // Both clusters are modes: the quiet one sits in deciles 1-5, the loud in 6-10; the
        // selection covers both clusters, so CORE lies between the two levels, well above the
        // quiet level alone.
        assert!(c.core > -5.0 && c.core < 10.0, "core {}", c.core);
        assert!((c.tail - 10.0).abs() < 0.01, "tail {}", c.tail);
    }

    #[test]
    fn fast_log2_is_accurate() {
        let mut worst = 0f64;
        let mut x = 1e-6f32;
        while x < 1e6 {
            for y in [x, f32::from_bits(x.to_bits() + 1), x * 1.41421, x * 1.41422, x * 1.9999999] {
                worst = worst.max((log2_positive(y) - (y as f64).log2()).abs());
            }
            x *= 1.0137;
        }
        assert!(worst < 1e-9, "worst {worst}");
        assert_eq!(log2_positive(1.0), 0.0);
        assert_eq!(log2_positive(8.0), 3.0);
    }

    #[test]
    fn empty_cell_is_nan() {
        let c = cell(&[]);
        assert!(c.total.is_nan() && c.core.is_nan() && c.information.is_nan());
    }
}
