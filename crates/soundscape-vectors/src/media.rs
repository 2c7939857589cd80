//! The audio behind table rows, for pictures and clips: where a row's recording is (the
//! stage's report beside its table, else a folder the user names), square grey spectrogram
//! tiles of windows, and the windows' samples, each recording decoded once for all its
//! windows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;

use crate::table::{str_at, Table};

/// Recording paths by recording_index from the stage's report beside a table.
pub fn recordings_beside(table: &Path) -> HashMap<i64, PathBuf> {
    let report = table.with_file_name("embeddings_report.json");
    let Ok(text) = std::fs::read_to_string(report) else {
        return HashMap::new();
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return HashMap::new();
    };
    v["recordings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| Some((r["index"].as_i64()?, PathBuf::from(r["path"].as_str()?))))
                .collect()
        })
        .unwrap_or_default()
}

/// Finds the recordings of the rows of some tables.
pub struct Locator {
    beside: Vec<HashMap<i64, PathBuf>>,
    root: Option<PathBuf>,
}

impl Locator {
    pub fn new(tables: &[Table], root: Option<PathBuf>) -> Locator {
        Locator {
            beside: tables.iter().map(|t| recordings_beside(&t.path)).collect(),
            root,
        }
    }

    /// The recording of row `i` of batch `b` of table `table` (whose `recording_index` is
    /// `ix`), or why there is none.
    pub fn locate(
        &self,
        table: usize,
        ix: Option<i64>,
        b: &RecordBatch,
        i: usize,
    ) -> Result<PathBuf, String> {
        if let Some(p) = ix.and_then(|ix| self.beside[table].get(&ix)) {
            return Ok(p.clone());
        }
        let name = match str_at(b, "source_name", i) {
            n if n.is_empty() => str_at(b, "id", i),
            n => n,
        };
        match &self.root {
            Some(root) => Ok(root.join(name)),
            None => Err("no report of the recordings beside the table and no --audio-root".into()),
        }
    }
}

/// Tiles of the windows `(start, end)` of one recording.
pub fn tiles(path: &Path, windows: &[(f64, f64)], px: u32) -> Result<Vec<Vec<u8>>, String> {
    let info = soundscape_audio::AudioReader::open(path)
        .map_err(|e| format!("audio not readable: {e}"))?
        .info()
        .clone();
    let sr = info.sample_rate as f64;
    let longest = windows
        .iter()
        .map(|w| w.1 - w.0)
        .fold(0.0, f64::max)
        .max(1e-3);
    let hop = ((longest * sr / px as f64).round() as usize).max(1);
    // Frames overlap (the STFT's framing needs a hop no longer than its frame).
    let n_fft = hop.next_power_of_two().max(256);
    let px = px as usize;
    // Per window: columns of row peaks, then scaled to the window's own loudest value.
    let mut cols: Vec<Vec<Vec<f32>>> = vec![Vec::new(); windows.len()];
    soundscape_engine::analyze::stream_spectrogram(
        path,
        n_fft,
        hop,
        |_| {},
        |t, mags| {
            let at = t as f64 * hop as f64 / sr;
            for (w, &(s, e)) in windows.iter().enumerate() {
                if at >= s && at < e && cols[w].len() < px {
                    let bins = mags.len();
                    cols[w].push(
                        (0..px)
                            .map(|r| {
                                let (b0, b1) =
                                    (r * bins / px, ((r + 1) * bins / px).max(r * bins / px + 1));
                                mags[b0..b1.min(bins)].iter().fold(0f32, |a, &x| a.max(x))
                            })
                            .collect(),
                    );
                }
            }
        },
    )
    .map_err(|e| format!("audio not readable: {e}"))?;
    Ok(cols
        .into_iter()
        .map(|c| {
            let db = |m: f32| 20.0 * m.max(1e-10).log10();
            let top = c.iter().flatten().fold(f32::MIN, |a, &m| a.max(db(m)));
            let mut tile = vec![0u8; px * px];
            for (x, col) in c.iter().enumerate() {
                for (r, &m) in col.iter().enumerate() {
                    let level = ((db(m) - (top - 80.0)) / 80.0).clamp(0.0, 1.0);
                    // Low frequencies at the bottom.
                    tile[(px - 1 - r) * px + x] = (level * 255.0).round() as u8;
                }
            }
            tile
        })
        .collect())
}

/// The mono samples of the windows `(start, end)` of one recording, and its sample rate.
pub fn clips(path: &Path, windows: &[(f64, f64)]) -> Result<(u32, Vec<Vec<f32>>), String> {
    let mut reader = soundscape_audio::AudioReader::open(path)
        .map_err(|e| format!("audio not readable: {e}"))?;
    let sr = reader.info().sample_rate;
    let bounds: Vec<(usize, usize)> = windows
        .iter()
        .map(|&(s, e)| {
            (
                (s * sr as f64).round() as usize,
                (e * sr as f64).round() as usize,
            )
        })
        .collect();
    let last = bounds.iter().map(|b| b.1).max().unwrap_or(0);
    let mut out: Vec<Vec<f32>> = bounds
        .iter()
        .map(|b| Vec::with_capacity(b.1.saturating_sub(b.0)))
        .collect();
    let mut at = 0usize;
    while at < last {
        let Some(block) = reader
            .next_block()
            .map_err(|e| format!("audio not readable: {e}"))?
        else {
            break;
        };
        for (o, &(s, e)) in out.iter_mut().zip(&bounds) {
            let (from, to) = (s.max(at), e.min(at + block.len()));
            if from < to {
                o.extend_from_slice(&block[from - at..to - at]);
            }
        }
        at += block.len();
    }
    Ok((sr, out))
}

/// Writes `samples` as a 16-bit mono WAV (through a temporary name).
pub fn write_wav(path: &Path, rate: u32, samples: &[f32]) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = crate::temp_in(dir)?;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let err = |e: hound::Error| format!("{}: {e}", path.display());
    let mut w = hound::WavWriter::new(std::io::BufWriter::new(tmp.as_file()), spec).map_err(err)?;
    for &v in samples {
        w.write_sample((v.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .map_err(err)?;
    }
    w.finalize().map_err(err)?;
    tmp.persist(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(())
}

/// Writes a square grey tile as PNG (through a temporary name).
pub fn write_tile(path: &Path, px: u32, tile: &[u8]) -> Result<(), String> {
    let img = image::GrayImage::from_raw(px, px, tile.to_vec()).ok_or("tile size")?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = crate::temp_in(dir)?;
    std::io::Write::write_all(&mut tmp.as_file(), &png)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(())
}
