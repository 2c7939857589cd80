//! The stage: the detections the rules take, grouped by recording; each recording decoded once,
//! front to back, keeping only the audio from the earliest clip not yet cut; every detection
//! decided in clip order (draw, object filter, clip and sidecar written) and written to the
//! ledger; the report of what became of each recording and detection.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;
use soundscape_audio::{AudioError, AudioReader};
use soundscape_core::fsutil::{write_atomic_with, write_json_atomic};
use soundscape_core::{Outcome, Recording, Status};

use crate::detections::{self, stream_name, Detection};
use crate::draw::{judge, ClassCounts, Verdict};
use crate::ledger::{Decision, Entry, Ledger};
use crate::rules::{Format, Rule, Rules};

/// File name of the report inside the output folder.
pub const REPORT_FILE: &str = "extract_report.json";

/// Where the recordings of a detections table are.
#[derive(Debug, Clone, Default)]
pub struct Recordings {
    by_id: HashMap<String, (PathBuf, Option<chrono::DateTime<chrono::FixedOffset>>)>,
    /// Where they were found, for the report.
    pub from: String,
}

impl Recordings {
    /// The recordings of a manifest, folder or unit folder given on the command line.
    pub fn given(rows: Vec<Recording>, from: &str) -> Recordings {
        Recordings {
            by_id: rows
                .into_iter()
                .map(|r| (r.id, (r.path, Some(r.start))))
                .collect(),
            from: from.into(),
        }
    }

    /// The recordings named beside a detections table: the unit folder's `unit.json`, else
    /// the recordings compute-embeddings' report lists as done. None: the table's own `path`
    /// column must say.
    pub fn beside(table: &Path) -> Result<Recordings, String> {
        let dir = table.parent().unwrap_or(Path::new("."));
        let unit = dir.join(soundscape_core::units::UNIT_FILE);
        if unit.is_file() {
            let u = soundscape_core::Unit::read(&unit)?;
            return Ok(Recordings::given(u.recordings, &unit.display().to_string()));
        }
        let report = dir.join("embeddings_report.json");
        if report.is_file() {
            let text = std::fs::read_to_string(&report)
                .map_err(|e| format!("{}: {e}", report.display()))?;
            let r: soundscape_core::RunReport = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not a run report: {e}", report.display()))?;
            return Ok(Recordings {
                by_id: r
                    .recordings
                    .into_iter()
                    .filter(|o| o.status == Status::Done)
                    .map(|o| (o.id, (PathBuf::from(o.path), o.start)))
                    .collect(),
                from: report.display().to_string(),
            });
        }
        Ok(Recordings {
            by_id: HashMap::new(),
            from: "the table's path column".into(),
        })
    }

    fn find(&self, d: &Detection, table_dir: &Path) -> Option<PathBuf> {
        if let Some((p, _)) = self.by_id.get(&d.id) {
            return Some(p.clone());
        }
        d.path.as_ref().map(|p| {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                table_dir.join(p)
            }
        })
    }
}

/// A run of the stage.
pub struct Job<'a> {
    pub detections: &'a Path,
    pub rules: &'a Rules,
    pub out: &'a Path,
    pub seed: u64,
    pub recordings: Recordings,
    /// Called after each recording with (recordings done, recordings in all).
    pub progress: &'a (dyn Fn(usize, usize) + Sync),
}

/// Counts of what became of the detections.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Rows of the table a rule takes.
    pub matched: usize,
    pub extracted: usize,
    pub not_drawn: usize,
    pub filtered: usize,
    /// Decided by an earlier run (in the ledger).
    pub already_decided: usize,
    pub failed: usize,
}

impl Counts {
    fn add(&mut self, d: Decision) {
        match d {
            Decision::Extracted => self.extracted += 1,
            Decision::NotDrawn => self.not_drawn += 1,
            Decision::Filtered => self.filtered += 1,
        }
    }
}

/// A detection that could not be decided, and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FailedDetection {
    pub row: usize,
    pub key: String,
    pub reason: String,
}

/// `extract_report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub stage: String,
    pub version: String,
    pub started_at: String,
    pub finished_at: String,
    pub detections_table: String,
    pub table_rows: usize,
    pub recordings_from: String,
    pub seed: u64,
    pub summary: Counts,
    /// The same counts per rule, by rule name.
    pub rules: BTreeMap<String, Counts>,
    pub failed_detections: Vec<FailedDetection>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// One entry per recording with matching detections (`rows`: clips written, `slices`:
    /// detections decided).
    pub recordings: Vec<Outcome>,
}

impl Report {
    /// 0 all decided, 3 some detections or recordings failed, 1 the run failed.
    pub fn exit_code(&self) -> u8 {
        if !self.errors.is_empty() {
            1
        } else if self.summary.failed > 0
            || self.recordings.iter().any(|o| o.status == Status::Failed)
        {
            3
        } else {
            0
        }
    }
}

/// The folder name of a class: the label with what cannot be in a file name replaced.
pub fn class_folder(label: &str) -> String {
    let s: String = label
        .trim()
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    match s.strip_prefix('.') {
        _ if s.is_empty() => "unnamed".into(),
        Some(rest) => format!("_{rest}"),
        None => s,
    }
}

/// A clip to cut: frames of the recording, and its detection.
struct Clip<'a> {
    det: &'a Detection,
    rule: &'a Rule,
    /// First frame and one past the last.
    from: u64,
    to: u64,
}

/// Shared state of a run.
struct State<'a> {
    job: &'a Job<'a>,
    ledger: Ledger,
    counts: ClassCounts,
    report: Report,
}

/// Runs the stage and writes its report.
pub fn run(job: &Job) -> Result<Report, String> {
    let started_at = chrono::Utc::now().to_rfc3339();
    let read = detections::read(job.detections, job.rules)?;
    let ledger = Ledger::open(job.out)?;
    let mut counts = ClassCounts::default();
    for r in &job.rules.set.rules {
        counts.scan(job.out, &r.dst);
    }
    let report = Report {
        stage: "extract-samples".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        started_at,
        finished_at: String::new(),
        detections_table: job.detections.display().to_string(),
        table_rows: read.rows,
        recordings_from: job.recordings.from.clone(),
        seed: job.seed,
        summary: Counts::default(),
        rules: job
            .rules
            .set
            .rules
            .iter()
            .map(|r| (r.name.clone(), Counts::default()))
            .collect(),
        failed_detections: vec![],
        errors: vec![],
        recordings: vec![],
    };
    // Group by recording, in the order the table first names them.
    let mut order: Vec<&str> = Vec::new();
    let mut groups: HashMap<&str, Vec<&Detection>> = HashMap::new();
    for d in &read.detections {
        groups
            .entry(d.id.as_str())
            .or_insert_with(|| {
                order.push(d.id.as_str());
                Vec::new()
            })
            .push(d);
    }
    let mut st = State {
        job,
        ledger,
        counts,
        report,
    };
    let table_dir = job.detections.parent().unwrap_or(Path::new("."));
    let total = order.len();
    for (done, id) in order.into_iter().enumerate() {
        (job.progress)(done, total);
        let dets = &groups[id];
        for d in dets {
            st.report.summary.matched += 1;
            st.rule_counts(d).matched += 1;
        }
        let pending: Vec<&Detection> = dets
            .iter()
            .copied()
            .filter(|d| {
                let done = st.ledger.is_decided(&d.key());
                if done {
                    st.report.summary.already_decided += 1;
                    st.rule_counts(d).already_decided += 1;
                }
                !done
            })
            .collect();
        let first = dets[0];
        let Some(path) = job.recordings.find(first, table_dir) else {
            let reason = format!(
                "recording {id}: not found in {} (give --manifest, --input or --unit-dir)",
                job.recordings.from
            );
            let mut o = Outcome::new(
                first.recording_index.unwrap_or(-1).max(0) as usize,
                id,
                "",
                Status::Failed,
                Some(reason.clone()),
            );
            o.slices = pending.len();
            for d in &pending {
                st.fail(d, &reason);
            }
            st.report.recordings.push(o);
            continue;
        };
        let rec_index = first.recording_index.unwrap_or(0).max(0) as usize;
        let mut o = Outcome::new(
            rec_index,
            id,
            &path.display().to_string(),
            Status::Done,
            None,
        );
        if pending.is_empty() {
            o.status = Status::Skipped;
            o.reason = Some("every detection was decided by an earlier run".into());
            st.report.recordings.push(o);
            continue;
        }
        let t0 = std::time::Instant::now();
        let result =
            soundscape_core::isolate::run_item(id, || st.recording(&path, &pending, &mut o));
        o.seconds = soundscape_core::report::round3(t0.elapsed().as_secs_f64());
        o.slices = pending.len();
        let failure = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(panic) => Some(soundscape_core::isolate::panic_reason(
                &path.display().to_string(),
                &panic,
            )),
        };
        if let Some(reason) = failure {
            // What was not decided before the failure fails with it.
            for d in &pending {
                if !st.ledger.is_decided(&d.key())
                    && !st.report.failed_detections.iter().any(|f| f.row == d.row)
                {
                    st.fail(d, &reason);
                }
            }
            tracing::error!(recording = id, "{reason}");
            o.status = Status::Failed;
            o.reason = Some(reason);
        }
        st.report.recordings.push(o);
    }
    (job.progress)(total, total);
    st.report.finished_at = chrono::Utc::now().to_rfc3339();
    let report_path = job.out.join(REPORT_FILE);
    write_json_atomic(&report_path, &st.report)
        .map_err(|e| format!("{}: {e}", report_path.display()))?;
    Ok(st.report)
}

impl State<'_> {
    fn rule_counts(&mut self, d: &Detection) -> &mut Counts {
        let name = &self.job.rules.set.rules[d.rule].name;
        self.report.rules.get_mut(name).expect("a count per rule")
    }

    fn fail(&mut self, d: &Detection, reason: &str) {
        self.report.summary.failed += 1;
        self.rule_counts(d).failed += 1;
        self.report.failed_detections.push(FailedDetection {
            row: d.row,
            key: d.key(),
            reason: reason.into(),
        });
    }

    /// Decodes one recording and decides its detections in clip order.
    fn recording(
        &mut self,
        path: &Path,
        dets: &[&Detection],
        outcome: &mut Outcome,
    ) -> Result<(), String> {
        let mut reader = AudioReader::open(path).map_err(|e| e.to_string())?;
        let info = reader.info().clone();
        let sr = info.sample_rate as f64;
        let channels = info.channels.max(1) as usize;
        if channels > 1 {
            reader.keep_channels();
        }
        outcome.sample_rate = Some(info.sample_rate);
        outcome.channels = Some(info.channels);
        outcome.duration_s = info.duration();
        let total = info.frames;
        let rules = &self.job.rules.set.rules;
        let mut clips: Vec<Clip> = Vec::new();
        for d in dets {
            if d.file_channel as usize >= channels {
                self.fail(
                    d,
                    &format!(
                        "channel {} is not in this {channels}-channel recording",
                        d.file_channel
                    ),
                );
                continue;
            }
            let rule = &rules[d.rule];
            let len = (rule.length * sr).round().max(1.0) as u64;
            let centre = (d.start_time + d.end_time) / 2.0;
            let mut from = ((centre - rule.length / 2.0) * sr).round().max(0.0) as u64;
            if let Some(n) = total {
                from = from.min(n.saturating_sub(len));
            }
            clips.push(Clip {
                det: d,
                rule,
                from,
                to: from + len,
            });
        }
        clips.sort_by(|a, b| {
            (a.from, a.det.channel, a.det.rank, a.det.row).cmp(&(
                b.from,
                b.det.channel,
                b.det.rank,
                b.det.row,
            ))
        });
        // Interleaved frames from `buf_start` on.
        let mut buf: Vec<f32> = Vec::new();
        let mut buf_start: u64 = 0;
        let mut decoded: u64 = 0;
        let mut next = 0;
        let mut ended = false;
        while next < clips.len() {
            let clip = &clips[next];
            if ended || decoded >= clip.to {
                let avail_to = clip.to.min(decoded);
                if avail_to <= clip.from {
                    self.fail(
                        clip.det,
                        &format!(
                            "the clip starts at {:.3} s, after the end of the audio ({:.3} s)",
                            clip.from as f64 / sr,
                            decoded as f64 / sr
                        ),
                    );
                } else {
                    let c = clip.det.file_channel as usize;
                    let lo = ((clip.from - buf_start) as usize) * channels;
                    let hi = ((avail_to - buf_start) as usize) * channels;
                    let samples: Vec<f32> = buf[lo..hi]
                        .iter()
                        .skip(c)
                        .step_by(channels)
                        .copied()
                        .collect();
                    if let Err(e) = self.decide(path, clip, &samples, sr, outcome) {
                        self.fail(clip.det, &e);
                    }
                }
                next += 1;
                // Drop what no later clip needs (clips are in start order).
                let keep_from = clips
                    .get(next)
                    .map_or(decoded, |c| c.from.min(decoded))
                    .max(buf_start);
                let drop = ((keep_from - buf_start) as usize) * channels;
                buf.drain(..drop.min(buf.len()));
                buf_start = keep_from;
                continue;
            }
            match reader.next_block() {
                Ok(Some(block)) => {
                    let frames = (block.len() / channels) as u64;
                    // Skip audio before the first clip still to cut.
                    let need_from = clip.from;
                    if decoded + frames <= need_from {
                        buf_start = decoded + frames;
                        buf.clear();
                    } else {
                        let skip = need_from.saturating_sub(decoded.max(buf_start)) as usize;
                        if buf.is_empty() {
                            buf_start = decoded + skip as u64;
                        }
                        buf.extend_from_slice(&block[skip * channels..]);
                    }
                    decoded += frames;
                }
                Ok(None) => ended = true,
                Err(AudioError::Truncated {
                    expected_s,
                    found_s,
                    ..
                }) => {
                    outcome.warnings.push(format!(
                        "truncated: the header promises {expected_s:.3} s, the data holds {found_s:.3} s; clips near the end are shorter"
                    ));
                    ended = true;
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    }

    /// Draws, filters and writes one clip, and records the decision.
    fn decide(
        &mut self,
        path: &Path,
        clip: &Clip,
        samples: &[f32],
        sr: f64,
        outcome: &mut Outcome,
    ) -> Result<(), String> {
        let d = clip.det;
        let rule = clip.rule;
        let class = class_folder(&d.label);
        let key = d.key();
        let Verdict {
            decision,
            probability,
            draw,
            border,
        } = judge(&self.counts, rule, &class, self.job.seed, &key, samples);
        let mut clip_rel = None;
        if decision == Decision::Extracted {
            let from_s = clip.from as f64 / sr;
            let to_s = from_s + samples.len() as f64 / sr;
            let stem = format!(
                "{}_ch{:02}_{:09}ms",
                d.id,
                d.file_channel,
                (from_s * 1000.0).round() as u64
            );
            let rel = PathBuf::from(&rule.dst)
                .join(&class)
                .join(format!("{stem}.wav"));
            let wav = self.job.out.join(&rel);
            write_wav(&wav, samples, sr as u32, rule.format)
                .map_err(|e| format!("{}: {e}", wav.display()))?;
            let abs = |secs: f64| {
                d.abs_start_ns.map(|ns| {
                    let at = ns + ((secs - d.start_time) * 1e9).round() as i64;
                    chrono::DateTime::from_timestamp_nanos(at)
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                })
            };
            let source = stream_name(&d.id)
                .map(|(s, _)| s.to_string())
                .unwrap_or_else(|| {
                    if d.recorder.is_empty() {
                        d.id.clone()
                    } else {
                        d.recorder.clone()
                    }
                });
            let sidecar = serde_json::json!({
                "key": key,
                "source": source,
                "channel": d.channel,
                "recording": {"id": d.id, "path": path.display().to_string(), "channel": d.file_channel},
                "detection": {
                    "row": d.row, "window": d.window, "start_time": d.start_time, "end_time": d.end_time,
                    "abs_start": abs(d.start_time), "abs_end": abs(d.end_time),
                    "label": d.label, "scientific_name": d.scientific_name, "common_name": d.common_name,
                    "score": d.score, "rank": d.rank, "model": d.model,
                },
                "clip": {
                    "start_s": from_s, "end_s": to_s, "abs_start": abs(from_s), "abs_end": abs(to_s),
                    "sample_rate": sr as u32, "frames": samples.len(), "format": rule.format,
                },
                "rule": {
                    "name": rule.name, "rate": rule.rate, "probability": probability, "draw": draw,
                    "object_filter": rule.object_filter, "border_share": border, "seed": self.job.seed,
                },
            });
            let side = wav.with_extension("json");
            write_json_atomic(&side, &sidecar).map_err(|e| format!("{}: {e}", side.display()))?;
            self.counts.add(&rule.dst, &class);
            outcome.rows += 1;
            clip_rel = Some(rel.display().to_string());
        }
        self.ledger.record(Entry {
            key,
            decision,
            rule: rule.name.clone(),
            label: d.label.clone(),
            clip: clip_rel,
            decided_at: chrono::Utc::now().to_rfc3339(),
        })?;
        self.report.summary.add(decision);
        self.rule_counts(d).add(decision);
        Ok(())
    }
}

/// Writes a mono WAV file atomically.
pub fn write_wav(path: &Path, samples: &[f32], rate: u32, format: Format) -> std::io::Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: match format {
            Format::Pcm16 => 16,
            Format::Float => 32,
        },
        sample_format: match format {
            Format::Pcm16 => hound::SampleFormat::Int,
            Format::Float => hound::SampleFormat::Float,
        },
    };
    let err = |e: hound::Error| std::io::Error::other(e.to_string());
    write_atomic_with(path, |f| {
        let mut w = hound::WavWriter::new(std::io::BufWriter::new(f), spec).map_err(err)?;
        for &s in samples {
            match format {
                Format::Pcm16 => w
                    .write_sample((s * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
                    .map_err(err)?,
                Format::Float => w.write_sample(s).map_err(err)?,
            }
        }
        w.finalize().map_err(err)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_folders() {
        assert_eq!(
            class_folder("Turdus migratorius_American Robin"),
            "Turdus migratorius_American Robin"
        );
        assert_eq!(class_folder("a/b:c"), "a_b_c");
        assert_eq!(class_folder("..x"), "_.x");
        assert_eq!(class_folder("  "), "unnamed");
    }
}
