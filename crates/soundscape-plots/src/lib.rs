//! Soundscape false-colour plots (docs/method.md#plots): `sequence.png` (slices in time order),
//! `mean_soundscape.png` and `std_soundscape.png` (the normalised indices over the hours of the
//! day). Three indices are the red, green and blue channels (EXAG, INFORMATION, CORE by
//! default), each min-max scaled over the unit; bands up to 10 kHz.
//!
//! [`cells`] reads the soundscape table, [`diel`] builds the band x column matrices,
//! [`zone`] owns the time zone of the labels, [`render`] draws the PNG with axes.
//!
//! Fixes of the original's diel plots: every hour of the day has its own column (the original
//! packed present hours and inserted gaps at the wrong places), missing hours show as empty
//! columns, and a missing hour 23 no longer crashes the unit. Each slice counts for the hour in
//! which it starts, in the unit's time zone (the original rounded the recording start to the
//! nearest hour of a fixed UTC-6).

pub mod cells;
pub mod diel;
pub mod render;
pub mod zone;

use std::path::Path;

use rayon::prelude::*;

pub use cells::{read_cells, Cells};
pub use diel::{cycle, sequence, Aggregate, Matrix};
pub use zone::Zone;

/// What the plots show.
#[derive(Debug, Clone)]
pub struct PlotConfig {
    /// Index columns for red, green and blue.
    pub channels: [String; 3],
    /// Bands whose lower edge is at most this (Hz) are shown.
    pub max_min_freq: f64,
    /// Picture size, pixels.
    pub size: (u32, u32),
    /// Time zone of the labels and the hours; `None`: the unit's own.
    pub zone: Option<Zone>,
}

impl Default for PlotConfig {
    fn default() -> Self {
        PlotConfig {
            channels: ["EXAG".into(), "INFORMATION".into(), "CORE".into()],
            max_min_freq: 10_000.0,
            size: (2000, 1500),
            zone: None,
        }
    }
}

/// The three plots of a unit, written into `dir` (file names in docs/files.md). `unit_label`
/// names the unit in the titles.
pub fn plot_unit(
    table: &Path,
    dir: &Path,
    unit_label: &str,
    cfg: &PlotConfig,
) -> Result<Vec<std::path::PathBuf>, String> {
    use soundscape_core::layout::{MEAN, SEQUENCE, STD};
    let cells = read_cells(table, &cfg.channels, cfg.max_min_freq)?;
    if cells.times.is_empty() {
        return Err(format!("{}: no slices to plot", table.display()));
    }
    let zone = cfg.zone.clone().unwrap_or_else(|| cells.zone.clone());
    let rgb = format!(
        "R={} G={} B={}",
        cfg.channels[0], cfg.channels[1], cfg.channels[2]
    );
    let seq = sequence(&cells);
    let mut plots = vec![(
        seq,
        render::Figure {
            title: format!("Soundscape sequence | {unit_label} | {rgb}"),
            x_label: format!("Time (%Y-%m-%d %H:%M, {})", zone.name()),
            x_ticks: render::sequence_ticks(&cells.times, &zone),
            min_khz: cells.min_khz(),
            max_khz: cells.max_khz(),
            size: cfg.size,
        },
        dir.join(SEQUENCE.file),
    )];
    for (aggr, product, word) in [
        (Aggregate::Mean, MEAN, "mean"),
        (Aggregate::Std, STD, "std"),
    ] {
        plots.push((
            cycle(&cells, &zone, aggr),
            render::Figure {
                title: format!("Soundscape {word} by hour of the day | {unit_label} | {rgb}"),
                x_label: format!("Hour of the day (%H:%M, {})", zone.name()),
                x_ticks: (0..24)
                    .map(|h| (h as f64 + 0.5, format!("{h:02}:00")))
                    .collect(),
                min_khz: cells.min_khz(),
                max_khz: cells.max_khz(),
                size: cfg.size,
            },
            dir.join(product.file),
        ));
    }
    // The three pictures are drawn and encoded side by side.
    plots
        .into_par_iter()
        .map(|(m, fig, p)| render::render_png(&m, &fig, &p).map(|()| p))
        .collect()
}
