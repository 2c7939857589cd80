//! Hot loops compiled twice: for the baseline x86-64 target and for AVX2, chosen at run time.
//!
//! Release binaries must run on any x86-64 node, so the crate is not built for a newer CPU.
//! Instead a function declared with [`kernel!`] has its body compiled once as is and once with
//! AVX2 enabled, and each call takes the AVX2 copy when the CPU has it (the check is a cached
//! flag). Only the vector width changes: fused multiply-add is not enabled, so both copies give
//! bit-identical numbers.

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
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use kernel;

/// Whether the CPU has AVX2 (a cached check), for the hand-written AVX2 paths.
pub(crate) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
