//! Recordings to process: a CSV or parquet manifest, or a folder.
//!
//! Manifest columns (header names are case-insensitive; only `path` is required):
//! `path` (relative to the manifest's folder, absolute, or a URL), `start` (ISO 8601 with
//! offset; without one it is UTC; absent: from the file name), `id` (default: file stem),
//! `cumulus`, `node`, `recorder`, `deployment`, `latitude`, `longitude`, `time_zone`,
//! `duration`, `samplerate` (declared values, checked against the file header).
//!
//! A folder is walked recursively for audio files (`wav`, `flac`, `mp3`, `ogg`, `oga`), in
//! path order; start times come from the `YYYYMMDD_HHMMSS` in the file names (UTC).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use soundscape_core::timefmt::{parse_start, start_from_file_name, zone_label};
use soundscape_core::{Recording, UnitKey};

/// Audio file extensions picked up from folders.
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "wav", "wave", "flac", "mp3", "ogg", "oga", "opus", "aif", "aiff", "aifc", "caf", "w64", "wv",
];

/// Values for unit keys the input does not give.
#[derive(Debug, Clone, Default)]
pub struct UnitDefaults {
    pub node: Option<String>,
    pub recorder: Option<String>,
    pub deployment: Option<String>,
    pub time_zone: Option<String>,
    pub cumulus: Option<String>,
}

/// A row of the input that cannot become a recording, with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    pub index: usize,
    pub id: String,
    pub path: PathBuf,
    pub reason: String,
}

pub type Row = Result<Recording, RowError>;

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A manifest read into text cells: header names (lower case) and rows.
struct TextTable {
    headers: Vec<String>,
    rows: Vec<Result<Vec<Option<String>>, String>>,
}

fn read_csv(manifest: &Path) -> Result<TextTable, String> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_path(manifest)
        .map_err(|e| format!("{}: cannot read manifest: {e}", manifest.display()))?;
    let headers = rdr
        .headers()
        .map_err(|e| format!("{}: bad manifest header: {e}", manifest.display()))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let rows = rdr
        .records()
        .map(|r| {
            r.map(|rec| {
                rec.iter()
                    .map(|c| (!c.is_empty()).then(|| c.to_string()))
                    .collect()
            })
            .map_err(|e| e.to_string())
        })
        .collect();
    Ok(TextTable { headers, rows })
}

fn read_parquet(manifest: &Path) -> Result<TextTable, String> {
    use arrow::array::{Array, StringArray};
    use arrow::compute::cast;
    use arrow::datatypes::DataType;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let err =
        |e: &dyn std::fmt::Display| format!("{}: cannot read manifest: {e}", manifest.display());
    let file = std::fs::File::open(manifest).map_err(|e| err(&e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| err(&e))?;
    let headers: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().to_ascii_lowercase())
        .collect();
    let reader = builder.build().map_err(|e| err(&e))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| err(&e))?;
        let cols: Vec<StringArray> = batch
            .columns()
            .iter()
            .map(|c| {
                let text = cast(c, &DataType::Utf8)
                    .unwrap_or_else(|_| arrow::array::new_null_array(&DataType::Utf8, c.len()));
                text.as_any()
                    .downcast_ref::<StringArray>()
                    .cloned()
                    .expect("cast to Utf8 gives strings")
            })
            .collect();
        for i in 0..batch.num_rows() {
            rows.push(Ok(cols
                .iter()
                .map(|c| (c.is_valid(i) && !c.value(i).is_empty()).then(|| c.value(i).to_string()))
                .collect()));
        }
    }
    Ok(TextTable { headers, rows })
}

/// Reads a manifest: CSV, or parquet when the name ends in `.parquet`/`.pq` (the audio table
/// that get-audio-df writes is such a manifest).
pub fn read_manifest(manifest: &Path, defaults: &UnitDefaults) -> Result<Vec<Row>, String> {
    let is_parquet = manifest
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "parquet" | "pq"));
    let table = if is_parquet {
        read_parquet(manifest)?
    } else {
        read_csv(manifest)?
    };
    rows_of_table(manifest, table, defaults)
}

fn rows_of_table(
    manifest: &Path,
    table: TextTable,
    defaults: &UnitDefaults,
) -> Result<Vec<Row>, String> {
    let base = manifest.parent().unwrap_or(Path::new(".")).to_path_buf();
    let col: HashMap<&str, usize> = table
        .headers
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i))
        .collect();
    let find = |names: &[&str]| names.iter().find_map(|n| col.get(*n).copied());
    let c_path = find(&["path", "file", "filename"])
        .ok_or_else(|| format!("{}: the manifest has no 'path' column", manifest.display()))?;
    let c_start = find(&["start", "time_utc", "start_time", "datetime"]);
    let (c_id, c_node, c_rec, c_dep, c_cum) = (
        find(&["id"]),
        find(&["node", "nomenclaturenode"]),
        find(&["recorder", "serialnumber"]),
        find(&["deployment", "datedeployment"]),
        find(&["cumulus", "cumulusname"]),
    );
    let (c_lat, c_lon, c_tz) = (
        find(&["latitude", "lat"]),
        find(&["longitude", "lon"]),
        find(&["time_zone", "timezone"]),
    );
    let (c_dur, c_sr) = (
        find(&["declared_duration", "duration"]),
        find(&["declared_samplerate", "samplerate", "sample_rate"]),
    );

    let mut rows = Vec::new();
    for (index, rec) in table.rows.into_iter().enumerate() {
        let line = index + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                rows.push(Err(RowError {
                    index,
                    id: String::new(),
                    path: PathBuf::new(),
                    reason: format!("{}: row {line}: {e}", manifest.display()),
                }));
                continue;
            }
        };
        let get = |c: Option<usize>| c.and_then(|i| rec.get(i)).and_then(|v| v.as_deref());
        let raw_path = get(Some(c_path)).unwrap_or("");
        let path = if Path::new(raw_path).is_absolute() || raw_path.contains("://") {
            PathBuf::from(raw_path)
        } else {
            base.join(raw_path)
        };
        let id = get(c_id).map(str::to_string).unwrap_or_else(|| stem(&path));
        let fail = |reason: String| RowError {
            index,
            id: id.clone(),
            path: path.clone(),
            reason,
        };
        if raw_path.is_empty() {
            rows.push(Err(fail(format!(
                "{}: row {line}: empty path",
                manifest.display()
            ))));
            continue;
        }
        let start = match get(c_start) {
            Some(s) => parse_start(s),
            None => start_from_file_name(&stem(&path)).ok_or_else(|| {
                "no start column and no YYYYMMDD_HHMMSS in the file name".to_string()
            }),
        };
        let start = match start {
            Ok(s) => s,
            Err(e) => {
                rows.push(Err(fail(format!("{}: {e}", path.display()))));
                continue;
            }
        };
        let number = |c: Option<usize>, what: &str| -> Result<Option<f64>, String> {
            get(c)
                .map(|s| {
                    s.parse::<f64>()
                        .map_err(|_| format!("{}: {what} {s:?} is not a number", path.display()))
                })
                .transpose()
        };
        let parsed = (|| {
            Ok::<_, String>((
                number(c_lat, "latitude")?,
                number(c_lon, "longitude")?,
                number(c_dur, "duration")?,
                number(c_sr, "samplerate")?,
            ))
        })();
        let (latitude, longitude, declared_duration, declared_samplerate) = match parsed {
            Ok(v) => v,
            Err(e) => {
                rows.push(Err(fail(e)));
                continue;
            }
        };
        let pick = |c: Option<usize>, default: &Option<String>| {
            get(c).map(str::to_string).or_else(|| default.clone())
        };
        let unit = UnitKey {
            node: pick(c_node, &defaults.node).unwrap_or_else(|| UnitKey::PLACEHOLDER_NODE.into()),
            recorder: pick(c_rec, &defaults.recorder)
                .unwrap_or_else(|| UnitKey::PLACEHOLDER_RECORDER.into()),
            deployment: pick(c_dep, &defaults.deployment)
                .unwrap_or_else(|| start.format("%Y-%m-%d").to_string()),
        };
        let time_zone =
            pick(c_tz, &defaults.time_zone).unwrap_or_else(|| zone_label(start.offset()));
        rows.push(Ok(Recording {
            index,
            id,
            path,
            start,
            time_zone,
            unit,
            cumulus: pick(c_cum, &defaults.cumulus),
            latitude,
            longitude,
            declared_duration,
            declared_samplerate,
        }));
    }
    Ok(rows)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let p = entry.path();
        let ft = entry.file_type()?;
        if ft.is_dir() {
            walk(&p, out)?;
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Lists the audio files of a folder (recursively, in path order) as recordings.
pub fn scan_folder(dir: &Path, defaults: &UnitDefaults) -> Result<Vec<Row>, String> {
    let mut files = Vec::new();
    walk(dir, &mut files).map_err(|e| format!("{}: cannot list folder: {e}", dir.display()))?;
    files.sort();
    let starts: Vec<_> = files
        .iter()
        .map(|p| start_from_file_name(&stem(p)))
        .collect();
    let deployment = defaults.deployment.clone().or_else(|| {
        starts
            .iter()
            .flatten()
            .min()
            .map(|s| s.format("%Y-%m-%d").to_string())
    });
    Ok(files
        .into_iter()
        .zip(starts)
        .enumerate()
        .map(|(index, (path, start))| {
            let id = stem(&path);
            let Some(start) = start else {
                return Err(RowError {
                    index,
                    id,
                    reason: format!(
                        "{}: no YYYYMMDD_HHMMSS start time in the file name",
                        path.display()
                    ),
                    path,
                });
            };
            Ok(Recording {
                index,
                id,
                time_zone: defaults
                    .time_zone
                    .clone()
                    .unwrap_or_else(|| zone_label(start.offset())),
                unit: UnitKey {
                    node: defaults
                        .node
                        .clone()
                        .unwrap_or_else(|| UnitKey::PLACEHOLDER_NODE.into()),
                    recorder: defaults
                        .recorder
                        .clone()
                        .unwrap_or_else(|| UnitKey::PLACEHOLDER_RECORDER.into()),
                    deployment: deployment.clone().unwrap_or_default(),
                },
                cumulus: defaults.cumulus.clone(),
                path,
                start,
                latitude: None,
                longitude: None,
                declared_duration: None,
                declared_samplerate: None,
            })
        })
        .collect())
}

/// Digest of a stage's settings and of its input rows with each file's size and modification
/// time: what a rerun compares to know whether anything changed.
pub fn rows_fingerprint(settings: &[&[u8]], rows: &[Row]) -> String {
    let mut ctx = md5::Context::new();
    for s in settings {
        ctx.consume(s);
    }
    for row in rows {
        match row {
            Ok(r) => {
                ctx.consume(serde_json::to_vec(r).unwrap_or_default());
                if let Ok(m) = std::fs::metadata(&r.path) {
                    let mtime = m
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::SystemTime::UNIX_EPOCH).ok());
                    ctx.consume(format!("|{}|{:?}", m.len(), mtime));
                }
            }
            Err(e) => ctx.consume(format!("{e:?}")),
        }
    }
    format!("{:x}", ctx.finalize())
}

/// The recordings of a stage run and what the input says about the unit.
pub struct Inputs {
    pub rows: Vec<Row>,
    /// Cumulus named by the unit folder (or the defaults).
    pub cumulus: Option<String>,
    /// Unit folder path for metadata and ids, from a unit folder's `unit.json`.
    pub product_dir: Option<String>,
}

/// The recordings a stage is given: a manifest, a folder of recordings, or a unit folder made
/// by dirstruct (its `unit.json`), exactly one of them.
pub fn read_inputs(
    manifest: Option<&Path>,
    folder: Option<&Path>,
    unit_dir: Option<&Path>,
    defaults: &UnitDefaults,
) -> Result<Inputs, String> {
    let mut out = Inputs {
        rows: vec![],
        cumulus: defaults.cumulus.clone(),
        product_dir: None,
    };
    out.rows = match (manifest, folder, unit_dir) {
        (Some(m), _, _) => read_manifest(m, defaults)?,
        (None, Some(dir), _) => scan_folder(dir, defaults)?,
        (None, None, Some(dir)) => {
            let unit = soundscape_core::Unit::read(&dir.join(soundscape_core::units::UNIT_FILE))?;
            out.cumulus = out.cumulus.or(Some(unit.path.cumulus.clone()));
            out.product_dir = unit.unit_dir.clone();
            unit.recordings.into_iter().map(Ok).collect()
        }
        (None, None, None) => {
            return Err("give the recordings: --manifest, --input or --unit-dir".into())
        }
    };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_rows_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("m.csv");
        std::fs::write(
            &m,
            "path,start,node,recorder,deployment,latitude\n\
             a/X_20210804_100000.wav,2021-08-04T00:05:00-05:00,1_95_1_1350,R1,2021-08-04,19.5\n\
             b.wav,,,,,\n\
             Y_20210804_101500.flac,,,,,\n\
             c.wav,not a time,,,,\n\
             d.wav,2021-08-04T00:05:00Z,,,,north\n",
        )
        .unwrap();
        let rows = read_manifest(&m, &UnitDefaults::default()).unwrap();
        assert_eq!(rows.len(), 5);
        let r0 = rows[0].as_ref().unwrap();
        assert_eq!(r0.id, "X_20210804_100000");
        assert_eq!(r0.path, dir.path().join("a/X_20210804_100000.wav"));
        assert_eq!(r0.time_zone, "-05:00");
        assert_eq!(r0.unit.node, "1_95_1_1350");
        assert_eq!(r0.latitude, Some(19.5));
        assert!(rows[1]
            .as_ref()
            .unwrap_err()
            .reason
            .contains("no start column"));
        let r2 = rows[2].as_ref().unwrap();
        assert_eq!(r2.start.to_rfc3339(), "2021-08-04T10:15:00+00:00");
        assert_eq!(r2.unit.node, UnitKey::PLACEHOLDER_NODE);
        assert_eq!(r2.unit.deployment, "2021-08-04");
        assert_eq!(r2.index, 2);
        assert!(rows[3].as_ref().unwrap_err().reason.contains("not a time"));
        assert!(rows[4].as_ref().unwrap_err().reason.contains("latitude"));
    }

    #[test]
    fn folder_scan_is_sorted_and_recursive() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        for f in [
            "sub/B_20210804_020000.WAV",
            "A_20210804_010000.flac",
            "notes.txt",
            "nodate.wav",
        ] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        let d = UnitDefaults {
            recorder: Some("R".into()),
            ..Default::default()
        };
        let rows = scan_folder(dir.path(), &d).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].as_ref().unwrap().id, "A_20210804_010000");
        assert!(rows[1].is_err());
        let b = rows[2].as_ref().unwrap();
        assert_eq!(
            (
                b.index,
                b.unit.recorder.as_str(),
                b.unit.deployment.as_str()
            ),
            (2, "R", "2021-08-04")
        );
    }
}
