//! What the three pictures share: the loudest magnitude of a recording (one streamed pass),
//! the reduction of a spectrogram column to picture rows, and the dB scale with its floor.

use std::path::Path;

use soundscape_audio::AudioInfo;
use soundscape_engine::analyze::stream_spectrogram;

/// dB of a magnitude, with librosa's `amin` of 1e-5.
pub fn db(m: f32) -> f32 {
    20.0 * m.max(1e-5).log10()
}

/// Where a magnitude falls in the `range` dB below `top_db`: 0 (at or below the floor) to 1.
pub fn level(m: f32, top_db: f32, range: f32) -> f32 {
    ((db(m) - (top_db - range)) / range).clamp(0.0, 1.0)
}

/// The loudest of the frequency bins that picture row `r` of `rows` covers (row 0 = lowest
/// frequencies).
pub fn row_peak(mags: &[f32], r: usize, rows: usize) -> f32 {
    let bins = mags.len();
    let b0 = r * bins / rows;
    let b1 = ((r + 1) * bins / rows).clamp(b0 + 1, bins);
    mags[b0..b1].iter().fold(0f32, |a, &x| a.max(x))
}

/// One streamed pass over a recording: its audio info, its number of samples and the dB of
/// its loudest spectrogram value.
pub fn loudest(audio: &Path, n_fft: usize, hop: usize) -> Result<(AudioInfo, usize, f32), String> {
    let mut top = 0f32;
    let (info, n) = stream_spectrogram(
        audio,
        n_fft,
        hop,
        |_| {},
        |_, m| {
            top = m.iter().fold(top, |a, &x| a.max(x));
        },
    )
    .map_err(|e| e.to_string())?;
    Ok((info, n, db(top)))
}
