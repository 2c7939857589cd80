//! The slice grid (docs/method.md#slice-grid): which spectrogram columns make each time slice and which
//! rows make each frequency band, with the original's float64 floors reproduced exactly.
//!
//! - frames `F = 1 + n // hop` (centred STFT);
//! - time resolution `r_t = F / D` columns per second, frequency resolution
//!   `r_f = (1 + n_fft/2) / (sr/2)` rows per Hz (513/24000 at 48 kHz, not the FFT spacing);
//! - slices start at `arange(0, D, time_unit*time_hop)` and are kept only if complete;
//! - bands start at `arange(lo, hi, band*frequency_hop)` and are kept if inside the limits;
//! - a cell is columns `[floor(t0 r_t), floor(t1 r_t))` and rows `[floor(f0 r_f), floor(f1 r_f))`
//!   after clamping times to `[0, D]` and frequencies to `[0, sr/2]`.
//!
//! Bands above the Nyquist frequency get an empty row range: their cells are empty and every
//! index of them is NaN (the original crashed the whole unit there).

use crate::config::SliceConfig;

/// One time slice: seconds within the file and the spectrogram column range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeSlice {
    pub start_time: f64,
    pub end_time: f64,
    pub col0: usize,
    pub col1: usize,
}

/// One frequency band: Hz and the spectrogram row range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub min_freq: f64,
    pub max_freq: f64,
    pub row0: usize,
    pub row1: usize,
}

impl Band {
    pub fn is_empty(&self) -> bool {
        self.row1 <= self.row0
    }
}

/// The grid of one recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Samples analysed.
    pub n_samples: usize,
    /// Duration `D` in seconds.
    pub duration: f64,
    /// STFT frames of the whole signal.
    pub n_frames: usize,
    /// Spectrogram rows kept (513 at n_fft 1024).
    pub n_rows: usize,
    /// Spectrogram columns kept (normally `n_frames`).
    pub n_cols: usize,
    pub slices: Vec<TimeSlice>,
    pub bands: Vec<Band>,
}

/// numpy `arange(start, stop, step)`: `ceil((stop-start)/step)` values `start + i*step`.
fn arange(start: f64, stop: f64, step: f64) -> impl Iterator<Item = f64> {
    let len = ((stop - start) / step).ceil().max(0.0) as usize;
    (0..len).map(move |i| start + i as f64 * step)
}

/// Spectrogram index range of the interval `[x0, x1)` (seconds or Hz): both ends clamped to
/// `[0, limit]`, scaled by `resolution`, floored, and clipped to `n` as numpy slicing does.
fn index_range(x0: f64, x1: f64, limit: f64, resolution: f64, n: usize) -> (usize, usize) {
    let index = |x: f64| ((x.clamp(0.0, limit) * resolution).floor().max(0.0) as usize).min(n);
    let start = index(x0);
    (start, index(x1).max(start))
}

impl Grid {
    /// The grid for `n_samples` samples at `sample_rate` lasting `duration` seconds.
    pub fn new(cfg: &SliceConfig, n_samples: usize, duration: f64, sample_rate: u32) -> Grid {
        let n_frames = 1 + n_samples / cfg.hop_length;
        let half_sr = sample_rate as f64 / 2.0;
        let bins = (1 + cfg.n_fft / 2) as f64;
        let r_t = n_frames as f64 / duration;
        let r_f = bins / half_sr;
        let n_rows = ((half_sr * r_f).floor() as usize).min(1 + cfg.n_fft / 2);
        let n_cols = ((duration * r_t).floor() as usize).min(n_frames);

        let slices = arange(0.0, duration, cfg.time_unit * cfg.time_hop)
            .filter(|t| t + cfg.time_unit <= duration)
            .map(|t0| {
                let t1 = t0 + cfg.time_unit;
                let (col0, col1) = index_range(t0, t1, duration, r_t, n_cols);
                TimeSlice {
                    start_time: t0,
                    end_time: t1,
                    col0,
                    col1,
                }
            })
            .collect();

        let (lo, hi) = cfg.frequency_limits;
        let unit = (hi - lo) / cfg.frequency_bins as f64;
        let bands = arange(lo, hi, unit * cfg.frequency_hop)
            .filter(|f| f + unit <= hi)
            .map(|f0| {
                let f1 = f0 + unit;
                let (row0, row1) = index_range(f0, f1, half_sr, r_f, n_rows);
                Band {
                    min_freq: f0,
                    max_freq: f1,
                    row0,
                    row1,
                }
            })
            .collect();

        Grid {
            n_samples,
            duration,
            n_frames,
            n_rows,
            n_cols,
            slices,
            bands,
        }
    }

    /// Number of frames the slices need (the STFT can stop there).
    pub fn frames_needed(&self) -> usize {
        self.slices.iter().map(|s| s.col1).max().unwrap_or(0)
    }

    /// Bands that hold no spectrogram row (above the Nyquist frequency).
    pub fn empty_bands(&self) -> usize {
        self.bands.iter().filter(|b| b.is_empty()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sipecam_rows_and_columns() {
        let cfg = SliceConfig::default();
        let g = Grid::new(&cfg, 60 * 48000, 60.0, 48000);
        assert_eq!(g.n_frames, 5626);
        assert_eq!(g.n_rows, 513);
        let cols: Vec<_> = g.slices.iter().map(|s| (s.col0, s.col1)).collect();
        assert_eq!(cols, vec![(0, 2813), (2813, 5626)]);
        assert_eq!(g.bands.len(), 96);
        let rows: Vec<_> = g.bands.iter().map(|b| (b.row0, b.row1)).collect();
        assert_eq!(&rows[..4], &[(0, 5), (5, 10), (10, 16), (16, 21)]);
        assert_eq!(rows[40], (213, 219));
        assert_eq!(rows[94], (502, 507));
        assert_eq!(rows[95], (507, 513));
        let five = rows.iter().filter(|(a, b)| b - a == 5).count();
        assert_eq!((five, 96 - five), (63, 33));

        let g = Grid::new(&cfg, 90 * 48000, 90.0, 48000);
        let cols: Vec<_> = g.slices.iter().map(|s| (s.col0, s.col1)).collect();
        assert_eq!(cols, vec![(0, 2812), (2812, 5625), (5625, 8438)]);
    }

    #[test]
    fn partial_slices_are_dropped() {
        let cfg = SliceConfig::default();
        let n = 60 * 48000 - 1;
        assert_eq!(
            Grid::new(&cfg, n, n as f64 / 48000.0, 48000).slices.len(),
            1
        );
        assert_eq!(
            Grid::new(&cfg, 95 * 48000 + 24000, 95.5, 48000)
                .slices
                .len(),
            3
        );
        assert_eq!(Grid::new(&cfg, 29 * 48000, 29.0, 48000).slices.len(), 0);
    }

    #[test]
    fn bands_above_nyquist_are_empty() {
        let cfg = SliceConfig::default();
        let g = Grid::new(&cfg, 35 * 44100, 35.0, 44100);
        assert_eq!(g.bands.len(), 96);
        // 22050 Hz Nyquist: band [22000, 22250) keeps two rows, the 7 bands above none.
        assert_eq!((g.bands[88].row0, g.bands[88].row1), (511, 513));
        assert_eq!(g.empty_bands(), 7);
        assert_eq!(g.bands[0].min_freq, 0.0);
        assert_eq!(g.bands[95].max_freq, 24000.0);
    }
}
