//! Drawing a band x column matrix as a PNG with title, axes, ticks and labels (plotters with
//! a bundled DejaVu Sans font, so no system fonts are needed). The matrix is drawn straight
//! into the pixel buffer with bilinear interpolation, like matplotlib's
//! `imshow(interpolation="bilinear")`; cells without data show the panel grey. A PNG is
//! written without the RGB picture in memory: the decorations in one grey byte per pixel, then
//! bands of rows made and encoded in turn.

use std::path::Path;
use std::sync::Once;

use chrono::{DateTime, Utc};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontTransform;
use rayon::prelude::*;
use wide::{f32x4, CmpGt};

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

/// A pixel column's place among the matrix columns, ready for [`Prepared::sample`]: the two
/// columns around it, the nearer one, and the weights `[1 - fx, fx, 1 - fx, fx]`.
#[derive(Debug, Clone, Copy)]
struct Column {
    i0: usize,
    i1: usize,
    nearest: usize,
    weights: f32x4,
}

impl Column {
    fn new(x: Axis) -> Column {
        let (a, b) = (1.0 - x.f, x.f);
        Column {
            i0: x.i0,
            i1: x.i1,
            nearest: x.nearest,
            weights: f32x4::new([a, b, a, b]),
        }
    }
}

/// A pixel row's place among the matrix rows, ready for [`Prepared::sample`]: where the two
/// rows around it and the nearer one start, and the weights `[1 - fy, 1 - fy, fy, fy]`.
#[derive(Debug, Clone, Copy)]
struct Row {
    at0: usize,
    at1: usize,
    nearest: usize,
    weights: f32x4,
}

impl Row {
    fn new(y: Axis, cols: usize) -> Row {
        let (a, b) = (1.0 - y.f, y.f);
        Row {
            at0: y.i0 * cols,
            at1: y.i1 * cols,
            nearest: y.nearest * cols,
            weights: f32x4::new([a, a, b, b]),
        }
    }
}

/// The matrix ready for sampling: NaN replaced by 0 with a weight of 0, so that a sample is
/// branch-free sums; and whether each cell holds anything. The three channels are padded to
/// the four lanes of one vector (the fourth 0, weight 1; SSE2 on x86_64, NEON on aarch64), so
/// that a sample's arithmetic is one operation for all channels at each step, the same
/// operations per channel as one at a time (`sample_scalar` in the tests).
struct Prepared {
    values: Vec<f32x4>,
    finite: Vec<f32x4>,
    any: Vec<bool>,
}

impl Prepared {
    fn new(m: &Matrix) -> Prepared {
        let value = |v: f32| if v.is_finite() { v } else { 0.0 };
        let weight = |v: f32| if v.is_finite() { 1.0 } else { 0.0 };
        Prepared {
            values: m
                .data
                .iter()
                .map(|c| f32x4::new([value(c[0]), value(c[1]), value(c[2]), 0.0]))
                .collect(),
            finite: m
                .data
                .iter()
                .map(|c| f32x4::new([weight(c[0]), weight(c[1]), weight(c[2]), 1.0]))
                .collect(),
            any: m
                .data
                .iter()
                .map(|c| !c.iter().all(|v| v.is_nan()))
                .collect(),
        }
    }

    /// Bilinear sample at pixel column `x` of pixel row `y`: `None` where the nearest cell has
    /// no data (the panel shows grey), else the weighted mean of the finite corners (in the
    /// first three lanes). The corner weights are `(1 - fx) (1 - fy)`, `fx (1 - fy)`,
    /// `(1 - fx) fy` and `fx fy`, one product of the two weight vectors.
    #[inline]
    fn sample(&self, x: &Column, y: &Row) -> Option<f32x4> {
        if !self.any[y.nearest + x.nearest] {
            return None;
        }
        let w = (x.weights * y.weights).to_array();
        let corners = [
            (y.at0 + x.i0, w[0]),
            (y.at0 + x.i1, w[1]),
            (y.at1 + x.i0, w[2]),
            (y.at1 + x.i1, w[3]),
        ];
        let (mut sum, mut weight) = (f32x4::ZERO, f32x4::ZERO);
        for (i, wt) in corners {
            let wt = f32x4::splat(wt);
            sum += self.values[i] * wt;
            weight += self.finite[i] * wt;
        }
        // Every lane divided, then the empty ones set to 0: one division for all channels.
        Some(weight.cmp_gt(f32x4::ZERO).blend(sum / weight, f32x4::ZERO))
    }
}

/// The first three lanes of a sample as bytes, rounded half up: `(c.clamp(0, 1) * 255 + 0.5)
/// as u8` in every lane at once (the `fast_` forms leave NaN open, and a sample holds none:
/// its values are finite and its weights positive).
#[inline]
fn bytes(v: f32x4) -> [u8; 3] {
    let b = (v.fast_max(f32x4::ZERO).fast_min(f32x4::ONE) * f32x4::splat(255.0) + f32x4::HALF)
        .fast_trunc_int()
        .to_array();
    [b[0] as u8, b[1] as u8, b[2] as u8]
}

/// Pixel ranges (x, y) of the plot panel in a rendered picture.
pub type PanelArea = (std::ops::Range<i32>, std::ops::Range<i32>);

/// A plotters pixel format of one byte per pixel for the decorations: title, labels, ticks
/// and axes are grey (`TEXT`, anti-aliased) on white, so each of their pixels has R = G = B and
/// one byte holds it exactly; single pixels (the glyphs) blend as in plotters' RGB format.
/// Rectangles go through single pixels too: opaque ones come out the same, translucent ones
/// (which the figures do not draw) would round as the per-pixel blend does.
struct GreyPixel;

impl plotters::backend::PixelFormat for GreyPixel {
    const PIXEL_SIZE: usize = 1;
    const EFFECTIVE_PIXEL_SIZE: usize = 1;

    fn byte_at(r: u8, _g: u8, _b: u8, _a: u64, _idx: usize) -> u8 {
        r
    }

    fn decode_pixel(data: &[u8]) -> (u8, u8, u8, u64) {
        (data[0], data[0], data[0], 0x255)
    }

    fn blend_rect_fast(
        target: &mut BitMapBackend<'_, Self>,
        upper_left: (i32, i32),
        bottom_right: (i32, i32),
        r: u8,
        g: u8,
        b: u8,
        a: f64,
    ) {
        let (w, h) = target.get_size();
        for_each_pixel(w, h, upper_left, bottom_right, |p| {
            Self::draw_pixel(target, p, (r, g, b), a.clamp(0.0, 1.0))
        });
    }

    fn fill_rect_fast(
        target: &mut BitMapBackend<'_, Self>,
        upper_left: (i32, i32),
        bottom_right: (i32, i32),
        r: u8,
        g: u8,
        b: u8,
    ) {
        let (w, h) = target.get_size();
        for_each_pixel(w, h, upper_left, bottom_right, |p| {
            Self::draw_pixel(target, p, (r, g, b), 1.0)
        });
    }
}

/// Every pixel of a rectangle (corners in any order, the far edges excluded), clipped to
/// `w` x `h`.
fn for_each_pixel(w: u32, h: u32, a: (i32, i32), b: (i32, i32), mut f: impl FnMut((i32, i32))) {
    let (x0, y0) = (a.0.min(b.0).max(0), a.1.min(b.1).max(0));
    let (x1, y1) = (a.0.max(b.0).min(w as i32), a.1.max(b.1).min(h as i32));
    for y in y0..y1 {
        for x in x0..x1 {
            f((x, y));
        }
    }
}

/// Draws the decorations of `fig` (title, axes, ticks, labels) on white into `root`; returns
/// the panel's pixel area.
fn draw_decorations<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    cols: usize,
    fig: &Figure,
) -> Result<PanelArea, String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(plot_err)?;
    let tick_font = ("sans-serif", 22).into_font().color(&TEXT);
    let mut chart = ChartBuilder::on(root)
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
        .build_cartesian_2d(0f64..cols.max(1) as f64, fig.min_khz..fig.max_khz)
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
    let area = chart.plotting_area().get_pixel_range();
    let (xr, yr) = (&area.0, &area.1);
    let cols = cols.max(1) as f64;
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
    Ok(area)
}

/// The panel of a picture: which pixel rows and columns it covers, and how to fill one of its
/// rows from the matrix.
struct Panel<'m> {
    m: &'m Matrix,
    prepared: Prepared,
    /// The place of each pixel column of the panel (none without data).
    xs: Vec<Option<Column>>,
    x0: usize,
    rows: std::ops::Range<usize>,
    y_end: f64,
    ph: f64,
}

impl<'m> Panel<'m> {
    fn new(m: &'m Matrix, area: &PanelArea, height: u32) -> Panel<'m> {
        let (xr, yr) = area.clone();
        let pw = (xr.end - xr.start) as f64;
        let data = m.rows > 0 && m.cols > 0;
        Panel {
            m,
            prepared: Prepared::new(m),
            xs: (xr.start..xr.end)
                .map(|px| {
                    let x = (px as f64 - xr.start as f64 + 0.5) / pw * m.cols as f64 - 0.5;
                    data.then(|| Column::new(Axis::at(x, m.cols)))
                })
                .collect(),
            x0: xr.start.max(0) as usize,
            rows: yr.start.max(0) as usize..(yr.end.max(0) as usize).min(height as usize),
            y_end: yr.end as f64,
            ph: (yr.end - yr.start) as f64,
        }
    }

    /// Fills the panel's part of pixel row `py` (a whole RGB row): one bilinear sample per
    /// pixel, the columns' places computed once for every row.
    fn fill_row(&self, py: usize, row: &mut [u8]) {
        let m = self.m;
        let y = (self.y_end - py as f64 - 0.5) / self.ph * m.rows as f64 - 0.5;
        let y = (m.rows > 0 && m.cols > 0).then(|| Row::new(Axis::at(y, m.rows), m.cols));
        let pixels = row[self.x0 * 3..].chunks_exact_mut(3);
        for (px, x) in pixels.zip(&self.xs) {
            let rgb = match (x, &y) {
                (Some(x), Some(y)) => self.prepared.sample(x, y).map(bytes),
                _ => None,
            };
            px.copy_from_slice(&rgb.unwrap_or([PANEL.0, PANEL.1, PANEL.2]));
        }
    }
}

/// Renders `m` with `fig` into an RGB buffer; returns it with the panel's pixel area. (The
/// whole picture at once, for tests and callers that want pixels; [`render_png`] streams.)
pub fn render_rgb(m: &Matrix, fig: &Figure) -> Result<(Vec<u8>, PanelArea), String> {
    fonts();
    let (w, h) = fig.size;
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let area = {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw_decorations(&root, m.cols, fig)?
    };
    let panel = Panel::new(m, &area, h);
    let row_bytes = (w * 3) as usize;
    let rows = panel.rows.clone();
    buf[rows.start * row_bytes..rows.end * row_bytes]
        .par_chunks_mut(row_bytes)
        .enumerate()
        .for_each(|(k, row)| panel.fill_row(rows.start + k, row));
    Ok((buf, area))
}

/// Rows handed to the PNG encoder at a time (the panel's rows of a band are drawn in parallel).
const BAND_ROWS: usize = 64;

/// Renders and writes a PNG atomically, without holding the RGB picture: the decorations are
/// drawn into one grey byte per pixel, and the picture goes to the encoder in bands of rows,
/// the panel's pixels sampled as each band is made. The pixels are those of [`render_rgb`].
pub fn render_png(m: &Matrix, fig: &Figure, path: &Path) -> Result<(), String> {
    use plotters::backend::BitMapBackend as Bitmap;
    fonts();
    let (w, h) = fig.size;
    let mut grey = vec![255u8; (w * h) as usize];
    let area = {
        let root = Bitmap::<GreyPixel>::with_buffer_and_format(&mut grey, (w, h))
            .map_err(plot_err)?
            .into_drawing_area();
        draw_decorations(&root, m.cols, fig)?
    };
    let panel = Panel::new(m, &area, h);
    let row_bytes = (w * 3) as usize;
    let mut band = vec![0u8; BAND_ROWS * row_bytes];
    let write = |file: &mut std::fs::File| -> std::io::Result<()> {
        let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        enc.set_filter(png::Filter::Adaptive);
        let mut writer = enc.write_header().map_err(std::io::Error::other)?;
        let mut stream = writer.stream_writer().map_err(std::io::Error::other)?;
        for y0 in (0..h as usize).step_by(BAND_ROWS) {
            let n = BAND_ROWS.min(h as usize - y0);
            let band = &mut band[..n * row_bytes];
            band.par_chunks_mut(row_bytes)
                .enumerate()
                .for_each(|(k, row)| {
                    let y = y0 + k;
                    let g = &grey[y * w as usize..(y + 1) * w as usize];
                    for (px, &v) in row.chunks_exact_mut(3).zip(g) {
                        px.fill(v);
                    }
                    if panel.rows.contains(&y) {
                        panel.fill_row(y, row);
                    }
                });
            std::io::Write::write_all(&mut stream, band)?;
        }
        stream.finish().map_err(std::io::Error::other)?;
        Ok(())
    };
    soundscape_core::fsutil::write_atomic_with(path, write)
        .map_err(|e| format!("{}: writing PNG: {e}", path.display()))
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

    /// The bilinear sample one channel at a time, as plain float32 arithmetic: the weights of
    /// the four corners, the sums of the finite ones and their weights in corner order, and
    /// the division.
    fn sample_scalar(m: &Matrix, x: Axis, y: Axis) -> Option<[f32; 3]> {
        let cols = m.cols;
        if m.data[y.nearest * cols + x.nearest]
            .iter()
            .all(|v| v.is_nan())
        {
            return None;
        }
        let (fx, fy) = (x.f, y.f);
        let corners = [
            (y.i0 * cols + x.i0, (1.0 - fx) * (1.0 - fy)),
            (y.i0 * cols + x.i1, fx * (1.0 - fy)),
            (y.i1 * cols + x.i0, (1.0 - fx) * fy),
            (y.i1 * cols + x.i1, fx * fy),
        ];
        Some(std::array::from_fn(|ch| {
            let (mut sum, mut weight) = (0f32, 0f32);
            for &(i, wt) in &corners {
                let v = m.data[i][ch];
                if v.is_finite() {
                    sum += v * wt;
                    weight += wt;
                } else {
                    sum += 0.0 * wt;
                    weight += 0.0 * wt;
                }
            }
            if weight > 0.0 {
                sum / weight
            } else {
                0.0
            }
        }))
    }

    /// A channel value as a byte, rounded half up, one at a time.
    fn byte_scalar(c: f32) -> u8 {
        (c.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
    }

    /// The four-lane sample gives the float32 bits and the bytes of the one-channel-at-a-time
    /// arithmetic at every place of a matrix with empty cells, NaN and infinite channels,
    /// values outside [0, 1] and values that land halfway between two bytes.
    #[test]
    fn vector_samples_are_the_scalar_ones() {
        let (rows, cols) = (7, 11);
        let mut state = 0x9e3779b9u32;
        let mut next = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1 << 24) as f32
        };
        let data: Vec<[f32; 3]> = (0..rows * cols)
            .map(|i| match i % 13 {
                0 => [f32::NAN; 3],
                1 => [f32::NAN, next(), f32::INFINITY],
                2 => [-0.5, 1.5, 0.5 / 255.0],
                3 => [1.5 / 255.0, 254.5 / 255.0, -0.0],
                _ => [next(), next(), next() * 1.2 - 0.1],
            })
            .collect();
        let m = Matrix { rows, cols, data };
        let prepared = Prepared::new(&m);
        let mut samples = 0;
        for ky in 0..=4 * rows {
            let y = Axis::at(ky as f64 / 4.0 - 0.6 + next() as f64 * 0.1, rows);
            let row = Row::new(y, cols);
            for kx in 0..=4 * cols {
                let x = Axis::at(kx as f64 / 4.0 - 0.6 + next() as f64 * 0.1, cols);
                let got = prepared.sample(&Column::new(x), &row);
                let want = sample_scalar(&m, x, y);
                let bits = |v: [f32; 3]| v.map(f32::to_bits);
                let lanes = got.map(|v| {
                    let v = v.to_array();
                    [v[0], v[1], v[2]]
                });
                assert_eq!(lanes.map(bits), want.map(bits), "at x {x:?}, y {y:?}");
                assert_eq!(got.map(bytes), want.map(|v| v.map(byte_scalar)));
                samples += got.is_some() as usize;
            }
        }
        assert!(samples > 1000, "{samples} samples with data");
    }

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

    /// The streamed PNG (grey decorations, bands of rows) holds exactly the pixels of the
    /// picture drawn whole in RGB, for a sequence and a diel figure, with odd sizes and gaps.
    #[test]
    fn streamed_png_has_the_whole_pictures_pixels() {
        let zone = Zone::parse("-06:00").unwrap();
        let mut rows = Vec::new();
        for k in 0..37u32 {
            let t = Utc.with_ymd_and_hms(2021, 8, 4, 6, 0, 0).unwrap()
                + chrono::Duration::minutes(30 * k as i64);
            for b in 0..48 {
                let x = ((k * 7 + b * 3) % 23) as f64;
                let v = if (k + b) % 11 == 0 { f64::NAN } else { x };
                rows.push((
                    (b as f64 * 250.0, (b + 1) as f64 * 250.0),
                    t,
                    format!("r{k}"),
                    [v, 1.0 + x, 2.0 * x],
                ));
            }
        }
        let cells = Cells::from_rows(rows, zone.clone());
        let dir = tempfile::tempdir().unwrap();
        let seq = crate::diel::sequence(&cells);
        let cyc = cycle(&cells, &zone, Aggregate::Std);
        for (k, (m, size)) in [(seq, (1001, 733)), (cyc, (2000, 1500))]
            .into_iter()
            .enumerate()
        {
            let fig = Figure {
                title: "Soundscape | unit | R=a G=b B=c".into(),
                x_label: "Time (%Y-%m-%d %H:%M)".into(),
                x_ticks: sequence_ticks(&cells.times, &zone),
                min_khz: cells.min_khz(),
                max_khz: cells.max_khz(),
                size,
            };
            let (want, _) = render_rgb(&m, &fig).unwrap();
            let path = dir.path().join(format!("{k}.png"));
            render_png(&m, &fig, &path).unwrap();
            let got = image::open(&path).unwrap().to_rgb8();
            assert_eq!(got.dimensions(), size);
            let differ = got
                .as_raw()
                .iter()
                .zip(&want)
                .filter(|(a, b)| a != b)
                .count();
            assert_eq!(differ, 0, "figure {k}: bytes that differ");
        }
    }
}
