//! Buffers placed at chosen offsets within a 4 KiB page, so that the STFT's streams never
//! share their low twelve address bits.
//!
//! A load whose address matches a pending store's in bits 0-11 waits for that store
//! ("4K aliasing"), whatever the upper bits say. The STFT's buffers (window, windowed frame,
//! complex spectrum, float32 bins, the column) are each a multiple of 4 KiB long and were
//! allocated one after the other, so the allocator put them all at about the same place in
//! their pages: every window product read the window where the previous iteration had just
//! written the windowed frame. Each buffer here gets its own slot of the page instead.

use std::ops::{Deref, DerefMut};

/// Bytes of the page whose low bits the processor compares.
const PAGE: usize = 4096;

/// Where the STFT's buffers start within a page, in bytes: streams that run side by side
/// are half a page or a quarter apart.
pub(crate) mod slot {
    pub const WINDOW: usize = 0;
    pub const INPUT: usize = 2048;
    pub const SPECTRUM: usize = 1024;
    pub const SCRATCH: usize = 3072;
    pub const RE: usize = 512;
    pub const IM: usize = 2560;
    pub const COLUMN: usize = 1536;
    pub const TWIDDLES_RE: usize = 3584;
    pub const TWIDDLES_IM: usize = 256;
}

/// A slice of `len` values that starts `slot` bytes into a page (`slot` a multiple of the
/// value size).
pub(crate) struct Staggered<T> {
    buf: Vec<T>,
    at: usize,
    len: usize,
}

impl<T: Copy + Default> Staggered<T> {
    pub(crate) fn new(len: usize, slot: usize) -> Staggered<T> {
        let size = std::mem::size_of::<T>();
        assert!(size > 0 && slot.is_multiple_of(size) && slot < PAGE);
        let buf = vec![T::default(); len + PAGE / size];
        let addr = buf.as_ptr() as usize % PAGE;
        let at = (slot + PAGE - addr) % PAGE / size;
        Staggered { buf, at, len }
    }

    /// The same, holding `values`.
    pub(crate) fn from_slice(values: &[T], slot: usize) -> Staggered<T> {
        let mut s = Staggered::new(values.len(), slot);
        s.copy_from_slice(values);
        s
    }
}

impl<T> Deref for Staggered<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.buf[self.at..self.at + self.len]
    }
}

impl<T> DerefMut for Staggered<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.buf[self.at..self.at + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_start_at_their_slot() {
        for len in [1usize, 7, 512, 1025] {
            for s in [0usize, 512, 1536, 3072] {
                let a = Staggered::<f64>::new(len, s);
                assert_eq!(a.len(), len);
                assert_eq!(a.as_ptr() as usize % PAGE, s);
                let b = Staggered::<f32>::from_slice(&vec![1.5; len], s + 4);
                assert_eq!(b.as_ptr() as usize % PAGE, s + 4);
                assert!(b.iter().all(|&v| v == 1.5));
            }
        }
    }
}
