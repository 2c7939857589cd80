//! What the original computes, number by number: the numpy float32 (and SciPy float64)
//! semantics the soundscape depends on, in one place. The STFT and the indices call these and
//! nothing else for their arithmetic; docs/fidelity.md says where each choice shows in the
//! golden output.
//!
//! A leaf module: it imports nothing from the crate.
//!
//! - [`hann_periodic`]: SciPy's `get_window("hann", n)`, from numpy's `linspace`.
//! - [`abs_complex64`]: `numpy.abs` of a complex64 value, as numpy's SIMD loop computes it.
//! - [`power`]: the soundscape's `clip(A, 1e-3, 1e3)^2` in float32.
//! - [`decibels`]: `10 * log10(P)` in float32.
//! - [`log2_positive`]: `log2` for the entropy, to about 1e-10 (where the tolerance is 1e-5).
//! - [`percentile`]: `numpy.percentile`, method `linear`, over float32 values.
//! - [`histogram_edges`]: `numpy.histogram(R, bins=100)`'s edges.
//! - [`mean_to_db`]: the dB of a float32 `numpy.mean`.

/// Bins of `decile_mod`'s histogram (`numpy.histogram(R, bins=100)`).
pub const HISTOGRAM_BINS: usize = 100;

/// Periodic Hann window as SciPy's `get_window("hann", n)`:
/// `0.5 + 0.5 cos(-pi + 2 pi k / n)` with the angle computed as numpy's `linspace` does.
pub fn hann_periodic(n: usize) -> Vec<f64> {
    let m = n + 1;
    let step = (std::f64::consts::PI - (-std::f64::consts::PI)) / (m - 1) as f64;
    (0..n)
        .map(|k| {
            let fac = k as f64 * step + (-std::f64::consts::PI);
            0.0 + 0.5 + 0.5 * fac.cos()
        })
        .collect()
}

/// `numpy.abs` of a complex64 value as numpy's SIMD loop computes it (numpy ≥ 1.25, on x86
/// with FMA): `larger * sqrt(fma(smaller/larger, smaller/larger, 1))` in float32. This is not
/// always the correctly rounded `hypotf`; the golden output shows the difference at decile
/// boundaries. The fused multiply-add is exact in float64 here (a product of two float32
/// fits in 48 bits), rounded once to float32.
#[inline(always)]
pub fn abs_complex64(re: f32, im: f32) -> f32 {
    let (re, im) = (re.abs(), im.abs());
    let (larger, smaller) = if re >= im { (re, im) } else { (im, re) };
    // Branch-free (0/0 is replaced by 0) so that the column loop vectorises.
    let d = smaller / larger;
    let d = if larger > 0.0 { d } else { 0.0 };
    let fma = ((d as f64) * (d as f64) + 1.0) as f32;
    fma.sqrt() * larger
}

/// `P = clip(a, 1e-3, 1e3)^2` in float32.
#[inline(always)]
pub fn power(a: f32) -> f32 {
    let c = a.clamp(1e-3f32, 1e3f32);
    c * c
}

/// `R = 10 * log10(P)` in float32.
#[inline(always)]
pub fn decibels(p: f32) -> f32 {
    10.0f32 * p.log10()
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
    let series = 1.0
        + s2 * (1.0 / 3.0
            + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0)))));
    e as f64 + 2.0 * std::f64::consts::LOG2_E * s * series
}

/// numpy `percentile(R, q)`, method `linear` (numpy ≥ 1.22 `_lerp`), over `n` sorted float32
/// values of which `r(k)` gives the k-th: the neighbours in float32, their difference in
/// float32, the interpolation in float64 (from the nearer side).
#[inline]
pub fn percentile(n: usize, q: u32, mut r: impl FnMut(usize) -> f32) -> f64 {
    let vi = (n - 1) as f64 * (q as f64 / 100.0);
    if vi >= (n - 1) as f64 {
        return r(n - 1) as f64;
    }
    let prev = vi.floor();
    let gamma = vi - prev;
    let i = prev as usize;
    let (a, b) = (r(i), r(i + 1));
    let diff = (b - a) as f64;
    if gamma >= 0.5 {
        b as f64 - diff * (1.0 - gamma)
    } else {
        a as f64 + diff * gamma
    }
}

/// numpy's `histogram(R, bins=100)` edges between R's extremes: float32 from a float64 linspace.
#[inline]
pub fn histogram_edges(min: f64, max: f64) -> [f32; HISTOGRAM_BINS + 1] {
    let step = (max - min) / HISTOGRAM_BINS as f64;
    let mut edges = [0f32; HISTOGRAM_BINS + 1];
    for (i, e) in edges.iter_mut().enumerate().take(HISTOGRAM_BINS) {
        *e = (i as f64 * step + min) as f32;
    }
    edges[HISTOGRAM_BINS] = max as f32;
    edges
}

/// dB of a mean power given as a float64 sum over `count` values, rounded as numpy's float32
/// mean is (float32 sum, divided in float64, stored as float32). NaN when `count` is 0.
#[inline]
pub fn mean_to_db(sum: f64, count: usize) -> f64 {
    if count == 0 {
        return f64::NAN;
    }
    let mean32 = ((sum as f32) as f64 / count as f64) as f32;
    10.0 * mean32.log10() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_periodic_hann() {
        let w = hann_periodic(1024);
        assert_eq!(w[0], 0.0);
        assert!((w[512] - 1.0).abs() < 1e-15);
        assert!((w[256] - 0.5).abs() < 1e-12);
        assert!((w[1] - w[1023]).abs() < 1e-15);
    }

    #[test]
    fn fast_log2_is_accurate() {
        let mut worst = 0f64;
        let mut x = 1e-6f32;
        while x < 1e6 {
            for y in [
                x,
                f32::from_bits(x.to_bits() + 1),
                x * std::f32::consts::SQRT_2,
                f32::from_bits((x * std::f32::consts::SQRT_2).to_bits() + 1),
                f32::from_bits((x * std::f32::consts::SQRT_2).to_bits() - 1),
                x * 1.9999999,
            ] {
                worst = worst.max((log2_positive(y) - (y as f64).log2()).abs());
            }
            x *= 1.0137;
        }
        assert!(worst < 1e-9, "worst {worst}");
        assert_eq!(log2_positive(1.0), 0.0);
        assert_eq!(log2_positive(8.0), 3.0);
    }

    /// `[0, 1, 2, 10]` in float32, `q = 0, 25, 50, 90, 100`: 0, 0.75, 1.5, 7.6 and 10, the
    /// interpolation in float64 as the golden output shows it (numpy 2 rounds the result to
    /// float32: 7.5999999).
    #[test]
    fn percentile_interpolates_as_numpy() {
        let v = [0.0f32, 1.0, 2.0, 10.0];
        let p = |q| percentile(v.len(), q, |k| v[k]);
        assert_eq!(p(0), 0.0);
        assert_eq!(p(25), 0.75);
        assert_eq!(p(50), 1.5);
        assert!((p(90) - 7.6).abs() < 1e-12, "{}", p(90));
        assert_eq!(p(100), 10.0);
    }

    #[test]
    fn histogram_edges_span_the_extremes() {
        let e = histogram_edges(-20.0, 20.0);
        assert_eq!(e[0], -20.0);
        assert_eq!(e[HISTOGRAM_BINS], 20.0);
        assert_eq!(e[50], 0.0);
        assert!(e.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn mean_to_db_of_nothing_is_nan() {
        assert!(mean_to_db(0.0, 0).is_nan());
        assert!((mean_to_db(300.0, 3) - 20.0).abs() < 1e-6);
    }

    #[test]
    fn abs_matches_hypot_on_simple_values() {
        assert_eq!(abs_complex64(3.0, 4.0), 5.0);
        assert_eq!(abs_complex64(0.0, 0.0), 0.0);
        assert_eq!(abs_complex64(-2.0, 0.0), 2.0);
        assert_eq!(power(0.0), 1e-3f32 * 1e-3f32);
        assert_eq!(power(5e3), 1e6);
    }
}
