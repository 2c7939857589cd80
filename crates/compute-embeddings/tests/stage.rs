//! compute-embeddings end to end with the tiny ONNX model the tests build
//! (soundscape_embed::testmodel), whose outputs are known in closed form: windows, the padded
//! tail, batches, detections, the tables read back, the report, isolation and reruns.

use std::path::{Path, PathBuf};
use std::process::Command;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float32Type, Float64Type, Int32Type};
use soundscape_embed::testmodel;

const RATE: u32 = testmodel::SAMPLE_RATE;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_compute-embeddings"))
}

/// 1 s of a 1 kHz cosine, 1 s of 3 kHz, 1 s of the Nyquist alternation, 0.6 s of 1 kHz.
fn signal() -> Vec<i16> {
    let mut s = Vec::new();
    let n = RATE as usize;
    let cos = |f: f64, i: usize| (2.0 * std::f64::consts::PI * f * i as f64 / RATE as f64).cos();
    s.extend((0..n).map(|i| (16384.0 * cos(1000.0, i)).round() as i16));
    s.extend((0..n).map(|i| (16384.0 * cos(3000.0, i)).round() as i16));
    s.extend((0..n).map(|i| if i % 2 == 0 { 16384 } else { -16384 }));
    s.extend((0..n * 6 / 10).map(|i| (16384.0 * cos(1000.0, i)).round() as i16));
    s
}

/// The embedding of the window starting at `start` (samples), zero-padded, with the bound of
/// the rounding error of a float32 dot product of that length (`n * eps/2 * sum |x w|`).
fn expected_of(samples: &[f64], start: usize) -> Vec<(f64, f64)> {
    let n = RATE as usize;
    (0..4)
        .map(|j| {
            let terms = (0..n).map(|k| {
                let x = samples.get(start + k).copied().unwrap_or(0.0);
                x * testmodel::weight(k, j)
            });
            let (sum, abs) = terms.fold((0.0, 0.0), |(s, a), t| (s + t, a + t.abs()));
            (sum, n as f64 * f32::EPSILON as f64 / 2.0 * abs + 1e-7)
        })
        .collect()
}

struct Setup {
    _tmp: tempfile::TempDir,
    models: PathBuf,
    input: PathBuf,
    out: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    testmodel::write(&models.join(testmodel::NAME)).unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let put = |name: &str, bytes: &[u8]| std::fs::write(input.join(name), bytes).unwrap();
    put(
        "A_20210804_050000.wav",
        &soundscape_testkit::wav_of(RATE, &signal(), None),
    );
    put(
        "B_20210804_051000.wav",
        &soundscape_testkit::wav_of(RATE, &vec![0i16; 4000], None),
    );
    put("C_20210804_052000.wav", b"not audio at all");
    put(
        "D_20210804_053000.wav",
        &soundscape_testkit::wav_of(RATE, &signal(), None),
    );
    let out = tmp.path().join("out");
    Setup {
        _tmp: tmp,
        models,
        input,
        out,
    }
}

fn run(s: &Setup, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut c = bin();
    c.args(["--input"])
        .arg(&s.input)
        .arg("--out")
        .arg(out)
        .args(["--model", testmodel::NAME, "--models-dir"])
        .arg(&s.models)
        .args(["--no-progress", "--min-confidence", "0.5", "--top-k", "2"])
        .args(extra)
        .env(soundscape_core::isolate::POISON_ENV, "D_20210804_053000");
    c.output().unwrap()
}

fn read(path: &Path) -> arrow::record_batch::RecordBatch {
    soundscape_testkit::read_parquet(path)
}

/// A's four windows against the closed form.
fn check_embeddings(emb: &arrow::record_batch::RecordBatch) {
    let x: Vec<f64> = signal().iter().map(|&v| v as f64 / 32768.0).collect();
    check_rows(emb, &[0, 1, 2, 3], &x);
}

/// The embeddings of `rows` (window k of the signal `x` in row `rows[k]`) against the
/// closed form.
fn check_rows(emb: &arrow::record_batch::RecordBatch, rows: &[usize], x: &[f64]) {
    let list = emb
        .column_by_name("embedding")
        .unwrap()
        .as_fixed_size_list();
    assert_eq!(list.value_length(), 4);
    for (w, &row) in rows.iter().enumerate() {
        let got = list.value(row);
        let got = got.as_primitive::<Float32Type>();
        for (j, (want, tol)) in expected_of(x, w * RATE as usize).iter().enumerate() {
            assert!(
                (got.value(j) as f64 - want).abs() <= *tol,
                "window {w} (row {row}) dim {j}: {} vs {want} (bound {tol})",
                got.value(j)
            );
        }
    }
}

#[test]
fn channels_each_on_their_own_or_mixed() {
    let s = setup();
    let input = s.input.with_file_name("stereo");
    std::fs::create_dir_all(&input).unwrap();
    // Left: the test signal; right: a 3 kHz cosine of the same length.
    let left = signal();
    let right: Vec<i16> = (0..left.len())
        .map(|i| {
            let t = i as f64 / RATE as f64;
            (12000.0 * (2.0 * std::f64::consts::PI * 3000.0 * t).cos()).round() as i16
        })
        .collect();
    let both: Vec<i16> = left
        .iter()
        .zip(&right)
        .flat_map(|(&l, &r)| [l, r])
        .collect();
    std::fs::write(
        input.join("S_20210804_060000.wav"),
        soundscape_testkit::wav_channels(RATE, 2, &both, None),
    )
    .unwrap();
    let go = |out: &Path, extra: &[&str]| {
        let o = bin()
            .arg("--input")
            .arg(&input)
            .arg("--out")
            .arg(out)
            .args(["--model", testmodel::NAME, "--models-dir"])
            .arg(&s.models)
            .args(["--no-progress", "--min-confidence", "0.5"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let value = |v: &[i16]| -> Vec<f64> { v.iter().map(|&x| x as f64 / 32768.0).collect() };

    // Each channel on its own (the default): rows by window, then channel.
    let each = s.out.with_file_name("each");
    go(&each, &["--batch", "3"]);
    let emb = read(&each.join("embeddings.parquet"));
    assert_eq!(emb.num_rows(), 8);
    let col = |b: &arrow::record_batch::RecordBatch, name: &str| -> Vec<i32> {
        b.column_by_name(name)
            .unwrap()
            .as_primitive::<Int32Type>()
            .values()
            .to_vec()
    };
    assert_eq!(col(&emb, "channel"), [0, 1, 0, 1, 0, 1, 0, 1]);
    assert_eq!(col(&emb, "window"), [0, 0, 1, 1, 2, 2, 3, 3]);
    check_rows(&emb, &[0, 2, 4, 6], &value(&left));
    check_rows(&emb, &[1, 3, 5, 7], &value(&right));
    let det = read(&each.join("detections.parquet"));
    let labels = det.column_by_name("label").unwrap().as_string::<i32>();
    let found: Vec<(i32, i32, &str)> = (0..det.num_rows())
        .map(|i| {
            (
                col(&det, "window")[i],
                col(&det, "channel")[i],
                labels.value(i),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (0, 0, "tone_1k"),
            (0, 1, "tone_3k"),
            (1, 0, "tone_3k"),
            (1, 1, "tone_3k"),
            (2, 0, "nyquist"),
            (2, 1, "tone_3k"),
            (3, 0, "tone_1k"),
            (3, 1, "tone_3k"),
        ]
    );
    let raven =
        std::fs::read_to_string(each.join("review/S_20210804_060000.selections.txt")).unwrap();
    let channels: Vec<&str> = raven
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(2).unwrap())
        .collect();
    assert_eq!(
        channels,
        ["1", "2", "1", "2", "1", "2", "1", "2"],
        "{raven}"
    );
    let audacity =
        std::fs::read_to_string(each.join("review/S_20210804_060000.labels.txt")).unwrap();
    assert!(
        audacity.lines().nth(1).unwrap().contains("ch2 tone_3k"),
        "{audacity}"
    );

    // Mixed: one row per window, the channels' mean.
    let mix = s.out.with_file_name("mix");
    go(&mix, &["--channels", "mix"]);
    let emb = read(&mix.join("embeddings.parquet"));
    assert_eq!(col(&emb, "channel"), [0, 0, 0, 0]);
    let mean: Vec<f64> = value(&left)
        .iter()
        .zip(value(&right))
        .map(|(l, r)| (l + r) / 2.0)
        .collect();
    check_rows(&emb, &[0, 1, 2, 3], &mean);
}

#[test]
fn windows_embeddings_detections_and_report() {
    let s = setup();
    let o = run(&s, &s.out, &["--batch", "3"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.out.join("embeddings_report.json")).unwrap())
            .unwrap();
    let status = |id: &str| {
        report["recordings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id} not in the report"))
            .clone()
    };
    assert_eq!(status("A_20210804_050000")["status"], "done");
    assert_eq!(status("A_20210804_050000")["slices"], 4);
    assert_eq!(status("B_20210804_051000")["status"], "skipped");
    assert!(status("B_20210804_051000")["reason"]
        .as_str()
        .unwrap()
        .contains("too-short"));
    assert_eq!(status("C_20210804_052000")["status"], "failed");
    let d = status("D_20210804_053000");
    assert_eq!(d["status"], "failed");
    assert!(
        d["reason"].as_str().unwrap().contains("internal error"),
        "{d}"
    );
    assert_eq!(report["summary"]["total"], 4);

    let emb = read(&s.out.join("embeddings.parquet"));
    assert_eq!(
        emb.num_rows(),
        4,
        "only A's four windows (the last one padded)"
    );
    let starts = emb
        .column_by_name("start_time")
        .unwrap()
        .as_primitive::<Float64Type>();
    let ends = emb
        .column_by_name("end_time")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(starts.values(), &[0.0, 1.0, 2.0, 3.0]);
    assert_eq!(ends.values(), &[1.0, 2.0, 3.0, 3.6]);
    check_embeddings(&emb);
    let abs = emb.column_by_name("abs_start").unwrap();
    assert!(matches!(
        abs.data_type(),
        arrow::datatypes::DataType::Timestamp(_, Some(_))
    ));

    let det = read(&s.out.join("detections.parquet"));
    let labels = det.column_by_name("label").unwrap().as_string::<i32>();
    let windows = det
        .column_by_name("window")
        .unwrap()
        .as_primitive::<Int32Type>();
    let ranks = det
        .column_by_name("rank")
        .unwrap()
        .as_primitive::<Int32Type>();
    let above = det.column_by_name("above_threshold").unwrap().as_boolean();
    let top: Vec<(i32, &str)> = (0..det.num_rows())
        .filter(|&i| ranks.value(i) == 1)
        .map(|i| (windows.value(i), labels.value(i)))
        .collect();
    assert_eq!(
        top,
        [
            (0, "tone_1k"),
            (1, "tone_3k"),
            (2, "nyquist"),
            (3, "tone_1k")
        ]
    );
    // Top-2 per window: the winner above the threshold, the runner-up kept by --top-k.
    assert_eq!(det.num_rows(), 8);
    assert!((0..8).all(|i| above.value(i) == (ranks.value(i) == 1)));

    let raven =
        std::fs::read_to_string(s.out.join("review/A_20210804_050000.selections.txt")).unwrap();
    assert_eq!(raven.lines().count(), 5, "{raven}");
    assert!(raven.lines().nth(2).unwrap().contains("tone_3k"));
    let audacity =
        std::fs::read_to_string(s.out.join("review/A_20210804_050000.labels.txt")).unwrap();
    assert!(
        audacity.starts_with("0.000000\t1.000000\ttone_1k"),
        "{audacity}"
    );

    // A rerun with nothing changed does nothing.
    let before = std::fs::read(s.out.join("embeddings_report.json")).unwrap();
    let o = run(&s, &s.out, &["--batch", "3"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        std::fs::read(s.out.join("embeddings_report.json")).unwrap(),
        before
    );

    // One window per call gives the same embeddings.
    let one = s.out.with_file_name("out-batch1");
    let o = run(&s, &one, &["--batch", "1"]);
    assert_eq!(o.status.code(), Some(3));
    // One window per call: the same embeddings (not the same bits: tract's kernels for one row
    // and for three sum in another order).
    check_embeddings(&read(&one.join("embeddings.parquet")));
}

#[test]
fn overlap_and_unknown_model() {
    let s = setup();
    let o = run(&s, &s.out, &["--overlap", "0.5", "--no-review"]);
    assert_eq!(o.status.code(), Some(3));
    let emb = read(&s.out.join("embeddings.parquet"));
    let starts = emb
        .column_by_name("start_time")
        .unwrap()
        .as_primitive::<Float64Type>();
    // Windows every 0.5 s while at least 0.5 s of audio is left.
    assert_eq!(starts.values(), &[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0]);
    assert!(!s.out.join("review").exists());

    let mut c = bin();
    let o = c
        .args(["--input"])
        .arg(&s.input)
        .arg("--out")
        .arg(&s.out)
        .args(["--model", "no-such-model", "--models-dir"])
        .arg(&s.models)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no-such-model") && err.contains(testmodel::NAME),
        "{err}"
    );

    let o = bin()
        .args(["--list-models", "--models-dir"])
        .arg(&s.models)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains(testmodel::NAME));
}

#[test]
fn a_changed_weight_file_is_refused() {
    let s = setup();
    let onnx = s.models.join(testmodel::NAME).join("model.onnx");
    let mut bytes = std::fs::read(&onnx).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&onnx, bytes).unwrap();
    let o = run(&s, &s.out, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("sha256"));
}

/// Bursts of a 40–100 kHz sweep over faint noise, at 250 kHz.
fn bat_calls(seconds: f64) -> Vec<i16> {
    let sr = 250_000.0;
    (0..(seconds * sr) as usize)
        .map(|i| {
            let t = i as f64 / sr;
            let phase = (t * 20.0).fract();
            let noise = ((i * 7919 % 1013) as f64 / 1013.0 - 0.5) * 30.0;
            let call = if phase < 0.1 {
                let f = 100_000.0 - 600_000.0 * phase;
                8000.0 * (2.0 * std::f64::consts::PI * f * t).sin()
            } else {
                0.0
            };
            (call + noise).round() as i16
        })
        .collect()
}

#[test]
fn image_models_average_their_windows_and_skip_blank_and_low_rate_recordings() {
    use soundscape_embed::frontend::batbot::{BatbotImage, BatbotParams};
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    testmodel::write_image(&models.join(testmodel::IMAGE_NAME)).unwrap();
    // The embedding's length comes from the graph (an empty unit's table still says it).
    let dir = soundscape_embed::manifest::ModelDir::find(&models, testmodel::IMAGE_NAME).unwrap();
    let model = soundscape_embed::model::Model::load(dir, 4).unwrap();
    assert_eq!(model.network.embedding_dim(), 3);
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    let calls = bat_calls(0.4);
    let put = |name: &str, bytes: Vec<u8>| std::fs::write(input.join(name), bytes).unwrap();
    put(
        "E_20210804_220000.wav",
        soundscape_testkit::wav_of(250_000, &calls, None),
    );
    put(
        "F_20210804_221000.wav",
        soundscape_testkit::wav_of(250_000, &vec![0; 50_000], None),
    );
    put(
        "G_20210804_222000.wav",
        soundscape_testkit::wav_of(8_000, &bat_calls(0.1), None),
    );
    let out = tmp.path().join("out");
    let o = bin()
        .arg("--input")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .args(["--model", testmodel::IMAGE_NAME, "--models-dir"])
        .arg(&models)
        .args(["--no-progress", "--min-confidence", "0", "--top-k", "2"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("embeddings_report.json")).unwrap())
            .unwrap();
    let recs = report["recordings"].as_array().unwrap();
    let by_id = |id: &str| recs.iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!(by_id("E_20210804_220000")["status"], "done");
    assert_eq!(by_id("E_20210804_220000")["slices"], 1);
    let f = by_id("F_20210804_221000");
    assert_eq!(f["status"], "skipped");
    assert!(f["reason"].as_str().unwrap().contains("(silent)"), "{f}");
    let g = by_id("G_20210804_222000");
    assert_eq!(g["status"], "skipped");
    assert!(
        g["reason"].as_str().unwrap().contains("too-low-rate"),
        "{g}"
    );

    // The embedding is the mean over the picture's windows of their mean grey level.
    let img = BatbotImage::new(BatbotParams::default(), 250_000).unwrap();
    let samples: Vec<f32> = calls.iter().map(|&v| v as f32 / 32768.0).collect();
    let pic = img.picture(&samples, 250_000).unwrap();
    let wins = img.windows(&pic).unwrap();
    assert!(wins.len() > 1);
    let want = wins
        .iter()
        .map(|w| w.iter().map(|&v| v as f64).sum::<f64>() / w.len() as f64)
        .sum::<f64>()
        / wins.len() as f64;
    let emb = read(&out.join("embeddings.parquet"));
    assert_eq!(emb.num_rows(), 1);
    let list = emb
        .column_by_name("embedding")
        .unwrap()
        .as_fixed_size_list();
    assert_eq!(list.value_length(), 3);
    let e = list.value(0);
    let e = e.as_primitive::<Float32Type>();
    for c in 0..3 {
        assert!(
            (e.value(c) as f64 - want).abs() < 1e-3,
            "{} vs {want}",
            e.value(c)
        );
    }
    let det = read(&out.join("detections.parquet"));
    let labels = det.column_by_name("label").unwrap().as_string::<i32>();
    let scores = det
        .column_by_name("score")
        .unwrap()
        .as_primitive::<Float32Type>();
    assert_eq!(det.num_rows(), 2);
    let score = |l: &str| {
        (0..2)
            .find(|&i| labels.value(i) == l)
            .map(|i| scores.value(i) as f64)
            .unwrap()
    };
    assert!((score("bright") - want / 255.0).abs() < 1e-5);
    assert!((score("bright") + score("dark") - 1.0).abs() < 1e-5);
}
