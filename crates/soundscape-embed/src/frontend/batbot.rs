//! batbot's image front end (docs/embeddings.md#batbot): the spectrogram picture batbot 0.2.1
//! draws of a bat recording, cut into the square windows its MobileNet species classifier
//! takes.
//!
//! The picture, as `batbot.spectrogram` draws it: audio at 250 kHz; a centred STFT of 512
//! points with a 256-point periodic Blackman-Harris window every 16 samples (64 µs); power in
//! dB below the loudest cell (`10 log10(p / max + 1e-20)`); only the bins that overlap
//! 5–120 kHz; bins at or above the recording's own `rate / 2.02` set to the lowest value
//! below it; each row's median subtracted, then the peak, plus 120 dB; an automatic gain
//! that removes `median - 5 MAD` of the positive cells when that is positive; negative values
//! cleared; scaled to 16 bits, then to 8 bits; high frequencies on top. batbot then saves it
//! as JPEG (quality 80) tiles of 50,000 columns and reads them back; here the tiles go
//! through JPEG in memory (`jpeg_quality`; without it the scores move by up to 0.04,
//! docs/fidelity.md#batbot).
//!
//! The windows, as `batbot.classifier` cuts them: every tile resized with OpenCV's Lanczos-4
//! ([`super::resize`]) to 224 rows and `0.5 * 224 / rows` of its width, padded to 225 columns
//! when narrower, cut into 224-column windows every 100 columns; each window is given to the
//! network as 224 x 224 BGR bytes (the three channels equal, the picture being grey).
//!
//! Unlike the windowed front ends this one needs the whole stretch of audio at once (the row
//! medians and the gain are taken over it): about 16 MB per second of audio while it runs.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};

use super::resize::lanczos4_u8;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatbotParams {
    #[serde(default = "d_fft")]
    pub n_fft: usize,
    #[serde(default = "d_win")]
    pub win_length: usize,
    #[serde(default = "d_hop")]
    pub hop_length: usize,
    #[serde(default = "d_fmin")]
    pub freq_min: f64,
    #[serde(default = "d_fmax")]
    pub freq_max: f64,
    #[serde(default = "d_gain")]
    pub gain_db: f32,
    #[serde(default = "d_autogain")]
    pub autogain_stddev: f32,
    /// Columns per tile (batbot splits its pictures every 50,000 columns).
    #[serde(default = "d_tile")]
    pub tile_columns: usize,
    /// Side of the square windows the network takes.
    #[serde(default = "d_input")]
    pub input_size: usize,
    #[serde(default = "d_stride")]
    pub window_stride: usize,
    #[serde(default = "d_hscale")]
    pub horizontal_scale: f64,
    /// Each tile goes through JPEG at this quality before it is resized, as batbot saves
    /// and reads back its tiles (`null`: lossless).
    #[serde(default = "d_jpeg")]
    pub jpeg_quality: Option<u8>,
}

fn d_fft() -> usize {
    512
}
fn d_win() -> usize {
    256
}
fn d_hop() -> usize {
    16
}
fn d_fmin() -> f64 {
    5e3
}
fn d_fmax() -> f64 {
    120e3
}
fn d_gain() -> f32 {
    120.0
}
fn d_autogain() -> f32 {
    5.0
}
fn d_tile() -> usize {
    50_000
}
fn d_input() -> usize {
    224
}
fn d_stride() -> usize {
    100
}
fn d_hscale() -> f64 {
    0.5
}
fn d_jpeg() -> Option<u8> {
    Some(80)
}

/// A grey tile through JPEG and back (`image`'s baseline encoder, zune-jpeg's decoder).
fn jpeg_round_trip(tile: &[u8], w: usize, h: usize, quality: u8) -> Result<Vec<u8>, String> {
    use image::codecs::jpeg::JpegEncoder;
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality.clamp(1, 100))
        .encode(tile, w as u32, h as u32, image::ExtendedColorType::L8)
        .map_err(|e| format!("jpeg: {e}"))?;
    let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .map_err(|e| format!("jpeg: {e}"))?;
    Ok(img.into_luma8().into_raw())
}

impl Default for BatbotParams {
    fn default() -> Self {
        serde_json::from_str("{}").expect("defaults")
    }
}

/// A grey picture, row-major, row 0 at the top (the highest frequency).
#[derive(Debug, Clone, PartialEq)]
pub struct Picture {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
    /// Seconds per column.
    pub column_s: f64,
}

/// Why a stretch of audio gives no picture.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PictureError {
    #[error("the recording's sample rate ({0} Hz) holds nothing of the model's band above {1} Hz (too-low-rate)")]
    RateTooLow(u32, f64),
    #[error("no signal in the model's band: the picture is blank (silent)")]
    Blank,
    #[error("no audio")]
    Empty,
}

pub struct BatbotImage {
    pub params: BatbotParams,
    /// Model rate (250 kHz).
    pub sample_rate: u32,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    /// First and last STFT bin kept.
    rows: (usize, usize),
}

/// Periodic Blackman-Harris window of `m` points (scipy's `get_window('blackmanharris', m)`).
fn blackman_harris(m: usize) -> Vec<f64> {
    let a = [0.35875, 0.48829, 0.14128, 0.01168];
    (0..m)
        .map(|n| {
            let t = 2.0 * std::f64::consts::PI * n as f64 / m as f64;
            a[0] - a[1] * t.cos() + a[2] * (2.0 * t).cos() - a[3] * (3.0 * t).cos()
        })
        .collect()
}

/// numpy's median of f32 values (the mean of the two middle values for an even count, in f32).
fn median_f32(v: &mut [f32]) -> f32 {
    let n = v.len();
    let (_, &mut hi, _) = v.select_nth_unstable_by(n / 2, f32::total_cmp);
    if n % 2 == 1 {
        return hi;
    }
    let lo = v[..n / 2].iter().copied().fold(f32::NEG_INFINITY, f32::max);
    (lo + hi) / 2.0
}

/// Calls its argument once for every value of a set (each time it is itself called).
type Visit<'a> = &'a dyn Fn(&mut dyn FnMut(f32));

/// The k-th smallest (from 0) of non-negative f32 values that `visit` yields each time it is
/// called, found exactly without holding them: their bit patterns order like the values, so
/// two counting passes over 16-bit halves find it.
fn kth_nonneg(k: u64, visit: Visit) -> f32 {
    let mut hist = vec![0u64; 1 << 16];
    visit(&mut |x| hist[(x.to_bits() >> 16) as usize] += 1);
    let (mut acc, mut hi) = (0u64, 0usize);
    for (b, &c) in hist.iter().enumerate() {
        if acc + c > k {
            hi = b;
            break;
        }
        acc += c;
    }
    let k = k - acc;
    hist.iter_mut().for_each(|c| *c = 0);
    visit(&mut |x| {
        let b = x.to_bits();
        if (b >> 16) as usize == hi {
            hist[(b & 0xffff) as usize] += 1;
        }
    });
    let mut acc = 0u64;
    for (lo, &c) in hist.iter().enumerate() {
        if acc + c > k {
            return f32::from_bits(((hi as u32) << 16) | lo as u32);
        }
        acc += c;
    }
    0.0
}

/// numpy's median of the non-negative values `visit` yields (`count` of them).
fn median_nonneg(count: u64, visit: Visit) -> f32 {
    let hi = kth_nonneg(count / 2, visit);
    if count % 2 == 1 {
        return hi;
    }
    let lo = kth_nonneg(count / 2 - 1, visit);
    (lo + hi) / 2.0
}

impl BatbotImage {
    pub fn new(params: BatbotParams, sample_rate: u32) -> Result<BatbotImage, String> {
        let p = &params;
        if p.win_length == 0 || p.win_length > p.n_fft || p.hop_length == 0 || p.tile_columns == 0 {
            return Err("batbot_image: win_length must be in 1..=n_fft, hop_length and tile_columns positive".into());
        }
        if p.input_size == 0 || p.window_stride == 0 || p.horizontal_scale <= 0.0 {
            return Err(
                "batbot_image: input_size, window_stride and horizontal_scale must be positive"
                    .into(),
            );
        }
        let bins = p.n_fft / 2 + 1;
        let df = sample_rate as f64 / p.n_fft as f64;
        let kept: Vec<usize> = (0..bins)
            .filter(|&k| {
                let f = k as f64 * df;
                p.freq_min <= f + df / 2.0 && f - df / 2.0 <= p.freq_max
            })
            .collect();
        let (Some(&lo), Some(&hi)) = (kept.first(), kept.last()) else {
            return Err(format!(
                "batbot_image: no STFT bin at {sample_rate} Hz lies in {}–{} Hz",
                p.freq_min, p.freq_max
            ));
        };
        // The window, centred in the FFT frame.
        let mut window = vec![0f32; p.n_fft];
        let off = (p.n_fft - p.win_length) / 2;
        for (i, w) in blackman_harris(p.win_length).into_iter().enumerate() {
            window[off + i] = w as f32;
        }
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(p.n_fft);
        Ok(BatbotImage {
            params,
            sample_rate,
            window,
            fft,
            rows: (lo, hi),
        })
    }

    /// The picture of `samples` (at the model's rate) of a recording made at `source_rate`.
    pub fn picture(&self, samples: &[f32], source_rate: u32) -> Result<Picture, PictureError> {
        let p = &self.params;
        if samples.is_empty() {
            return Err(PictureError::Empty);
        }
        let (lo, hi) = self.rows;
        let h = hi - lo + 1;
        let df = self.sample_rate as f64 / p.n_fft as f64;
        // Highest kept row holding real signal: bands below rate / 2.02.
        let limit = source_rate as f64 / 2.02;
        let Some(max_band) = (0..h).rev().find(|&r| ((lo + r) as f64 * df) < limit) else {
            return Err(PictureError::RateTooLow(source_rate, p.freq_min));
        };
        // Centred frames: samples padded with n_fft / 2 zeros on both sides.
        let n = samples.len();
        let half = p.n_fft / 2;
        let frames = 1 + n / p.hop_length;
        let mut power = vec![0f32; h * frames]; // row-major, row 0 = lowest kept bin
        let mut frame = self.fft.make_input_vec();
        let mut spec = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        for t in 0..frames {
            let start = (t * p.hop_length) as isize - half as isize;
            for (i, f) in frame.iter_mut().enumerate() {
                let j = start + i as isize;
                let x = if j >= 0 && (j as usize) < n {
                    samples[j as usize]
                } else {
                    0.0
                };
                *f = x * self.window[i];
            }
            self.fft
                .process_with_scratch(&mut frame, &mut spec, &mut scratch)
                .expect("fft sizes");
            for r in 0..h {
                power[r * frames + t] = spec[lo + r].norm_sqr();
            }
        }
        let max = power.iter().copied().fold(0f32, f32::max);
        if max <= 0.0 {
            return Err(PictureError::Blank);
        }
        let mut db = power;
        db.iter_mut()
            .for_each(|v| *v = 10.0 * (*v / max + 1e-20f32).log10());
        if max_band + 1 < h {
            let floor = db[..(max_band + 1) * frames]
                .iter()
                .copied()
                .fold(f32::INFINITY, f32::min);
            db[(max_band + 1) * frames..].fill(floor);
        }
        // gain_stft: row medians, peak, fixed range, automatic gain.
        let mut row = vec![0f32; frames];
        for r in 0..h {
            let cells = &mut db[r * frames..(r + 1) * frames];
            row.copy_from_slice(cells);
            let med = median_f32(&mut row);
            cells.iter_mut().for_each(|v| *v -= med);
        }
        let peak = db.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        db.iter_mut().for_each(|v| {
            *v -= peak;
            *v += p.gain_db;
        });
        let band = &db[..(max_band + 1) * frames];
        let positives = band.iter().filter(|&&v| v > 0.0).count() as u64;
        if positives > 0 {
            let med = median_nonneg(positives, &|f| {
                band.iter().filter(|&&v| v > 0.0).for_each(|&v| f(v))
            });
            let mad = median_nonneg(positives, &|f| {
                band.iter()
                    .filter(|&&v| v > 0.0)
                    .for_each(|&v| f((v - med).abs()))
            });
            let std = mad / 0.674_489_75_f32;
            let autogain = med - p.autogain_stddev * std;
            if autogain > 0.0 {
                db.iter_mut().for_each(|v| *v -= autogain);
            }
        }
        db.iter_mut().for_each(|v| *v = v.max(0.0));
        // normalize_stft to 16 bits, then the 8 bits of the saved picture.
        let (mn, mx) = db
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if mx <= mn {
            return Err(PictureError::Blank);
        }
        let to16 = |v: f32| -> u16 {
            let mut x = v;
            if mn != 0.0 {
                x -= mn;
            }
            let range = mx - mn;
            if range != 1.0 {
                x /= range;
            }
            (x * 65535.0).round_ties_even() as u16
        };
        let words: Vec<u16> = db.iter().map(|&v| to16(v)).collect();
        drop(db);
        let (m16, x16) = words
            .iter()
            .fold((u16::MAX, 0u16), |(a, b), &v| (a.min(v), b.max(v)));
        if x16 == m16 {
            return Err(PictureError::Blank);
        }
        let scale = (x16 - m16) as f32;
        let mut pixels = vec![0u8; h * frames];
        for r in 0..h {
            // Row r of the picture is kept bin hi - r (high frequencies on top).
            let src = &words[(h - 1 - r) * frames..(h - r) * frames];
            for (o, &v) in pixels[r * frames..(r + 1) * frames].iter_mut().zip(src) {
                let x = (v - m16) as f32 / scale;
                *o = (x * 255.0).round_ties_even().clamp(0.0, 255.0) as u8;
            }
        }
        Ok(Picture {
            width: frames,
            height: h,
            pixels,
            column_s: p.hop_length as f64 / self.sample_rate as f64,
        })
    }

    /// The network windows of a picture, tile by tile: each `input_size^2` grey bytes.
    pub fn windows(&self, pic: &Picture) -> Result<Vec<Vec<u8>>, String> {
        let p = &self.params;
        let s = p.input_size;
        let mut out = Vec::new();
        for x0 in (0..pic.width).step_by(p.tile_columns) {
            let w = p.tile_columns.min(pic.width - x0);
            let mut tile = Vec::with_capacity(w * pic.height);
            for r in 0..pic.height {
                tile.extend_from_slice(&pic.pixels[r * pic.width + x0..][..w]);
            }
            if let Some(q) = p.jpeg_quality {
                tile = jpeg_round_trip(&tile, w, pic.height, q)?;
            }
            let ratio_y = s as f64 / pic.height as f64;
            let tw = ((w as f64 * ratio_y * p.horizontal_scale).round_ties_even() as usize).max(1);
            let mut resized = lanczos4_u8(&tile, w, pic.height, tw, s);
            let mut rw = tw;
            if rw <= s {
                // One column wider than square, so that exactly one window is cut.
                let mut canvas = vec![0u8; s * (s + 1)];
                for r in 0..s {
                    canvas[r * (s + 1)..][..rw].copy_from_slice(&resized[r * rw..][..rw]);
                }
                resized = canvas;
                rw = s + 1;
            }
            for start in (0..rw - s).step_by(p.window_stride) {
                let mut win = Vec::with_capacity(s * s);
                for r in 0..s {
                    win.extend_from_slice(&resized[r * rw + start..][..s]);
                }
                out.push(win);
            }
        }
        Ok(out)
    }

    /// Values of one window of the network's input: `[s, s, 3]` BGR, channels equal.
    pub fn input_len(&self) -> usize {
        self.params.input_size * self.params.input_size * 3
    }
}

/// Writes one grey window as the network's `[s, s, 3]` input values.
pub fn window_input(win: &[u8], out: &mut [f32]) {
    for (px, o) in win.iter().zip(out.chunks_exact_mut(3)) {
        o.fill(*px as f32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_kept_are_those_batbot_keeps() {
        let b = BatbotImage::new(BatbotParams::default(), 250_000).unwrap();
        assert_eq!(b.rows, (10, 246));
    }

    #[test]
    fn radix_median_equals_sorting() {
        let v: Vec<f32> = (0..1001)
            .map(|i| ((i * 7919) % 1013) as f32 * 0.37)
            .collect();
        for n in [1, 2, 5, 1000, 1001] {
            let s = &v[..n];
            let mut sorted = s.to_vec();
            let want = median_f32(&mut sorted);
            let got = median_nonneg(n as u64, &|f| s.iter().for_each(|&x| f(x)));
            assert_eq!(got, want, "n = {n}");
        }
    }

    #[test]
    fn a_chirp_gives_a_picture_and_windows() {
        let sr = 250_000;
        let samples: Vec<f32> = (0..sr / 10)
            .map(|i| {
                let t = i as f32 / sr as f32;
                let burst = (t * 50.0).fract() < 0.1;
                if burst {
                    (2.0 * std::f32::consts::PI * (40_000.0 + 200_000.0 * (t * 50.0).fract()) * t)
                        .sin()
                        * 0.5
                } else {
                    0.001 * ((i * 7919 % 101) as f32 / 101.0 - 0.5)
                }
            })
            .collect();
        let b = BatbotImage::new(BatbotParams::default(), sr as u32).unwrap();
        let pic = b.picture(&samples, sr as u32).unwrap();
        assert_eq!((pic.height, pic.width), (237, 1 + samples.len() / 16));
        assert!(pic.pixels.contains(&255));
        let wins = b.windows(&pic).unwrap();
        // 1563 columns -> 739 after resizing -> windows at 0, 100, ..., 500.
        assert_eq!(wins.len(), 6);
        assert!(wins.iter().all(|w| w.len() == 224 * 224));
        assert_eq!(
            b.picture(&vec![0.0; 1000], sr as u32),
            Err(PictureError::Blank)
        );
    }
}
