//! get-audio-df on an S3 prefix served by a real S3-compatible server (s3s-fs) on 127.0.0.1,
//! path-style addressing; headers read with range requests.
//!
//! `scripts/setup.sh` installs s3s-fs; `S3S_FS` may name the binary.

mod common;

use common::*;
use soundscape_testkit::{S3Server, SECRET_KEY};

#[test]
fn s3_prefix_with_layout_and_range_headers() {
    let s3 = S3Server::start();
    let bucket = s3.bucket("recordings");
    archive(&bucket.join("sipecam"));
    std::fs::remove_dir_all(bucket.join("sipecam/92/bad\u{1}node")).unwrap();
    put(
        &bucket,
        "elsewhere/Z_20210804_000000.wav",
        &wav(8000, 8000, None),
    );
    let out = tempfile::tempdir().unwrap();
    let env = s3.env();
    let run = get_audio_df(
        &[
            "--source",
            "s3://recordings/sipecam/",
            "--out",
            out.path().to_str().unwrap(),
            "--layout",
            "sipecam",
        ],
        &env,
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains(SECRET_KEY));
    let units = json(&out.path().join("units.json"));
    let ids = unit_ids(&units);
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert!(ids.iter().any(|i| i == "95/1_95_1_0003/SER3/2021-08-05"));
    let u = find(
        items(&units, "units"),
        "id",
        "92/1_92_1_0001/SER1/2021-08-04",
    );
    assert_eq!(u["duration_s"], 5.0, "durations from ranged header reads");
    assert_eq!(
        u["recordings"][0]["path"],
        "s3://recordings/sipecam/92/1_92_1_0001/SER1/2021-08-04/audio/A_20210804_090000.wav"
    );
    let moth = find(
        items(&units, "units"),
        "id",
        "92/1_92_0_0002/SER2/2021-08-04",
    );
    assert_eq!(
        moth["recordings"][0]["start"], "2021-08-04T05:00:00-05:00",
        "AudioMoth comment read remotely"
    );
    let report = json(&out.path().join("run_report.json"));
    let failed = reasons(&report, "failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed.iter().any(|r| r.contains(
            "s3://recordings/sipecam/92/1_92_1_0001/SER1/2021-08-04/audio/E_20210804_110000.wav"
        )),
        "{failed:?}"
    );
}

#[test]
fn s3_key_with_control_characters_fails_the_run_by_name() {
    let s3 = S3Server::start();
    archive(&s3.bucket("recordings"));
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let run = get_audio_df(
        &[
            "--source",
            "s3://recordings/",
            "--out",
            o,
            "--layout",
            "sipecam",
        ],
        &s3.env(),
    );
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("C_20210804_000000.wav"), "{stderr}");
}

#[test]
fn s3_wrong_credentials_fail_the_run() {
    let s3 = S3Server::start();
    s3.bucket("recordings");
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let run = get_audio_df(
        &["--source", "s3://recordings/x/", "--out", o],
        &s3.env_with_secret("nope"),
    );
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("s3://recordings/x/"));
}
