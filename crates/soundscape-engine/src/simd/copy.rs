//! The one unchecked copy of the engine's hot loop: a few rows of a spectrogram column
//! appended to a band's buffer, 96 times per column.

/// Values copied at once by [`append_rows`].
pub const COPY: usize = 8;

/// Appends `column[row0..row1]` to `buf`. A band has a few rows (about 5 for 250 Hz at 48 kHz),
/// and a copy of that length is mostly call and loop overhead, paid 96 times per column. With
/// `COPY` values readable from `row0` and room for `COPY` in `buf`, a band of at most `COPY`
/// rows is one fixed-size copy instead: `COPY` values are written and the length moves by the
/// band's rows (the rest is overwritten by the next column or never read).
#[inline(always)]
pub fn append_rows(buf: &mut Vec<f32>, column: &[f32], row0: usize, row1: usize) {
    let rows = row1 - row0;
    let len = buf.len();
    if rows <= COPY && row0 + COPY <= column.len() && buf.capacity() - len >= COPY {
        // SAFETY: `column[row0..row0 + COPY]` is in bounds and `buf` has room for `COPY`
        // values past its length (both checked just above); the first `rows` of them are
        // written values of the column.
        unsafe {
            std::ptr::copy_nonoverlapping(
                column.as_ptr().add(row0),
                buf.as_mut_ptr().add(len),
                COPY,
            );
            buf.set_len(len + rows);
        }
    } else {
        buf.extend_from_slice(&column[row0..row1]);
    }
}

/// Asks the processor to fetch the cache lines of the next `values` values past `buf`'s
/// length (those within its capacity) ahead of the stores that will fill them.
#[inline(always)]
pub fn prefetch_spare(buf: &mut Vec<f32>, values: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let spare = buf.spare_capacity_mut();
        let bytes = values.min(spare.len()) * std::mem::size_of::<f32>();
        let p = spare.as_ptr() as *const i8;
        for at in (0..bytes).step_by(64) {
            // SAFETY: `p + at` lies within `buf`'s allocation; a prefetch reads nothing and
            // cannot fault (SSE, which every x86-64 processor has).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.add(at)) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed-size copy appends what `extend_from_slice` would, for bands of every height
    /// at every place of the column, with and without room to spare.
    #[test]
    fn appended_rows_are_those_of_the_column() {
        let column: Vec<f32> = (0..40).map(|i| i as f32).collect();
        for row0 in 0..column.len() {
            for row1 in row0..=column.len().min(row0 + 12) {
                for capacity in [0, 3, 64] {
                    let mut buf = Vec::with_capacity(capacity);
                    buf.push(-1.0);
                    append_rows(&mut buf, &column, row0, row1);
                    append_rows(&mut buf, &column, row0, row1);
                    let mut want = vec![-1.0];
                    want.extend_from_slice(&column[row0..row1]);
                    want.extend_from_slice(&column[row0..row1]);
                    assert_eq!(buf, want, "rows {row0}..{row1}, capacity {capacity}");
                }
            }
        }
    }
}
