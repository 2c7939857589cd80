//! Streaming audio decoding for the soundscape engine.
//!
//! [`AudioReader`] opens a file with symphonia (WAV PCM 8/16/24/32-bit and float, µ-law,
//! A-law, IMA and MS ADPCM, FLAC, MP3, Ogg Vorbis), or else with FFmpeg (Ogg Opus, RF64,
//! AIFF, Wave64, CAF and whatever else libavformat reads), or a RIFX WAV with its own small
//! reader, reports its header facts ([`AudioInfo`]) and hands out the signal as blocks of
//! mono `f32` samples, never the whole file at once. Scaling and down-mixing follow what the
//! original pipeline got from librosa/libsndfile (docs/method.md#audio): integer PCM is divided by
//! 2^(bits-1) (unsigned 8-bit is centred first), and several channels are averaged in `f32`,
//! summing channel by channel and dividing by the channel count.
//!
//! [`live::LiveInput`] reads a stream by URL (Icecast, a FIFO) block by block, its channels
//! kept apart, for the stream capture.
//!
//! Every failure is an [`AudioError`] that names the file: empty, not audio, corrupt,
//! truncated (fewer frames than the header promises), unsupported.

mod ffmpeg;
pub mod live;
mod reader;
mod rifx;
pub use reader::{AudioError, AudioInfo, AudioReader};

/// The share of a header's declared length that may be missing from the decoded stream before
/// a file counts as truncated: within it, a recording is analysed on what was decoded (with a
/// warning naming both counts), beyond it the file fails alone. Lossy decoders deliver a few
/// hundred samples fewer or more than a container's declared length; a recorder that died
/// mid-file leaves far more missing.
pub const TRUNCATION_TOLERANCE: f64 = 0.01;

/// Whether `found` decoded frames are close enough to `expected` declared ones to analyse
/// what was decoded ([`TRUNCATION_TOLERANCE`], or the given share).
pub fn shortfall_tolerated(expected: u64, found: u64, tolerance: f64) -> bool {
    found <= expected && (expected - found) as f64 <= tolerance * expected as f64
}

/// Reads a whole file as mono samples. For tests and small files; the engine streams.
pub fn read_mono(path: &std::path::Path) -> Result<(AudioInfo, Vec<f32>), AudioError> {
    let mut r = AudioReader::open(path)?;
    let mut all = Vec::new();
    while let Some(block) = r.next_block()? {
        all.extend_from_slice(block);
    }
    Ok((r.info().clone(), all))
}
