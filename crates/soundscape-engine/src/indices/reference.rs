//! The fully sorted reference the tests check the bucketed cell against, and the shapes of
//! cells they use.

use super::buckets::union_count_sum;
use super::{mode_deciles, tail_range, CellIndices};
use crate::fidelity::{
    self, decibels, histogram_edges, mean_to_db, percentile, power, HISTOGRAM_BINS,
};

/// Asserts that two cells' indices agree: each within 1e-9 relative (1e-9 absolute near 0),
/// NaN only where the other is NaN. `what` names the cell in the message.
pub(crate) fn assert_indices_agree(got: &CellIndices, want: &CellIndices, what: &str) {
    for (name, a, b) in [
        ("total", got.total, want.total),
        ("core", got.core, want.core),
        ("tail", got.tail, want.tail),
        ("exag", got.exag, want.exag),
        ("information", got.information, want.information),
        ("icomplexity", got.icomplexity, want.icomplexity),
    ] {
        let same = (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * (1.0 + b.abs());
        assert!(same, "{what}: {name} {a} vs {b}");
    }
}

/// Reference implementation: the whole cell sorted, R evaluated wherever it is looked at,
/// sums from prefix sums (the straightforward way; the tests check the bucketed one against it).
pub(crate) fn reference_indices(magnitudes: &[f32]) -> CellIndices {
    let mut p: Vec<f32> = magnitudes.iter().map(|&a| power(a)).collect();
    let n = p.len();
    if n == 0 {
        return CellIndices::NAN;
    }
    // TOTAL and the entropy as numpy computes them, value by value in the cell's order.
    let sum32 = fidelity::sum(&p);
    let total = 10.0 * fidelity::log10(sum32) as f64;
    let terms: Vec<f32> = p
        .iter()
        .map(|&v| {
            let q = v / sum32;
            fidelity::log2(q) * q
        })
        .collect();
    let h = -(fidelity::sum(&terms) as f64) / (n as f64).log2();
    p.sort_unstable_by(f32::total_cmp);
    let mut prefix = vec![0.0f64];
    for &v in &p {
        prefix.push(prefix.last().unwrap() + v as f64);
    }
    let r = |k: usize| decibels(p[k]);
    let upto = |x: f64, strict: bool| {
        p.partition_point(|&v| {
            if strict {
                (decibels(v) as f64) < x
            } else {
                decibels(v) as f64 <= x
            }
        })
    };
    let mean_db = |ranges: &[(f64, f64)]| {
        let spans = ranges
            .iter()
            .map(|&(lo, hi)| {
                let (a, b) = (upto(lo, false), upto(hi, false));
                ((a, prefix[a]), (b, prefix[b]))
            })
            .collect();
        let (count, sum) = union_count_sum(spans);
        mean_to_db(sum, count)
    };
    let pct: [f64; 101] = std::array::from_fn(|q| percentile(n, q as u32, r));
    let tail = mean_db(&[tail_range(&pct)]);
    let (min, max) = (r(0) as f64, r(n - 1) as f64);
    let core = if min == max {
        f64::NAN
    } else {
        let edges = histogram_edges(min, max);
        let mut under = [n; HISTOGRAM_BINS + 1];
        under[0] = 0;
        for i in 1..HISTOGRAM_BINS {
            under[i] = upto(edges[i] as f64, true);
        }
        mean_db(&mode_deciles(&pct, &edges, &under))
    };
    CellIndices {
        total,
        core,
        tail,
        exag: tail - core,
        information: 1.0 - h,
        icomplexity: 4.0 * h * (1.0 - h),
    }
}

/// Deterministic pseudo-random magnitudes of several shapes (noise floors, tones, clipped
/// silence, heavy tails, ties).
pub(crate) fn cells() -> Vec<Vec<f32>> {
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out = Vec::new();
    for shape in 0..40 {
        let n = [14065usize, 16878, 2813, 97, 5000][shape % 5];
        let cell: Vec<f32> = (0..n)
            .map(|i| {
                let u = next();
                match shape % 8 {
                    0 => (u * 0.05) as f32,                   // near the clip floor
                    1 => (-(u.max(1e-12)).ln() * 0.3) as f32, // exponential
                    2 => {
                        if i % 3 == 0 {
                            5.0
                        } else {
                            (u * 0.01) as f32
                        }
                    } // tone + floor
                    3 => (10f64.powf(u * 6.0 - 4.0)) as f32,  // 60 dB spread
                    4 => ((u * 8.0).floor() / 8.0) as f32,    // many ties
                    5 => (1e-4 + u * 1e-4) as f32,            // all clipped
                    6 => (u.powi(8) * 2000.0) as f32,         // above the clip top
                    _ => ((u - 0.5) * 3.0).abs() as f32,
                }
            })
            .collect();
        out.push(cell);
    }
    out
}
