//! Recordings listed in an object store (`s3://` paths, as get-audio-df writes them for an S3
//! source) are fetched and analysed; a missing object fails alone, named by its URL.

use std::path::Path;
use std::process::Command;

use soundscape_testkit::S3Server;

#[test]
fn s3_recordings_are_fetched_and_analysed() {
    let s3 = S3Server::start();
    let bucket = s3.bucket("audio");
    std::fs::create_dir_all(bucket.join("mini")).unwrap();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/golden/mini");
    std::fs::copy(
        golden.join("MINI_20210804_055000.wav"),
        bucket.join("mini/MINI_20210804_055000.wav"),
    )
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let manifest = work.path().join("m.csv");
    std::fs::write(
        &manifest,
        "path,start\n\
         s3://audio/mini/MINI_20210804_055000.wav,2021-08-04T05:50:00Z\n\
         s3://audio/mini/MISSING_20210804_060000.wav,2021-08-04T06:00:00Z\n",
    )
    .unwrap();
    let out = work.path().join("out");
    let tmp = work.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_compute-soundscapes"))
        .args([
            "--manifest",
            manifest.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--no-progress",
        ])
        .envs(s3.env())
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run_report.json")).unwrap())
            .unwrap();
    let recs = report["recordings"].as_array().unwrap();
    assert_eq!(recs[0]["status"], "done");
    assert_eq!(
        (recs[0]["slices"].as_u64(), recs[0]["rows"].as_u64()),
        (Some(2), Some(192))
    );
    assert_eq!(recs[1]["status"], "failed");
    let reason = recs[1]["reason"].as_str().unwrap();
    assert!(
        reason.contains("s3://audio/mini/MISSING_20210804_060000.wav"),
        "{reason}"
    );
    // No temporary copies left behind.
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
}
