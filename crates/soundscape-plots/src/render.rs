//! Drawing a band x column matrix as a PNG with title, axes, ticks and labels (plotters with
//! a bundled DejaVu Sans font, so no system fonts are needed). The matrix is drawn straight
//! into the pixel buffer with bilinear interpolation, like matplotlib's
//! `imshow(interpolation="bilinear")`; cells without data show the panel grey.

use std::path::Path;
use std::sync::Once;

use chrono::{DateTime, Utc};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontTransform;
use rayon::prelude::*;

use crate::diel::Matrix;
use crate::zone::Zone;

const FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
/// ggplot's panel grey (cells without data) and text grey.
pub const PANEL: RGBColor = RGBColor(0xE5, 0xE5, 0xE5);
const TEXT: RGBColor = RGBColor(0x40, 0x40, 0x40);

/// Registers the bundled font (once) for every plotters text.
pub fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("bundled font does not load"));
    });
}

/// What goes around the picture.
#[derive(Debug, Clone)]
pub struct Figure {
    pub title: String,
    pub x_label: String,
    /// Tick positions in column units (0 = left edge, cols = right edge) with their labels.
    pub x_ticks: Vec<(f64, String)>,
    /// Frequency range of the rows, kHz.
    pub min_khz: f64,
    pub max_khz: f64,
    pub size: (u32, u32),
}

/// Eleven ticks over the slices of a sequence, labelled with the time of the slice under them.
pub fn sequence_ticks(times: &[DateTime<Utc>], zone: &Zone) -> Vec<(f64, String)> {
    let n = times.len();
    if n == 0 {
        return vec![];
    }
    (0..=10)
        .map(|i| {
            let col = ((i * n) / 10).min(n - 1);
            let pos = if i == 10 {
                n as f64 - 0.5
            } else {
                col as f64 + 0.5
            };
            (
                pos,
                zone.local(times[col]).format("%Y-%m-%d %H:%M").to_string(),
            )
        })
        .collect()
}

fn plot_err(e: impl std::fmt::Display) -> String {
    format!("drawing the plot: {e}")
}

/// Where a coordinate (in cells) falls on one axis of the matrix: the two cells around it, the
/// weight of the second, and the nearer one.
#[derive(Debug, Clone, Copy)]
struct Axis {
    i0: usize,
    i1: usize,
    f: f32,
    nearest: usize,
}

impl Axis {
    /// The coordinate `v` on an axis of `n > 0` cells (clamped to the cells' centres).
    fn at(v: f64, n: usize) -> Axis {
        let v = v.clamp(0.0, (n - 1) as f64);
        let i0 = v.floor() as usize;
        let i1 = (i0 + 1).min(n - 1);
        let f = (v - i0 as f64) as f32;
        Axis {
            i0,
            i1,
            f,
            nearest: if f < 0.5 { i0 } else { i1 },
        }
    }
}

/// The matrix ready for sampling: NaN replaced by 0 with a weight of 0, so that a sample is
/// branch-free sums; and whether each cell holds anything.
struct Prepared {
    cols: usize,
    values: Vec<[f32; 3]>,
    finite: Vec<[f32; 3]>,
    any: Vec<bool>,
}

impl Prepared {
    fn new(m: &Matrix) -> Prepared {
        let f = |v: f32| if v.is_finite() { (v, 1.0) } else { (0.0, 0.0) };
        Prepared {
            cols: m.cols,
            values: m.data.iter().map(|c| c.map(|v| f(v).0)).collect(),
            finite: m.data.iter().map(|c| c.map(|v| f(v).1)).collect(),
            any: m
                .data
                .iter()
                .map(|c| !c.iter().all(|v| v.is_nan()))
                .collect(),
        }
    }

    /// Bilinear sample between the cells `x` and `y` name: `None` where the nearest cell has
    /// no data (the panel shows grey), else the weighted mean of the finite corners.
    #[inline]
    fn sample(&self, x: Axis, y: Axis) -> Option<[f32; 3]> {
        let cols = self.cols;
        if !self.any[y.nearest * cols + x.nearest] {
            return None;
        }
        let (fx, fy) = (x.f, y.f);
        let corners = [
            (y.i0 * cols + x.i0, (1.0 - fx) * (1.0 - fy)),
            (y.i0 * cols + x.i1, fx * (1.0 - fy)),
            (y.i1 * cols + x.i0, (1.0 - fx) * fy),
            (y.i1 * cols + x.i1, fx * fy),
        ];
        let (mut sum, mut w) = ([0f32; 3], [0f32; 3]);
        for (i, wt) in corners {
            let (v, f) = (self.values[i], self.finite[i]);
            for ch in 0..3 {
                sum[ch] += v[ch] * wt;
                w[ch] += f[ch] * wt;
            }
        }
        Some(std::array::from_fn(|ch| {
            if w[ch] > 0.0 {
                sum[ch] / w[ch]
            } else {
                0.0
            }
        }))
    }
}

/// A channel value in [0, 1] as a byte, rounded half up (without a `roundf` call per value).
#[inline]
fn byte(c: f32) -> u8 {
    (c.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

/// Pixel ranges (x, y) of the plot panel in a rendered picture.
pub type PanelArea = (std::ops::Range<i32>, std::ops::Range<i32>);

/// Renders `m` with `fig` into an RGB buffer; returns it with the panel's pixel area.
pub fn render_rgb(m: &Matrix, fig: &Figure) -> Result<(Vec<u8>, PanelArea), String> {
    fonts();
    let (w, h) = fig.size;
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let area;
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let tick_font = ("sans-serif", 22).into_font().color(&TEXT);
        let mut chart = ChartBuilder::on(&root)
            .caption(&fig.title, ("sans-serif", 30).into_font().color(&TEXT))
            .margin(30)
            .x_label_area_size(
                80 + 13
                    * fig
                        .x_ticks
                        .iter()
                        .map(|t| t.1.chars().count())
                        .max()
                        .unwrap_or(0) as u32,
            )
            .y_label_area_size(110)
            .build_cartesian_2d(0f64..m.cols.max(1) as f64, fig.min_khz..fig.max_khz)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(12)
            .y_label_formatter(&|v| format!("{v:.0}"))
            .y_desc("Frequency (kHz)")
            .x_desc(&fig.x_label)
            .label_style(tick_font.clone())
            .axis_desc_style(("sans-serif", 26).into_font().color(&TEXT))
            .axis_style(TEXT)
            .draw()
            .map_err(plot_err)?;
        area = chart.plotting_area().get_pixel_range();
        let (xr, yr) = (&area.0, &area.1);
        let cols = m.cols.max(1) as f64;
        let rotated = tick_font
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Right, VPos::Center));
        for (pos, label) in &fig.x_ticks {
            let px = xr.start + ((pos / cols) * (xr.end - xr.start) as f64).round() as i32;
            root.draw(&PathElement::new(
                vec![(px, yr.end), (px, yr.end + 8)],
                TEXT,
            ))
            .map_err(plot_err)?;
            root.draw_text(label, &rotated, (px, yr.end + 12))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    let (xr, yr) = area.clone();
    let (pw, ph) = ((xr.end - xr.start) as f64, (yr.end - yr.start) as f64);
    let row_bytes = (w * 3) as usize;
    let panel_rows = yr.start.max(0) as usize..(yr.end.max(0) as usize).min(h as usize);
    // Each pixel is one bilinear sample; the columns' places are the same on every row, and
    // the rows are drawn in parallel.
    let data = m.rows > 0 && m.cols > 0;
    let prepared = Prepared::new(m);
    let xs: Vec<Option<Axis>> = (xr.start..xr.end)
        .map(|px| {
            let x = (px as f64 - xr.start as f64 + 0.5) / pw * m.cols as f64 - 0.5;
            data.then(|| Axis::at(x, m.cols))
        })
        .collect();
    buf[panel_rows.start * row_bytes..panel_rows.end * row_bytes]
        .par_chunks_mut(row_bytes)
        .enumerate()
        .for_each(|(k, row)| {
            let py = (panel_rows.start + k) as f64;
            let y = (yr.end as f64 - py - 0.5) / ph * m.rows as f64 - 0.5;
            let y = data.then(|| Axis::at(y, m.rows));
            let pixels = row[xr.start as usize * 3..].chunks_exact_mut(3);
            for (px, x) in pixels.zip(&xs) {
                let rgb = match x.zip(y).and_then(|(x, y)| prepared.sample(x, y)) {
                    Some(v) => v.map(byte),
                    None => [PANEL.0, PANEL.1, PANEL.2],
                };
                px.copy_from_slice(&rgb);
            }
        });
    Ok((buf, area))
}

/// Renders and writes a PNG atomically.
pub fn render_png(m: &Matrix, fig: &Figure, path: &Path) -> Result<(), String> {
    let (buf, _) = render_rgb(m, fig)?;
    let img = image::RgbImage::from_raw(fig.size.0, fig.size.1, buf)
        .ok_or_else(|| "image buffer size".to_string())?;
    write_png(path, img.into())
}

/// Encodes a picture as PNG and writes it atomically: fast deflate with adaptive filters
/// (smooth false-colour panels compress well either way; the default level takes several
/// times longer for a few percent).
pub fn write_png(path: &Path, img: image::DynamicImage) -> Result<(), String> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    use image::ImageEncoder;
    let mut png = Vec::new();
    PngEncoder::new_with_quality(&mut png, CompressionType::Fast, FilterType::Adaptive)
        .write_image(
            img.as_bytes(),
            img.width(),
            img.height(),
            img.color().into(),
        )
        .map_err(|e| format!("{}: encoding PNG: {e}", path.display()))?;
    soundscape_core::fsutil::write_atomic(path, &png)
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cells::Cells;
    use crate::diel::{cycle, Aggregate};
    use chrono::TimeZone;

    #[test]
    fn diel_columns_land_under_their_hours_and_gaps_show_grey() {
        let zone = Zone::parse("-06:00").unwrap();
        let mut rows = Vec::new();
        for (k, h) in [0u32, 5, 22].into_iter().enumerate() {
            let t = Utc.with_ymd_and_hms(2021, 8, 4, 6, 0, 0).unwrap()
                + chrono::Duration::hours(h as i64);
            for b in 0..41 {
                let x = (k * 41 + b) as f64;
                rows.push((
                    (b as f64 * 250.0, (b + 1) as f64 * 250.0),
                    t,
                    format!("r{k}"),
                    [x, 1.0 + x, 2.0 * x],
                ));
            }
        }
        let cells = Cells::from_rows(rows, zone.clone());
        let m = cycle(&cells, &zone, Aggregate::Mean);
        let fig = Figure {
            title: "t".into(),
            x_label: "x".into(),
            x_ticks: (0..24)
                .map(|h| (h as f64 + 0.5, format!("{h:02}:00")))
                .collect(),
            min_khz: 0.0,
            max_khz: cells.max_khz(),
            size: (1200, 800),
        };
        let (buf, (xr, yr)) = render_rgb(&m, &fig).unwrap();
        let y = (yr.start + yr.end) / 2;
        let px = |h: usize| {
            let x = xr.start + ((h as f64 + 0.5) / 24.0 * (xr.end - xr.start) as f64) as i32;
            let i = ((y * 1200 + x) * 3) as usize;
            [buf[i], buf[i + 1], buf[i + 2]]
        };
        let grey = [PANEL.0, PANEL.1, PANEL.2];
        for h in 0..24 {
            let data = [0, 5, 22].contains(&h);
            assert_eq!(px(h) != grey, data, "hour {h}: {:?}", px(h));
        }
    }
}
