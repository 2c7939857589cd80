//! The soundscape engine: from a recording to one row of acoustic indices per
//! 30 s x 250 Hz cell, as the original SiPeCaM pipeline computes them (docs/method.md).
//!
//! - [`config`]: the original's FEED (slice length, bands, limits, STFT, hasher), with the
//!   SiPeCaM values as defaults.
//! - [`stft`]: the magnitude STFT, streamed frame by frame (periodic Hann, full-signal reflect
//!   centring, float64 FFT rounded to complex64).
//! - `rfft_post`: with AVX2, the real FFT's last step fused with the magnitudes.
//! - [`grid`]: the slice grid: which spectrogram columns and rows make each cell.
//! - [`indices`]: TOTAL, CORE, TAIL, EXAG, INFORMATION, ICOMPLEXITY of one cell, without
//!   sorting it.
//! - [`hash`]: the CronoHasher time-of-day index.
//! - [`analyze`]: one recording, streamed: decode, STFT, slice, indices.
//! - `simd`: hot loops compiled for the baseline CPU and for AVX2, chosen at run time.

pub mod analyze;
pub mod config;
pub mod grid;
pub mod hash;
pub mod indices;
mod rfft_post;
mod simd;
pub mod stft;

pub use analyze::{analyze_recording, AnalysisError, RecordingAnalysis};
pub use config::{EngineConfig, HasherConfig, IndexName, SliceConfig};
pub use indices::CellIndices;
/// Whether this process runs the scalar paths only (`SOUNDSCAPE_SIMD=off`).
pub use simd::scalar_only;
