//! The spectrogram picture of a recording (docs/method.md#spectrogram-picture, `plot_spectrogram`): the waveform over the
//! dB spectrogram (n_fft 1024, hop 512, Hann; `20 log10(max(|S|, 1e-5))` floored 80 dB below the
//! maximum), grey on a dark background, 2000x1000 pixels.
//!
//! The recording is streamed once: each pixel column keeps the loudest value of every frequency
//! bin over the frames it covers and the sample range of the waveform, so an hour-long
//! recording needs no more memory than a one-minute one. The frequency axis is in kHz and says
//! so (the original labelled Hz values "kHz").

use std::path::Path;

use plotters::prelude::*;
use soundscape_engine::analyze::{probe_frames, stream_spectrogram};
use soundscape_plots::render::write_png;

use crate::levels::{db, level, row_peak};

/// Size and range of the picture.
#[derive(Debug, Clone)]
pub struct SpectrogramConfig {
    pub size: (u32, u32),
    pub n_fft: usize,
    pub hop: usize,
    /// Dynamic range shown, dB.
    pub top_db: f32,
}

impl Default for SpectrogramConfig {
    fn default() -> Self {
        SpectrogramConfig {
            size: (2000, 1000),
            n_fft: 1024,
            hop: 512,
            top_db: 80.0,
        }
    }
}

const FG: RGBColor = RGBColor(0xDD, 0xDD, 0xDD);
const WAVE: RGBColor = RGBColor(0x99, 0x99, 0x99);

fn plot_err(e: impl std::fmt::Display) -> String {
    format!("drawing the spectrogram: {e}")
}

/// What the streamed pass gathers per pixel column.
struct Columns {
    width: usize,
    bins: usize,
    /// Loudest magnitude per (column, bin).
    spec: Vec<f32>,
    /// Sample range per column.
    wave: Vec<(f32, f32)>,
}

/// Draws the spectrogram picture of `audio` into `png` (written atomically); `title` goes on
/// top. Returns the recording's duration in seconds.
pub fn spectrogram_png(
    audio: &Path,
    png: &Path,
    title: &str,
    cfg: &SpectrogramConfig,
) -> Result<f64, String> {
    soundscape_plots::render::fonts();
    let info = probe_frames(audio).map_err(|e| e.to_string())?;
    let sr = info.sample_rate as f64;
    let n = info.frames.unwrap_or(0) as usize;
    let duration = n as f64 / sr;
    let (w, h) = cfg.size;
    let mut buf = vec![0u8; (w * h * 3) as usize];
    let (wave_area, spec_area);
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&BLACK).map_err(plot_err)?;
        let root = root
            .titled(title, ("sans-serif", 26).into_font().color(&FG))
            .map_err(plot_err)?;
        let (top, bottom) = root.split_vertically((h as f64 * 0.42) as u32);
        let style = |size| ("sans-serif", size).into_font().color(&FG);
        let mut c = ChartBuilder::on(&top)
            .margin(20)
            .y_label_area_size(110)
            .x_label_area_size(20)
            .build_cartesian_2d(0f64..duration, -1f64..1f64)
            .map_err(plot_err)?;
        c.configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(5)
            .y_desc("Amplitude")
            .label_style(style(20))
            .axis_desc_style(style(24))
            .axis_style(FG)
            .draw()
            .map_err(plot_err)?;
        wave_area = c.plotting_area().get_pixel_range();
        let mut c = ChartBuilder::on(&bottom)
            .margin(20)
            .y_label_area_size(110)
            .x_label_area_size(70)
            .build_cartesian_2d(0f64..duration, 0f64..sr / 2000.0)
            .map_err(plot_err)?;
        c.configure_mesh()
            .disable_mesh()
            .x_labels(12)
            .y_labels(8)
            .x_desc("Time (seconds)")
            .y_desc("Frequency (kHz)")
            .label_style(style(20))
            .axis_desc_style(style(24))
            .axis_style(FG)
            .draw()
            .map_err(plot_err)?;
        spec_area = c.plotting_area().get_pixel_range();
        root.present().map_err(plot_err)?;
    }
    // One streamed pass: loudest bin values and waveform range per pixel column.
    let width = (spec_area.0.end - spec_area.0.start).max(1) as usize;
    let bins = cfg.n_fft / 2 + 1;
    let frames = 1 + n / cfg.hop;
    let mut cols = Columns {
        width,
        bins,
        spec: vec![0.0; width * bins],
        wave: vec![(f32::INFINITY, f32::NEG_INFINITY); width],
    };
    let mut seen = 0usize;
    let col_of = |i: usize, total: usize| ((i * width) / total.max(1)).min(width - 1);
    stream_spectrogram(
        audio,
        cfg.n_fft,
        cfg.hop,
        |block| {
            for &s in block {
                if seen < n {
                    let c = &mut cols.wave[col_of(seen, n)];
                    c.0 = c.0.min(s);
                    c.1 = c.1.max(s);
                }
                seen += 1;
            }
        },
        |t, mags| {
            let c = col_of(t, frames);
            let row = &mut cols.spec[c * bins..(c + 1) * bins];
            for (r, &m) in row.iter_mut().zip(mags) {
                *r = r.max(m);
            }
        },
    )
    .map_err(|e| e.to_string())?;
    cols.fill_gaps();
    paint(&mut buf, w, &cols, &wave_area, &spec_area, cfg.top_db);
    let img = image::RgbImage::from_raw(w, h, buf).ok_or("image buffer size")?;
    write_png(png, img.into())?;
    Ok(duration)
}

impl Columns {
    /// With fewer frames (or samples) than pixel columns, a column without any takes the one
    /// before it (the first ones the first filled column).
    fn fill_gaps(&mut self) {
        let bins = self.bins;
        let filled =
            |spec: &[f32], c: usize| spec[c * bins..(c + 1) * bins].iter().any(|&v| v > 0.0);
        let first = (0..self.width).find(|&c| filled(&self.spec, c));
        let Some(first) = first else { return };
        let mut last = first;
        for c in 0..self.width {
            if filled(&self.spec, c) {
                last = c;
            } else {
                let src = if c < first { first } else { last };
                self.spec
                    .copy_within(src * bins..(src + 1) * bins, c * bins);
            }
        }
        let mut prev = self.wave.iter().copied().find(|w| w.0.is_finite());
        for w in self.wave.iter_mut() {
            if w.0.is_finite() {
                prev = Some(*w);
            } else if let Some(p) = prev {
                *w = p;
            }
        }
    }
}

type Area = (std::ops::Range<i32>, std::ops::Range<i32>);

fn paint(buf: &mut [u8], w: u32, cols: &Columns, wave: &Area, spec: &Area, top_db: f32) {
    let put = |buf: &mut [u8], x: i32, y: i32, v: [u8; 3]| {
        let i = ((y as u32 * w + x as u32) * 3) as usize;
        buf[i..i + 3].copy_from_slice(&v);
    };
    // The range shown ends at the loudest value.
    let top = db(cols.spec.iter().fold(0f32, |a, &m| a.max(m)));
    let (sx, sy) = spec;
    let height = (sy.end - sy.start).max(1) as usize;
    for (k, x) in sx.clone().enumerate() {
        let c = k.min(cols.width - 1);
        let column = &cols.spec[c * cols.bins..(c + 1) * cols.bins];
        for (j, y) in sy.clone().enumerate() {
            let v = level(row_peak(column, height - 1 - j, height), top, top_db);
            let g = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
            put(buf, x, y, [g, g, g]);
        }
    }
    let (wx, wy) = wave;
    // Full scale: samples are in -1..1, as the axis says.
    let amp = 1.0f32;
    let half = (wy.end - wy.start) as f32 / 2.0;
    let mid = wy.start as f32 + half;
    for (k, x) in wx.clone().enumerate() {
        let (lo, hi) =
            cols.wave[((k * cols.width) / (wx.end - wx.start).max(1) as usize).min(cols.width - 1)];
        if !lo.is_finite() {
            continue;
        }
        let y0 = (mid - hi / amp * half).round() as i32;
        let y1 = (mid - lo / amp * half).round() as i32;
        for y in y0.max(wy.start)..=y1.min(wy.end - 1) {
            put(buf, x, y, [WAVE.0, WAVE.1, WAVE.2]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_shows_as_a_bright_line_at_its_frequency() {
        let dir = tempfile::tempdir().unwrap();
        let wav = dir.path().join("t.wav");
        // 2 s of a 6 kHz tone at 48 kHz, 16 bit.
        let frames = 96_000u32;
        let mut bytes = soundscape_testkit::wav(48_000, frames, None);
        let data = bytes.len() - frames as usize * 2;
        for i in 0..frames as usize {
            let s = ((i as f64 * 6000.0 / 48000.0 * std::f64::consts::TAU).sin() * 12000.0) as i16;
            bytes[data + 2 * i..data + 2 * i + 2].copy_from_slice(&s.to_le_bytes());
        }
        // The wave panel: the sine reaches 12000/32768 of full scale.
        std::fs::write(&wav, &bytes).unwrap();
        let png = dir.path().join("t.png");
        let d = spectrogram_png(&wav, &png, "t", &SpectrogramConfig::default()).unwrap();
        assert!((d - 2.0).abs() < 1e-9);
        let img = image::open(&png).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (2000, 1000));
        // The brightest row of the spectrogram panel's middle column sits at 6/24 of its height
        // from the bottom.
        let x = 1000;
        let (mut best, mut best_y) = (0u8, 0u32);
        for y in 450..1000 {
            let p = img.get_pixel(x, y).0;
            if p[0] == p[1] && p[1] == p[2] && p[0] > best {
                best = p[0];
                best_y = y;
            }
        }
        assert_eq!(best, 255, "the tone is the loudest value");
        // panel spans roughly y 440..930; 6 kHz of 24 kHz is a quarter up from the bottom
        assert!((780..850).contains(&best_y), "tone row at y = {best_y}");
    }
}
