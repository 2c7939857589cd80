//! The bucket and rank structure of one cell: its power values spread over value-ordered
//! buckets (the high bits of the float pattern above the cell's minimum, about one bucket per
//! value), of which only the counts are known for all. A bucket's values are gathered, and
//! sorted, only where a rank query, a histogram edge or a threshold lands.
//!
//! What it answers ([`super`] turns the answers into the indices): the sum and the
//! counts (pass 3), the values of a rank (pass 4), the count below a dB level, the largest
//! power at or below a dB level, and the count and power sum of unions of dB ranges (pass 5).

use super::CellScratch;
use crate::fidelity::{decibels, histogram_edges, percentile, HISTOGRAM_BINS as BINS};
use crate::simd::buckets::{
    block_starts, counted, marked_values, BLOCK, LANES, UNMARKED as NOT_GATHERED,
};
use crate::simd::sums::sums_at_or_below as threshold_sums;

/// A bucket whose values were gathered: its number, where its values are in `values`, and
/// whether they are sorted yet.
#[derive(Debug, Clone, Copy)]
pub(super) struct Gathered {
    bucket: u32,
    at: u32,
    sorted: bool,
}

/// Largest log2 of the number of buckets a cell is spread over (about one bucket per value;
/// even with every bucket gathered, `gathered_at`'s 16-bit places must stay below
/// `NOT_GATHERED`).
const BUCKET_BITS: u32 = 15;
const _: () = assert!(1 << BUCKET_BITS < NOT_GATHERED as usize);
/// Counters of the cell with the most buckets.
const MAX_COUNTERS: usize = LANES << BUCKET_BITS;
/// Room for the values the 101 percentiles read: two each at most (the last reads one).
pub(super) const PERCENTILE_READS: usize = 2 * 101;
/// Float32 patterns either side of a histogram edge's estimate (see `Buckets::edge_bracket`).
const EDGE_SLACK: u32 = 32;

/// A bucket counter: 16 bits while the cell is small enough, else 32.
trait Counter: Copy + Default + std::ops::AddAssign + From<u8> + Into<u32> {}

impl Counter for u16 {}
impl Counter for u32 {}

/// One pass over the cell: the count of values per bucket (`key(p)` is the bucket's first of
/// `LANES` counters); then `block_start` gets where each block of [`BLOCK`] buckets begins in
/// rank order (see [`Starts`]). (The float64 sum of the cell is taken with the threshold sums,
/// where the values are widened anyway.)
#[inline(always)]
fn count_buckets<C>(
    power: &[f32],
    key: impl Fn(f32) -> usize,
    nb: usize,
    counts: &mut Vec<C>,
    block_start: &mut Vec<u32>,
) where
    C: Counter,
{
    const W: usize = 8;
    const _: () = assert!(W.is_multiple_of(LANES));
    // Room for as many counters as any cell has, so that a counter's number masked to that
    // size needs no bounds check (the keys are below `nb * LANES`: the mask changes nothing).
    // Only the counters of this cell's buckets are cleared and read.
    if counts.len() < MAX_COUNTERS {
        counts.resize(MAX_COUNTERS, C::default());
    }
    let all: &mut [C; MAX_COUNTERS] = (&mut counts[..MAX_COUNTERS])
        .try_into()
        .expect("MAX_COUNTERS counters");
    all[..nb * LANES].fill(C::default());
    let chunks = power.chunks_exact(W);
    let rest = chunks.remainder();
    for c in chunks {
        for (k, &p) in c.iter().enumerate() {
            all[(key(p) + k % LANES) & (MAX_COUNTERS - 1)] += C::from(1);
        }
    }
    for (k, &p) in rest.iter().enumerate() {
        all[(key(p) + k % LANES) & (MAX_COUNTERS - 1)] += C::from(1);
    }
    block_starts(&all[..nb * LANES], block_start);
}

impl CellScratch {
    /// Pass 3 over a cell whose extreme bit patterns are known: how many values fall in each
    /// bucket (the high bits above the cell's minimum, about one bucket per value).
    #[inline(always)]
    pub(super) fn buckets<'a>(
        &'a mut self,
        power: &'a [f32],
        min_bits: u32,
        max_bits: u32,
    ) -> Buckets<'a> {
        let n = power.len();
        let bits = (usize::BITS - n.leading_zeros()).clamp(4, BUCKET_BITS);
        let range = max_bits - min_bits;
        let shift = (32 - range.leading_zeros()).saturating_sub(bits);
        let nb = (range >> shift) as usize + 1;
        debug_assert!(nb * LANES <= MAX_COUNTERS);
        let key = |p: f32| ((p.to_bits() - min_bits) >> shift) as usize * LANES;
        // 16-bit counters while they cannot overflow: half the cache footprint.
        let narrow = n <= LANES * u16::MAX as usize;
        if narrow {
            count_buckets(power, key, nb, &mut self.counts16, &mut self.block_start);
        } else {
            count_buckets(power, key, nb, &mut self.counts32, &mut self.block_start);
        }
        self.gathered_at.clear();
        // One spare entry: the vector scan reads two entries at a time.
        self.gathered_at.resize(nb + 1, NOT_GATHERED);
        self.gathered.clear();
        self.values.clear();

        Buckets {
            power,
            starts: Starts {
                counts: if narrow {
                    Counts::Narrow(&self.counts16[..nb * LANES])
                } else {
                    Counts::Wide(&self.counts32[..nb * LANES])
                },
                block_start: &self.block_start,
            },
            gathered_at: &mut self.gathered_at,
            gathered: &mut self.gathered,
            values: &mut self.values,
            hits: &mut self.hits,
            ranks: &mut self.ranks,
            edge_brackets: [(0, 0); BINS + 1],
            min_bits,
            max_bits,
            shift,
        }
    }
}

/// A rank a percentile reads, the bucket that holds it, and where that bucket starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rank {
    rank: u32,
    bucket: u32,
    start: u32,
}

/// A cell's bucket counters, 16 or 32 bits wide.
#[derive(Clone, Copy)]
enum Counts<'a> {
    Narrow(&'a [u16]),
    Wide(&'a [u32]),
}

/// Where each bucket begins in rank order, kept per block of [`BLOCK`] buckets: a bucket's
/// start is its block's plus the counts before it within the block. A start for every bucket
/// was a walk over all of them, two dependent additions and a store each (some ten thousand
/// buckets a cell), for the few hundred that are ever asked for.
struct Starts<'a> {
    counts: Counts<'a>,
    /// `block_start[i]`: the values in buckets before `i * BLOCK`; one more entry, the cell's
    /// size.
    block_start: &'a [u32],
}

impl Starts<'_> {
    /// The values in buckets `first..b` (`first` and `b` in one block or `b` one past it).
    #[inline(always)]
    fn between(&self, first: usize, b: usize) -> u32 {
        match self.counts {
            Counts::Narrow(c) => counted(&c[first * LANES..b * LANES]),
            Counts::Wide(c) => counted(&c[first * LANES..b * LANES]),
        }
    }

    /// The values in bucket `b`.
    #[inline(always)]
    fn count(&self, b: usize) -> u32 {
        self.between(b, b + 1)
    }

    /// The values in the buckets before `b`: bucket `b` holds ranks `start(b)..start(b) +
    /// count(b)`.
    #[inline(always)]
    fn start(&self, b: usize) -> u32 {
        let first = b - b % BLOCK;
        self.block_start[b / BLOCK] + self.between(first, b)
    }

    /// For each rank in `ranks` (ascending, but for steps back of one: the percentiles read
    /// ranks `i` and `i + 1`), the bucket holding it and that bucket's start: the block in one
    /// walk over the block starts in strides of 64, 8 and 1, then the bucket within it.
    #[inline(always)]
    fn buckets_of_ranks(&self, ranks: &mut [Rank]) {
        // block_start[last] is the cell's size, above every rank.
        let last = self.block_start.len() - 1;
        let mut block = 0usize;
        for r in ranks.iter_mut() {
            let k = r.rank;
            while self.block_start[block] > k {
                block -= 1;
            }
            for stride in [64, 8, 1] {
                while block + stride < last && self.block_start[block + stride] <= k {
                    block += stride;
                }
            }
            let (mut b, mut start) = (block * BLOCK, self.block_start[block]);
            loop {
                let c = self.count(b);
                if start + c > k {
                    break;
                }
                start += c;
                b += 1;
            }
            (r.bucket, r.start) = (b as u32, start);
        }
    }
}

/// Count and sum of the union of selections given as `(count, sum)` pairs at their lower and
/// upper bounds (each selection is the values between two thresholds, in rank order).
pub(super) fn union_count_sum(mut spans: Vec<((usize, f64), (usize, f64))>) -> (usize, f64) {
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
pub(super) struct Buckets<'a> {
    power: &'a [f32],
    /// Where each bucket begins in rank order.
    starts: Starts<'a>,
    gathered_at: &'a mut [u16],
    gathered: &'a mut Vec<Gathered>,
    values: &'a mut Vec<f32>,
    hits: &'a mut Vec<f32>,
    /// The ranks the percentiles read, in order, and their buckets (see `gather_needed`).
    ranks: &'a mut Vec<Rank>,
    /// Where each histogram edge falls among the power values (see [`Buckets::edge_bracket`]),
    /// found before gathering.
    edge_brackets: [(u32, u32); BINS + 1],
    min_bits: u32,
    max_bits: u32,
    shift: u32,
}

impl Buckets<'_> {
    pub(super) fn len(&self) -> usize {
        self.power.len()
    }

    #[inline]
    fn bucket_of(&self, bits: u32) -> usize {
        ((bits - self.min_bits) >> self.shift) as usize
    }

    /// The buckets the percentiles and the histogram edges of `decile_mod` land in, gathered
    /// in one pass (they depend only on the counts and the cell's extremes).
    #[inline(always)]
    pub(super) fn gather_needed(&mut self) {
        let n = self.len();
        self.ranks.clear();
        for q in 0..=100 {
            percentile(n, q, |k| {
                self.ranks.push(Rank {
                    rank: k as u32,
                    bucket: 0,
                    start: 0,
                });
                0.0
            });
        }
        self.starts.buckets_of_ranks(self.ranks);
        let mut wanted = Vec::with_capacity(2 * 101 + BINS);
        wanted.extend(self.ranks.iter().map(|r| r.bucket as usize));
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
                at += self.starts.count(b);
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
        (g, s..s + self.starts.count(b) as usize)
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

    /// The values of the ranks the percentiles read, in the order they read them (see
    /// [`Buckets::gather_needed`]), into `out`; returns how many.
    #[inline(always)]
    pub(super) fn read_values(&mut self, out: &mut [f32; PERCENTILE_READS]) -> usize {
        let reads = self.ranks.len();
        for (i, value) in out.iter_mut().enumerate().take(reads) {
            let Rank {
                rank,
                bucket,
                start,
            } = self.ranks[i];
            *value = self.bucket(bucket as usize)[(rank - start) as usize];
        }
        reads
    }

    /// R of the smallest and largest value.
    #[inline(always)]
    pub(super) fn extremes_db(&self) -> (f64, f64) {
        let min = decibels(f32::from_bits(self.min_bits)) as f64;
        let max = decibels(f32::from_bits(self.max_bits)) as f64;
        (min, max)
    }

    /// Number of the values with `R < e` for the histogram edge `e = edges[i]` (the edges of
    /// [`histogram_edges`] between [`Buckets::extremes_db`], bracketed by
    /// [`Buckets::gather_needed`]).
    #[inline(always)]
    pub(super) fn count_below_histogram_edge(&mut self, i: usize, e: f32) -> usize {
        self.count_below_edge(self.edge_brackets[i], e as f64)
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
    pub(super) fn edge_bracket(&self, x: f64) -> (u32, u32) {
        let (min, max) = (self.min_bits, self.max_bits);
        let guess = ((x * (std::f64::consts::LN_10 / 10.0)).exp() as f32).to_bits();
        let lo = guess.saturating_sub(EDGE_SLACK).clamp(min, max);
        let hi = guess.saturating_add(EDGE_SLACK).clamp(min, max);
        // At most two buckets to look into.
        if self.bucket_of(hi) - self.bucket_of(lo) <= 1 {
            match (r_at_most(lo, x, true), r_at_most(hi, x, true)) {
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
    pub(super) fn count_below_edge(&mut self, (lo, hi): (u32, u32), x: f64) -> usize {
        if lo < self.min_bits {
            return 0;
        }
        if lo >= self.max_bits {
            return self.len();
        }
        let first = self.bucket_of(lo);
        let last = self.bucket_of(hi.min(self.max_bits));
        let mut count = self.starts.start(first) as usize;
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
        self.starts.start(b) as usize + self.bucket(b).partition_point(|&v| v <= p)
    }

    /// For each set of `(lo, hi)` ranges, the count and the power sum of the values in the
    /// union of `lo < R <= hi` (compared in float64). Each bound's power
    /// threshold is searched once; the counts below them come from the buckets, the sums from
    /// one pass over the cell, with the sum of all values (for a threshold at the largest value).
    #[inline(always)]
    pub(super) fn selections<const K: usize>(
        &mut self,
        sets: [&[(f64, f64)]; K],
    ) -> [(usize, f64); K] {
        // Loops, not closures: see `super::CellScratch::indices_inline` on the percentiles.
        let mut bounds: [Vec<(Option<f32>, Option<f32>)>; K] = std::array::from_fn(|_| Vec::new());
        for (set, ranges) in bounds.iter_mut().zip(sets) {
            for &(lo, hi) in ranges {
                set.push((
                    self.power_threshold(lo, false),
                    self.power_threshold(hi, false),
                ));
            }
        }
        let mut thresholds: Vec<f32> = bounds
            .iter()
            .flatten()
            .flat_map(|&(lo, hi)| [lo, hi])
            .flatten()
            .filter(|p| p.to_bits() < self.max_bits)
            .collect();
        thresholds.sort_unstable_by(f32::total_cmp);
        thresholds.dedup();
        let (sums, total) = sums_at_or_below(self.power, &thresholds);
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
            union_count_sum(spans)
        })
    }

    /// The largest power `p` (a float32 bit pattern within the cell's range) with
    /// `R(p) <= x` (`strict = false`) or `R(p) < x`, or `None` when even the smallest value
    /// fails. R is monotone in p, so this is a search over bit patterns, started at the
    /// estimate 10^(x/10) so that only a handful of `log10` evaluations are needed.
    #[inline(always)]
    fn power_threshold(&self, x: f64, strict: bool) -> Option<f32> {
        let (lo_b, hi_b) = (self.min_bits, self.max_bits);
        if !r_at_most(lo_b, x, strict) {
            return None;
        }
        if r_at_most(hi_b, x, strict) {
            return Some(f32::from_bits(hi_b));
        }
        // True at the smallest value, false at the largest: bracket around the estimate,
        // then bisect.
        let guess = (10f64.powf(x / 10.0) as f32).to_bits().clamp(lo_b, hi_b);
        let (mut lo, mut hi) = (lo_b, hi_b);
        let mut step = 8u32;
        if r_at_most(guess, x, strict) {
            lo = guess;
            loop {
                let probe = lo.saturating_add(step).min(hi);
                if probe == hi || !r_at_most(probe, x, strict) {
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
                if probe == lo || r_at_most(probe, x, strict) {
                    lo = probe;
                    break;
                }
                hi = probe;
                step = step.saturating_mul(4);
            }
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if r_at_most(mid, x, strict) {
                lo = mid
            } else {
                hi = mid
            }
        }
        Some(f32::from_bits(lo))
    }
}

/// Whether R of the power with the bit pattern `bits` is below `x` (`strict`) or at most `x`
/// (a function, not a closure, so that it is always compiled into its caller's copy).
#[inline(always)]
fn r_at_most(bits: u32, x: f64, strict: bool) -> bool {
    let r = decibels(f32::from_bits(bits)) as f64;
    if strict {
        r < x
    } else {
        r <= x
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

/// For each threshold, the float64 power sum of the values `<= t`, and the sum of all values:
/// up to six thresholds per pass over the cell (a cell has about four), one pass at least.
#[inline(always)]
fn sums_at_or_below(power: &[f32], thresholds: &[f32]) -> (Vec<f64>, f64) {
    let mut out = Vec::with_capacity(thresholds.len());
    // The sums of one group into `out`, and the sum of all values.
    macro_rules! group {
        ($($t:ident),*) => {{
            let (sums, all) = threshold_sums(power, &[$($t),*]);
            out.extend(sums);
            all
        }};
    }
    let mut total = None;
    let mut rest = thresholds;
    loop {
        let (group, next) = rest.split_at(rest.len().min(6));
        let all = match *group {
            [] => group!(),
            [a] => group!(a),
            [a, b] => group!(a, b),
            [a, b, c] => group!(a, b, c),
            [a, b, c, d] => group!(a, b, c, d),
            [a, b, c, d, e] => group!(a, b, c, d, e),
            [a, b, c, d, e, f] => group!(a, b, c, d, e, f),
            _ => unreachable!("groups of at most six"),
        };
        total.get_or_insert(all);
        rest = next;
        if rest.is_empty() {
            break;
        }
    }
    (out, total.expect("one pass at least"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fidelity::power;
    use crate::indices::reference::cells;

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
            let (_, min_bits, max_bits) = crate::simd::sums::sum_and_extremes_scalar(&power);
            let mut cell = scratch.buckets(&power, min_bits, max_bits);
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
}
