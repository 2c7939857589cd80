//! One recording, streamed: decode, frame, STFT, cut into cells, compute the indices.
//!
//! Only the cells of the slice being read are held (30 s: 2813 x 513 power values, under
//! 6 MB), gathered per band straight from the spectrogram columns; the bands of a slice are
//! computed in parallel. The whole file is decoded even past the last complete slice, so that
//! a truncated or corrupt tail is still reported.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
pub use soundscape_audio::TRUNCATION_TOLERANCE;
use soundscape_audio::{AudioError, AudioInfo, AudioReader};

use crate::config::EngineConfig;
use crate::grid::{Grid, TimeSlice};
use crate::indices::{CellIndices, CellScratch};
use crate::simd::copy::{append_rows, COPY};
use crate::stft::{slot, Framer, Staggered, Stft};

/// Options that concern input checking rather than the numbers.
#[derive(Debug, Clone, Default)]
pub struct AnalyzeOptions {
    /// Fail recordings whose sample rate differs from this one.
    pub expected_sample_rate: Option<u32>,
    /// Share of the declared length that may be missing from the decoded stream (default
    /// [`soundscape_audio::TRUNCATION_TOLERANCE`]); within it the recording is analysed on
    /// what was decoded, beyond it it fails as truncated.
    pub max_shortfall: Option<f64>,
}

/// The result of one recording.
#[derive(Debug, Clone)]
pub struct RecordingAnalysis {
    pub info: AudioInfo,
    /// Samples analysed.
    pub n_samples: usize,
    /// Duration in seconds (header frames / sample rate).
    pub duration: f64,
    pub grid: Grid,
    /// One entry per cell, slice-major then band (`grid.slices.len() * grid.bands.len()`).
    pub cells: Vec<CellIndices>,
    pub warnings: Vec<String>,
}

/// Why a recording gives no cells.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error("{path}: shorter than one slice ({duration:.3} s < {slice} s)")]
    TooShort {
        path: PathBuf,
        duration: f64,
        slice: f64,
    },
    #[error("{path}: unexpected sample rate {found} Hz (expected {expected} Hz)")]
    SampleRate {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("{path}: the file has no audio channels")]
    NoChannels { path: PathBuf },
    #[error("{path}: the stream ended before frame {frame} of {needed}")]
    Incomplete {
        path: PathBuf,
        frame: usize,
        needed: usize,
    },
}

impl AnalysisError {
    /// Skipped (a legitimate reason to produce nothing) rather than failed.
    pub fn is_skip(&self) -> bool {
        matches!(self, AnalysisError::TooShort { .. })
    }

    /// Short machine-readable kind, for reports.
    pub fn kind(&self) -> &'static str {
        match self {
            AnalysisError::Audio(e) => e.kind(),
            AnalysisError::TooShort { .. } => "too-short",
            AnalysisError::SampleRate { .. } => "sample-rate",
            AnalysisError::NoChannels { .. } => "no-channels",
            AnalysisError::Incomplete { .. } => "incomplete",
        }
    }
}

/// Counts frames by decoding, for streams whose header does not say.
/// The audio info of a recording with its frame count (decoding the file when the header
/// does not give it).
pub fn probe_frames(path: &Path) -> Result<AudioInfo, AudioError> {
    let mut info = AudioReader::open(path)?.info().clone();
    if info.frames.is_none() {
        info.frames = Some(count_frames(path)?);
    }
    Ok(info)
}

fn count_frames(path: &Path) -> Result<u64, AudioError> {
    let mut r = AudioReader::open(path)?;
    while r.next_block()?.is_some() {}
    Ok(r.frames_decoded())
}

/// Analyses one recording. `progress` is called with the audio seconds of each finished slice.
///
/// A stream that ends a little before its header's length (within `opts.max_shortfall`) is
/// analysed again on the samples decoded, since the slice grid follows from the length; the
/// warning names both counts. Further short, it fails as truncated.
pub fn analyze_recording(
    path: &Path,
    cfg: &EngineConfig,
    opts: &AnalyzeOptions,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<RecordingAnalysis, AnalysisError> {
    let tolerance = opts
        .max_shortfall
        .unwrap_or(soundscape_audio::TRUNCATION_TOLERANCE);
    match analyze_pass(path, cfg, opts, progress, None) {
        Err(AnalysisError::Audio(AudioError::Truncated {
            expected, found, ..
        })) if found > 0 && soundscape_audio::shortfall_tolerated(expected, found, tolerance) => {
            let mut a = analyze_pass(path, cfg, opts, progress, Some(found))?;
            a.warnings.insert(
                0,
                format!(
                    "the header declares {expected} frames but {found} were decoded ({} fewer, within the {:.2} % tolerated); analysed on the {found} decoded",
                    expected - found,
                    tolerance * 100.0
                ),
            );
            Ok(a)
        }
        r => r,
    }
}

fn analyze_pass(
    path: &Path,
    cfg: &EngineConfig,
    opts: &AnalyzeOptions,
    progress: &(dyn Fn(f64) + Sync),
    frames: Option<u64>,
) -> Result<RecordingAnalysis, AnalysisError> {
    let mut reader = AudioReader::open(path)?;
    if let Some(f) = frames {
        reader.set_frames(f);
    }
    let mut info = reader.info().clone();
    let sr = info.sample_rate;
    if let Some(expected) = opts.expected_sample_rate {
        if sr != expected {
            return Err(AnalysisError::SampleRate {
                path: path.into(),
                found: sr,
                expected,
            });
        }
    }
    if info.channels == 0 && info.codec.starts_with("pcm") {
        return Err(AnalysisError::NoChannels { path: path.into() });
    }
    let frames = match info.frames {
        Some(f) => f,
        None => {
            let f = count_frames(path)?;
            info.frames = Some(f);
            f
        }
    };
    // librosa reads int(duration * sr) frames with duration = frames / sr.
    let duration = frames as f64 / sr as f64;
    let n = ((duration * sr as f64) as u64).min(frames) as usize;
    let s = &cfg.slice;
    let grid = Grid::new(s, n, duration, sr);
    if grid.slices.is_empty() || n <= s.n_fft / 2 {
        return Err(AnalysisError::TooShort {
            path: path.into(),
            duration,
            slice: s.time_unit,
        });
    }

    let mut warnings = Vec::new();
    let empty = grid.empty_bands();
    if empty > 0 {
        warnings.push(format!(
            "{empty} of {} bands lie above the Nyquist frequency ({} Hz): their cells are empty and their indices NaN",
            grid.bands.len(),
            sr as f64 / 2.0
        ));
    }

    let needed = grid.frames_needed();
    let mut framer = Framer::new(s.n_fft, s.hop_length, n);
    let mut stft = Stft::new(s.n_fft);
    let mut gather = SliceGather::new(&grid);
    let mut cells = Vec::with_capacity(grid.slices.len() * grid.bands.len());
    let mut t = 0usize;

    let mut on_block = |block: &[f32], framer: &mut Framer| {
        framer.push(block);
        while t < needed && !gather.finished() && framer.ready(t) {
            if gather.wants(t) {
                stft.powers(framer.frame(t), gather.column(t));
                gather.add_column();
            }
            t += 1;
            framer.release_before_frame(t);
            gather.close_before(t, |sl, bands| {
                cells.extend(slice_cells(bands, &grid));
                progress(sl.end_time - sl.start_time);
            });
        }
    };
    while let Some(block) = reader.next_block()? {
        on_block(block, &mut framer);
    }
    if !gather.finished() {
        return Err(AnalysisError::Incomplete {
            path: path.into(),
            frame: t,
            needed,
        });
    }
    let n_bands = grid.bands.len();
    let nan_cells = (cells.iter().enumerate())
        .filter(|(i, c)| !grid.bands[i % n_bands].is_empty() && c.total.is_nan())
        .count();
    if nan_cells > 0 {
        warnings.push(format!(
            "{nan_cells} of {} cells hold NaN values (NaN or infinite samples in the audio): all their indices are NaN",
            cells.len()
        ));
    }
    Ok(RecordingAnalysis {
        info,
        n_samples: n,
        duration,
        grid,
        cells,
        warnings,
    })
}

/// Gathers the power values of each cell straight from the spectrogram columns: for every
/// slice whose columns are being read, one buffer per band (values in column order; the indices
/// do not depend on the order). Overlapping slices (a time hop below 1) each get the shared
/// columns. Buffers are reused from slice to slice.
///
/// Columns are copied to the bands [`BATCH`] at a time, band by band: a band's rows of the
/// batch are one run of a few cache lines, written by one call. Copied column by column, each
/// column wrote a few values into each of the 96 buffers, more streams than the processor
/// follows, and most stores waited for their line.
struct SliceGather<'g> {
    grid: &'g Grid,
    /// The columns not yet copied, `stride` values each (`n_rows` and `COPY` spare ones, see
    /// `flush`): `pending` of them, the first column `first_pending`.
    batch: Staggered<f32>,
    stride: usize,
    pending: usize,
    first_pending: usize,
    /// Slices `[next_closed, next_open)` are open, each with its band buffers in `open`.
    next_closed: usize,
    next_open: usize,
    open: std::collections::VecDeque<Vec<Vec<f32>>>,
    spare: Vec<Vec<Vec<f32>>>,
}

/// Columns copied to the bands at a time (16 KB of columns at 48 kHz).
const BATCH: usize = 8;

impl<'g> SliceGather<'g> {
    fn new(grid: &'g Grid) -> Self {
        let stride = grid.n_rows + COPY;
        SliceGather {
            grid,
            batch: Staggered::new(BATCH * stride, slot::COLUMN),
            stride,
            pending: 0,
            first_pending: 0,
            next_closed: 0,
            next_open: 0,
            open: Default::default(),
            spare: Vec::new(),
        }
    }

    /// Every slice has been closed.
    fn finished(&self) -> bool {
        self.next_closed >= self.grid.slices.len()
    }

    /// Whether column `t` belongs to a slice (opening the slices that start at or before it).
    fn wants(&mut self, t: usize) -> bool {
        let slices = &self.grid.slices;
        while self.next_open < slices.len() && slices[self.next_open].col0 <= t {
            let mut bands = self.spare.pop().unwrap_or_default();
            bands.resize_with(self.grid.bands.len(), Vec::new);
            let cols = slices[self.next_open].col1 - slices[self.next_open].col0;
            for (buf, band) in bands.iter_mut().zip(&self.grid.bands) {
                buf.clear();
                buf.reserve(cols * (band.row1 - band.row0) + COPY);
            }
            self.open.push_back(bands);
            self.next_open += 1;
        }
        (self.next_closed..self.next_open).any(|i| t < slices[i].col1)
    }

    /// The place for column `t`'s power values (one per row), added by `add_column`.
    fn column(&mut self, t: usize) -> &mut [f32] {
        if self.pending == BATCH || (self.pending > 0 && t != self.first_pending + self.pending) {
            self.flush();
        }
        if self.pending == 0 {
            self.first_pending = t;
        }
        let at = self.pending * self.stride;
        &mut self.batch[at..at + self.grid.n_rows]
    }

    /// Adds the column written into [`column`](Self::column).
    fn add_column(&mut self) {
        self.pending += 1;
    }

    /// Copies the pending columns to the open slices that hold them, band by band.
    fn flush(&mut self) {
        let (from, to) = (self.first_pending, self.first_pending + self.pending);
        let slices = &self.grid.slices[self.next_closed..self.next_open];
        let batch: &[f32] = &self.batch;
        for (sl, bands) in slices.iter().zip(self.open.iter_mut()) {
            let (a, b) = (from.max(sl.col0), to.min(sl.col1));
            if a >= b {
                continue;
            }
            let columns = &batch[(a - from) * self.stride..(b - from) * self.stride];
            for (buf, band) in bands.iter_mut().zip(&self.grid.bands) {
                append_rows(buf, columns, self.stride, band.row0, band.row1);
            }
        }
        self.pending = 0;
    }

    /// Closes, in order, the open slices that end at or before column `t`, handing each with
    /// its band buffers to `done`.
    fn close_before(&mut self, t: usize, mut done: impl FnMut(&TimeSlice, &[Vec<f32>])) {
        if self.next_closed < self.next_open
            && self.grid.slices[self.next_closed].col1 <= t
            && self.pending > 0
        {
            self.flush();
        }
        while self.next_closed < self.next_open && self.grid.slices[self.next_closed].col1 <= t {
            let bands = self.open.pop_front().expect("an open slice has buffers");
            done(&self.grid.slices[self.next_closed], &bands);
            self.spare.push(bands);
            self.next_closed += 1;
        }
    }
}

thread_local! {
    /// Each thread's cell buffers, kept from slice to slice and recording to recording: a
    /// scratch made per slice grew its buffers again every time, a few hundred KB of page
    /// faults and copies per slice.
    static SCRATCH: std::cell::RefCell<CellScratch> = std::cell::RefCell::default();
}

/// The indices of every band of one slice (`bands`: the power values of each band's cell).
fn slice_cells(bands: &[Vec<f32>], grid: &Grid) -> Vec<CellIndices> {
    grid.bands
        .par_iter()
        .zip(bands)
        .map(|(band, power)| {
            if band.is_empty() {
                return CellIndices::NAN;
            }
            SCRATCH.with_borrow_mut(|scratch| scratch.indices(power))
        })
        .collect()
}

/// Streams a recording's samples and its magnitude STFT (periodic Hann, full-signal reflect
/// centring, `1 + n / hop` frames, as the soundscape uses): `on_samples` gets the mono blocks as
/// they are decoded, `on_column(t, magnitudes)` every frame in order. Nothing of the whole
/// spectrogram is kept. Returns the audio info and the number of samples.
pub fn stream_spectrogram(
    path: &Path,
    n_fft: usize,
    hop: usize,
    mut on_samples: impl FnMut(&[f32]),
    mut on_column: impl FnMut(usize, &[f32]),
) -> Result<(AudioInfo, usize), AnalysisError> {
    let mut reader = AudioReader::open(path)?;
    let mut info = reader.info().clone();
    let frames = match info.frames {
        Some(f) => f,
        None => {
            let f = count_frames(path)?;
            info.frames = Some(f);
            f
        }
    } as usize;
    if frames <= n_fft / 2 {
        return Err(AnalysisError::TooShort {
            path: path.into(),
            duration: frames as f64 / info.sample_rate as f64,
            slice: (n_fft / 2) as f64 / info.sample_rate as f64,
        });
    }
    let mut total = 1 + frames / hop;
    let mut framer = Framer::new(n_fft, hop, frames);
    let mut stft = Stft::new(n_fft);
    let mut column = vec![0f32; stft.n_bins()];
    let mut t = 0usize;
    let mut frames = frames;
    loop {
        let block = match reader.next_block() {
            Ok(Some(block)) => block,
            Ok(None) => break,
            // A stream a little shorter than its header: the frames made so far never
            // reached past what was received, so they stand; the rest mirror at the new end.
            Err(AudioError::Truncated {
                expected, found, ..
            }) if found as usize > n_fft / 2
                && soundscape_audio::shortfall_tolerated(
                    expected,
                    found,
                    soundscape_audio::TRUNCATION_TOLERANCE,
                ) =>
            {
                frames = found as usize;
                framer.truncate(frames);
                total = 1 + frames / hop;
                info.frames = Some(found);
                &[]
            }
            Err(e) => return Err(e.into()),
        };
        on_samples(block);
        framer.push(block);
        while t < total && framer.ready(t) {
            stft.magnitudes(framer.frame(t), &mut column);
            on_column(t, &column);
            t += 1;
            framer.release_before_frame(t);
        }
        if block.is_empty() {
            break;
        }
    }
    if t < total {
        return Err(AnalysisError::Incomplete {
            path: path.into(),
            frame: t,
            needed: total,
        });
    }
    Ok((info, frames))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SliceConfig;
    use crate::indices::reference::assert_indices_agree;

    /// Overlapping slices and bands (hops of a half), and slices with gaps between them (a
    /// time hop of 1.7: columns no slice wants, then a batch that starts afresh), give, cell by
    /// cell, what the whole spectrogram cut up afterwards gives.
    #[test]
    fn streamed_cells_match_the_whole_spectrogram_cut_afterwards() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        let mut state = 99u32;
        let samples: Vec<i16> = (0..48_000 * 5 + 777)
            .map(|i| {
                state = state.wrapping_mul(1664525).wrapping_add(1013904223);
                let tone = (i as f32 * 0.05).sin() * 3000.0 * (1 + i / 48_000) as f32;
                tone as i16 / 2 + ((state >> 20) as i16 - 2048)
            })
            .collect();
        std::fs::write(&path, soundscape_testkit::wav_of(48_000, &samples, None)).unwrap();
        let mut columns: Vec<Vec<f32>> = Vec::new();
        stream_spectrogram(&path, 1024, 512, |_| {}, |_, c| columns.push(c.to_vec())).unwrap();
        for (time_hop, slices) in [(0.5, 5), (1.7, 2)] {
            let cfg = EngineConfig {
                slice: SliceConfig {
                    time_unit: 1.5,
                    time_hop,
                    frequency_bins: 12,
                    frequency_limits: (1000.0, 13000.0),
                    frequency_hop: 0.5,
                    ..SliceConfig::default()
                },
                ..EngineConfig::default()
            };
            let got = analyze_recording(&path, &cfg, &AnalyzeOptions::default(), &|_| {}).unwrap();
            assert_eq!((got.grid.slices.len(), got.grid.bands.len()), (slices, 23));
            let mut scratch = CellScratch::default();
            let mut k = 0;
            for sl in &got.grid.slices {
                for band in &got.grid.bands {
                    let mags: Vec<f32> = columns[sl.col0..sl.col1]
                        .iter()
                        .flat_map(|c| c[band.row0..band.row1].iter().copied())
                        .collect();
                    let want = scratch.indices_of_magnitudes(&mags);
                    let what = format!("time hop {time_hop}, slice {sl:?} band {band:?}");
                    assert_indices_agree(&got.cells[k], &want, &what);
                    k += 1;
                }
            }
            assert_eq!(k, got.cells.len());
        }
    }

    /// NaN samples in float audio make every index of the cells they reach NaN (a NaN
    /// sample spreads over its frames' whole spectrum) and a warning names how many; the
    /// other slices are computed as usual.
    #[test]
    fn nan_samples_give_nan_cells_and_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nan.wav");
        let mut noise = soundscape_testkit::Noise::new(8);
        let mut samples: Vec<f32> = (0..48_000 * 61).map(|_| noise.next() * 0.5).collect();
        samples[48_000 * 40] = f32::NAN; // in the second 30 s slice
        std::fs::write(&path, soundscape_testkit::wav_f32(48_000, &samples)).unwrap();
        let got = analyze_recording(
            &path,
            &EngineConfig::default(),
            &AnalyzeOptions::default(),
            &|_| {},
        )
        .unwrap();
        assert_eq!(got.cells.len(), 2 * 96);
        let nan = |c: &CellIndices| [c.total, c.core, c.tail, c.information].map(f64::is_nan);
        assert!(got.cells[..96].iter().all(|c| nan(c) == [false; 4]));
        assert!(got.cells[96..].iter().all(|c| nan(c) == [true; 4]));
        let warning = "96 of 192 cells hold NaN values";
        assert!(
            got.warnings.iter().any(|w| w.starts_with(warning)),
            "{:?}",
            got.warnings
        );
    }

    /// Every AVX2 path on and every one off, the cells of a recording are the same bits.
    #[test]
    fn both_simd_modes_give_the_same_cells() {
        if !crate::simd::avx2_under_test() {
            return; // scalar paths only: there is no second mode to compare with
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        let mut noise = soundscape_testkit::Noise::new(5);
        let samples: Vec<i16> = (0..48_000 * 65)
            .map(|i| {
                let tone = (i as f32 * 0.21).sin() * 2000.0 * (1 + i % 7) as f32;
                (tone + noise.next() * 12000.0) as i16
            })
            .collect();
        std::fs::write(&path, soundscape_testkit::wav_of(48_000, &samples, None)).unwrap();
        let run = || {
            analyze_recording(
                &path,
                &EngineConfig::default(),
                &AnalyzeOptions::default(),
                &|_| {},
            )
            .unwrap()
            .cells
        };
        let fast = run();
        let scalar = crate::simd::with_kernels_off(&crate::simd::Kernel::ALL, 2, run);
        assert_eq!(fast.len(), 2 * 96);
        let bits = |cells: &[CellIndices]| -> Vec<[u64; 6]> {
            cells
                .iter()
                .map(|c| crate::IndexName::TABLE_ORDER.map(|name| c.get(name).to_bits()))
                .collect()
        };
        assert_eq!(bits(&fast), bits(&scalar));
    }
}
