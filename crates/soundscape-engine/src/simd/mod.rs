//! Every AVX2 path of the engine, each next to its scalar twin, and the one switch that picks
//! between them. The only module of the crate allowed `unsafe` code.
//!
//! Release binaries must run on any x86-64 node, so the crate is not built for a newer CPU.
//! Two kinds of fast paths are chosen at run time instead:
//! - **compiled twins**: a function declared with `kernel!` has its body compiled once as is
//!   and once with AVX2 and FMA enabled. Only the vector width changes, and the explicit
//!   `mul_add` calls become one instruction instead of a call of the C library's `fmaf`: Rust
//!   never fuses a multiplication and an addition on its own, so both copies give
//!   bit-identical numbers.
//! - **hand-written kernels** ([`rfft`], [`buckets`], [`sums`]): intrinsics, each behind a safe
//!   function whose scalar twin has the same signature and gives the same bits; the tests run both on
//!   the same inputs.
//! - [`copy`]: the one unchecked copy of the hot loop (not SIMD, but `unsafe`, so here too).
//! - **AVX-512 paths**: where a kernel gains from 512-bit registers (those [`Kernel::Avx512`]
//!   lists; the entropy's terms, for one: a 16-entry table lookup is one permute there), it
//!   has a third path, taken when the CPU has AVX-512 F and VL ([`use_avx512`]) and tested
//!   against the same scalar twin; the AVX2 path stays for the CPUs without. The 512-point
//!   FFT ([`fft512`]) is the one whose twin is not ours: it is tested against rustfft's AVX
//!   path, which it replaces.
//!
//! # The switch
//! Every dispatch asks [`use_avx2`] with its [`Kernel`]: the CPU must have AVX2 (a cached
//! check), `SOUNDSCAPE_SIMD` must not turn the kernel off (read once: `off` for every kernel,
//! or a list such as `-fused-rfft,-marked-values` for some), and the calling thread must not
//! be inside [`with_kernels_off`] (the test and benchmark setter, per thread so that tests
//! running side by side do not see each other's choice). [`Kernel::Avx512`] (`-avx512`) sends
//! the kernels with an AVX-512 path to their AVX2 one.
//!
//! # Safety
//! Each `unsafe` block here is either a call of a `#[target_feature(enable = "avx2")]` (or
//! `"avx2,fma"`) function after [`use_avx2`] said yes (which implies the CPU has both), of an
//! `"avx512f,avx512vl"` one after [`use_avx512`] said yes, or raw-pointer
//! loads and stores whose bounds the function checks or states as its contract; each block
//! says which. Every kernel's gain over its twin is measured (`just bench --kernels`,
//! BENCHMARKS.md).

#![allow(unsafe_code)]

pub mod buckets;
pub mod copy;
pub mod fft512;
pub mod rfft;
pub mod sums;

use std::cell::Cell;
use std::sync::OnceLock;

/// The run-time choices between an AVX2 path and its scalar twin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// The STFT's window multiplication (compiled twin).
    Window,
    /// Complex64 rounding and magnitudes of the plain STFT path (compiled twins).
    Columns,
    /// The real FFT's last step fused with the magnitudes ([`rfft`]); off, the STFT takes
    /// realfft and then [`Kernel::Columns`].
    FusedRfft,
    /// The whole index computation of a cell (compiled twin).
    CellIndices,
    /// The values of the marked buckets ([`buckets::marked_values`]).
    MarkedValues,
    /// The entropy's float32 terms and their sum ([`sums::plogp_sum`]).
    Entropy,
    /// A cell's float32 sum with its extremes ([`sums::sum_and_extremes`]).
    CellSum,
    /// The power sums at or below TAIL's and CORE's thresholds ([`sums::sums_at_or_below`]).
    ThresholdSums,
    /// The AVX-512 paths of the kernels that have one (the entropy's terms, the 512-point
    /// complex FFT and realfft's post-processing, the threshold sums); off, or on a CPU
    /// without AVX-512 F and VL, those take their AVX2 path (rustfft's own, for the FFT).
    Avx512,
}

impl Kernel {
    pub const ALL: [Kernel; 9] = [
        Kernel::Window,
        Kernel::Columns,
        Kernel::FusedRfft,
        Kernel::CellIndices,
        Kernel::MarkedValues,
        Kernel::Entropy,
        Kernel::CellSum,
        Kernel::ThresholdSums,
        Kernel::Avx512,
    ];

    /// The name `SOUNDSCAPE_SIMD` and the benchmark use.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Window => "window",
            Kernel::Columns => "columns",
            Kernel::FusedRfft => "fused-rfft",
            Kernel::CellIndices => "cell-indices",
            Kernel::MarkedValues => "marked-values",
            Kernel::Entropy => "entropy",
            Kernel::CellSum => "cell-sum",
            Kernel::ThresholdSums => "threshold-sums",
            Kernel::Avx512 => "avx512",
        }
    }

    fn bit(self) -> u16 {
        1 << self as u16
    }
}

const ALL_BITS: u16 = u16::MAX >> (16 - Kernel::ALL.len());

/// The kernels `SOUNDSCAPE_SIMD` turns off, as bits: `off` (or `scalar`, `0`) all of them,
/// `-name,-name` those named; unset, empty or `on` none. Unknown names are reported once on
/// standard error and ignored.
fn parse_switch(value: &str) -> (u16, Vec<String>) {
    let v = value.trim().to_ascii_lowercase();
    if matches!(v.as_str(), "off" | "scalar" | "0") {
        return (ALL_BITS, Vec::new());
    }
    let (mut off, mut unknown) = (0u16, Vec::new());
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if item == "on" {
            continue;
        }
        let name = item.strip_prefix('-').unwrap_or(item);
        match Kernel::ALL.iter().find(|k| k.name() == name) {
            Some(k) if item.starts_with('-') => off |= k.bit(),
            _ => unknown.push(item.to_string()),
        }
    }
    (off, unknown)
}

fn env_off_bits() -> u16 {
    static OFF: OnceLock<u16> = OnceLock::new();
    *OFF.get_or_init(|| {
        let value = std::env::var("SOUNDSCAPE_SIMD").unwrap_or_default();
        let (off, unknown) = parse_switch(&value);
        if !unknown.is_empty() {
            let names: Vec<&str> = Kernel::ALL.iter().map(|k| k.name()).collect();
            eprintln!(
                "SOUNDSCAPE_SIMD: ignoring {unknown:?}; use `off`, or `-name` for any of {}",
                names.join(", ")
            );
        }
        off
    })
}

thread_local! {
    /// The kernels [`with_kernels_off`] turns off on this thread.
    static THREAD_OFF: Cell<u16> = const { Cell::new(0) };
}

/// Whether the CPU has AVX2 and FMA (cached; every AVX2 processor of the last decade has
/// both, and the compiled twins use both).
pub fn cpu_has_avx2_and_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the CPU has AVX-512 F and VL (cached, as for AVX2).
pub fn cpu_has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether `kernel` takes its AVX-512 path on this thread now: its AVX2 path is on, the CPU
/// has AVX-512 and [`Kernel::Avx512`] is not turned off.
#[inline]
pub fn use_avx512(kernel: Kernel) -> bool {
    cpu_has_avx2_and_fma()
        && cpu_has_avx512()
        && off_bits() & (kernel.bit() | Kernel::Avx512.bit()) == 0
}

/// The kernels turned off here and now: by `SOUNDSCAPE_SIMD`, or on this thread by
/// [`with_kernels_off`].
#[inline]
fn off_bits() -> u16 {
    env_off_bits() | THREAD_OFF.with(Cell::get)
}

/// Whether `kernel` takes its AVX2 path on this thread now (see the module doc).
#[inline]
pub fn use_avx2(kernel: Kernel) -> bool {
    cpu_has_avx2_and_fma() && off_bits() & kernel.bit() == 0
}

/// `SOUNDSCAPE_SIMD=off` (or `scalar`, `0`): this process runs the scalar paths only.
pub fn scalar_only() -> bool {
    env_off_bits() == ALL_BITS
}

/// Runs `f` with `off` turned off on every thread that works for it: `f` runs on a rayon pool
/// of `threads` threads of its own, so the engine's parallel loops inside it stay on threads
/// that see the same choice. For tests (both paths in one process) and the kernel benchmark;
/// stages use `SOUNDSCAPE_SIMD`.
pub fn with_kernels_off<R: Send>(
    off: &[Kernel],
    threads: usize,
    f: impl FnOnce() -> R + Send,
) -> R {
    let bits = off.iter().fold(0u16, |b, k| b | k.bit());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .thread_name(|i| format!("simd-off-{i}"))
        .start_handler(move |_| THREAD_OFF.with(|c| c.set(bits)))
        .build()
        .expect("a rayon pool for with_kernels_off");
    pool.install(f)
}

/// For tests of an AVX2 path: fails when the CPU has no AVX2 unless the scalar paths were
/// asked for (`SOUNDSCAPE_SIMD=off`), so that a test cannot pass by testing nothing. Returns
/// whether to go on.
pub fn avx2_under_test() -> bool {
    if scalar_only() {
        return false;
    }
    assert!(
        cpu_has_avx2_and_fma(),
        "this CPU has no AVX2 and FMA, so the AVX2 path cannot be tested here: run with SOUNDSCAPE_SIMD=off to test the scalar paths only"
    );
    true
}

/// For tests that expect the AVX-512 paths: whether the CPU has AVX-512 F and VL and
/// `SOUNDSCAPE_SIMD` leaves them on (`-avx512` sends them to AVX2 for the whole process).
pub fn avx512_under_test() -> bool {
    cpu_has_avx512() && env_off_bits() & Kernel::Avx512.bit() == 0
}

/// Declares `fn name(args) -> R { body }` whose body is compiled for the baseline and for
/// AVX2 with FMA, the copy chosen at run time by [`use_avx2`] for the given [`Kernel`]. Everything the
/// body calls `#[inline(always)]` is compiled into both copies.
macro_rules! kernel {
    ($kernel:ident: $(#[$meta:meta])* $vis:vis fn $name:ident ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                #[allow(unsafe_code)]
                #[inline(always)]
                fn checked($($arg: $ty),*) $(-> $ret)? {
                    // SAFETY: only called after `use_avx2`, which checks that the CPU has AVX2
                    // and FMA.
                    unsafe { avx2($($arg),*) }
                }
                if $crate::simd::use_avx2($crate::simd::Kernel::$kernel) {
                    return checked($($arg),*);
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use kernel;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_reads_off_and_kernel_lists() {
        assert_eq!(parse_switch(""), (0, vec![]));
        assert_eq!(parse_switch("on"), (0, vec![]));
        assert_eq!(parse_switch("OFF"), (ALL_BITS, vec![]));
        assert_eq!(parse_switch("scalar").0, ALL_BITS);
        let (bits, unknown) = parse_switch("-fused-rfft, -marked-values");
        assert_eq!(bits, Kernel::FusedRfft.bit() | Kernel::MarkedValues.bit());
        assert_eq!(parse_switch("-avx512").0, Kernel::Avx512.bit());
        assert!(unknown.is_empty());
        assert_eq!(
            parse_switch("-nonsense,window"),
            (0, vec!["-nonsense".to_string(), "window".to_string()])
        );
    }

    /// The setter reaches the threads of the pool it creates, and no other thread.
    #[test]
    fn kernels_off_reaches_every_worker_of_its_pool_only() {
        use rayon::prelude::*;
        let seen: Vec<bool> = with_kernels_off(&[Kernel::CellIndices], 2, || {
            (0..64)
                .into_par_iter()
                .map(|_| THREAD_OFF.with(Cell::get) & Kernel::CellIndices.bit() != 0)
                .collect()
        });
        assert!(seen.iter().all(|&off| off));
        assert_eq!(THREAD_OFF.with(Cell::get), 0);
        if cpu_has_avx2_and_fma() && !scalar_only() {
            assert!(use_avx2(Kernel::CellIndices));
            assert!(!with_kernels_off(&Kernel::ALL, 1, || use_avx2(
                Kernel::Window
            )));
            // `-avx512` sends a kernel to its AVX2 path, not to the scalar one.
            assert_eq!(use_avx512(Kernel::Entropy), avx512_under_test());
            assert!(with_kernels_off(&[Kernel::Avx512], 1, || {
                !use_avx512(Kernel::Entropy) && use_avx2(Kernel::Entropy)
            }));
        }
    }

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
