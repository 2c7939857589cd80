//! The indices of one cell, checked on cells with known answers and against the reference.

use super::reference::{assert_indices_agree, cells, reference_indices};
use super::*;
use crate::simd::buckets::LANES;

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
    // H is 1 in exact arithmetic; numpy's float32 terms give a little less, and so do we
    // (the figures are numpy 1.26's on AVX-512).
    assert_eq!(c.information, 1.169461824046536e-07);
    assert_eq!(c.icomplexity, 4.677846749129761e-07);
}

#[test]
fn a_cell_holding_a_nan_has_no_indices() {
    // NaN samples give NaN magnitudes, which the clip keeps: one is enough, wherever it is,
    // whatever its sign.
    let mut noise = soundscape_testkit::Noise::new(3);
    let values: Vec<f32> = (0..5000).map(|_| noise.next().abs()).collect();
    for (at, nan) in [(0, f32::NAN), (2500, -f32::NAN), (4999, f32::NAN)] {
        let mut v = values.clone();
        v[at] = nan;
        let c = cell(&v);
        let all = crate::IndexName::TABLE_ORDER.map(|name| c.get(name));
        assert!(all.iter().all(|x| x.is_nan()), "NaN at {at}: {c:?}");
    }
    // An infinite magnitude is clipped to the top of the range: that cell has indices.
    let mut v = values.clone();
    v[10] = f32::INFINITY;
    assert!(!cell(&v).core.is_nan());
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
    v.extend(std::iter::repeat_n(10.0f32, 100));
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
    // Entropy of the two-level distribution: numpy's float32 figures (numpy 1.26 on
    // AVX-512) bit for bit, within float32 rounding of the exact ones.
    assert_eq!(c.information, 0.2658119166363756);
    assert_eq!(c.icomplexity, 0.7806237664418885);
    let s: f64 = 900.0 + 10000.0;
    let (p1, p2): (f64, f64) = (1.0 / s, 100.0 / s);
    let h = -(900.0 * p1 * p1.log2() + 100.0 * p2 * p2.log2()) / 1000f64.log2();
    assert!((c.information - (1.0 - h)).abs() < 1e-6);
}

#[test]
fn linear_ramp_core_is_the_mode_decile() {
    // R uniform in dB from -20 to 20: a flat histogram, every bin is a mode, every decile
    // is selected, CORE = mean power over all values except the minimum.
    let n = 10_000;
    let r: Vec<f64> = (0..n)
        .map(|i| -20.0 + 40.0 * i as f64 / (n - 1) as f64)
        .collect();
    let a: Vec<f32> = r.iter().map(|&x| 10f64.powf(x / 20.0) as f32).collect();
    let c = cell(&a);
    let p: Vec<f64> = a.iter().map(|&x| (x * x) as f64).collect();
    let mean_all_but_min = (p.iter().sum::<f64>() - p[0]) / (n - 1) as f64;
    assert!(
        (c.core - db(mean_all_but_min)).abs() < 1e-3,
        "{} vs {}",
        c.core,
        db(mean_all_but_min)
    );
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
fn bucketed_cells_agree_with_the_fully_sorted_reference() {
    let mut scratch = CellScratch::default();
    for (i, cell) in cells().iter().enumerate() {
        let got = scratch.indices_of_magnitudes(cell);
        let want = reference_indices(cell);
        let what = format!("cell {i} (len {}), against the reference", cell.len());
        assert_indices_agree(&got, &want, &what);
    }
}

#[test]
fn cells_too_big_for_16_bit_counters_agree_too() {
    let mut state = 7u32;
    let values: Vec<f32> = (0..LANES * u16::MAX as usize + 999)
        .map(|i| {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            // A third at the clipped floor: more than a 16-bit counter holds.
            if i % 3 == 0 {
                0.0
            } else {
                (state >> 8) as f32 / (1 << 24) as f32
            }
        })
        .collect();
    let (got, want) = (cell(&values), reference_indices(&values));
    assert_indices_agree(&got, &want, "a cell too big for 16-bit counters");
}

#[test]
fn empty_cell_is_nan() {
    let c = cell(&[]);
    assert!(c.total.is_nan() && c.core.is_nan() && c.information.is_nan());
}
