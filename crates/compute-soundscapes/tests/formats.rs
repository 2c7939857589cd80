//! Compressed formats go through the whole stage (frame counts found by decoding when the
//! header does not give them).

use std::path::Path;

use compute_soundscapes::{run, Job};
use soundscape_core::Status;
use soundscape_engine::analyze::AnalyzeOptions;
use soundscape_table::input::{scan_folder, UnitDefaults};

/// Runs the stage over copies of `files` (under tests/fixtures/`fixtures`) in a fresh folder,
/// expecting 48 kHz.
fn run_over(fixtures: &str, files: &[&str]) -> soundscape_core::RunReport {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(fixtures);
    let dir = tempfile::tempdir().unwrap();
    for f in files {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let rows = scan_folder(dir.path(), &UnitDefaults::default()).unwrap();
    let mut job = Job::new(rows, dir.path().join("out"));
    job.options = AnalyzeOptions {
        expected_sample_rate: Some(48_000),
        ..Default::default()
    };
    run(&job, &|_| {}, &|_| {}).unwrap().report
}

#[test]
fn mp3_and_ogg_recordings_are_analysed() {
    let r = run_over(
        "formats",
        &["LONG_20210804_101500.ogg", "LONG_20210804_103000.mp3"],
    );
    for o in &r.recordings {
        assert_eq!(o.status, Status::Done, "{}: {:?}", o.id, o.reason);
        assert_eq!((o.slices, o.rows), (1, 96), "{}", o.id);
        assert!(
            (o.duration_s.unwrap() - 31.0).abs() < 0.1,
            "{}: {:?}",
            o.id,
            o.duration_s
        );
    }
    assert_eq!(r.exit_code(), 0);
}

#[test]
fn an_unexpected_sample_rate_fails_that_recording_only() {
    let r = run_over(
        "golden/edge",
        &["E441_20210804_070000.flac", "ESTEREO_20210804_071000.flac"],
    );
    let e441 = &r.recordings[0];
    assert_eq!(e441.status, Status::Failed);
    assert!(e441
        .reason
        .as_ref()
        .unwrap()
        .contains("unexpected sample rate 44100 Hz"));
    assert!(e441
        .reason
        .as_ref()
        .unwrap()
        .contains("E441_20210804_070000.flac"));
    assert_eq!(r.recordings[1].status, Status::Done);
    assert_eq!(r.exit_code(), 3);
}

/// A real Vorbis stream at 16 kHz, as ffmpeg's libvorbis writes it: its decoder hands out 512
/// samples first, exactly half a frame, which once made frame 0 read past what was received.
#[test]
fn vorbis_at_16_khz_whose_first_block_is_half_a_frame() {
    let dir = tempfile::tempdir().unwrap();
    let ogg = dir.path().join("V16K_20210804_050000.ogg");
    let made = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg("anoisesrc=d=35:c=pink:r=16000:a=0.3")
        .args(["-ac", "1", "-c:a", "libvorbis", "-q:a", "0"])
        .arg(&ogg)
        .status()
        .expect("ffmpeg is installed by scripts/setup.sh");
    assert!(made.success());
    let rows = scan_folder(dir.path(), &UnitDefaults::default()).unwrap();
    let report = run(&Job::new(rows, dir.path().join("out")), &|_| {}, &|_| {})
        .unwrap()
        .report;
    let o = &report.recordings[0];
    assert_eq!(o.status, Status::Done, "{:?}", o.reason);
    assert_eq!((o.slices, o.sample_rate), (1, Some(16_000)));
}

/// One recording whose analysis panics (the test hook) fails alone: the others' rows are
/// written, the report names the poisoned one, and the exit code says partial.
#[test]
fn a_poisoned_recording_fails_alone() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/golden/mini");
    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("audio");
    std::fs::create_dir_all(&audio).unwrap();
    for f in ["MINI_20210804_055000.wav", "MINI_20210804_062000.wav"] {
        std::fs::copy(src.join(f), audio.join(f)).unwrap();
    }
    let out = dir.path().join("out");
    let done = std::process::Command::new(env!("CARGO_BIN_EXE_compute-soundscapes"))
        .arg("--input")
        .arg(&audio)
        .arg("--out")
        .arg(&out)
        .args(["--no-plots", "--no-progress"])
        .env(soundscape_core::isolate::POISON_ENV, "MINI_20210804_055000")
        .output()
        .unwrap();
    assert_eq!(
        done.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let report: soundscape_core::RunReport =
        serde_json::from_slice(&std::fs::read(out.join("run_report.json")).unwrap()).unwrap();
    let by_id = |id: &str| report.recordings.iter().find(|o| o.id == id).unwrap();
    let bad = by_id("MINI_20210804_055000");
    assert_eq!(bad.status, Status::Failed);
    let reason = bad.reason.as_deref().unwrap();
    assert!(
        reason.contains("MINI_20210804_055000.wav") && reason.contains("poisoned"),
        "{reason}"
    );
    let good = by_id("MINI_20210804_062000");
    assert_eq!((good.status, good.rows), (Status::Done, 96));
    let table = std::fs::File::open(out.join("hashed_soundscape.parquet")).unwrap();
    let rows: usize = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(table)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(rows, 96);
}

/// A WAV whose header declares more frames than its body holds: a little short (within the
/// tolerated share) it is analysed on what was decoded, with both counts in the warning, and
/// the spectrogram stream ends at the decoded end too; far short it fails as truncated.
#[test]
fn a_header_a_little_longer_than_the_body_is_analysed_on_what_was_decoded() {
    let rate = 48_000u32;
    let frames = 35 * rate;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, declared: u32| {
        let mut bytes = soundscape_testkit::wav(rate, frames, None);
        let data_len = (frames * 2) as usize;
        let size_at = bytes.len() - data_len - 4;
        bytes[size_at..size_at + 4].copy_from_slice(&(declared * 2).to_le_bytes());
        // The RIFF size agrees with the header, as when a recorder stops mid-file.
        let riff = (bytes.len() - 8) as u32 + (declared - frames) * 2;
        bytes[4..8].copy_from_slice(&riff.to_le_bytes());
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let near = write("NEAR_20210804_050000.wav", frames + frames / 200); // 0.5 % more
    let far = write("FAR_20210804_060000.wav", frames + frames / 10); // 10 % more
    let rows = scan_folder(dir.path(), &UnitDefaults::default()).unwrap();
    let report = run(&Job::new(rows, dir.path().join("out")), &|_| {}, &|_| {})
        .unwrap()
        .report;
    let by_id = |id: &str| report.recordings.iter().find(|o| o.id == id).unwrap();
    let n = by_id("NEAR_20210804_050000");
    assert_eq!((n.status, n.slices), (Status::Done, 1), "{:?}", n.reason);
    let w = n.warnings.join(" ");
    assert!(
        w.contains(&format!("{}", frames + frames / 200)) && w.contains(&frames.to_string()),
        "{w}"
    );
    assert!((n.duration_s.unwrap() - 35.0).abs() < 1e-9);
    let f = by_id("FAR_20210804_060000");
    assert_eq!(f.status, Status::Failed);
    assert!(
        f.reason.as_deref().unwrap().contains("truncated"),
        "{:?}",
        f.reason
    );

    let mut columns = 0;
    let (info, n) = soundscape_engine::analyze::stream_spectrogram(
        &near,
        1024,
        512,
        |_| {},
        |_, _| columns += 1,
    )
    .unwrap();
    assert_eq!((n, info.frames), (frames as usize, Some(frames as u64)));
    assert_eq!(columns, 1 + frames as usize / 512);
    assert!(
        soundscape_engine::analyze::stream_spectrogram(&far, 1024, 512, |_| {}, |_, _| {}).is_err()
    );
}

/// Every test of this file again on the scalar paths (a child process with
/// `SOUNDSCAPE_SIMD=off`).
#[test]
fn every_test_passes_on_the_scalar_paths() {
    soundscape_testkit::rerun_with_scalar_paths(
        "every_test_passes_on_the_scalar_paths",
        soundscape_engine::scalar_only(),
    );
}
