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
