//! The compressed spectrogram of the bats-ai system (docs/method.md#compressed-spectrogram): only the parts of
//! a recording with acoustic activity, stacked side by side, with the list of their start and
//! end times.
//!
//! Steps, on the dB spectrogram (80 dB below the loudest value, frequency rows reduced to the
//! picture height): each row's median is subtracted (denoising), cells at or below the median
//! of the positive cells are cleared, rows outside the frequency band are cleared. A column is
//! active when its peak, min-max scaled, reaches the threshold τ (0.5, lowered by 0.05 until
//! something is found); a 3-point median filter removes single columns; the active runs are
//! padded and joined with a plain sorted interval union (bats-ai's pairwise merge loses
//! ranges). Times are exact seconds, not whole milliseconds.
//!
//! The recording is streamed twice (loudest value, then the reduced matrix of one byte per
//! cell), so an hour needs about 90 MB at 256 rows.

use std::path::Path;

use serde_json::{json, Value};
use soundscape_engine::analyze::stream_spectrogram;
use soundscape_plots::render::write_png;

use crate::levels::{level, loudest, row_peak};

#[derive(Debug, Clone)]
pub struct CompressedConfig {
    pub n_fft: usize,
    pub hop: usize,
    /// Picture height (frequency rows).
    pub rows: usize,
    /// Band considered for activity, Hz (`None`: up to Nyquist).
    pub min_freq: f64,
    pub max_freq: Option<f64>,
    /// Padding around each active run, seconds.
    pub pad: f64,
    pub top_db: f32,
}

impl Default for CompressedConfig {
    fn default() -> Self {
        CompressedConfig {
            n_fft: 1024,
            hop: 512,
            rows: 256,
            min_freq: 500.0,
            max_freq: None,
            pad: 0.1,
            top_db: 80.0,
        }
    }
}

/// One kept stretch of the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Seconds from the start of the recording.
    pub start: f64,
    pub end: f64,
    /// Picture columns of the segment in the compressed picture.
    pub x: usize,
    pub width: usize,
}

/// The result.
#[derive(Debug, Clone, PartialEq)]
pub struct Compressed {
    pub segments: Vec<Segment>,
    /// Threshold that found them; `None` when nothing was found and the picture is the whole
    /// recording.
    pub tau: Option<f64>,
    pub duration: f64,
    pub width: usize,
    pub height: usize,
    pub low_freq: f64,
    pub high_freq: f64,
}

impl Compressed {
    pub fn to_json(&self) -> Value {
        json!({
            "start_times": self.segments.iter().map(|s| s.start).collect::<Vec<_>>(),
            "end_times": self.segments.iter().map(|s| s.end).collect::<Vec<_>>(),
            "widths": self.segments.iter().map(|s| s.width).collect::<Vec<_>>(),
            "total_width": self.width,
            "height": self.height,
            "duration": self.duration,
            "low_freq": self.low_freq,
            "high_freq": self.high_freq,
            "threshold": self.tau,
            "compressed": self.tau.is_some(),
        })
    }
}

/// Sorted union of closed column intervals (touching ones join).
pub fn interval_union(mut v: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    v.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Active column runs of the scaled column peaks `a` at threshold `tau`, padded by `pad`
/// columns and joined.
pub fn active_runs(a: &[f32], tau: f32, pad: usize) -> Vec<(usize, usize)> {
    let w = a.len();
    let masked: Vec<f32> = a
        .iter()
        .map(|&x| if x >= tau && x > 0.0 { x } else { 0.0 })
        .collect();
    let mut p: Vec<f32> = (0..w)
        .map(|i| {
            let l = if i > 0 { masked[i - 1] } else { 0.0 };
            let r = if i + 1 < w { masked[i + 1] } else { 0.0 };
            let mut t = [l, masked[i], r];
            t.sort_by(f32::total_cmp);
            t[1]
        })
        .collect();
    if w > 0 {
        p[0] = 0.0;
        p[w - 1] = 0.0;
    }
    let mut runs = Vec::new();
    let mut i = 0;
    while i < w {
        if p[i] > 0.0 {
            let s = i;
            while i + 1 < w && p[i + 1] > 0.0 {
                i += 1;
            }
            runs.push((s.saturating_sub(pad), (i + pad).min(w - 1)));
        }
        i += 1;
    }
    interval_union(runs)
}

/// Makes the compressed spectrogram of `audio`: the PNG at `png` (atomic) and the result.
pub fn compressed_spectrogram(
    audio: &Path,
    png: &Path,
    cfg: &CompressedConfig,
) -> Result<Compressed, String> {
    let (info, n, top_db) = loudest(audio, cfg.n_fft, cfg.hop)?;
    let sr = info.sample_rate as f64;
    let duration = n as f64 / sr;
    let bins = cfg.n_fft / 2 + 1;
    let h = cfg.rows.clamp(1, bins);
    // Reduced matrix, column-major: one byte per (frame, row), row 0 = lowest frequencies.
    let mut cells: Vec<u8> = Vec::new();
    stream_spectrogram(
        audio,
        cfg.n_fft,
        cfg.hop,
        |_| {},
        |_, m| {
            for r in 0..h {
                let level = level(row_peak(m, r, h), top_db, cfg.top_db);
                cells.push((level * 255.0).round() as u8);
            }
        },
    )
    .map_err(|e| e.to_string())?;
    let w = cells.len() / h;
    // Row medians (byte histograms), then the gate at the median of the positive cells.
    let median_of = |hist: &[u64; 256], count: u64| -> i32 {
        let mut acc = 0;
        for (v, &c) in hist.iter().enumerate() {
            acc += c;
            if acc * 2 >= count {
                return v as i32;
            }
        }
        0
    };
    let medians: Vec<i32> = (0..h)
        .map(|r| {
            let mut hist = [0u64; 256];
            for x in 0..w {
                hist[cells[x * h + r] as usize] += 1;
            }
            median_of(&hist, w as u64)
        })
        .collect();
    let mut hist = [0u64; 256];
    let mut positives = 0u64;
    for x in 0..w {
        for r in 0..h {
            let d = cells[x * h + r] as i32 - medians[r];
            if d > 0 {
                hist[d as usize] += 1;
                positives += 1;
            }
        }
    }
    let gate = if positives > 0 {
        median_of(&hist, positives)
    } else {
        0
    };
    let nyquist = sr / 2.0;
    let (lo, hi) = (
        cfg.min_freq.max(0.0),
        cfg.max_freq.unwrap_or(nyquist).min(nyquist),
    );
    let row_in_band = |r: usize| {
        let f0 = r as f64 / h as f64 * nyquist;
        let f1 = (r + 1) as f64 / h as f64 * nyquist;
        f1 > lo && f0 < hi
    };
    let mut denoised = vec![0u8; w * h];
    for x in 0..w {
        for r in 0..h {
            let d = cells[x * h + r] as i32 - medians[r];
            if d > gate && row_in_band(r) {
                denoised[x * h + r] = d.min(255) as u8;
            }
        }
    }
    drop(cells);
    let peaks: Vec<f32> = (0..w)
        .map(|x| {
            denoised[x * h..(x + 1) * h]
                .iter()
                .copied()
                .max()
                .unwrap_or(0) as f32
        })
        .collect();
    let (pmin, pmax) = peaks
        .iter()
        .fold((f32::INFINITY, 0f32), |(a, b), &p| (a.min(p), b.max(p)));
    let scaled: Vec<f32> = peaks
        .iter()
        .map(|&p| {
            if pmax > pmin {
                (p - pmin) / (pmax - pmin)
            } else {
                0.0
            }
        })
        .collect();
    let cols_per_s = sr / cfg.hop as f64;
    let pad = (cfg.pad * cols_per_s).round() as usize;
    let mut tau = 0.5f32;
    let (runs, used) = loop {
        let runs = active_runs(&scaled, tau, pad);
        if !runs.is_empty() {
            break (runs, Some(tau as f64));
        }
        tau -= 0.05;
        if tau < 0.0 {
            break (vec![(0, w.saturating_sub(1))], None);
        }
    };
    let mut segments = Vec::new();
    let mut x = 0;
    for &(a, b) in &runs {
        let width = b + 1 - a;
        segments.push(Segment {
            start: (a as f64 / cols_per_s).min(duration),
            end: ((b + 1) as f64 / cols_per_s).min(duration),
            x,
            width,
        });
        x += width;
    }
    let total = x.max(1);
    let vmax = denoised.iter().copied().max().unwrap_or(1).max(1) as f32;
    let mut img = image::GrayImage::new(total as u32, h as u32);
    let mut out_x = 0u32;
    for &(a, b) in &runs {
        for col in a..=b {
            for r in 0..h {
                let v = denoised[col * h + r] as f32 / vmax;
                img.put_pixel(
                    out_x,
                    (h - 1 - r) as u32,
                    image::Luma([(v * 255.0).round() as u8]),
                );
            }
            out_x += 1;
        }
    }
    write_png(png, img.into())?;
    Ok(Compressed {
        segments,
        tau: used,
        duration,
        width: total,
        height: h,
        low_freq: lo,
        high_freq: hi,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_keeps_every_range() {
        // bats-ai's pairwise merge turned both of these into nothing.
        assert_eq!(
            interval_union(vec![(10, 50), (40, 80), (200, 240)]),
            vec![(10, 80), (200, 240)]
        );
        assert_eq!(interval_union(vec![(10, 50)]), vec![(10, 50)]);
        assert_eq!(
            interval_union(vec![(5, 9), (0, 4), (30, 31)]),
            vec![(0, 9), (30, 31)]
        );
        assert_eq!(interval_union(vec![]), vec![]);
    }

    #[test]
    fn runs_need_two_columns_and_are_padded() {
        let mut a = vec![0.0f32; 100];
        a[20] = 1.0; // a single column is removed by the median filter
        a[50] = 0.9;
        a[51] = 0.8;
        a[52] = 0.7;
        a[90] = 0.6;
        a[91] = 0.6;
        assert_eq!(active_runs(&a, 0.5, 3), vec![(47, 55), (87, 94)]);
        assert_eq!(active_runs(&a, 0.65, 3), vec![(47, 55)]);
        assert!(active_runs(&a, 0.95, 3).is_empty());
    }

    #[test]
    fn bursts_in_silence_are_found_with_their_times() {
        let dir = tempfile::tempdir().unwrap();
        let rate = 48_000u32;
        // 10 s of faint noise with 4 kHz bursts at 2.0-2.5 s and 6.0-6.3 s.
        let mut state = 12345u32;
        let samples: Vec<i16> = (0..rate * 10)
            .map(|i| {
                state = state.wrapping_mul(1664525).wrapping_add(1013904223);
                let noise = ((state >> 16) as f64 / 65536.0 - 0.5) * 0.002;
                let t = i as f64 / rate as f64;
                let on = (2.0..2.5).contains(&t) || (6.0..6.3).contains(&t);
                let tone = if on {
                    0.5 * (t * 4000.0 * std::f64::consts::TAU).sin()
                } else {
                    0.0
                };
                ((noise + tone) * 32767.0) as i16
            })
            .collect();
        let wav = dir.path().join("b.wav");
        std::fs::write(&wav, soundscape_testkit::wav_of(rate, &samples, None)).unwrap();
        let png = dir.path().join("b.png");
        let c = compressed_spectrogram(&wav, &png, &CompressedConfig::default()).unwrap();
        assert_eq!(c.segments.len(), 2, "{:?}", c.segments);
        let (s0, s1) = (&c.segments[0], &c.segments[1]);
        assert!(
            (s0.start - 1.9).abs() < 0.05 && (s0.end - 2.6).abs() < 0.05,
            "{s0:?}"
        );
        assert!(
            (s1.start - 5.9).abs() < 0.05 && (s1.end - 6.4).abs() < 0.05,
            "{s1:?}"
        );
        assert_eq!(s1.x, s0.width);
        let img = image::open(&png).unwrap().to_luma8();
        assert_eq!(img.dimensions(), (c.width as u32, 256));
        assert!(
            c.width < 150,
            "much narrower than the {} columns of the recording",
            10 * 48000 / 512
        );
    }
}
