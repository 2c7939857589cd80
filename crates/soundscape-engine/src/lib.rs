//! The soundscape engine: from a recording to one row of acoustic indices per
//! 30 s x 250 Hz cell, as the original SiPeCaM pipeline computes them (docs/method.md).
//!
//! Data flows one way, from the leaf up:
//! - [`fidelity`]: what the original computes, number by number (numpy's float32 abs, power,
//!   dB, percentile, histogram edges, mean; SciPy's Hann window). Imports nothing.
//! - [`simd`]: every AVX2 path next to its scalar twin, and the switch between them
//!   (`SOUNDSCAPE_SIMD`); the only module with `unsafe` code.
//! - [`stft`]: the magnitude STFT, streamed frame by frame (periodic Hann, full-signal reflect
//!   centring, float64 FFT rounded to complex64); `stft::fused`, the real FFT's last step
//!   fused with the magnitudes. Uses `fidelity` and `simd` only.
//! - [`indices`]: TOTAL, CORE, TAIL, EXAG, INFORMATION, ICOMPLEXITY of one cell, without
//!   sorting it: the formulas in `indices`, the bucket and rank structure in
//!   `indices::buckets`, the fully sorted reference of the tests in `indices::reference`.
//! - [`config`]: the original's FEED (slice length, bands, limits, STFT, hasher), with the
//!   SiPeCaM values as defaults; [`grid`]: which spectrogram columns and rows make each cell;
//!   [`hash`]: the CronoHasher time-of-day index.
//! - [`analyze`]: one recording, streamed: decode, STFT, slice, indices.

#![deny(unsafe_code)]

pub mod analyze;
pub mod config;
pub mod fidelity;
pub mod grid;
pub mod hash;
pub mod indices;
pub mod simd;
pub mod stft;

pub use analyze::{analyze_recording, AnalysisError, RecordingAnalysis};
pub use config::{EngineConfig, HasherConfig, IndexName, SliceConfig};
pub use indices::CellIndices;
/// Whether this process runs the scalar paths only (`SOUNDSCAPE_SIMD=off`).
pub use simd::scalar_only;
