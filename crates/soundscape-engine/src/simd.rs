//! Hot loops compiled twice: for the baseline x86-64 target and for AVX2, chosen at run time.
//!
//! Release binaries must run on any x86-64 node, so the crate is not built for a newer CPU.
//! Instead a function declared with [`kernel!`] has its body compiled once as is and once with
//! AVX2 enabled, and each call takes the AVX2 copy when the CPU has it (the check is a cached
//! flag). Only the vector width changes: fused multiply-add is not enabled, so both copies give
//! bit-identical numbers.
//!
//! One switch turns every AVX2 path off, the compiled twins and the hand-written kernels alike:
//! `SOUNDSCAPE_SIMD=off` in the environment (read once), so that the scalar paths a machine
//! without AVX2 would run are tested on any machine: the engine's tests and the golden, format
//! and plot tests of compute-soundscapes run each of their test binaries again with it
//! (`soundscape_testkit::rerun_with_scalar_paths`).

/// Declares `fn name(args) -> R { body }` whose body is compiled for the baseline and for
/// AVX2, the copy chosen at run time. Everything the body calls `#[inline(always)]` is
/// compiled into both copies.
macro_rules! kernel {
    ($(#[$meta:meta])* $vis:vis fn $name:ident ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if $crate::simd::has_avx2() {
                    // SAFETY: the CPU has AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use kernel;

/// Whether the AVX2 paths are used: the CPU has AVX2 (a cached check) and `SOUNDSCAPE_SIMD`
/// is not `off`. Every dispatch, compiled twins and hand-written kernels, asks this.
pub(crate) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && !scalar_only()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `SOUNDSCAPE_SIMD=off` (or `scalar`, `0`): the scalar paths only.
pub fn scalar_only() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OFF.get_or_init(|| {
        std::env::var("SOUNDSCAPE_SIMD")
            .map(|v| matches!(v.to_ascii_lowercase().as_str(), "off" | "scalar" | "0"))
            .unwrap_or(false)
    })
}

/// For tests of the AVX2 paths: fails when the CPU has no AVX2 unless the scalar paths were
/// asked for, so that a test cannot pass by testing nothing. Returns whether to go on.
#[cfg(test)]
pub(crate) fn avx2_under_test() -> bool {
    if scalar_only() {
        return false;
    }
    assert!(
        has_avx2(),
        "this CPU has no AVX2, so the AVX2 path cannot be tested here: run with SOUNDSCAPE_SIMD=off to test the scalar paths only"
    );
    true
}

#[cfg(test)]
mod tests {
    /// Every test of the engine again on the scalar paths (a child process with
    /// `SOUNDSCAPE_SIMD=off`).
    #[test]
    fn every_test_passes_on_the_scalar_paths() {
        soundscape_testkit::rerun_with_scalar_paths(
            "every_test_passes_on_the_scalar_paths",
            super::scalar_only(),
        );
    }
}
