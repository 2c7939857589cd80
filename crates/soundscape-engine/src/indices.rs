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
//! cell is read in four passes and never sorted or grouped whole:
//! 1. the extremes (a quick min/max);
//! 2. Σp and Σ p log2 p (TOTAL, INFORMATION, ICOMPLEXITY) and, in the same loop, the counts
//!    per value-ordered bucket (the high bits of the float pattern above the minimum; R is a
//!    monotone function of P, so the order is that of R too);
//! 3. the values of the few buckets that the 101 percentile ranks and the 99 histogram edges
//!    of `decile_mod` land in (known from the counts and the extremes alone), picked out (with
//!    AVX2 eight values at a time, without branches): every percentile follows from its
//!    bucket sorted, every histogram count from the values near its edge;
//! 4. the power sums below the handful of thresholds TAIL and CORE select, in one pass.
//!
//! A percentile threshold becomes the exact power threshold (a short search over float bit
//! patterns); a histogram edge only needs bracketing, from the estimate `10^(x/10)`. So R is
//! only evaluated where it is looked at. A fully sorted reference implementation is kept in
//! the tests, and the hot passes are compiled for AVX2 as well (`simd`).
//!
//! Numerics follow numpy 1.x as the original ran it: float32 percentile neighbours with a
//! float64 `linear` interpolation (difference in float32), percentile thresholds compared in
//! float64 (the golden output excludes values equal to the float32 rounding of a threshold
//! that lies below them), float32 histogram edges from a float64
//! linspace, round-half-even of the mean mode percentile. Sums are taken in float64 (numpy
//! uses float32 pairwise sums), which moves results by far less than the tolerances in docs/fidelity.md.

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
    /// Power values for [`CellScratch::indices_of_magnitudes`].
    power: Vec<f32>,
    /// `LANES` counters per bucket (16-bit ones for cells small enough).
    counts16: Vec<u16>,
    counts32: Vec<u32>,
    /// Values in buckets before `b`: bucket `b` holds ranks `start[b]..start[b + 1]`.
    start: Vec<u32>,
    /// Where each bucket's values were gathered (an index into `gathered`), or `NOT_GATHERED`.
    gathered_at: Vec<u16>,
    /// The gathered buckets: their bucket number, their values' place in `values`, and
    /// whether those are sorted yet.
    gathered: Vec<Gathered>,
    values: Vec<f32>,
    /// The values of the buckets being gathered, in cell order (see [`marked_values`]).
    hits: Vec<f32>,
    /// The ranks the percentiles read, in the order they read them, with their buckets.
    ranks: Vec<(u32, u32)>,
}

#[derive(Debug, Clone, Copy)]
struct Gathered {
    bucket: u32,
    at: u32,
    sorted: bool,
}

const NOT_GATHERED: u16 = u16::MAX;
/// Largest log2 of the number of buckets a cell is spread over (about one bucket per value;
/// even with every bucket gathered, `gathered_at`'s 16-bit places must stay below
/// `NOT_GATHERED`).
const BUCKET_BITS: u32 = 15;
const _: () = assert!(1 << BUCKET_BITS < NOT_GATHERED as usize);
/// Values `i` and `i + 1` of a cell go to different counters of their bucket, so that a run of
/// equal buckets (a clipped floor, a steady tone) does not chain each increment to the last.
const LANES: usize = 2;
/// Bins of `decile_mod`'s histogram.
const BINS: usize = 100;
/// Float32 patterns either side of a histogram edge's estimate (see `Buckets::edge_bracket`).
const EDGE_SLACK: u32 = 32;

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
    let series = 1.0
        + s2 * (1.0 / 3.0
            + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0)))));
    e as f64 + 2.0 * std::f64::consts::LOG2_E * s * series
}

/// `R = 10 * log10(P)` in float32.
#[inline(always)]
fn decibels(p: f32) -> f32 {
    10.0f32 * p.log10()
}

crate::simd::kernel! {
    fn cell_indices(scratch: &mut CellScratch, power: &[f32]) -> CellIndices {
        scratch.indices_inline(power)
    }
}

/// The smallest and largest bit pattern of a cell's power values (positive floats, so in
/// the order of the values), eight lanes wide.
#[inline(always)]
fn extremes(power: &[f32]) -> (u32, u32) {
    const W: usize = 8;
    let (mut lo, mut hi) = ([u32::MAX; W], [0u32; W]);
    let chunks = power.chunks_exact(W);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..W {
            lo[k] = lo[k].min(c[k].to_bits());
            hi[k] = hi[k].max(c[k].to_bits());
        }
    }
    for (k, &p) in rest.iter().enumerate() {
        lo[k] = lo[k].min(p.to_bits());
        hi[k] = hi[k].max(p.to_bits());
    }
    (*lo.iter().min().unwrap(), *hi.iter().max().unwrap())
}

/// A bucket counter: 16 bits while the cell is small enough, else 32.
trait Counter: Copy + Default + std::ops::AddAssign + From<u8> + Into<u32> {
    /// Where each bucket of `counts` (`LANES` counters per bucket) begins in rank order,
    /// into `start`, with the total at the end.
    #[inline(always)]
    fn starts(counts: &[Self], start: &mut Vec<u32>) {
        start.clear();
        starts_from(counts, 0, start);
    }
}

impl Counter for u32 {}

impl Counter for u16 {
    /// With AVX2, eight buckets at a time.
    #[inline(always)]
    fn starts(counts: &[u16], start: &mut Vec<u32>) {
        start.clear();
        let mut done = (0, 0);
        #[cfg(target_arch = "x86_64")]
        if crate::simd::has_avx2() {
            // SAFETY: the CPU has AVX2, checked just above.
            done = unsafe { starts_u16_avx2(counts, start) };
        }
        starts_from(&counts[done.0 * LANES..], done.1, start);
    }
}

/// Appends the starts of the buckets of `counts`, the first at `at`, and the total.
#[inline(always)]
fn starts_from<C: Counter>(counts: &[C], mut at: u32, start: &mut Vec<u32>) {
    start.extend(counts.chunks_exact(LANES).map(|lanes| {
        let s = at;
        at += lanes.iter().map(|&c| c.into()).sum::<u32>();
        s
    }));
    start.push(at);
}

/// The bucket starts of [`Counter::starts`] for 16-bit counters, eight buckets at a time (a
/// prefix sum within the vector, then the running total added): as many whole groups of
/// eight as there are. Returns the buckets done and the count before the next.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn starts_u16_avx2(counts: &[u16], start: &mut Vec<u32>) -> (usize, u32) {
    use std::arch::x86_64::*;
    const _: () = assert!(LANES == 2);
    let groups = counts.len() / LANES / 8;
    start.reserve(groups * 8 + 1);
    let dst = start.as_mut_ptr();
    let low16 = _mm256_set1_epi32(0xffff);
    let last = _mm256_set1_epi32(7);
    let fourth = _mm256_set1_epi32(3);
    let mut carry = _mm256_setzero_si256();
    for g in 0..groups {
        // SAFETY: group g reads counts[16g..16g + 16] and writes start[8g..8g + 8], in bounds
        // and reserved.
        unsafe {
            let v = _mm256_loadu_si256(counts.as_ptr().add(16 * g) as *const __m256i);
            // The two 16-bit lanes of each bucket added: one 32-bit count per bucket.
            let c = _mm256_add_epi32(_mm256_and_si256(v, low16), _mm256_srli_epi32::<16>(v));
            // Inclusive prefix sums within each half, then the low half's total into the high.
            let x = _mm256_add_epi32(c, _mm256_slli_si256::<4>(c));
            let x = _mm256_add_epi32(x, _mm256_slli_si256::<8>(x));
            let low_total = _mm256_permutevar8x32_epi32(x, fourth);
            let x = _mm256_add_epi32(
                x,
                _mm256_blend_epi32::<0b1111_0000>(_mm256_setzero_si256(), low_total),
            );
            let starts = _mm256_add_epi32(_mm256_sub_epi32(x, c), carry);
            _mm256_storeu_si256(dst.add(8 * g) as *mut __m256i, starts);
            carry = _mm256_add_epi32(carry, _mm256_permutevar8x32_epi32(x, last));
        }
    }
    // SAFETY: the first groups * 8 places were written.
    unsafe { start.set_len(groups * 8) };
    (groups * 8, _mm256_cvtsi256_si32(carry) as u32)
}

/// Σp and Σ p log2 p of a cell's power values.
struct Moments {
    sum: f64,
    sum_plogp: f64,
}

/// One pass over the cell: the moments (eight lanes wide, so that they vectorise) and the
/// count of values per bucket (`key(p)` is the bucket's first of `LANES` counters); then
/// `start` gets where each bucket begins in rank order (`nb + 1` entries). The float64
/// arithmetic of the moments and the memory traffic of the counting overlap in one loop
/// (measured: in separate loops, even over blocks of 64 values, they take longer).
#[inline(always)]
fn moments_and_counts<C>(
    power: &[f32],
    key: impl Fn(f32) -> usize,
    nb: usize,
    counts: &mut Vec<C>,
    start: &mut Vec<u32>,
) -> Moments
where
    C: Counter,
{
    const W: usize = 8;
    const _: () = assert!(W % LANES == 0);
    counts.clear();
    counts.resize(nb * LANES, C::default());
    // A slice, so that the bounds are not reloaded after every increment.
    let counts = &mut counts[..];
    let (mut sum, mut plogp) = ([0.0f64; W], [0.0f64; W]);
    let chunks = power.chunks_exact(W);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..W {
            let p = c[k] as f64;
            sum[k] += p;
            plogp[k] += p * log2_positive(c[k]);
        }
        for (k, &p) in c.iter().enumerate() {
            counts[key(p) + k % LANES] += C::from(1);
        }
    }
    for (k, &p) in rest.iter().enumerate() {
        sum[k] += p as f64;
        plogp[k] += p as f64 * log2_positive(p);
        counts[key(p) + k % LANES] += C::from(1);
    }
    C::starts(counts, start);
    Moments {
        sum: sum.iter().sum(),
        sum_plogp: plogp.iter().sum(),
    }
}

impl CellScratch {
    /// Indices of the cell whose magnitudes are `magnitudes` (any order).
    pub fn indices_of_magnitudes(&mut self, magnitudes: &[f32]) -> CellIndices {
        let mut p = std::mem::take(&mut self.power);
        p.clear();
        p.extend(magnitudes.iter().map(|&a| power(a)));
        let c = self.indices(&p);
        self.power = p;
        c
    }

    /// Indices of the cell whose power values are `power` (any order).
    pub fn indices(&mut self, power: &[f32]) -> CellIndices {
        cell_indices(self, power)
    }

    #[inline(always)]
    fn indices_inline(&mut self, power: &[f32]) -> CellIndices {
        let n = power.len();
        if n == 0 {
            return CellIndices::NAN;
        }
        // Pass 1: the range. Pass 2: total, entropy sum and the counts per bucket.
        let (min_bits, max_bits) = extremes(power);
        let (mut cell, Moments { sum, sum_plogp }) = self.buckets(power, min_bits, max_bits);
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

        // Pass 3: gather the few buckets that rank queries and histogram edges land in.
        cell.gather_needed();

        let mut read = 0;
        let pct: [f64; 101] = std::array::from_fn(|q| {
            percentile(n, q as u32, |k| {
                read += 1;
                decibels(cell.ranked_value(read - 1, k))
            })
        });
        let core_ranges = cell.mode_deciles(&pct);
        // Pass 4: the power below the thresholds of TAIL and CORE.
        let tail_ranges = [(pct[90], pct[100])];
        // No mode deciles (all values equal) select nothing: CORE is NaN.
        let sets: [&[(f64, f64)]; 2] = [&tail_ranges, core_ranges.as_deref().unwrap_or(&[])];
        let [tail, core] = cell.means_db(sets, sum);
        CellIndices {
            total,
            core,
            tail,
            exag: tail - core,
            information,
            icomplexity,
        }
    }

    /// Pass 2 over a cell whose extreme bit patterns are known: the moments, and how many
    /// values fall in each bucket (the high bits above the cell's minimum, about one bucket per
    /// value).
    #[inline(always)]
    fn buckets<'a>(
        &'a mut self,
        power: &'a [f32],
        min_bits: u32,
        max_bits: u32,
    ) -> (Buckets<'a>, Moments) {
        let n = power.len();
        let bits = (usize::BITS - n.leading_zeros()).clamp(4, BUCKET_BITS);
        let range = max_bits - min_bits;
        let shift = (32 - range.leading_zeros()).saturating_sub(bits);
        let nb = (range >> shift) as usize + 1;
        let key = |p: f32| ((p.to_bits() - min_bits) >> shift) as usize * LANES;
        // 16-bit counters while they cannot overflow: half the cache footprint.
        let moments = if n <= LANES * u16::MAX as usize {
            moments_and_counts(power, key, nb, &mut self.counts16, &mut self.start)
        } else {
            moments_and_counts(power, key, nb, &mut self.counts32, &mut self.start)
        };
        self.gathered_at.clear();
        // One spare entry: the vector scan reads two entries at a time.
        self.gathered_at.resize(nb + 1, NOT_GATHERED);
        self.gathered.clear();
        self.values.clear();

        let cell = Buckets {
            power,
            start: &self.start,
            gathered_at: &mut self.gathered_at,
            gathered: &mut self.gathered,
            values: &mut self.values,
            hits: &mut self.hits,
            ranks: &mut self.ranks,
            edge_brackets: [(0, 0); BINS + 1],
            min_bits,
            max_bits,
            shift,
        };
        (cell, moments)
    }
}

/// numpy `percentile(R, q)`, method `linear` (numpy ≥ 1.22 `_lerp`), over `n` sorted values
/// of which `r(k)` gives the k-th.
fn percentile(n: usize, q: u32, mut r: impl FnMut(usize) -> f32) -> f64 {
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

/// dB of a mean power given as a float64 sum over `count` values, rounded as numpy's float32
/// mean is (float32 sum, divided in float64, stored as float32). NaN when `count` is 0.
fn mean_to_db(sum: f64, count: usize) -> f64 {
    if count == 0 {
        return f64::NAN;
    }
    let mean32 = ((sum as f32) as f64 / count as f64) as f32;
    10.0 * mean32.log10() as f64
}

/// `decile_mod(R, tolerance=0.1)` given the percentiles, R's extremes and `below(i, e)`, the
/// number of values with `R < e` for the histogram edge `e = edges[i]`: the percentile ranges
/// of the deciles holding the histogram mode(s). `None` when all values are equal (no range can
/// select anything).
fn mode_deciles(
    n: usize,
    pct: &[f64; 101],
    min: f64,
    max: f64,
    mut below: impl FnMut(usize, f32) -> usize,
) -> Option<Vec<(f64, f64)>> {
    if min == max {
        return None;
    }
    let edges = histogram_edges(min, max);
    // Counts with edges[i] <= x < edges[i+1]; the last bin also holds the right edge.
    let mut under = [0usize; BINS + 1];
    for (i, &e) in edges.iter().enumerate().take(BINS).skip(1) {
        under[i] = below(i, e);
    }
    under[BINS] = n;
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
    Some(
        (1..=10)
            .filter(|&d| deciles[d])
            .map(|d| (pct[(d - 1) * 10], pct[d * 10]))
            .collect(),
    )
}

/// numpy's `histogram(R, bins=100)` edges between R's extremes: float32 from a float64 linspace.
fn histogram_edges(min: f64, max: f64) -> [f32; BINS + 1] {
    let step = (max - min) / BINS as f64;
    let mut edges = [0f32; BINS + 1];
    for (i, e) in edges.iter_mut().enumerate().take(BINS) {
        *e = (i as f64 * step + min) as f32;
    }
    edges[BINS] = max as f32;
    edges
}

/// Count and sum of the union of selections given as `(count, sum)` pairs at their lower and
/// upper bounds (each selection is the values between two thresholds, in rank order).
fn union_count_sum(mut spans: Vec<((usize, f64), (usize, f64))>) -> (usize, f64) {
    spans.retain(|(a, b)| b.0 > a.0);
    spans.sort_unstable_by_key(|(a, _)| a.0);
    let (mut count, mut sum) = (0usize, 0.0f64);
    let mut open: Option<((usize, f64), (usize, f64))> = None;
    for (a, b) in spans {
        open = match open {
            Some((oa, ob)) if a.0 <= ob.0 => Some((oa, if b.0 > ob.0 { b } else { ob })),
            Some((oa, ob)) => {
                count += ob.0 - oa.0;
                sum += ob.1 - oa.1;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some((oa, ob)) = open {
        count += ob.0 - oa.0;
        sum += ob.1 - oa.1;
    }
    (count, sum)
}

/// A cell's power values spread over value-ordered buckets (the high bits of the float
/// pattern), of which only the counts are known for all. The values of a bucket are gathered
/// (one pass over the cell for all the buckets asked for at once) and sorted only where a rank
/// query or a count below a threshold lands, so a cell is never sorted or even grouped whole.
struct Buckets<'a> {
    power: &'a [f32],
    /// Bucket `b` holds the ranks `start[b]..start[b+1]`.
    start: &'a [u32],
    gathered_at: &'a mut [u16],
    gathered: &'a mut Vec<Gathered>,
    values: &'a mut Vec<f32>,
    hits: &'a mut Vec<f32>,
    /// The ranks the percentiles read, in order, and their buckets (see `gather_needed`).
    ranks: &'a mut Vec<(u32, u32)>,
    /// Where each histogram edge falls among the power values (see [`Buckets::edge_bracket`]),
    /// found before gathering.
    edge_brackets: [(u32, u32); BINS + 1],
    min_bits: u32,
    max_bits: u32,
    shift: u32,
}

impl Buckets<'_> {
    fn len(&self) -> usize {
        self.power.len()
    }

    #[inline]
    fn bucket_of(&self, bits: u32) -> usize {
        ((bits - self.min_bits) >> self.shift) as usize
    }

    /// The buckets the percentiles and the histogram edges of `decile_mod` land in, gathered
    /// in one pass (they depend only on the counts and the cell's extremes).
    #[inline(always)]
    fn gather_needed(&mut self) {
        let n = self.len();
        self.ranks.clear();
        for q in 0..=100 {
            percentile(n, q, |k| {
                self.ranks.push((k as u32, 0));
                0.0
            });
        }
        buckets_of_ranks(self.start, self.ranks);
        let mut wanted = Vec::with_capacity(2 * 101 + BINS);
        wanted.extend(self.ranks.iter().map(|&(_, b)| b as usize));
        let (min, max) = self.extremes_db();
        if min != max {
            let edges = histogram_edges(min, max);
            for (i, &e) in edges.iter().enumerate().take(BINS).skip(1) {
                let (lo, hi) = self.edge_bracket(e as f64);
                self.edge_brackets[i] = (lo, hi);
                for bits in [lo, hi] {
                    if (self.min_bits..=self.max_bits).contains(&bits) {
                        wanted.push(self.bucket_of(bits));
                    }
                }
            }
        }
        self.gather(&wanted);
    }

    /// Gathers the values of these buckets (those not gathered yet) in one pass over the cell.
    #[inline(always)]
    fn gather(&mut self, buckets: &[usize]) {
        let first_new = self.gathered.len();
        let mut at = self.values.len() as u32;
        for &b in buckets {
            if self.gathered_at[b] == NOT_GATHERED {
                self.gathered_at[b] = self.gathered.len() as u16;
                self.gathered.push(Gathered {
                    bucket: b as u32,
                    at,
                    sorted: false,
                });
                at += self.start[b + 1] - self.start[b];
            }
        }
        if self.gathered.len() == first_new {
            return;
        }
        let mut next: Vec<u32> = self.gathered[first_new..].iter().map(|g| g.at).collect();
        self.values.resize(at as usize, 0.0);
        let (min_bits, shift) = (self.min_bits, self.shift);
        marked_values(self.power, self.gathered_at, min_bits, shift, self.hits);
        for &p in self.hits.iter() {
            let g = self.gathered_at[((p.to_bits() - min_bits) >> shift) as usize] as usize;
            if g >= first_new {
                let slot = &mut next[g - first_new];
                self.values[*slot as usize] = p;
                *slot += 1;
            }
        }
    }

    /// Where bucket `b`'s entry is in `gathered` and its values in `values` (gathered first if
    /// need be).
    #[inline(always)]
    fn gathered_bucket(&mut self, b: usize) -> (usize, std::ops::Range<usize>) {
        if self.gathered_at[b] == NOT_GATHERED {
            self.gather(&[b]);
        }
        let g = self.gathered_at[b] as usize;
        debug_assert_eq!(self.gathered[g].bucket as usize, b);
        let s = self.gathered[g].at as usize;
        (g, s..s + (self.start[b + 1] - self.start[b]) as usize)
    }

    /// The values of bucket `b` in any order (gathered first if need be).
    #[inline(always)]
    fn bucket_values(&mut self, b: usize) -> &[f32] {
        let (_, values) = self.gathered_bucket(b);
        &self.values[values]
    }

    /// The values of bucket `b`, sorted (gathered first if need be).
    #[inline(always)]
    fn bucket(&mut self, b: usize) -> &[f32] {
        let (g, values) = self.gathered_bucket(b);
        let slice = &mut self.values[values];
        if !self.gathered[g].sorted {
            sort_small(slice);
            self.gathered[g].sorted = true;
        }
        slice
    }

    /// The value of rank `k` (0-based, ascending), the `i`-th rank the percentiles read.
    #[inline(always)]
    fn ranked_value(&mut self, i: usize, k: usize) -> f32 {
        let (rank, b) = self.ranks[i];
        debug_assert_eq!(rank as usize, k);
        let s = self.start[b as usize] as usize;
        self.bucket(b as usize)[k - s]
    }

    /// R of the smallest and largest value.
    #[inline(always)]
    fn extremes_db(&self) -> (f64, f64) {
        let min = decibels(f32::from_bits(self.min_bits)) as f64;
        let max = decibels(f32::from_bits(self.max_bits)) as f64;
        (min, max)
    }

    #[inline(always)]
    fn mode_deciles(&mut self, pct: &[f64; 101]) -> Option<Vec<(f64, f64)>> {
        let (min, max) = self.extremes_db();
        mode_deciles(self.len(), pct, min, max, |i, e| {
            self.count_below_edge(self.edge_brackets[i], e as f64)
        })
    }

    /// Bit patterns `lo < hi` around where `R < x` stops holding: every value whose pattern
    /// is `<= lo` has `R < x`, none from `hi` on has, and those between are evaluated. `lo` may
    /// lie below the smallest value (none has `R < x`) and `hi` above the largest.
    ///
    /// R is computed in float32 from a float32 `log10`, so the last pattern with `R < x` lies
    /// within a few patterns of `10^(x/10)`: two evaluations `EDGE_SLACK` patterns either side
    /// of that estimate almost always bracket it, and the values between are rare (a bucket
    /// spans thousands of patterns). Where they do not, an exact search gives `hi = lo + 1`.
    #[inline(always)]
    fn edge_bracket(&self, x: f64) -> (u32, u32) {
        let pred = |bits: u32| (decibels(f32::from_bits(bits)) as f64) < x;
        let (min, max) = (self.min_bits, self.max_bits);
        let guess = ((x * (std::f64::consts::LN_10 / 10.0)).exp() as f32).to_bits();
        let lo = guess.saturating_sub(EDGE_SLACK).clamp(min, max);
        let hi = guess.saturating_add(EDGE_SLACK).clamp(min, max);
        // At most two buckets to look into.
        if self.bucket_of(hi) - self.bucket_of(lo) <= 1 {
            match (pred(lo), pred(hi)) {
                (true, false) => return (lo, hi),
                (false, _) if lo == min => return (min.wrapping_sub(1), min),
                (true, true) if hi == max => return (max, max.saturating_add(1)),
                _ => {}
            }
        }
        match self.power_threshold(x, true) {
            Some(p) => (p.to_bits(), p.to_bits().saturating_add(1)),
            None => (min.wrapping_sub(1), min),
        }
    }

    /// Number of the values with `R < x`, given its bracket from [`Buckets::edge_bracket`].
    #[inline(always)]
    fn count_below_edge(&mut self, (lo, hi): (u32, u32), x: f64) -> usize {
        if lo < self.min_bits {
            return 0;
        }
        if lo >= self.max_bits {
            return self.len();
        }
        let first = self.bucket_of(lo);
        let last = self.bucket_of(hi.min(self.max_bits));
        let mut count = self.start[first] as usize;
        for b in first..=last {
            for &v in self.bucket_values(b) {
                let bits = v.to_bits();
                count += (bits <= lo || (bits < hi && (decibels(v) as f64) < x)) as usize;
            }
        }
        count
    }

    /// Number of the values `<= p` (none for `None`).
    #[inline(always)]
    fn count_at_or_below(&mut self, p: Option<f32>) -> usize {
        let Some(p) = p else {
            return 0;
        };
        let bits = p.to_bits();
        if bits >= self.max_bits {
            return self.len();
        }
        let b = self.bucket_of(bits);
        self.start[b] as usize + self.bucket(b).partition_point(|&v| v <= p)
    }

    /// For each set of `(lo, hi)` ranges, the dB of the mean power over the union of
    /// `lo < R <= hi` (compared in float64), NaN when nothing is selected. Each bound's power
    /// threshold is searched once; the counts below them come from the buckets, the sums from
    /// one pass over the cell (but for a threshold at the largest value: all values, whose sum
    /// is `total`).
    #[inline(always)]
    fn means_db<const K: usize>(&mut self, sets: [&[(f64, f64)]; K], total: f64) -> [f64; K] {
        let bounds: [Vec<(Option<f32>, Option<f32>)>; K] = sets.map(|ranges| {
            ranges
                .iter()
                .map(|&(lo, hi)| {
                    (
                        self.power_threshold(lo, false),
                        self.power_threshold(hi, false),
                    )
                })
                .collect()
        });
        let mut thresholds: Vec<f32> = bounds
            .iter()
            .flatten()
            .flat_map(|&(lo, hi)| [lo, hi])
            .flatten()
            .filter(|p| p.to_bits() < self.max_bits)
            .collect();
        thresholds.sort_unstable_by(f32::total_cmp);
        thresholds.dedup();
        let sums = sums_at_or_below(self.power, &thresholds);
        let mut at = |p: Option<f32>| match p {
            None => (0, 0.0),
            Some(p) if p.to_bits() >= self.max_bits => (self.len(), total),
            Some(p) => {
                let i = thresholds.binary_search_by(|t| t.total_cmp(&p)).unwrap();
                (self.count_at_or_below(Some(p)), sums[i])
            }
        };
        bounds.map(|ranges| {
            let spans = ranges.iter().map(|&(lo, hi)| (at(lo), at(hi))).collect();
            let (count, sum) = union_count_sum(spans);
            mean_to_db(sum, count)
        })
    }

    /// The largest power `p` (a float32 bit pattern within the cell's range) with
    /// `R(p) <= x` (`strict = false`) or `R(p) < x`, or `None` when even the smallest value
    /// fails. R is monotone in p, so this is a search over bit patterns, started at the
    /// estimate 10^(x/10) so that only a handful of `log10` evaluations are needed.
    fn power_threshold(&self, x: f64, strict: bool) -> Option<f32> {
        let pred = |bits: u32| {
            let r = decibels(f32::from_bits(bits)) as f64;
            if strict {
                r < x
            } else {
                r <= x
            }
        };
        let (lo_b, hi_b) = (self.min_bits, self.max_bits);
        if !pred(lo_b) {
            return None;
        }
        if pred(hi_b) {
            return Some(f32::from_bits(hi_b));
        }
        // pred(lo) true, pred(hi) false; bracket around the estimate, then bisect.
        let guess = (10f64.powf(x / 10.0) as f32).to_bits().clamp(lo_b, hi_b);
        let (mut lo, mut hi) = (lo_b, hi_b);
        let mut step = 8u32;
        if pred(guess) {
            lo = guess;
            loop {
                let probe = lo.saturating_add(step).min(hi);
                if probe == hi || !pred(probe) {
                    hi = probe;
                    break;
                }
                lo = probe;
                step = step.saturating_mul(4);
            }
        } else {
            hi = guess;
            loop {
                let probe = hi.saturating_sub(step).max(lo);
                if probe == lo || pred(probe) {
                    lo = probe;
                    break;
                }
                hi = probe;
                step = step.saturating_mul(4);
            }
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if pred(mid) {
                lo = mid
            } else {
                hi = mid
            }
        }
        Some(f32::from_bits(lo))
    }
}

/// Sorts a bucket's values (in `f32::total_cmp` order). Most buckets hold one to
/// three values: those are put in order with a compare-and-swap or three.
#[inline(always)]
fn sort_small(v: &mut [f32]) {
    let swap_if = |v: &mut [f32], i: usize, j: usize| {
        if v[j].total_cmp(&v[i]).is_lt() {
            v.swap(i, j);
        }
    };
    match v.len() {
        0 | 1 => {}
        2 => swap_if(v, 0, 1),
        3 => {
            swap_if(v, 0, 1);
            swap_if(v, 1, 2);
            swap_if(v, 0, 1);
        }
        _ => v.sort_unstable_by(f32::total_cmp),
    }
}

/// For each rank `k` in `ranks` (ascending, but for steps back of one: the percentiles read
/// ranks `i` and `i + 1`), the bucket `b` holding it (`start[b] <= k < start[b + 1]`), found in
/// one walk over `start` in strides of 64, 8 and 1.
#[inline(always)]
fn buckets_of_ranks(start: &[u32], ranks: &mut [(u32, u32)]) {
    let last = start.len() - 1; // start[last] is the cell's size, above every rank
    let mut b = 0usize;
    for (k, bucket) in ranks.iter_mut() {
        while start[b] > *k {
            b -= 1;
        }
        for stride in [64, 8, 1] {
            while b + stride < last && start[b + stride] <= *k {
                b += stride;
            }
        }
        *bucket = b as u32;
    }
}

/// The values of `power` whose bucket's entry in `marks` is not `NOT_GATHERED`, in order,
/// into `out` (a few percent of a cell). `marks` has a spare entry past the last bucket.
#[inline(always)]
fn marked_values(power: &[f32], marks: &[u16], min_bits: u32, shift: u32, out: &mut Vec<f32>) {
    out.clear();
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2() {
        // SAFETY: the CPU has AVX2, checked just above.
        done = unsafe { marked_values_avx2(power, marks, min_bits, shift, out) };
    }
    for &p in &power[done..] {
        if marks[((p.to_bits() - min_bits) >> shift) as usize] != NOT_GATHERED {
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

/// [`marked_values`] eight values at a time, without branches: the bucket entries are
/// fetched with one gather instruction and the marked values packed to the front of the
/// vector (a permutation looked up by lane mask) and stored. Returns how many values it
/// covered.
///
/// # Safety
/// The CPU must have AVX2; every value's bucket and the one after it must be in `marks`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn marked_values_avx2(
    power: &[f32],
    marks: &[u16],
    min_bits: u32,
    shift: u32,
    out: &mut Vec<f32>,
) -> usize {
    use std::arch::x86_64::*;
    let n8 = power.len() / 8 * 8;
    out.reserve(n8 + 8);
    let min = _mm256_set1_epi32(min_bits as i32);
    let shift = _mm_cvtsi32_si128(shift as i32);
    let none = _mm256_set1_epi32(NOT_GATHERED as i32);
    let base = marks.as_ptr() as *const i32;
    let dst = out.as_mut_ptr();
    let mut len = 0usize;
    let mut i = 0;
    while i < n8 {
        // SAFETY: i + 8 <= power.len(); the bucket numbers are below marks.len() - 1 and a
        // 32-bit read at byte 2k covers entries k and k + 1, both in `marks`; `out` has room
        // for len + 8 <= n8 + 8 values.
        unsafe {
            let v = _mm256_loadu_si256(power.as_ptr().add(i) as *const __m256i);
            let keys = _mm256_srl_epi32(_mm256_sub_epi32(v, min), shift);
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
    n8
}

/// For each threshold, the float64 power sum of the values `<= t`: up to eight thresholds per
/// pass over the cell (a cell has about six).
#[inline(always)]
fn sums_at_or_below(power: &[f32], thresholds: &[f32]) -> Vec<f64> {
    let mut out = Vec::with_capacity(thresholds.len());
    for group in thresholds.chunks(8) {
        match group.len() {
            1 => out.extend(sums_group::<1>(power, group)),
            2 => out.extend(sums_group::<2>(power, group)),
            3 => out.extend(sums_group::<3>(power, group)),
            4 => out.extend(sums_group::<4>(power, group)),
            5 => out.extend(sums_group::<5>(power, group)),
            6 => out.extend(sums_group::<6>(power, group)),
            7 => out.extend(sums_group::<7>(power, group)),
            _ => out.extend(sums_group::<8>(power, group)),
        }
    }
    out
}

/// [`sums_at_or_below`] for `G` thresholds in one pass, four lanes wide (one vector of
/// float64 per threshold, so that the sums stay in registers).
#[inline(always)]
fn sums_group<const G: usize>(power: &[f32], thresholds: &[f32]) -> [f64; G] {
    const W: usize = 4;
    let t: [f64; G] = std::array::from_fn(|i| thresholds[i] as f64);
    let mut sums = [[0.0f64; W]; G];
    let chunks = power.chunks_exact(W);
    let rest = chunks.remainder();
    for c in chunks {
        let d: [f64; W] = std::array::from_fn(|k| c[k] as f64);
        for i in 0..G {
            for k in 0..W {
                sums[i][k] += if d[k] <= t[i] { d[k] } else { 0.0 };
            }
        }
    }
    std::array::from_fn(|i| {
        let mut sum = sums[i].iter().sum::<f64>();
        for &v in rest {
            if v as f64 <= t[i] {
                sum += v as f64;
            }
        }
        sum
    })
}

/// Asserts that two cells' indices agree: each within 1e-9 relative (1e-9 absolute near 0),
/// NaN only where the other is NaN. `what` names the cell in the message.
#[cfg(test)]
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
#[cfg(test)]
fn reference_indices(magnitudes: &[f32]) -> CellIndices {
    let mut p: Vec<f32> = magnitudes.iter().map(|&a| power(a)).collect();
    let n = p.len();
    if n == 0 {
        return CellIndices::NAN;
    }
    p.sort_unstable_by(f32::total_cmp);
    let sum: f64 = p.iter().map(|&v| v as f64).sum();
    let plogp: f64 = p.iter().map(|&v| v as f64 * (v as f64).log2()).sum();
    let h = if n > 1 {
        -(plogp / sum - sum.log2()) / (n as f64).log2()
    } else {
        f64::NAN
    };
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
    let tail = mean_db(&[(pct[90], pct[100])]);
    let core = match mode_deciles(n, &pct, r(0) as f64, r(n - 1) as f64, |_, e| {
        upto(e as f64, true)
    }) {
        Some(ranges) => mean_db(&ranges),
        None => f64::NAN,
    };
    CellIndices {
        total: 10.0 * (sum as f32).log10() as f64,
        core,
        tail,
        exag: tail - core,
        information: 1.0 - h,
        icomplexity: 4.0 * h * (1.0 - h),
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

    /// Deterministic pseudo-random magnitudes of several shapes (noise floors, tones, clipped
    /// silence, heavy tails, ties).
    fn cells() -> Vec<Vec<f32>> {
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

    /// The count below a dB edge, from its bracket and the few values inside it, is the
    /// brute-force count: at the histogram edges, at random levels and exactly at values'
    /// levels (where `R < x` is strict), in wide and narrow cells alike.
    #[test]
    fn counts_below_edges_are_exact() {
        let mut scratch = CellScratch::default();
        let mut state = 0x2545f491u32;
        let mut next = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f64 / (1 << 24) as f64
        };
        // And a cell a few hundred float patterns wide: a bucket per pattern, so the edges
        // take the exact search.
        let narrow: Vec<f32> = (0..5000).map(|_| 1.0 + (next() * 1e-4) as f32).collect();
        for (i, magnitudes) in cells().iter().chain([&narrow]).enumerate() {
            let power: Vec<f32> = magnitudes.iter().map(|&a| power(a)).collect();
            let (min_bits, max_bits) = extremes(&power);
            let (mut cell, _) = scratch.buckets(&power, min_bits, max_bits);
            let (min, max) = cell.extremes_db();
            let mut levels: Vec<f64> = histogram_edges(min, max)
                .iter()
                .map(|&e| e as f64)
                .collect();
            levels.extend((0..50).map(|_| min + (max - min) * next()));
            levels.extend(power.iter().step_by(97).map(|&p| decibels(p) as f64));
            levels.extend([min - 1.0, min, max, max + 1.0]);
            let mut levels_of_values: Vec<f64> =
                power.iter().map(|&p| decibels(p) as f64).collect();
            levels_of_values.sort_unstable_by(f64::total_cmp);
            for x in levels {
                let want = levels_of_values.partition_point(|&r| r < x);
                let bracket = cell.edge_bracket(x);
                assert_eq!(cell.count_below_edge(bracket, x), want, "cell {i}, R < {x}");
            }
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

    /// The bucket starts (eight at a time with AVX2) are the running sums of the counts,
    /// whatever the number of buckets, with 16-bit counters up to their largest value.
    #[test]
    fn bucket_starts_are_running_sums() {
        let mut state = 11u32;
        let counts: Vec<u16> = (0..2 * 300)
            .map(|i| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                if i % 37 == 0 {
                    u16::MAX
                } else {
                    (state >> 28) as u16
                }
            })
            .collect();
        let mut start = Vec::new();
        for buckets in [0, 1, 7, 8, 9, 16, 100, 300] {
            let counts = &counts[..LANES * buckets];
            u16::starts(counts, &mut start);
            let mut want = vec![0u32];
            for lanes in counts.chunks_exact(LANES) {
                want.push(want.last().unwrap() + lanes.iter().map(|&c| c as u32).sum::<u32>());
            }
            assert_eq!(start, want, "{buckets} buckets");
        }
    }

    /// The vector scan picks exactly the values of the marked buckets, in order, whatever
    /// the length (the last values go through the scalar loop).
    #[test]
    fn marked_values_are_those_of_the_marked_buckets() {
        let mut state = 7u32;
        let power: Vec<f32> = (0..1000)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                power(((state >> 8) as f32 / (1 << 24) as f32) * 4.0)
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
                    NOT_GATHERED
                }
            })
            .collect();
        let mut out = Vec::new();
        for len in [0, 1, 7, 8, 9, 63, 64, 999, 1000] {
            marked_values(&power[..len], &marks, min_bits, shift, &mut out);
            let want: Vec<f32> = power[..len]
                .iter()
                .copied()
                .filter(|p| marks[((p.to_bits() - min_bits) >> shift) as usize] != NOT_GATHERED)
                .collect();
            assert!(!want.is_empty() || len < 64);
            assert_eq!(out, want, "{len} values");
        }
    }
}
