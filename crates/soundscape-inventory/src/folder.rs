//! A local folder of recordings, walked recursively, with an optional layout that names the
//! folder levels (`{cumulus}/{node}/{recorder}/{deployment}`; `{*}` skips a level). Files below
//! the layout's depth (such as `.../2021-08-04/audio/x.wav`) belong to the unit above them.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use soundscape_core::timefmt::zone_label;
use soundscape_core::{Recording, UnitKey};
use soundscape_table::input::{RowError, UnitDefaults, AUDIO_EXTENSIONS};

use chrono::{DateTime, FixedOffset};

use crate::clues::{clues, StartSource};
use crate::header::{probe_file, HeaderInfo};
use crate::{Listed, ListedRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Cumulus,
    Node,
    Recorder,
    Deployment,
    Any,
}

/// Names of the folder levels under the root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout(Vec<Level>);

impl Layout {
    /// The SiPeCaM archive layout: `{cumulus}/{node}/{recorder}/{deployment}`.
    pub const SIPECAM: &'static str = "{cumulus}/{node}/{recorder}/{deployment}";

    pub fn parse(text: &str) -> Result<Layout, String> {
        let mut levels = Vec::new();
        for part in text.split('/').filter(|p| !p.is_empty()) {
            let level = match part {
                "{cumulus}" => Level::Cumulus,
                "{node}" => Level::Node,
                "{recorder}" => Level::Recorder,
                "{deployment}" => Level::Deployment,
                "{*}" | "*" => Level::Any,
                other => {
                    return Err(format!(
                        "layout level {other:?} is not one of {{cumulus}}, {{node}}, {{recorder}}, {{deployment}}, {{*}}"
                    ))
                }
            };
            if level != Level::Any && levels.contains(&level) {
                return Err(format!("layout {text:?} names {part} twice"));
            }
            levels.push(level);
        }
        Ok(Layout(levels))
    }

    pub fn depth(&self) -> usize {
        self.0.len()
    }
}

/// Lists the audio files under `root` (recursively, in path order).
pub fn audio_files(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| format!("{}: cannot list folder: {e}", root.display()))?;
        if entry.file_type().is_file()
            && entry
                .path()
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

/// Options of a folder listing.
#[derive(Debug, Clone, Default)]
pub struct FolderOptions {
    pub layout: Layout,
    pub defaults: UnitDefaults,
    /// Read the file headers (duration, sample rate, start-time clues). On by default in the
    /// command; off it trusts file names alone.
    pub probe: bool,
    /// Without a layout and without a recorder clue, each folder is its own unit (its path
    /// under the root, joined with `-`, is the recorder key). Set by [`resolve_layout`].
    pub group_by_folder: bool,
    /// Where the start of a recording comes from when its file names none (no GUANO
    /// timestamp, AudioMoth comment or `YYYYMMDD_HHMMSS`). Default: nowhere, it fails.
    pub start_fallback: StartFallback,
}

/// A way to date recordings whose files carry no start time.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum StartFallback {
    /// Such recordings fail, with the ways out named in the reason.
    #[default]
    None,
    /// The file's modification time, read as UTC (copies may have changed it).
    Mtime,
    /// This start for the first such file of each folder (in name order); the folder's later
    /// ones follow back to back (each starts where the one before ends, by header duration).
    Fixed(DateTime<FixedOffset>),
    /// A start per folder (path relative to the source, `.` for the source itself), files
    /// back to back as for `Fixed`.
    PerFolder(std::collections::BTreeMap<String, DateTime<FixedOffset>>),
}

impl StartFallback {
    /// Reads the per-folder CSV: a header row with `folder` and `start` columns (ISO 8601 with
    /// an offset; without one, UTC).
    pub fn read_folder_csv(path: &Path) -> Result<StartFallback, String> {
        let mut r = csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let headers = r
            .headers()
            .map_err(|e| format!("{}: {e}", path.display()))?
            .clone();
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim() == name)
                .ok_or_else(|| format!("{}: no {name:?} column", path.display()))
        };
        let (fc, sc) = (col("folder")?, col("start")?);
        let mut map = std::collections::BTreeMap::new();
        for (i, row) in r.records().enumerate() {
            let row = row.map_err(|e| format!("{}: row {}: {e}", path.display(), i + 2))?;
            let folder = row
                .get(fc)
                .unwrap_or("")
                .trim()
                .trim_matches('/')
                .to_string();
            let folder = if folder.is_empty() {
                ".".into()
            } else {
                folder
            };
            let text = row.get(sc).unwrap_or("").trim();
            let start = soundscape_core::timefmt::parse_start(text)
                .map_err(|e| format!("{}: row {}: start: {e}", path.display(), i + 2))?;
            map.insert(folder, start);
        }
        Ok(StartFallback::PerFolder(map))
    }
}

/// Whether folder names have the SiPeCaM shape `<cumulus>/<node>/<serial>/<date>`: a numeric
/// cumulus, a node in the SiPeCaM nomenclature (`1_95_1_1350`, integrity flag 0 or 1) and a
/// `YYYY-MM-DD` deployment date.
pub fn is_sipecam_path(dirs: &[String]) -> bool {
    let [cumulus, node, serial, date, ..] = dirs else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = node.split('_').collect();
    cumulus.bytes().all(|b| b.is_ascii_digit())
        && !cumulus.is_empty()
        && parts.len() == 4
        && parts.iter().all(|p| digits(p))
        && matches!(parts[2], "0" | "1")
        && !serial.is_empty()
        && chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok()
}

/// Decides how a listing without `--layout` is keyed, from the folder names of every file
/// (`dirs`, one entry per file). Returns the options to list with and a note for the report:
///
/// - an explicit layout is kept as it is (no note);
/// - a tree whose every file sits at `<cumulus>/<node>/<serial>/<date>/...` is read with the
///   SiPeCaM layout;
/// - files in more than one folder are grouped by folder where nothing names their recorder,
///   so that recordings of different folders (years apart, say) never share a unit;
/// - a flat folder keeps placeholder keys where nothing names them.
pub fn resolve_layout(
    opts: &FolderOptions,
    dirs: &[&[String]],
    root: &str,
) -> (FolderOptions, Option<String>) {
    let mut out = opts.clone();
    if opts.layout.depth() > 0 || dirs.is_empty() {
        return (out, None);
    }
    let sipecam = dirs.iter().filter(|d| is_sipecam_path(d)).count();
    if sipecam == dirs.len() {
        out.layout = Layout::parse(Layout::SIPECAM).expect("the SiPeCaM layout parses");
        return (
            out,
            Some(format!(
                "no --layout given: the folders under {root} have the SiPeCaM shape <cumulus>/<node>/<recorder>/<deployment>, so they were read with --layout sipecam (give --layout to say otherwise)"
            )),
        );
    }
    let mut folders: Vec<&[String]> = dirs.to_vec();
    folders.sort();
    folders.dedup();
    if folders.len() > 1 {
        out.group_by_folder = true;
        let hint = if sipecam * 2 >= dirs.len() {
            format!(
                " {sipecam} of {} files have the SiPeCaM shape: --layout sipecam reads those and fails the others with their reason.",
                dirs.len()
            )
        } else {
            String::new()
        };
        return (
            out,
            Some(format!(
                "no --layout given: the recordings under {root} sit in {} folders, and where no recorder serial names them each folder became its own unit (recorder = the folder path joined with '-'). Give --layout (e.g. '{}') to name the unit keys.{hint}",
                folders.len(),
                Layout::SIPECAM
            )),
        );
    }
    (out, None)
}

/// Lists a folder as recordings: unit keys from the layout, then from recorder clues, then
/// from the defaults; start times from GUANO, AudioMoth comments or file names.
/// Returns the rows and the run-level notes (how the keys were chosen, see [`resolve_layout`]).
pub fn list_folder(
    root: &Path,
    opts: &FolderOptions,
) -> Result<(Vec<ListedRow>, Vec<String>), String> {
    let files = audio_files(root)?;
    let dirs: Vec<Vec<String>> = files.iter().map(|p| folder_names(root, p)).collect();
    let all: Vec<&[String]> = dirs.iter().map(Vec::as_slice).collect();
    let (opts, note) = resolve_layout(opts, &all, &root.display().to_string());
    let rows: Vec<ListedRow> = files
        .par_iter()
        .zip(&dirs)
        .enumerate()
        .map(|(index, (path, dirs))| list_file(root, index, path, dirs, &opts))
        .collect();
    Ok((
        fill_deployments(chain_starts(rows, &dirs)),
        note.into_iter().collect(),
    ))
}

/// Recordings dated by `--start` or `--starts` follow each other within their folder: in name
/// order, each starts where the one before ends (header durations). Without a duration the
/// chain cannot go on, and that recording fails with the reason.
pub(crate) fn chain_starts(mut rows: Vec<ListedRow>, dirs: &[Vec<String>]) -> Vec<ListedRow> {
    use std::collections::HashMap;
    let mut next: HashMap<&[String], Option<DateTime<FixedOffset>>> = HashMap::new();
    for (row, dirs) in rows.iter_mut().zip(dirs) {
        let Ok(l) = row else { continue };
        if !matches!(l.start_source, StartSource::Fixed | StartSource::FolderCsv) {
            continue;
        }
        let slot = next
            .entry(dirs.as_slice())
            .or_insert(Some(l.recording.start));
        let Some(start) = *slot else {
            *row = Err(RowError {
                index: l.recording.index,
                id: l.recording.id.clone(),
                path: l.recording.path.clone(),
                reason: format!(
                    "{}: no start time: an earlier file of its folder has no known duration, so the back-to-back starts stop there",
                    l.recording.path.display()
                ),
            });
            continue;
        };
        l.recording.start = start;
        let duration = l.header.as_ref().and_then(|h| h.duration());
        *slot = duration.map(|d| start + chrono::Duration::microseconds((d * 1e6).round() as i64));
    }
    rows
}

/// The folder names between `root` and the file.
fn folder_names(root: &Path, path: &Path) -> Vec<String> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.parent()
        .map(|p| {
            p.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn list_file(
    root: &Path,
    index: usize,
    path: &Path,
    dirs: &[String],
    opts: &FolderOptions,
) -> ListedRow {
    let size = std::fs::metadata(path).map(|m| m.len()).ok();
    let header = if opts.probe {
        Some(probe_isolated(path))
    } else {
        None
    };
    listed_from(
        index,
        path.to_path_buf(),
        dirs,
        size,
        header,
        opts,
        &root.display().to_string(),
    )
}

/// Reads a file's header; a panic while reading fails that file alone.
pub fn probe_isolated(path: &Path) -> Result<HeaderInfo, String> {
    let id = path
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    soundscape_core::isolate::run_item(&id, || probe_file(path)).unwrap_or_else(|message| {
        Err(soundscape_core::isolate::panic_reason(
            &path.display().to_string(),
            &message,
        ))
    })
}

/// Builds a listed recording from its place under a root (`dirs`: the folder names between
/// the root and the file) and its header, if read. Shared by folders and object stores.
pub(crate) fn listed_from(
    index: usize,
    path: PathBuf,
    dirs: &[String],
    size: Option<u64>,
    header: Option<Result<HeaderInfo, String>>,
    opts: &FolderOptions,
    root: &str,
) -> ListedRow {
    let id = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let fail = |reason: String| RowError {
        index,
        id: id.clone(),
        path: path.clone(),
        reason,
    };
    if dirs.len() < opts.layout.depth() {
        return Err(fail(format!(
            "{}: only {} folder level(s) under {root}, the layout needs {}",
            path.display(),
            dirs.len(),
            opts.layout.depth()
        )));
    }
    let mut named = UnitDefaults::default();
    for (level, value) in opts.layout.0.iter().zip(dirs) {
        let slot = match level {
            Level::Cumulus => &mut named.cumulus,
            Level::Node => &mut named.node,
            Level::Recorder => &mut named.recorder,
            Level::Deployment => &mut named.deployment,
            Level::Any => continue,
        };
        *slot = Some(value.clone());
    }
    let header = header.transpose().map_err(fail)?;
    let c = clues(&id, header.as_ref());
    let folder = if dirs.is_empty() {
        ".".to_string()
    } else {
        dirs.join("/")
    };
    let fallback = match &opts.start_fallback {
        StartFallback::None => None,
        StartFallback::Mtime => std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .map(|t| {
                (
                    DateTime::<chrono::Utc>::from(t).fixed_offset(),
                    StartSource::Mtime,
                )
            }),
        StartFallback::Fixed(t) => Some((*t, StartSource::Fixed)),
        StartFallback::PerFolder(map) => map.get(&folder).map(|t| (*t, StartSource::FolderCsv)),
    };
    let Some((start, start_source)) = c.start.or(fallback) else {
        let why = match &opts.start_fallback {
            StartFallback::Mtime => " and its modification time cannot be read".to_string(),
            StartFallback::PerFolder(_) => {
                format!(" and the --starts CSV has no row for folder {folder:?}")
            }
            _ => String::new(),
        };
        return Err(fail(format!(
            "{}: no start time (no GUANO timestamp, AudioMoth comment or YYYYMMDD_HHMMSS in the name){why}; give get-audio-df --start-from mtime, --start TIME (the folder's first file; later ones back to back) or --starts FOLDERS.csv (columns folder,start)",
            path.display()
        )));
    };
    let d = &opts.defaults;
    let recorder = named
        .recorder
        .or_else(|| d.recorder.clone())
        .or(c.serial)
        .or_else(|| (opts.group_by_folder && !dirs.is_empty()).then(|| dirs.join("-")))
        .unwrap_or_else(|| UnitKey::PLACEHOLDER_RECORDER.into());
    let warnings = header
        .as_ref()
        .map(|h| h.warnings.clone())
        .unwrap_or_default();
    Ok(Listed {
        recording: Recording {
            index,
            id,
            path,
            start,
            time_zone: d
                .time_zone
                .clone()
                .unwrap_or_else(|| zone_label(start.offset())),
            unit: UnitKey {
                node: named
                    .node
                    .or_else(|| d.node.clone())
                    .unwrap_or_else(|| UnitKey::PLACEHOLDER_NODE.into()),
                recorder,
                deployment: named
                    .deployment
                    .or_else(|| d.deployment.clone())
                    .unwrap_or_default(),
            },
            cumulus: named.cumulus.or_else(|| d.cumulus.clone()),
            latitude: c.position.map(|p| p.0),
            longitude: c.position.map(|p| p.1),
            declared_duration: None,
            declared_samplerate: None,
        },
        size,
        header,
        start_source,
        metadata: None,
        declared_format: None,
        warnings,
    })
}

/// Recordings without a deployment get the date of the earliest recording of their recorder.
pub(crate) fn fill_deployments(mut rows: Vec<ListedRow>) -> Vec<ListedRow> {
    use std::collections::HashMap;
    let mut first: HashMap<
        (Option<String>, String, String),
        chrono::DateTime<chrono::FixedOffset>,
    > = HashMap::new();
    for l in rows.iter().flatten() {
        let r = &l.recording;
        if r.unit.deployment.is_empty() {
            let k = (
                r.cumulus.clone(),
                r.unit.node.clone(),
                r.unit.recorder.clone(),
            );
            let e = first.entry(k).or_insert(r.start);
            if r.start < *e {
                *e = r.start;
            }
        }
    }
    for l in rows.iter_mut().flatten() {
        let r = &mut l.recording;
        if r.unit.deployment.is_empty() {
            let k = (
                r.cumulus.clone(),
                r.unit.node.clone(),
                r.unit.recorder.clone(),
            );
            r.unit.deployment = first[&k].format("%Y-%m-%d").to_string();
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::tests::wav_bytes;

    #[test]
    fn layout_parsing() {
        assert_eq!(Layout::parse(Layout::SIPECAM).unwrap().depth(), 4);
        assert_eq!(Layout::parse("{*}/{node}").unwrap().depth(), 2);
        assert!(Layout::parse("{node}/{node}").is_err());
        assert!(Layout::parse("{site}").is_err());
        assert_eq!(Layout::parse("").unwrap().depth(), 0);
    }

    #[test]
    fn tree_with_layout_clues_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let put = |rel: &str, bytes: &[u8]| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        };
        let w = wav_bytes(48000, 1, 4800, None, None);
        put(
            "92/1_92_1_0001/SER1/2021-08-04/audio/A_20210804_100000.wav",
            &w,
        );
        put(
            "92/1_92_1_0001/SER1/2021-08-04/audio/A_20210804_090000.WAV",
            &w,
        );
        let moth = wav_bytes(
            48000,
            1,
            4800,
            Some("Recorded at 05:00:00 05/08/2021 (UTC-5) by AudioMoth 24F3 at medium gain"),
            None,
        );
        put("95/1_95_0_0002/SER2/2021-08-05/rec.wav", &moth);
        put("95/1_95_0_0002/SER2/2021-08-05/notes.txt", b"x");
        put(
            "95/1_95_0_0002/SER2/2021-08-05/broken_20210805_000000.wav",
            b"RIFFxxxxWAVEjunk",
        );
        put("95/stray_20210805_000000.wav", &w);
        let opts = FolderOptions {
            layout: Layout::parse(Layout::SIPECAM).unwrap(),
            probe: true,
            ..Default::default()
        };
        let (rows, notes) = list_folder(root, &opts).unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(rows.len(), 5);
        let ok: Vec<_> = rows.iter().flatten().collect();
        assert_eq!(ok.len(), 3);
        let a = &ok[0].recording;
        assert_eq!(a.id, "A_20210804_090000");
        assert_eq!(a.cumulus.as_deref(), Some("92"));
        assert_eq!(
            (
                a.unit.node.as_str(),
                a.unit.recorder.as_str(),
                a.unit.deployment.as_str()
            ),
            ("1_92_1_0001", "SER1", "2021-08-04")
        );
        assert_eq!(ok[0].header.as_ref().unwrap().duration(), Some(0.1));
        let m = &ok[2].recording;
        assert_eq!(m.start.to_rfc3339(), "2021-08-05T05:00:00-05:00");
        assert_eq!(m.time_zone, "-05:00");
        let errs: Vec<_> = rows.iter().filter_map(|r| r.as_ref().err()).collect();
        assert!(errs
            .iter()
            .any(|e| e.id == "broken_20210805_000000" && e.reason.contains("fmt")));
        assert!(errs
            .iter()
            .any(|e| e.id == "stray_20210805_000000" && e.reason.contains("layout")));
    }

    #[test]
    fn flat_folder_uses_clues_then_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let w = wav_bytes(
            48000,
            1,
            480,
            Some("Recorded at 05:00:00 05/08/2021 (UTC) by AudioMoth MOTH1 x"),
            None,
        );
        std::fs::write(dir.path().join("a.wav"), &w).unwrap();
        std::fs::write(
            dir.path().join("B_20210803_120000.wav"),
            wav_bytes(48000, 1, 480, None, None),
        )
        .unwrap();
        let (rows, notes) = list_folder(
            dir.path(),
            &FolderOptions {
                probe: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        let a = &rows[1].as_ref().unwrap().recording;
        assert_eq!(a.unit.recorder, "MOTH1");
        assert_eq!(a.unit.deployment, "2021-08-05");
        let b = &rows[0].as_ref().unwrap().recording;
        assert_eq!(b.unit.recorder, UnitKey::PLACEHOLDER_RECORDER);
        assert_eq!(b.unit.deployment, "2021-08-03");
    }

    /// Lists a tree of these small WAV files without a layout, headers read.
    fn list_tree(files: &[&str]) -> (Vec<ListedRow>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let w = wav_bytes(48000, 1, 480, None, None);
        for rel in files {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, &w).unwrap();
        }
        let opts = FolderOptions {
            probe: true,
            ..Default::default()
        };
        list_folder(dir.path(), &opts).unwrap()
    }

    fn keys(rows: &[ListedRow]) -> Vec<String> {
        let mut k: Vec<String> = rows
            .iter()
            .flatten()
            .map(|l| {
                let r = &l.recording;
                format!(
                    "{}/{}/{}/{}",
                    r.cumulus.as_deref().unwrap_or("-"),
                    r.unit.node,
                    r.unit.recorder,
                    r.unit.deployment
                )
            })
            .collect();
        k.sort();
        k.dedup();
        k
    }

    #[test]
    fn sipecam_tree_is_recognised_without_layout() {
        let (rows, notes) = list_tree(&[
            "92/1_92_1_0001/SER1/2021-08-04/audio/A_20210804_100000.wav",
            "92/1_92_1_0001/SER1/2024-05-02/B_20240502_100000.wav",
            "95/1_95_0_0002/SER2/2021-08-05/C_20210805_000000.wav",
        ]);
        assert_eq!(
            keys(&rows),
            [
                "92/1_92_1_0001/SER1/2021-08-04",
                "92/1_92_1_0001/SER1/2024-05-02",
                "95/1_95_0_0002/SER2/2021-08-05"
            ]
        );
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("--layout sipecam"), "{}", notes[0]);
    }

    #[test]
    fn other_trees_are_grouped_by_folder_and_said_so() {
        let (rows, notes) = list_tree(&[
            "siteA/2019/A_20190101_000000.wav",
            "siteA/2022/A_20220101_000000.wav",
            "siteB/B_20210101_000000.wav",
        ]);
        assert_eq!(
            keys(&rows),
            [
                "-/0_00_1_0000/siteA-2019/2019-01-01",
                "-/0_00_1_0000/siteA-2022/2022-01-01",
                "-/0_00_1_0000/siteB/2021-01-01"
            ]
        );
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("3 folders") && notes[0].contains("--layout"),
            "{}",
            notes[0]
        );
    }

    #[test]
    fn sipecam_shape() {
        let d = |s: &str| s.split('/').map(String::from).collect::<Vec<_>>();
        assert!(is_sipecam_path(&d(
            "92/1_95_1_1350/248C7D075B1F7CDB/2021-08-04"
        )));
        assert!(is_sipecam_path(&d("13/0_13_0_1/S/2021-08-04/audio")));
        assert!(!is_sipecam_path(&d("92/1_95_2_1350/S/2021-08-04")));
        assert!(!is_sipecam_path(&d("92/node/S/2021-08-04")));
        assert!(!is_sipecam_path(&d("x92/1_95_1_1350/S/2021-08-04")));
        assert!(!is_sipecam_path(&d("92/1_95_1_1350/S/20210804")));
        assert!(!is_sipecam_path(&d("92/1_95_1_1350/S")));
    }
}
