//! Drawing a band x column matrix as a PNG with title, axes, ticks and labels (plotters with
//! a bundled DejaVu Sans font, so no system fonts are needed). The matrix is drawn straight
//! into the pixel buffer with bilinear interpolation, like matplotlib's
//! `imshow(interpolation="bilinear")`; cells without data show the panel grey.

use std::io::Cursor;
use std::path::Path;
use std::sync::Once;

use chrono::{DateTime, Utc};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontTransform;

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

/// Bilinear sample of the matrix at data coordinates (x in columns, y in rows from the bottom).
fn sample(m: &Matrix, x: f64, y: f64) -> Option<[f32; 3]> {
    let x = x.clamp(0.0, (m.cols - 1) as f64);
    let y = y.clamp(0.0, (m.rows - 1) as f64);
    let (c0, r0) = (x.floor() as usize, y.floor() as usize);
    let (c1, r1) = ((c0 + 1).min(m.cols - 1), (r0 + 1).min(m.rows - 1));
    let (fx, fy) = ((x - c0 as f64) as f32, (y - r0 as f64) as f32);
    let nearest = m.at(
        if fy < 0.5 { r0 } else { r1 },
        if fx < 0.5 { c0 } else { c1 },
    );
    if nearest.iter().all(|v| v.is_nan()) {
        return None;
    }
    let corners = [
        (r0, c0, (1.0 - fx) * (1.0 - fy)),
        (r0, c1, fx * (1.0 - fy)),
        (r1, c0, (1.0 - fx) * fy),
        (r1, c1, fx * fy),
    ];
    let mut out = [0f32; 3];
    for (ch, o) in out.iter_mut().enumerate() {
        let (mut sum, mut w) = (0f32, 0f32);
        for &(r, c, wt) in &corners {
            let v = m.at(r, c)[ch];
            if v.is_finite() {
                sum += v * wt;
                w += wt;
            }
        }
        *o = if w > 0.0 { sum / w } else { 0.0 };
    }
    Some(out)
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
    for py in yr.start..yr.end {
        let y = (yr.end as f64 - py as f64 - 0.5) / ph * m.rows as f64 - 0.5;
        for px in xr.start..xr.end {
            let x = (px as f64 - xr.start as f64 + 0.5) / pw * m.cols as f64 - 0.5;
            let rgb = match (m.rows > 0 && m.cols > 0)
                .then(|| sample(m, x, y))
                .flatten()
            {
                Some(v) => v.map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8),
                None => [PANEL.0, PANEL.1, PANEL.2],
            };
            let i = ((py as u32 * w + px as u32) * 3) as usize;
            buf[i..i + 3].copy_from_slice(&rgb);
        }
    }
    Ok((buf, area))
}

/// Renders and writes a PNG atomically.
pub fn render_png(m: &Matrix, fig: &Figure, path: &Path) -> Result<(), String> {
    let (buf, _) = render_rgb(m, fig)?;
    let img = image::RgbImage::from_raw(fig.size.0, fig.size.1, buf)
        .ok_or_else(|| "image buffer size".to_string())?;
    write_png(path, img.into())
}

/// Encodes a picture as PNG and writes it atomically.
pub fn write_png(path: &Path, img: image::DynamicImage) -> Result<(), String> {
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
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
