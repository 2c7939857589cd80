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
//! - [`log10`]: numpy's float32 `log10` on the machine that made the golden output.
//! - [`decibels`]: `10 * log10(P)` in float32.
//! - [`log2`]: numpy's float32 `log2` on that machine, for the entropy.
//! - [`percentile`]: `numpy.percentile`, method `linear`, over float32 values.
//! - [`as_compared`]: a percentile as `R > pct` and `R <= pct` see it.
//! - [`histogram_edges`]: `numpy.histogram(R, bins=100)`'s edges.
//! - [`mean_to_db`]: the dB of a float32 `numpy.mean`.
//! - [`sum`]: `numpy.sum` of a float32 array, in its memory order.

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
/// boundaries. The fused multiply-add is taken in float64 here (the product of two float32 is
/// exact there) and rounded to float32: for every ratio in [0, 1] that gives the bits of the
/// float32 fused multiply-add, which the AVX2 kernel uses (a test checks each pattern).
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

/// `R = 10 * log10(P)` in float32 (numpy multiplies the float32 array by 10 in float32).
#[inline(always)]
pub fn decibels(p: f32) -> f32 {
    10.0f32 * log10(p)
}

/// `numpy.log10` of a float32 as numpy 1.22 and later compute it on a machine with AVX-512
/// (numpy's vendored Intel SVML, `__svml_log10f16`, the low-accuracy variant), which is what
/// the golden output carries: it differs from glibc's `log10f` on about half of all values by
/// one unit in the last place. The same numpy on a machine without AVX-512 calls glibc and
/// gives the other half; docs/fidelity.md says why we follow the golden output.
///
/// The method: `x = 2^e m` with `m` in [0.75, 1.5) (AVX-512 `getexp`/`getmant`); one of 16
/// intervals of `m`, picked by its top four mantissa bits, gives a cubic `c(r)` in
/// `r = m - 1`; the result is `fma(c(r), r, e log10 2)`, every step one float32 rounding.
/// Zero, negative, infinite and NaN inputs go to the library `log10f` (the same results as
/// numpy's special-case path: -inf, NaN, inf, NaN). Not monotone at four powers of the
/// soundscape's range: `P = 1.5 * 2^k` for k = -18, -15, 14 and 17 give one unit less than
/// the seven float32 values below them (docs/fidelity.md).
#[inline(always)]
pub fn log10(x: f32) -> f32 {
    if !(x > 0.0 && x < f32::INFINITY) {
        return x.log10();
    }
    let (exp, r, k) = svml_split(x);
    let scaled = exp as f32 * f32::from_bits(LOG10_2);
    svml_cubic(&LOG10_CUBIC, k, r).mul_add(r, scaled)
}

/// `numpy.log2` of a float32 as numpy computes it on a machine with AVX-512 (Intel's SVML
/// `__svml_log2f16`, low accuracy), which the golden output's entropy carries: the same
/// method as [`log10`], with log2's cubics and the exponent added last,
/// `fma(c(r), r, e)`. Zero, negative, infinite and NaN inputs go to the library `log2f`.
#[inline(always)]
pub fn log2(x: f32) -> f32 {
    if !(x > 0.0 && x < f32::INFINITY) {
        return x.log2();
    }
    let (exp, r, k) = svml_split(x);
    svml_cubic(&LOG2_CUBIC, k, r).mul_add(r, exp as f32)
}

/// The split SVML's float32 logarithms start from, for a positive finite `x`: `x = 2^e m` with
/// `m` in [0.75, 1.5) (AVX-512 `getexp`/`getmant`), `r = m - 1` (exact), and the interval `k`
/// of `m`, its top four mantissa bits.
#[inline(always)]
pub fn svml_split(x: f32) -> (i32, f32, usize) {
    let (mut bits, mut exp) = (x.to_bits(), 0i32);
    if bits < 0x0080_0000 {
        // Subnormal: normalise exactly, as getexp/getmant do.
        bits = (x * (1u32 << 24) as f32).to_bits();
        exp = -24;
    }
    let frac = bits & 0x007f_ffff;
    let upper = frac >> 22; // 1 when the mantissa is at least 1.5: m is halved into [0.75, 1)
    let m_bits = frac | ((127 - upper) << 23);
    exp += ((bits >> 23) & 0xff) as i32 - 127 + upper as i32;
    let k = ((m_bits >> 19) & 15) as usize;
    (exp, f32::from_bits(m_bits) - 1.0, k)
}

/// The cubic of interval `k` at `r`, by Horner's rule in fused multiply-adds.
#[inline(always)]
pub fn svml_cubic(table: &[[u32; 16]; 4], k: usize, r: f32) -> f32 {
    let c = f32::from_bits(table[0][k]);
    let c = c.mul_add(r, f32::from_bits(table[1][k]));
    let c = c.mul_add(r, f32::from_bits(table[2][k]));
    c.mul_add(r, f32::from_bits(table[3][k]))
}

/// log10(2) rounded to float32.
const LOG10_2: u32 = 0x3e9a_209b;

/// The cubic of each interval of [`log10`], highest power first, as float32 bit patterns
/// (the coefficient table of Intel's SVML `log10f`, BSD-3-Clause, as numpy ships it). Rows
/// 0-7 are m in [1, 1.5), rows 8-15 m in [0.75, 1), each 1/16 of an octave wide.
const LOG10_CUBIC: [[u32; 16]; 4] = [
    [
        0xbdc9ae9b, 0xbda6fcf4, 0xbd8bac76, 0xbd6bca30, 0xbd48a99b, 0xbd2c0a9f, 0xbd1480db,
        0xbd00faf2, 0xbe823aa9, 0xbe656348, 0xbe4afbb9, 0xbe346895, 0xbe20ffff, 0xbe103a0b,
        0xbe01a91c, 0xbde9e84e,
    ],
    [
        0x3e13d888, 0x3e10a87c, 0x3e0b95c3, 0x3e057f0b, 0x3dfde038, 0x3df080d9, 0x3de34c1e,
        0x3dd68333, 0x3dac6e8e, 0x3dd54a51, 0x3df30f40, 0x3e04235d, 0x3e0b7033, 0x3e102c90,
        0x3e12ebad, 0x3e141ff8,
    ],
    [
        0xbe5e5a9b, 0xbe5e2677, 0xbe5d83f5, 0xbe5c6016, 0xbe5abd0b, 0xbe58a6fd, 0xbe562e02,
        0xbe5362f8, 0xbe68e27c, 0xbe646747, 0xbe619a73, 0xbe5ff05a, 0xbe5f0570, 0xbe5e92d0,
        0xbe5e662b, 0xbe5e5c08,
    ],
    [
        0x3ede5bd8, 0x3ede5b45, 0x3ede57d8, 0x3ede4eb1, 0x3ede3d37, 0x3ede2166, 0x3eddf9d9,
        0x3eddc5bb, 0x3ede08ed, 0x3ede32e7, 0x3ede4967, 0x3ede5490, 0x3ede597f, 0x3ede5b50,
        0x3ede5bca, 0x3ede5bd9,
    ],
];

/// The cubic of each interval of [`log2`], highest power first, as float32 bit patterns (the
/// coefficient table of Intel's SVML `log2f`, BSD-3-Clause, as numpy ships it), laid out as
/// `LOG10_CUBIC`.
pub const LOG2_CUBIC: [[u32; 16]; 4] = [
    [
        0xbea77e4a, 0xbe8aae3d, 0xbe67fe32, 0xbe43d1b6, 0xbe26a589, 0xbe0ee09b, 0xbdf6a8a1,
        0xbdd63b49, 0xbf584e51, 0xbf3e80a1, 0xbf2892f0, 0xbf15d377, 0xbf05b525, 0xbeef8e30,
        0xbed75c8f, 0xbec24184,
    ],
    [
        0x3ef5910c, 0x3ef045a1, 0x3ee7d87e, 0x3eddbb84, 0x3ed2d6df, 0x3ec7bbd2, 0x3ebcc42f,
        0x3eb22616, 0x3e8f3399, 0x3eb1223e, 0x3ec9db4a, 0x3edb7a09, 0x3ee79a1a, 0x3eef77cb,
        0x3ef407a4, 0x3ef607b4,
    ],
    [
        0xbf38a934, 0xbf387de6, 0xbf37f6f0, 0xbf37048b, 0xbf35a88a, 0xbf33ed04, 0xbf31df56,
        0xbf2f8d82, 0xbf416814, 0xbf3daf58, 0xbf3b5c08, 0xbf39fa2a, 0xbf393713, 0xbf38d7e1,
        0xbf38b2cd, 0xbf38aa62,
    ],
    [
        0x3fb8aa3b, 0x3fb8a9c0, 0x3fb8a6e8, 0x3fb89f4e, 0x3fb890cb, 0x3fb879b1, 0x3fb858d8,
        0x3fb82d90, 0x3fb8655e, 0x3fb8883a, 0x3fb89aea, 0x3fb8a42f, 0x3fb8a848, 0x3fb8a9c9,
        0x3fb8aa2f, 0x3fb8aa3b,
    ],
];

/// numpy `percentile(R, q)`, method `linear` (numpy ≥ 1.22 `_lerp`), over `n` sorted float32
/// values of which `r(k)` gives the k-th: the neighbours in float32, their difference in
/// float32, the interpolation in float64 (from the nearer side).
#[inline(always)]
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

/// A percentile as numpy 1.x compares the float32 array R with it (`R > pct`, `R <= pct`):
/// value-based casting picks the float32 loop for an array and a float64 scalar, so the
/// percentile is rounded to float32 first. A value equal to that rounding is thus on the
/// rounding's side of the threshold, not the exact percentile's (the golden output shows it
/// both ways: above a lower bound that rounds up to it, below an upper bound that rounds up).
#[inline(always)]
pub fn as_compared(pct: f64) -> f64 {
    pct as f32 as f64
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
#[inline(always)]
pub fn mean_to_db(sum: f64, count: usize) -> f64 {
    if count == 0 {
        return f64::NAN;
    }
    let mean32 = ((sum as f32) as f64 / count as f64) as f32;
    10.0 * log10(mean32) as f64
}

/// Values numpy's reduction loop gets at a time: the iterator's buffer size.
const REDUCE_BLOCK: usize = 8192;

/// `numpy.sum` of float32 values in memory order (the order matters for the last bit): the
/// values in blocks of 8192, each summed pairwise, the block sums added in turn to 0.
#[inline(always)]
pub fn sum(values: &[f32]) -> f32 {
    sum_by_runs(values, &mut |run| run_sum(run, |v| v))
}

/// numpy's float32 sum of some float32 function of each value (see [`sum`]), given `run`,
/// which sums the function's results over one run of at most 128 consecutive values as
/// [`run_sum`] does (the runs come in order). So the results need not be stored: each run is
/// mapped and summed at once.
#[inline]
pub fn sum_by_runs(values: &[f32], run: &mut impl FnMut(&[f32]) -> f32) -> f32 {
    sum_by_run_batches(values, &mut |block, runs, sums| {
        for (sum, values) in sums.iter_mut().zip(run_slices(block, runs)) {
            *sum = run(values);
        }
    })
}

/// The runs `spans` of `block` (as [`sum_by_run_batches`] hands them over), as slices.
#[inline(always)]
pub fn run_slices<'a>(
    block: &'a [f32],
    spans: &'a [(u32, u32)],
) -> impl Iterator<Item = &'a [f32]> + 'a {
    spans
        .iter()
        .map(move |&(start, len)| &block[start as usize..(start + len) as usize])
}

/// [`sum_by_runs`] with all the runs of a block handed over at once: `runs(block, spans,
/// sums)` writes into `sums[i]` the sum of the run `spans[i]` (its start in the block and its
/// length). One call per block of 8192 values, so that a SIMD kernel sets itself up once per
/// block instead of once per run (a block has about a hundred runs).
#[inline]
pub fn sum_by_run_batches(
    values: &[f32],
    runs: &mut impl FnMut(&[f32], &[(u32, u32)], &mut [f32]),
) -> f32 {
    let mut spans = [(0u32, 0u32); MAX_RUNS];
    let mut sums = [0f32; MAX_RUNS];
    values.chunks(REDUCE_BLOCK).fold(0.0f32, |acc, block| {
        let mut count = 0;
        split_runs(0, block.len(), &mut spans, &mut count);
        runs(block, &spans[..count], &mut sums[..count]);
        acc + pairwise(block.len(), &sums, &mut 0)
    })
}

/// Most runs a block is split into: a run holds more than 56 values unless the block is
/// shorter (a split leaves at least 129 / 2 - 7 on either side).
const MAX_RUNS: usize = REDUCE_BLOCK / 56 + 1;

/// numpy's float32 pairwise summation splits `n` values: up to 128 are one run, longer ones
/// are split in two at a multiple of eight below the middle. The runs of `start..start + n`,
/// in order, into `spans[count..]`.
fn split_runs(start: usize, n: usize, spans: &mut [(u32, u32); MAX_RUNS], count: &mut usize) {
    if n <= PAIRWISE_RUN {
        spans[*count] = (start as u32, n as u32);
        *count += 1;
    } else {
        let half = n / 2;
        let half = half - half % 8;
        split_runs(start, half, spans, count);
        split_runs(start + half, n - half, spans, count);
    }
}

/// The pairwise sum of `n` values from the sums of their runs ([`split_runs`]), the next
/// unused at `sums[*next]`: the same tree of additions.
fn pairwise(n: usize, sums: &[f32], next: &mut usize) -> f32 {
    if n <= PAIRWISE_RUN {
        *next += 1;
        sums[*next - 1]
    } else {
        let half = n / 2;
        let half = half - half % 8;
        pairwise(half, sums, next) + pairwise(n - half, sums, next)
    }
}

/// The longest run numpy's pairwise summation adds up without splitting it.
pub const PAIRWISE_RUN: usize = 128;

/// numpy's float32 sum of `f(v)` over one run of at most [`PAIRWISE_RUN`] values: under
/// eight, one by one from 0; else into eight running sums (value `i` into sum `i % 8`,
/// [`lanes_sum`]), the last `n % 8` added at the end, one by one. The eight running sums are
/// lanes of independent float32 additions, so the loop vectorises without reordering them.
#[inline(always)]
pub fn run_sum(a: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let n = a.len();
    if n < 8 {
        return a.iter().fold(0.0f32, |r, &v| r + f(v));
    }
    let end = n - n % 8;
    let mut r: [f32; 8] = std::array::from_fn(|j| f(a[j]));
    for c in a[8..end].chunks_exact(8) {
        for j in 0..8 {
            r[j] += f(c[j]);
        }
    }
    a[end..].iter().fold(lanes_sum(r), |r, &v| r + f(v))
}

/// How numpy's pairwise summation adds up its eight running sums.
#[inline(always)]
pub fn lanes_sum(r: [f32; 8]) -> f32 {
    ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
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

    /// Checksums of `f` over every 97th float32 of each octave from 2^-27 to 2^34: the sum of
    /// the result bit patterns, and a positional checksum over the octaves. The same loop in
    /// numpy (`f(bits.view(numpy.float32))`, uint64 arithmetic) gives the expected figures.
    fn checksums(f: fn(f32) -> f32) -> (u64, u64) {
        const STRIDE: usize = 97;
        let (mut sum, mut positional) = (0u64, 0u64);
        for e in 100u32..161 {
            let mut octave = 0u64;
            for (i, bits) in (0..1u32 << 23).step_by(STRIDE).enumerate() {
                let y = f(f32::from_bits((e << 23) + bits)).to_bits() as u64;
                sum = sum.wrapping_add(y);
                octave = octave.wrapping_add(y.wrapping_mul(i as u64 + 1));
            }
            positional = positional.wrapping_mul(1_000_003).wrapping_add(octave);
        }
        (sum, positional)
    }

    /// numpy 1.26's `log10` on an AVX-512 machine over [`checksums`]' values (what P, its sums
    /// and its means can be); without AVX-512 (glibc's `log10f`) numpy gives 0x260ccba1de0891
    /// and 0x64c13a3726dd8da0.
    #[test]
    fn log10_is_numpys_avx512_log10_bit_for_bit() {
        assert_eq!(checksums(log10), (0x260ccba2061a1e, 0x261412ff3ed2d11e));
        // Where glibc's log10f differs, and the special values.
        assert_eq!(log10(1.0), 0.0);
        assert_eq!(log10(0.0), f32::NEG_INFINITY);
        assert!(log10(-1.0).is_nan() && log10(f32::NAN).is_nan());
        assert_eq!(log10(f32::INFINITY), f32::INFINITY);
    }

    /// numpy 1.26's `log2` on an AVX-512 machine over [`checksums`]' values
    /// (what the entropy's `p = P / ΣP` can be, and more).
    #[test]
    fn log2_is_numpys_avx512_log2_bit_for_bit() {
        assert_eq!(checksums(log2), (0x26526de58e6fc0, 0xb369be666f879749));
        assert_eq!(log2(1.0), 0.0);
        assert_eq!(log2(0.5), -1.0);
        assert_eq!(log2(0.0), f32::NEG_INFINITY);
        assert!(log2(-1.0).is_nan() && log2(f32::NAN).is_nan());
    }

    /// numpy's log10 dips by one unit at 1.5 * 2^k at the two ends of the octave's cubic
    /// table: R is not monotone there (docs/fidelity.md).
    #[test]
    fn log10_dips_at_three_halves_of_four_powers() {
        for k in [-18, -15, 14, 17] {
            let x = 1.5f32 * 2f32.powi(k);
            let below = f32::from_bits(x.to_bits() - 1);
            assert!(decibels(x) < decibels(below), "k = {k}");
        }
    }

    /// `numpy.sum` (numpy 1.26) of `v^6 * 1e6`, `v` the float32 of `(i * 2654435761 mod 2^32)
    /// / 2^32`, for lengths where it is not the rounded exact sum (47 of the 66 lengths
    /// 3, 616, ... below 40,000 are), and two where it is.
    #[test]
    fn sum_is_numpys_float32_sum() {
        let values = |n: u64| -> Vec<f32> {
            (0..n)
                .map(|i| {
                    let v = ((i * 2654435761) % (1 << 32)) as f64 / (1u64 << 32) as f64;
                    let v = v as f32;
                    v * v * v * v * v * v * 1e6f32
                })
                .collect()
        };
        for (n, bits) in [
            (1229, 0x4d275aa0),
            (3068, 0x4dd0de0e),
            (3681, 0x4dfa7d2c),
            (5520, 0x4e3bf86a),
            (9198, 0x4e9c9b18),
            (9811, 0x4ea72118),
            (11037, 0x4ebbda2a),
            (13489, 0x4ee5956c),
            (15328, 0x4f027d34),
            (16554, 0x4f0ced27),
            (17167, 0x4f122710),
            (17780, 0x4f1760f7),
        ] {
            let v = values(n);
            assert_eq!(sum(&v).to_bits(), bits, "n = {n}");
            let exact = v.iter().map(|&x| x as f64).sum::<f64>() as f32;
            assert_ne!(exact.to_bits(), bits, "n = {n}");
        }
        assert_eq!(sum(&[]), 0.0);
        assert_eq!(sum(&[1.0, 2.0, 3.0]), 6.0);
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
        // numpy: 10 * np.log10(np.float32(100)) is 10 * 2.0000002.
        assert_eq!(
            mean_to_db(300.0, 3),
            10.0 * f32::from_bits(0x4000_0001) as f64
        );
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
