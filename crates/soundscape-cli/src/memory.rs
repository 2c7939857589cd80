//! The C allocator's one setting the stages change: glibc serves blocks from 128 KiB up with
//! their own mappings, but raises that threshold as such blocks are freed, after which large
//! buffers come from its heap and stay resident once freed. A stage that frees one phase's
//! buffers (a slice's spectrogram) and then allocates the next phase's (a plot's picture)
//! would hold both. Fixing the threshold at 128 KiB gives freed large blocks back at once:
//! 6 MB less peak memory for compute-soundscapes on a one-hour file, in the same time
//! (BENCHMARKS.md#where-the-peak-memory-goes). `MALLOC_MMAP_THRESHOLD_` in the environment,
//! when set, wins.

/// Fixes glibc's mmap threshold; true when it did (false elsewhere, or when the environment
/// sets the threshold).
#[allow(unsafe_code)]
pub fn tune_allocator() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; glibc takes its own lock for it,
        // and no pointer crosses the call.
        return unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) } == 1;
    }
    false
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    #[test]
    fn glibc_takes_the_threshold() {
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            assert!(super::tune_allocator());
        }
    }
}
