//! The one unchecked copy of the engine's hot loop: a few rows of each of a batch of
//! spectrogram columns appended to a band's buffer, 96 bands per batch.

/// Values copied at once by [`append_rows`].
pub const COPY: usize = 8;

/// Appends the rows `row0..row1` of each column of `columns` (columns of `stride` values one
/// after the other) to `buf`. A band has a few rows (about 5 for 250 Hz at 48 kHz), and a copy
/// of that length is mostly call and loop overhead. With `COPY` values readable from `row0`
/// in every column, a band of at most `COPY` rows is one fixed-size copy per column instead:
/// `COPY` values are written and the end moves on by the band's rows (the rest is overwritten
/// by the next column or never read). The length is kept in a register and set once: stored
/// after each column, it was read back by the next through the store queue (the compiler cannot
/// tell that the copy leaves the vector's own fields alone). The lines of the next batch's
/// rows are prefetched.
#[inline(always)]
pub fn append_rows(buf: &mut Vec<f32>, columns: &[f32], stride: usize, row0: usize, row1: usize) {
    let rows = row1 - row0;
    let count = columns.len() / stride;
    debug_assert_eq!(columns.len() % stride, 0, "whole columns");
    if rows <= COPY && row0 + COPY <= stride {
        buf.reserve(count * rows + COPY);
        let mut end = buf.len();
        // SAFETY: every column `k` has `COPY` values from `k * stride + row0` (as `row0 + COPY
        // <= stride`); `buf` has room for `count * rows + COPY` values past its length
        // (reserved just above), and the last copy ends at `len + (count - 1) * rows + COPY`;
        // the first `count * rows` values past the length are the columns' rows. A prefetch
        // reads nothing and cannot fault, wherever it points (SSE, which every x86-64 has).
        unsafe {
            let (src, out) = (columns.as_ptr().add(row0), buf.as_mut_ptr());
            for k in 0..count {
                std::ptr::copy_nonoverlapping(src.add(k * stride), out.add(end), COPY);
                end += rows;
            }
            buf.set_len(end);
            // The lines the next batch will fill, asked for now so that its stores find them
            // in the cache: without, the stores of the copies waited for their lines (a third
            // of the copies' time in `perf`).
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                let next = out.add(end) as *const i8;
                for at in (0..count * rows * 4 + 64).step_by(64) {
                    _mm_prefetch::<_MM_HINT_T0>(next.wrapping_add(at));
                }
            }
        }
    } else {
        for column in columns.chunks_exact(stride) {
            buf.extend_from_slice(&column[row0..row1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed-size copies append what `extend_from_slice` would, for bands of every height
    /// at every place of the columns, batches of one to three columns, with and without room
    /// to spare.
    #[test]
    fn appended_rows_are_those_of_the_columns() {
        let stride = 40;
        let columns: Vec<f32> = (0..3 * stride).map(|i| i as f32).collect();
        for count in 1..=3 {
            let batch = &columns[..count * stride];
            for row0 in 0..stride {
                for row1 in row0..=stride.min(row0 + 12) {
                    for capacity in [0, 3, 64] {
                        let mut buf = Vec::with_capacity(capacity);
                        buf.push(-1.0);
                        append_rows(&mut buf, batch, stride, row0, row1);
                        append_rows(&mut buf, batch, stride, row0, row1);
                        let mut want = vec![-1.0];
                        for _ in 0..2 {
                            for c in batch.chunks(stride) {
                                want.extend_from_slice(&c[row0..row1]);
                            }
                        }
                        assert_eq!(
                            buf, want,
                            "rows {row0}..{row1}, {count} columns, capacity {capacity}"
                        );
                    }
                }
            }
        }
    }
}
