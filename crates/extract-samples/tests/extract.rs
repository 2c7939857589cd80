//! extract-samples end to end: a detections table of known counts over real WAV files, the
//! rules it is run with, and the clips, sidecars, ledger and report that must come out.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array, LargeStringArray,
    RecordBatch, StringArray, TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use serde_json::Value;
use soundscape_extract::draw::uniform;

const BIN: &str = env!("CARGO_BIN_EXE_extract-samples");
const RATE: u32 = 8000;
const SECONDS: u32 = 60;
/// 2021-08-04T12:00:00Z in nanoseconds.
const T0_NS: i64 = 1_628_078_400_000_000_000;

/// One row of a detections table.
#[derive(Clone)]
struct Row {
    id: &'static str,
    channel: i32,
    window: i32,
    start: f64,
    end: f64,
    label: &'static str,
    score: f32,
    above: bool,
}

fn row(id: &'static str, channel: i32, window: i32, label: &'static str, score: f32) -> Row {
    Row {
        id,
        channel,
        window,
        start: window as f64 * 3.0,
        end: (window as f64 * 3.0 + 3.0).min(SECONDS as f64),
        label,
        score,
        above: score >= 0.5,
    }
}

/// The table as compute-embeddings writes it; `wide` writes the types pandas would (int64,
/// large strings) to check the reader casts them.
fn write_table(path: &Path, rows: &[Row], wide: bool) {
    let n = rows.len();
    let s = |f: &dyn Fn(&Row) -> String| -> ArrayRef {
        let v: Vec<String> = rows.iter().map(f).collect();
        if wide {
            Arc::new(LargeStringArray::from(v))
        } else {
            Arc::new(StringArray::from(v))
        }
    };
    let i = |f: &dyn Fn(&Row) -> i32| -> ArrayRef {
        if wide {
            Arc::new(Int64Array::from(
                rows.iter().map(|r| f(r) as i64).collect::<Vec<_>>(),
            ))
        } else {
            Arc::new(Int32Array::from(rows.iter().map(f).collect::<Vec<_>>()))
        }
    };
    let text = if wide {
        DataType::LargeUtf8
    } else {
        DataType::Utf8
    };
    let int = if wide {
        DataType::Int64
    } else {
        DataType::Int32
    };
    let ts = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
    let schema = Schema::new(vec![
        Field::new("id", text.clone(), false),
        Field::new("recording_index", DataType::Int64, false),
        Field::new("recorder", text.clone(), false),
        Field::new("channel", int.clone(), false),
        Field::new("window", int.clone(), false),
        Field::new("start_time", DataType::Float64, false),
        Field::new("end_time", DataType::Float64, false),
        Field::new("abs_start", ts, false),
        Field::new("label", text.clone(), false),
        Field::new("scientific_name", text.clone(), false),
        Field::new("common_name", text, false),
        Field::new("score", DataType::Float32, false),
        Field::new("rank", int, false),
        Field::new("above_threshold", DataType::Boolean, false),
    ]);
    let cols: Vec<ArrayRef> = vec![
        s(&|r| r.id.into()),
        Arc::new(Int64Array::from(
            rows.iter()
                .map(|r| if r.id.starts_with("site-a") { 0 } else { 1 })
                .collect::<Vec<i64>>(),
        )),
        s(&|_| "R1".into()),
        i(&|r| r.channel),
        i(&|r| r.window),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| r.start).collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| r.end).collect::<Vec<_>>(),
        )),
        Arc::new(
            TimestampNanosecondArray::from(
                rows.iter()
                    .map(|r| T0_NS + (r.start * 1e9) as i64)
                    .collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        s(&|r| r.label.into()),
        s(&|r| r.label.split('_').next().unwrap().into()),
        s(&|r| r.label.split('_').nth(1).unwrap_or("").into()),
        Arc::new(Float32Array::from(
            rows.iter().map(|r| r.score).collect::<Vec<_>>(),
        )),
        i(&|_| 1),
        Arc::new(BooleanArray::from(
            rows.iter().map(|r| r.above).collect::<Vec<_>>(),
        )),
    ];
    let batch = RecordBatch::try_new(Arc::new(schema), cols).unwrap();
    assert_eq!(batch.num_rows(), n);
    let f = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// A stereo 16-bit recording: quiet noise, channel 1 its negation plus one, and a loud tone
/// burst on both channels from 10.0 to 10.5 s.
fn recording_samples() -> Vec<i16> {
    let frames = (RATE * SECONDS) as usize;
    let mut out = Vec::with_capacity(frames * 2);
    for f in 0..frames {
        let t = f as f64 / RATE as f64;
        let noise = ((f * 7919) % 61) as i16 - 30;
        let tone = if (10.0..10.5).contains(&t) {
            (12_000.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i16
        } else {
            0
        };
        out.push(noise + tone);
        out.push(-noise + 1 + tone);
    }
    out
}

fn write_recordings(dir: &Path) -> Vec<i16> {
    let samples = recording_samples();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("site-a_20210804_120000.wav"),
        soundscape_testkit::wav_channels(RATE, 2, &samples, None),
    )
    .unwrap();
    samples
}

/// The report compute-embeddings writes beside its tables, naming the recordings.
fn write_embeddings_report(table_dir: &Path, recordings: &[(&str, PathBuf)]) {
    let recs: Vec<Value> = recordings
        .iter()
        .enumerate()
        .map(|(i, (id, p))| {
            serde_json::json!({"index": i, "id": id, "path": p.display().to_string(), "status": "done",
                               "slices": 20, "rows": 0, "seconds": 0.1})
        })
        .collect();
    let report = serde_json::json!({"stage": "compute-embeddings", "version": "0.1.0", "started_at": "", "finished_at": "",
        "summary": {"total": recs.len(), "done": recs.len(), "skipped": 0, "failed": 0}, "outputs": [], "recordings": recs});
    std::fs::write(
        table_dir.join("embeddings_report.json"),
        serde_json::to_vec(&report).unwrap(),
    )
    .unwrap();
}

fn run(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(BIN)
        .args(args)
        .arg("--no-progress")
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// extract-samples over `table` with `rules` into `out`, and more arguments.
fn extract(table: &Path, rules: &Path, out: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "--detections",
        table.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn key(r: &Row) -> String {
    format!("{}|{}|{}|{}|", r.id, r.channel, r.window, r.label)
}

const ROBIN: &str = "Turdus migratorius_American Robin";
const RAVEN: &str = "Corvus corax_Common Raven";
const WREN: &str = "Troglodytes aedon_House Wren";
const EDGE: &str = "Edge tone_Edge";

#[test]
fn rules_on_a_table_of_known_counts_give_the_expected_clips() {
    let tmp = tempfile::tempdir().unwrap();
    let samples = write_recordings(&tmp.path().join("in"));
    let units = tmp.path().join("unit");
    std::fs::create_dir_all(&units).unwrap();
    // 20 windows of 3 s on two channels: a robin in every window of channel 0 (score 0.9) and
    // of channel 1 (0.8); a raven in every window of both channels (0.6); a wren below the
    // stage's threshold (0.3) in every window of channel 0; edge tones at windows 3 and 10.
    let mut rows = Vec::new();
    for w in 0..20 {
        rows.push(row("site-a_20210804_120000", 0, w, ROBIN, 0.9));
        rows.push(row("site-a_20210804_120000", 1, w, ROBIN, 0.8));
        rows.push(row("site-a_20210804_120000", 0, w, RAVEN, 0.6));
        rows.push(row("site-a_20210804_120000", 1, w, RAVEN, 0.6));
        rows.push(row("site-a_20210804_120000", 0, w, WREN, 0.3));
    }
    // Window 3 (9-12 s) holds the burst at 10.0-10.5 s in the middle of a 3 s clip; a detection
    // centred at 11.5 s puts it in the clip's first eighth.
    let mut centred = row("site-a_20210804_120000", 0, 3, EDGE, 0.9);
    centred.start = 9.0;
    centred.end = 12.0;
    let mut border = row("site-a_20210804_120000", 0, 4, EDGE, 0.9);
    border.start = 10.0;
    border.end = 13.0;
    rows.push(centred);
    rows.push(border);
    let table = units.join("detections.parquet");
    write_table(&table, &rows, false);
    write_embeddings_report(
        &units,
        &[(
            "site-a_20210804_120000",
            tmp.path().join("in/site-a_20210804_120000.wav"),
        )],
    );
    let rules = tmp.path().join("rules.json");
    std::fs::write(
        &rules,
        serde_json::json!({"seed": 11, "rules": [
            {"name": "robins", "classes": ["Turdus *"], "channels": [0], "length": 2.0},
            {"name": "ravens", "classes": ["*raven"], "rate": 0.5, "length": 1.0, "format": "float"},
            {"name": "wrens", "classes": ["Troglodytes*"], "min_score": 0.25, "channels": "*", "dst": "review/wrens"},
            {"name": "edges", "classes": ["Edge*"], "length": 3.0, "object_filter": true}
        ]})
        .to_string(),
    )
    .unwrap();
    let out = tmp.path().join("clips");
    let (code, stdout, stderr) = extract(&table, &rules, &out, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    // Robins on channel 0 only (channel 1's fall to no rule: the raven rule's classes differ).
    let robins = files(&out.join("unchecked").join(ROBIN), "wav");
    assert_eq!(robins.len(), 20, "{robins:?}");
    // Ravens: exactly the detections whose draw under seed 11 is below one half.
    let raven_rows: Vec<&Row> = rows.iter().filter(|r| r.label == RAVEN).collect();
    let drawn: Vec<&&Row> = raven_rows
        .iter()
        .filter(|r| uniform(11, &key(r)) < 0.5)
        .collect();
    let ravens = files(&out.join("unchecked").join(RAVEN), "wav");
    assert_eq!(ravens.len(), drawn.len());
    assert!(drawn.len() > 8 && drawn.len() < 32, "{}", drawn.len());
    // Wrens below the stage's threshold, taken by the rule's own, into the rule's folder.
    assert_eq!(files(&out.join("review/wrens").join(WREN), "wav").len(), 20);
    // The object filter keeps the centred edge tone only.
    let edges = files(&out.join("unchecked").join(EDGE), "wav");
    assert_eq!(edges.len(), 1, "{edges:?}");

    let report = json(&out.join("extract_report.json"));
    let s = &report["summary"];
    assert_eq!(s["matched"], 20 + 40 + 20 + 2);
    assert_eq!(s["extracted"], 20 + drawn.len() + 20 + 1);
    assert_eq!(s["not_drawn"], 40 - drawn.len());
    assert_eq!(s["filtered"], 1);
    assert_eq!(s["failed"], 0);
    assert_eq!(report["rules"]["ravens"]["extracted"], drawn.len());
    assert_eq!(report["recordings"].as_array().unwrap().len(), 1);
    assert!(report["recordings_from"]
        .as_str()
        .unwrap()
        .ends_with("embeddings_report.json"));

    // A clip holds the recording's samples: robin at window 5 (15-18 s) is centred on 16.5 s,
    // 2 s long, channel 0, bit for bit.
    let wav = out
        .join("unchecked")
        .join(ROBIN)
        .join("site-a_20210804_120000_ch00_000015500ms.wav");
    let mut r = hound::WavReader::open(&wav).unwrap();
    assert_eq!(
        (
            r.spec().channels,
            r.spec().sample_rate,
            r.spec().bits_per_sample
        ),
        (1, RATE, 16)
    );
    let got: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap()).collect();
    let from = (15.5 * RATE as f64) as usize;
    let want: Vec<i16> = samples[from * 2..(from + 2 * RATE as usize) * 2]
        .iter()
        .step_by(2)
        .copied()
        .collect();
    assert_eq!(got, want);
    assert!(out
        .join("unchecked")
        .join(ROBIN)
        .join("site-a_20210804_120000_ch00_000000500ms.wav")
        .is_file());
    let side = json(&wav.with_extension("json"));
    assert_eq!(side["source"], "site-a");
    assert_eq!(side["channel"], 0);
    assert_eq!(side["detection"]["label"], ROBIN);
    assert_eq!(side["detection"]["window"], 5);
    assert_eq!(side["clip"]["start_s"], 15.5);
    assert_eq!(side["clip"]["end_s"], 17.5);
    assert_eq!(side["clip"]["abs_start"], "2021-08-04T12:00:15.500Z");
    assert_eq!(side["rule"]["name"], "robins");
    assert_eq!(side["rule"]["seed"], 11);
    assert!((side["detection"]["score"].as_f64().unwrap() - 0.9).abs() < 1e-6);
    // Raven clips are float, from the detection's own channel (channel 1 is -noise + 1).
    let raven_ch1 = drawn
        .iter()
        .find(|r| r.channel == 1 && r.window > 0 && r.window < 19)
        .expect("a channel-1 raven");
    let start = raven_ch1.window as f64 * 3.0 + 1.0;
    let wav = out.join("unchecked").join(RAVEN).join(format!(
        "site-a_20210804_120000_ch01_{:09}ms.wav",
        (start * 1000.0) as u64
    ));
    let mut r = hound::WavReader::open(&wav).unwrap();
    assert_eq!(
        (r.spec().bits_per_sample, r.spec().sample_format),
        (32, hound::SampleFormat::Float)
    );
    let got: Vec<f32> = r.samples::<f32>().map(|s| s.unwrap()).collect();
    let from = (start * RATE as f64) as usize;
    let want: Vec<f32> = samples[from * 2 + 1..(from + RATE as usize) * 2]
        .iter()
        .step_by(2)
        .map(|&s| s as f32 / 32768.0)
        .collect();
    assert_eq!(got, want);
    let side = json(&wav.with_extension("json"));
    assert_eq!(side["rule"]["probability"], 0.5);
    assert!(side["rule"]["draw"].as_f64().unwrap() < 0.5);
    let edge_side = json(&edges[0].with_extension("json"));
    assert!(edge_side["rule"]["border_share"].as_f64().unwrap() < 0.25);

    // The ledger has every decision once; a rerun decides nothing again and writes nothing.
    let ledger = std::fs::read_to_string(out.join("extracted.jsonl")).unwrap();
    assert_eq!(ledger.lines().count(), 82);
    let before = walk(&out);
    let (code, stdout, stderr) = extract(&table, &rules, &out, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("82 decided before"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(out.join("extracted.jsonl")).unwrap(),
        ledger
    );
    let after = walk(&out);
    assert_eq!(
        before
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "wav"))
            .count(),
        after
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "wav"))
            .count()
    );

    // Deterministic under the seed: another folder, the same clips; another seed, other ravens.
    let out2 = tmp.path().join("clips2");
    let (code, ..) = extract(&table, &rules, &out2, &[]);
    assert_eq!(code, 0);
    let names = |d: &Path| {
        files(&d.join("unchecked").join(RAVEN), "wav")
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&out), names(&out2));
    let out3 = tmp.path().join("clips3");
    let (code, ..) = extract(&table, &rules, &out3, &["--seed", "12"]);
    assert_eq!(code, 0);
    assert_ne!(names(&out), names(&out3));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn auto_rate_balances_against_the_stored_clips() {
    let tmp = tempfile::tempdir().unwrap();
    write_recordings(&tmp.path().join("in"));
    let out = tmp.path().join("clips");
    // Already stored: 10 robins, 30 ravens.
    for (label, n) in [(ROBIN, 10), (RAVEN, 30)] {
        let d = out.join("unchecked").join(label);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..n {
            std::fs::write(d.join(format!("old{i}.wav")), b"RIFF").unwrap();
        }
    }
    let rows: Vec<Row> = (0..20)
        .map(|w| row("site-a_20210804_120000", 0, w, ROBIN, 0.9))
        .collect();
    let table = tmp.path().join("detections.parquet");
    // The types pandas writes (int64, large strings) are read as well.
    write_table(&table, &rows, true);
    let rules = tmp.path().join("rules.json");
    std::fs::write(
        &rules,
        r#"{"rules": [{"classes": ["*"], "rate": "auto", "length": 1}]}"#,
    )
    .unwrap();
    let (code, stdout, stderr) = extract(
        &table,
        &rules,
        &out,
        &["--input", tmp.path().join("in").to_str().unwrap()],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // Robins are taken with certainty while at or below the mean of the two classes: from 10
    // to 30 stored, the first 20 detections all go in.
    assert_eq!(
        files(&out.join("unchecked").join(ROBIN), "wav").len(),
        10 + 20
    );
    let report = json(&out.join("extract_report.json"));
    assert_eq!(report["summary"]["extracted"], 20);
}

#[test]
fn missing_and_broken_recordings_fail_alone() {
    let tmp = tempfile::tempdir().unwrap();
    write_recordings(&tmp.path().join("in"));
    std::fs::write(
        tmp.path().join("in/site-b_20210804_120000.wav"),
        b"RIFF\x10\x00\x00\x00WAVEjunk",
    )
    .unwrap();
    let mut rows: Vec<Row> = (0..3)
        .map(|w| row("site-a_20210804_120000", 0, w, ROBIN, 0.9))
        .collect();
    rows.extend((0..2).map(|w| row("site-b_20210804_120000", 0, w, ROBIN, 0.9)));
    rows.push(row("site-c_20210804_120000", 0, 0, ROBIN, 0.9));
    // A channel the file does not have, and a window past the end of the audio.
    rows.push(row("site-a_20210804_120000", 5, 1, ROBIN, 0.9));
    let mut late = row("site-a_20210804_120000", 0, 30, ROBIN, 0.9);
    late.start = 90.0;
    late.end = 93.0;
    rows.push(late);
    // A detection at the very start: its clip cannot begin before the file.
    let mut early = row("site-a_20210804_120000", 0, 40, ROBIN, 0.9);
    early.start = 0.0;
    early.end = 0.4;
    rows.push(early);
    let table = tmp.path().join("detections.parquet");
    write_table(&table, &rows, false);
    let rules = tmp.path().join("rules.json");
    std::fs::write(&rules, r#"{"rules": [{"classes": ["*"], "length": 1}]}"#).unwrap();
    let out = tmp.path().join("clips");
    let input = tmp.path().join("in");
    let (code, stdout, stderr) =
        extract(&table, &rules, &out, &["--input", input.to_str().unwrap()]);
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    let report = json(&out.join("extract_report.json"));
    // The header of site-a says 60 s: a clip asked for past the end is moved to end with it,
    // one before the start to begin with it.
    assert_eq!(report["summary"]["extracted"], 5, "{report:#}");
    let robins = out.join("unchecked").join(ROBIN);
    assert!(robins
        .join("site-a_20210804_120000_ch00_000059000ms.wav")
        .is_file());
    assert!(robins
        .join("site-a_20210804_120000_ch00_000000000ms.wav")
        .is_file());
    assert_eq!(report["summary"]["failed"], 4);
    let reasons: Vec<String> = report["failed_detections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["reason"].as_str().unwrap().to_string())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("site-c") && r.contains("not found")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("channel 5")),
        "{reasons:?}"
    );
    assert_eq!(
        reasons.iter().filter(|r| r.contains("site-b")).count(),
        2,
        "{reasons:?}"
    );
    let statuses: Vec<&str> = report["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["done", "failed", "failed"]);
    // The failures are not in the ledger: a rerun tries them again.
    let ledger = std::fs::read_to_string(out.join("extracted.jsonl")).unwrap();
    assert_eq!(ledger.lines().count(), 5);
    let (code, ..) = extract(&table, &rules, &out, &["--input", input.to_str().unwrap()]);
    assert_eq!(code, 3);
    let report = json(&out.join("extract_report.json"));
    assert_eq!(
        (
            report["summary"]["already_decided"].as_u64(),
            report["summary"]["failed"].as_u64()
        ),
        (Some(5), Some(4))
    );
}

#[test]
fn nothing_to_do_and_usage() {
    let tmp = tempfile::tempdir().unwrap();
    let rows = vec![row("site-a_20210804_120000", 0, 0, ROBIN, 0.9)];
    let table = tmp.path().join("detections.parquet");
    write_table(&table, &rows, false);
    let rules = tmp.path().join("rules.json");
    std::fs::write(&rules, r#"{"rules": [{"classes": ["Nothing*"]}]}"#).unwrap();
    let out = tmp.path().join("clips");
    let (code, stdout, _) = extract(&table, &rules, &out, &[]);
    assert_eq!(code, 0);
    assert!(stdout.contains("nothing to extract"), "{stdout}");
    std::fs::write(&rules, r#"{"rules": [{"classes": ["*"], "rate": 2}]}"#).unwrap();
    let (code, _, stderr) = extract(&table, &rules, &out, &[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("probability"), "{stderr}");
    let (code, ..) = run(&["--rules", rules.to_str().unwrap()]);
    assert_eq!(code, 2);
    let (code, stdout, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("--detections"));
}
