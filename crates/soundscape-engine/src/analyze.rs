//! One recording, streamed: decode, frame, STFT, cut into cells, compute the indices.
//!
//! Only one slice of spectrogram columns (30 s: 2813 x 513 power values, under 6 MB, plus its
//! row-major copy) is held at a time; the bands of a slice are computed in parallel. The whole
//! file is decoded even past the last complete slice, so that a truncated or corrupt tail is
//! still reported.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use soundscape_audio::{AudioError, AudioInfo, AudioReader};

use crate::config::EngineConfig;
use crate::grid::Grid;
use crate::indices::{power, CellIndices, CellScratch};
use crate::stft::{Framer, Stft};

/// Options that concern input checking rather than the numbers.
#[derive(Debug, Clone, Default)]
pub struct AnalyzeOptions {
    /// Fail recordings whose sample rate differs from this one.
    pub expected_sample_rate: Option<u32>,
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
pub fn analyze_recording(
    path: &Path,
    cfg: &EngineConfig,
    opts: &AnalyzeOptions,
    progress: &(dyn Fn(f64) + Sync),
) -> Result<RecordingAnalysis, AnalysisError> {
    let mut reader = AudioReader::open(path)?;
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

    let rows = grid.n_rows;
    let needed = grid.frames_needed();
    let mut framer = Framer::new(s.n_fft, s.hop_length, n);
    let mut stft = Stft::new(s.n_fft);
    let mut column = vec![0f32; rows];
    // Spectrogram columns [col_base, col_base + cols.len()/rows) of the pending slices.
    let mut cols: Vec<f32> = Vec::new();
    let mut col_base = 0usize;
    let mut next_slice = 0usize;
    let mut cells = Vec::with_capacity(grid.slices.len() * grid.bands.len());
    let mut t = 0usize;
    let mut by_row: Vec<f32> = Vec::new();

    let mut on_block = |block: &[f32], framer: &mut Framer| {
        framer.push(block);
        while t < needed && next_slice < grid.slices.len() && framer.ready(t) {
            let slice = grid.slices[next_slice];
            if t >= slice.col0 {
                if cols.is_empty() {
                    col_base = t;
                }
                stft.magnitudes(framer.frame(t), &mut column);
                cols.extend(column.iter().map(|&a| power(a)));
            }
            t += 1;
            framer.release_before_frame(t);
            while next_slice < grid.slices.len() && t >= grid.slices[next_slice].col1 {
                let sl = grid.slices[next_slice];
                let (c0, c1) = (sl.col0 - col_base, sl.col1 - col_base);
                let block = &cols[c0 * rows..c1 * rows];
                transpose(block, rows, &mut by_row);
                cells.extend(slice_cells(&by_row, c1 - c0, &grid));
                progress(sl.end_time - sl.start_time);
                next_slice += 1;
                match grid.slices.get(next_slice) {
                    Some(nx) if nx.col0 > col_base => {
                        let drop = (nx.col0 - col_base).min(cols.len() / rows);
                        cols.drain(..drop * rows);
                        col_base += drop;
                    }
                    Some(_) => {}
                    None => cols.clear(),
                }
            }
        }
    };
    while let Some(block) = reader.next_block()? {
        on_block(block, &mut framer);
    }
    if next_slice < grid.slices.len() {
        return Err(AnalysisError::Incomplete {
            path: path.into(),
            frame: t,
            needed,
        });
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

/// Column-major `block` (columns of `rows` values) to row-major `out`.
fn transpose(block: &[f32], rows: usize, out: &mut Vec<f32>) {
    let ncols = block.len() / rows;
    out.clear();
    out.resize(block.len(), 0.0);
    const TILE: usize = 32;
    for c0 in (0..ncols).step_by(TILE) {
        let c1 = (c0 + TILE).min(ncols);
        for r0 in (0..rows).step_by(TILE) {
            let r1 = (r0 + TILE).min(rows);
            for c in c0..c1 {
                let col = &block[c * rows..c * rows + rows];
                for r in r0..r1 {
                    out[r * ncols + c] = col[r];
                }
            }
        }
    }
}

/// The indices of every band of one slice (`by_row`: power values, row-major, `ncols` per row).
fn slice_cells(by_row: &[f32], ncols: usize, grid: &Grid) -> Vec<CellIndices> {
    grid.bands
        .par_iter()
        .map_init(CellScratch::default, |scratch, band| {
            if band.is_empty() {
                return CellIndices::NAN;
            }
            scratch
                .power_mut()
                .extend_from_slice(&by_row[band.row0 * ncols..band.row1 * ncols]);
            scratch.indices()
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
    let total = 1 + frames / hop;
    let mut framer = Framer::new(n_fft, hop, frames);
    let mut stft = Stft::new(n_fft);
    let mut column = vec![0f32; stft.n_bins()];
    let mut t = 0usize;
    while let Some(block) = reader.next_block()? {
        on_samples(block);
        framer.push(block);
        while t < total && framer.ready(t) {
            stft.magnitudes(framer.frame(t), &mut column);
            on_column(t, &column);
            t += 1;
            framer.release_before_frame(t);
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
