//! `embeddings projector`: the files of TensorBoard's Embedding Projector for a sample of a
//! table's windows. `tensors.tsv` (one window per line), `metadata.tsv` (a header row, then
//! the chosen columns), `sprite.png` (a small spectrogram of every window, in table order),
//! `projector_config.json` (the standalone projector's config) and `projector_config.pbtxt`
//! beside them, so the folder is also a TensorBoard log dir.
//!
//! Beyond `max_points` windows, a sample stratified by node and hour: every (node, hour)
//! stratum gets an equal share (a stratum smaller than its share gives the rest to the
//! others), its rows picked evenly spaced in table order. Optionally PCA to N dimensions
//! first (nalgebra's symmetric eigensolver on the covariance, in float64). The thumbnails
//! decode each recording once; a window whose audio cannot be found or read gets a blank tile
//! and is counted with its reason.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type, TimestampNanosecondType};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::media::Locator;
use crate::table::{embedding_values, str_at, Table};

#[derive(Debug, Clone)]
pub struct Options {
    pub max_points: usize,
    pub pca: Option<usize>,
    /// Columns of metadata.tsv (those a table lacks are left empty).
    pub columns: Vec<String>,
    pub sprite: bool,
    /// Where recording names (source_name, else id) are found when no report beside a table
    /// names its recordings.
    pub audio_root: Option<PathBuf>,
}

/// What the projector files hold.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ProjectorReport {
    pub rows: usize,
    pub points: usize,
    pub strata: usize,
    pub dim: usize,
    /// Share of the variance the PCA components keep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pca_variance_kept: Option<f64>,
    pub thumbnails: usize,
    /// (reason, windows) of the blank tiles.
    pub blank_tiles: BTreeMap<String, usize>,
    pub sprite_tile_px: u32,
}

/// Rows picked from strata of the given sizes: `cap` in all, equal shares.
fn shares(sizes: &[usize], cap: usize) -> Vec<usize> {
    let total: usize = sizes.iter().sum();
    if total <= cap {
        return sizes.to_vec();
    }
    // The largest level L with sum(min(size, L)) <= cap, then the remainder one by one to
    // the strata still above L, in order.
    let (mut lo, mut hi) = (0usize, *sizes.iter().max().unwrap_or(&0));
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if sizes.iter().map(|&s| s.min(mid)).sum::<usize>() <= cap {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let mut out: Vec<usize> = sizes.iter().map(|&s| s.min(lo)).collect();
    let mut left = cap - out.iter().sum::<usize>();
    for (o, &s) in out.iter_mut().zip(sizes) {
        if left == 0 {
            break;
        }
        if s > *o {
            *o += 1;
            left -= 1;
        }
    }
    out
}

/// Which rows (counted across the tables) to show, in order; and the number of strata.
pub fn sample(tables: &[Table], cap: usize) -> Result<(Vec<usize>, usize), String> {
    let mut strata: HashMap<(String, i64), Vec<usize>> = HashMap::new();
    let mut order: Vec<(String, i64)> = Vec::new();
    let mut base = 0;
    for t in tables {
        for b in t.batches(&["node", "abs_start"])? {
            let b = b?;
            let abs = b
                .column_by_name("abs_start")
                .ok_or("no abs_start column")?
                .as_primitive::<TimestampNanosecondType>();
            for i in 0..b.num_rows() {
                let key = (
                    str_at(&b, "node", i),
                    abs.value(i).div_euclid(3_600_000_000_000),
                );
                strata
                    .entry(key.clone())
                    .or_insert_with(|| {
                        order.push(key);
                        Vec::new()
                    })
                    .push(base + i);
            }
            base += b.num_rows();
        }
    }
    let sizes: Vec<usize> = order.iter().map(|k| strata[k].len()).collect();
    let take = shares(&sizes, cap);
    let mut rows = Vec::with_capacity(cap.min(base));
    for (k, n) in order.iter().zip(take) {
        let all = &strata[k];
        rows.extend((0..n).map(|j| all[(2 * j + 1) * all.len() / (2 * n)]));
    }
    rows.sort_unstable();
    Ok((rows, order.len()))
}

/// One picked row: its embedding, metadata values and where its audio is.
struct Point {
    embedding: Vec<f32>,
    meta: Vec<String>,
    audio: Option<(PathBuf, f64, f64)>,
    /// Why there is no audio, where there is none.
    no_audio: Option<String>,
}

fn cell(b: &RecordBatch, column: &str, i: usize) -> String {
    let Some(c) = b.column_by_name(column) else {
        return String::new();
    };
    if c.is_null(i) {
        return String::new();
    }
    let v = match c.data_type() {
        DataType::Utf8 => c.as_string::<i32>().value(i).to_string(),
        DataType::Int32 => c.as_primitive::<Int32Type>().value(i).to_string(),
        DataType::Int64 => c.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::Float64 => c.as_primitive::<Float64Type>().value(i).to_string(),
        _ => ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default())
            .map(|f| f.value(i).to_string())
            .unwrap_or_default(),
    };
    // A tab or line break would break the TSV.
    v.replace(['\t', '\n', '\r'], " ")
}

fn points(tables: &[Table], rows: &[usize], opts: &Options) -> Result<Vec<Point>, String> {
    let mut columns: Vec<&str> = vec![
        "embedding",
        "id",
        "recording_index",
        "start_time",
        "end_time",
        "source_name",
    ];
    columns.extend(opts.columns.iter().map(|c| c.as_str()));
    let mut out = Vec::with_capacity(rows.len());
    let mut next = rows.iter().peekable();
    let mut base = 0;
    let locator = Locator::new(tables, opts.audio_root.clone());
    for (ti, t) in tables.iter().enumerate() {
        for (g, start) in t.group_starts().into_iter().enumerate() {
            let end = base + start + t.groups[g];
            if next.peek().is_none_or(|&&r| r >= end) {
                continue;
            }
            let b = t.group(g, &columns)?;
            let (values, dim) = embedding_values(&b)?;
            while let Some(&&r) = next.peek().filter(|&&&r| r < end) {
                next.next();
                let i = r - base - start;
                let ix = b
                    .column_by_name("recording_index")
                    .map(|c| c.as_primitive::<Int64Type>().value(i));
                let f64s = |n: &str| {
                    b.column_by_name(n)
                        .map(|c| c.as_primitive::<Float64Type>().value(i))
                };
                let (s, e) = (
                    f64s("start_time").unwrap_or(0.0),
                    f64s("end_time").unwrap_or(0.0),
                );
                let (audio, no_audio) = match locator.locate(ti, ix, &b, i) {
                    Ok(p) => (Some((p, s, e)), None),
                    Err(why) => (None, Some(why)),
                };
                out.push(Point {
                    embedding: values[i * dim..(i + 1) * dim].to_vec(),
                    meta: opts.columns.iter().map(|c| cell(&b, c, i)).collect(),
                    audio,
                    no_audio,
                });
            }
        }
        base += t.rows();
    }
    Ok(out)
}

/// The points projected on their `k` principal components; and the share of the variance
/// they keep.
pub fn pca(points: &[Vec<f32>], k: usize) -> (Vec<Vec<f32>>, f64) {
    let n = points.len();
    let d = points.first().map_or(0, |p| p.len());
    if n == 0 || d == 0 {
        return (points.to_vec(), 1.0);
    }
    let k = k.min(d).max(1);
    let mut mean = vec![0f64; d];
    for p in points {
        for (m, v) in mean.iter_mut().zip(p) {
            *m += *v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let x = nalgebra::DMatrix::<f64>::from_fn(n, d, |i, j| points[i][j] as f64 - mean[j]);
    let scale = 1.0 / (n.max(2) - 1) as f64;
    // X = U S Vᵀ: the projections X V are U S. With fewer points than dimensions the Gram
    // matrix X Xᵀ (its eigenvectors U, eigenvalues S²) is the smaller problem.
    let gram = n < d;
    let m = if gram {
        &x * x.transpose()
    } else {
        x.transpose() * &x
    } * scale;
    let eig = nalgebra::SymmetricEigen::new(m);
    let mut order: Vec<usize> = (0..eig.eigenvalues.len()).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let k = k.min(order.len());
    let total: f64 = eig.eigenvalues.iter().map(|v| v.max(0.0)).sum();
    let kept: f64 = order[..k]
        .iter()
        .map(|&c| eig.eigenvalues[c].max(0.0))
        .sum();
    let y = if gram {
        nalgebra::DMatrix::<f64>::from_fn(n, k, |i, c| {
            let l = eig.eigenvalues[order[c]].max(0.0);
            eig.eigenvectors[(i, order[c])] * (l / scale).sqrt()
        })
    } else {
        x * nalgebra::DMatrix::<f64>::from_fn(d, k, |j, c| eig.eigenvectors[(j, order[c])])
    };
    let out = (0..n)
        .map(|i| (0..k).map(|c| y[(i, c)] as f32).collect())
        .collect();
    (out, if total > 0.0 { kept / total } else { 1.0 })
}

/// Grey spectrogram tiles (`px` square) of the points, one decode per recording; a tile
/// stays blank (mid grey) where the audio is not there, with the reason counted.
fn thumbnails(points: &[Point], px: u32, report: &mut ProjectorReport) -> Vec<Option<Vec<u8>>> {
    let mut tiles: Vec<Option<Vec<u8>>> = vec![None; points.len()];
    let mut by_file: BTreeMap<&Path, Vec<usize>> = BTreeMap::new();
    for (i, p) in points.iter().enumerate() {
        match &p.audio {
            Some((path, _, _)) => by_file.entry(path.as_path()).or_default().push(i),
            None => {
                *report
                    .blank_tiles
                    .entry(p.no_audio.clone().unwrap_or_default())
                    .or_default() += 1
            }
        }
    }
    // Per recording: its points and their tiles (or why there are none).
    type Tiles = Result<Vec<Vec<u8>>, String>;
    let results: Vec<(Vec<usize>, Tiles)> = {
        use rayon::prelude::*;
        by_file
            .into_par_iter()
            .map(|(path, idx)| {
                let windows: Vec<(f64, f64)> = idx
                    .iter()
                    .map(|&i| points[i].audio.as_ref().map(|a| (a.1, a.2)).expect("audio"))
                    .collect();
                let r = crate::media::tiles(path, &windows, px);
                (idx, r)
            })
            .collect()
    };
    for (idx, r) in results {
        match r {
            Ok(t) => {
                report.thumbnails += t.len();
                for (i, tile) in idx.into_iter().zip(t) {
                    tiles[i] = Some(tile);
                }
            }
            Err(e) => *report.blank_tiles.entry(e).or_default() += idx.len(),
        }
    }
    tiles
}

fn write_text(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = crate::temp_in(dir)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file());
        fill(&mut w)
            .and_then(|_| w.flush())
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    tmp.persist(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(())
}

/// Writes the projector's files for `tables` into `out`.
pub fn projector(tables: &[Table], out: &Path, opts: &Options) -> Result<ProjectorReport, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut report = ProjectorReport {
        rows: tables.iter().map(|t| t.rows()).sum(),
        ..Default::default()
    };
    let (rows, strata) = sample(tables, opts.max_points)?;
    report.strata = strata;
    let pts = points(tables, &rows, opts)?;
    report.points = pts.len();
    let embeddings: Vec<Vec<f32>> = pts.iter().map(|p| p.embedding.clone()).collect();
    let vectors = match opts.pca {
        Some(k) => {
            let (v, kept) = pca(&embeddings, k);
            report.pca_variance_kept = Some(kept);
            v
        }
        None => embeddings,
    };
    report.dim = vectors.first().map_or(0, |v| v.len());
    write_text(&out.join("tensors.tsv"), |w| {
        for v in &vectors {
            let line: Vec<String> = v.iter().map(|x| x.to_string()).collect();
            writeln!(w, "{}", line.join("\t"))?;
        }
        Ok(())
    })?;
    write_text(&out.join("metadata.tsv"), |w| {
        writeln!(w, "{}", opts.columns.join("\t"))?;
        for p in &pts {
            writeln!(w, "{}", p.meta.join("\t"))?;
        }
        Ok(())
    })?;
    let n = pts.len().max(1);
    let per_side = (n as f64).sqrt().ceil() as u32;
    // TensorBoard takes sprites of up to 8192 pixels a side.
    let px = (8192 / per_side).clamp(1, 64);
    report.sprite_tile_px = px;
    let sprite = opts.sprite && !pts.is_empty();
    if sprite {
        let tiles = thumbnails(&pts, px, &mut report);
        let side = per_side * px;
        let mut img = image::GrayImage::from_pixel(side, side, image::Luma([0]));
        for (k, tile) in tiles.iter().enumerate() {
            let (x0, y0) = ((k as u32 % per_side) * px, (k as u32 / per_side) * px);
            for y in 0..px {
                for x in 0..px {
                    let v = tile.as_ref().map_or(128, |t| t[(y * px + x) as usize]);
                    img.put_pixel(x0 + x, y0 + y, image::Luma([v]));
                }
            }
        }
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| e.to_string())?;
        write_text(&out.join("sprite.png"), |w| w.write_all(&png))?;
    }
    let mut entry = serde_json::json!({
        "tensorName": "embeddings",
        "tensorShape": [pts.len(), report.dim],
        "tensorPath": "tensors.tsv",
        "metadataPath": "metadata.tsv",
    });
    if sprite {
        entry["sprite"] =
            serde_json::json!({ "imagePath": "sprite.png", "singleImageDim": [px, px] });
    }
    let config = serde_json::json!({ "embeddings": [entry] });
    write_text(&out.join("projector_config.json"), |w| {
        serde_json::to_writer_pretty(&mut *w, &config)?;
        writeln!(w)
    })?;
    write_text(&out.join("projector_config.pbtxt"), |w| {
        writeln!(w, "embeddings {{")?;
        writeln!(w, "  tensor_name: \"embeddings\"")?;
        writeln!(w, "  tensor_path: \"tensors.tsv\"")?;
        writeln!(w, "  metadata_path: \"metadata.tsv\"")?;
        if sprite {
            writeln!(w, "  sprite {{")?;
            writeln!(w, "    image_path: \"sprite.png\"")?;
            writeln!(w, "    single_image_dim: {px}")?;
            writeln!(w, "    single_image_dim: {px}")?;
            writeln!(w, "  }}")?;
        }
        writeln!(w, "}}")
    })?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_shares_with_what_small_strata_leave_to_the_others() {
        assert_eq!(shares(&[5, 100, 100], 300), [5, 100, 100]);
        assert_eq!(shares(&[5, 100, 100], 65), [5, 30, 30]);
        assert_eq!(shares(&[5, 100, 100], 66), [5, 31, 30]);
        assert_eq!(shares(&[1, 1, 1, 1], 2), [1, 1, 0, 0]);
    }

    #[test]
    fn pca_of_few_points_in_many_dimensions_is_the_same_through_the_gram_matrix() {
        let pts: Vec<Vec<f32>> = (0..6)
            .map(|i| {
                (0..4)
                    .map(|j| ((i * 7 + j * 3) % 5) as f32 + 0.1 * i as f32)
                    .collect()
            })
            .collect();
        // 6 points in 4 dimensions: the covariance route; the same points padded to 8
        // dimensions with zeros: the Gram route. The same projections up to sign.
        let padded: Vec<Vec<f32>> = pts.iter().map(|p| [&p[..], &[0.0; 4]].concat()).collect();
        let (a, ka) = pca(&pts, 2);
        let (b, kb) = pca(&padded, 2);
        assert!((ka - kb).abs() < 1e-9);
        for c in 0..2 {
            let sign = (a[0][c] * b[0][c]).signum();
            for i in 0..6 {
                assert!((a[i][c] - sign * b[i][c]).abs() < 1e-4, "{i} {c}");
            }
        }
    }

    #[test]
    fn pca_finds_the_direction_of_a_line() {
        // Points on a line along (3, 4) plus small noise across it.
        let pts: Vec<Vec<f32>> = (0..50)
            .map(|i| {
                let t = i as f32 - 25.0;
                let e = if i % 2 == 0 { 0.01 } else { -0.01 };
                vec![3.0 * t - 4.0 * e, 4.0 * t + 3.0 * e]
            })
            .collect();
        let (y, kept) = pca(&pts, 1);
        assert!(kept > 0.9999, "{kept}");
        // The projection is the position along the line from the mean (t = -0.5), 5 (t + 0.5),
        // up to sign.
        let s = y[1][0] / (5.0 * (1.0 - 25.0 + 0.5));
        assert!((s.abs() - 1.0).abs() < 1e-3, "{s}");
    }
}
