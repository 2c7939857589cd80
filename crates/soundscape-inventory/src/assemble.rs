//! From listed recordings to the inventory: header checks against declared metadata, unit-key
//! checks, filters (cumulus, sample rate, date range, limit), a stable sort, and grouping into
//! processing units. Every row ends in the run report.

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use soundscape_core::layout::PLACEHOLDER_CUMULUS;
use soundscape_core::units::UNITS_VERSION;
use soundscape_core::{Outcome, RunReport, Status, Unit, UnitPath, UnitsManifest};

use crate::{Listed, ListedRow};

/// Which recordings to keep.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Keep only these cumuli (empty: all).
    pub cumulus: Vec<String>,
    /// Keep only this sample rate (header value, else the declared one).
    pub sample_rate: Option<f64>,
    /// Keep recordings that start on or after this date (local date of the recording).
    pub from: Option<NaiveDate>,
    /// Keep recordings that start on or before this date.
    pub to: Option<NaiveDate>,
    /// Keep at most this many recordings (the first ones in sorted order).
    pub limit: Option<usize>,
}

/// The assembled inventory.
pub struct Inventory {
    /// Kept recordings, sorted by unit then start; `recording.index` is the row number.
    pub rows: Vec<Listed>,
    pub manifest: UnitsManifest,
    pub report: RunReport,
}

fn outcome(l: &Listed, status: Status, reason: Option<String>) -> Outcome {
    let r = &l.recording;
    let mut o = Outcome::new(
        r.index,
        &r.id,
        &r.path.display().to_string(),
        status,
        reason,
    );
    o.warnings = l.warnings.clone();
    if let Some(h) = &l.header {
        o.duration_s = h.duration();
        o.sample_rate = Some(h.sample_rate);
        o.channels = Some(h.channels);
    }
    o
}

/// Warnings when a header disagrees with declared metadata.
fn check_declared(l: &mut Listed) {
    let Some(h) = &l.header else { return };
    let r = &l.recording;
    if let (Some(d), Some(hd)) = (r.declared_duration, h.duration()) {
        if (d - hd).abs() > 1e-3 {
            l.warnings.push(format!(
                "declared duration {d} s differs from the file header ({hd:.6} s); the header is used"
            ));
        }
    }
    if let Some(sr) = r.declared_samplerate {
        if (sr - h.sample_rate as f64).abs() > 0.5 {
            l.warnings.push(format!(
                "declared sample rate {sr} Hz differs from the file header ({} Hz); the header is used",
                h.sample_rate
            ));
        }
    }
}

/// Sample rate of a recording: the header's, else the declared one.
pub fn sample_rate(l: &Listed) -> Option<f64> {
    l.header
        .as_ref()
        .map(|h| h.sample_rate as f64)
        .or(l.recording.declared_samplerate)
}

/// Duration of a recording: the header's, else the declared one.
pub fn duration(l: &Listed) -> Option<f64> {
    l.header
        .as_ref()
        .and_then(|h| h.duration())
        .or(l.recording.declared_duration)
}

fn filtered_out(l: &Listed, f: &Filters) -> Option<String> {
    let r = &l.recording;
    let cumulus = r.cumulus.as_deref().unwrap_or(PLACEHOLDER_CUMULUS);
    if !f.cumulus.is_empty() && !f.cumulus.iter().any(|c| c == cumulus) {
        return Some(format!(
            "filtered out: cumulus {cumulus} not in {:?}",
            f.cumulus
        ));
    }
    if let Some(want) = f.sample_rate {
        match sample_rate(l) {
            Some(sr) if (sr - want).abs() <= 0.5 => {}
            Some(sr) => return Some(format!("filtered out: sample rate {sr} Hz, not {want} Hz")),
            None => {
                return Some(format!(
                    "filtered out: sample rate unknown, {want} Hz required"
                ))
            }
        }
    }
    let day = r.start.date_naive();
    if f.from.is_some_and(|from| day < from) || f.to.is_some_and(|to| day > to) {
        return Some(format!(
            "filtered out: starts on {day}, outside {}..{}",
            f.from.map(|d| d.to_string()).unwrap_or_default(),
            f.to.map(|d| d.to_string()).unwrap_or_default()
        ));
    }
    None
}

/// Checks, filters, sorts and groups listed rows.
pub fn assemble(
    rows: Vec<ListedRow>,
    filters: &Filters,
    source: &str,
    audio_table: &str,
) -> Inventory {
    let mut report = RunReport::new("get-audio-df", env!("CARGO_PKG_VERSION"));
    let mut kept: Vec<Listed> = Vec::new();
    let mut seen_ids = HashSet::new();
    for row in rows {
        let mut l = match row {
            Ok(l) => l,
            Err(e) => {
                report.recordings.push(Outcome::new(
                    e.index,
                    &e.id,
                    &e.path.display().to_string(),
                    Status::Failed,
                    Some(e.reason),
                ));
                continue;
            }
        };
        check_declared(&mut l);
        let r = &l.recording;
        let unit = UnitPath::new(r.cumulus.as_deref().unwrap_or(PLACEHOLDER_CUMULUS), &r.unit);
        if let Err(e) = unit.check() {
            let reason = format!("{}: {e}", r.path.display());
            report
                .recordings
                .push(outcome(&l, Status::Failed, Some(reason)));
            continue;
        }
        if !seen_ids.insert(r.id.clone()) {
            let reason = format!("duplicate recording id {:?} (listed twice)", r.id);
            report
                .recordings
                .push(outcome(&l, Status::Failed, Some(reason)));
            continue;
        }
        if let Some(why) = filtered_out(&l, filters) {
            report
                .recordings
                .push(outcome(&l, Status::Skipped, Some(why)));
            continue;
        }
        kept.push(l);
    }
    let unit_of = |l: &Listed| {
        UnitPath::new(
            l.recording
                .cumulus
                .as_deref()
                .unwrap_or(PLACEHOLDER_CUMULUS),
            &l.recording.unit,
        )
    };
    kept.sort_by(|a, b| {
        (unit_of(a), a.recording.start, &a.recording.id).cmp(&(
            unit_of(b),
            b.recording.start,
            &b.recording.id,
        ))
    });
    if let Some(limit) = filters.limit {
        for l in kept.drain(limit.min(kept.len())..) {
            report.recordings.push(outcome(
                &l,
                Status::Skipped,
                Some(format!("beyond --limit {limit}")),
            ));
        }
    }
    let mut units: BTreeMap<UnitPath, Unit> = BTreeMap::new();
    for (i, l) in kept.iter_mut().enumerate() {
        l.recording.index = i;
        report.recordings.push(outcome(l, Status::Done, None));
        let path = unit_of(l);
        let unit = units.entry(path.clone()).or_insert_with(|| Unit {
            id: path.relative(),
            path,
            recordings: Vec::new(),
            duration_s: 0.0,
            unit_dir: None,
            products: Vec::new(),
        });
        unit.duration_s += duration(l).unwrap_or(0.0);
        unit.recordings.push(l.recording.clone());
    }
    report.recordings.sort_by_key(|o| o.status != Status::Done);
    let manifest = UnitsManifest {
        version: UNITS_VERSION,
        source: source.to_string(),
        audio_table: audio_table.to_string(),
        recordings: kept.len(),
        units: units.into_values().collect(),
    };
    report.finish();
    Inventory {
        rows: kept,
        manifest,
        report,
    }
}
