//! get-audio-df on an S3 prefix served by a real S3-compatible server (s3s-fs) on 127.0.0.1,
//! path-style addressing; headers read with range requests.
//!
//! `scripts/setup.sh` installs s3s-fs (`cargo install s3s-fs --features binary`); `S3S_FS`
//! may name the binary.

mod common;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

struct S3Server {
    child: Child,
    port: u16,
    root: tempfile::TempDir,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s3s_fs_binary() -> PathBuf {
    if let Ok(p) = std::env::var("S3S_FS") {
        return p.into();
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let candidates = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| PathBuf::from(d).join("s3s-fs"))
        .chain([PathBuf::from(home).join(".cargo/bin/s3s-fs")])
        .collect::<Vec<_>>();
    candidates.into_iter().find(|p| p.is_file()).expect(
        "s3s-fs not found: run scripts/setup.sh (cargo install s3s-fs@0.14.1 --features binary --locked) or set S3S_FS",
    )
}

fn start_s3() -> S3Server {
    let root = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(s3s_fs_binary())
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--access-key",
            "AKTEST",
            "--secret-key",
            "SKTEST",
        ])
        .arg(root.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start s3s-fs");
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "s3s-fs did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    S3Server { child, port, root }
}

#[test]
fn s3_prefix_with_layout_and_range_headers() {
    let s3 = start_s3();
    // s3s-fs keeps bucket `b` as the folder `<root>/b`.
    let bucket = s3.root.path().join("recordings");
    archive(&bucket.join("sipecam"));
    std::fs::remove_dir_all(bucket.join("sipecam/92/bad\u{1}node")).unwrap();
    put(
        &bucket,
        "elsewhere/Z_20210804_000000.wav",
        &wav(8000, 8000, None),
    );
    let out = tempfile::tempdir().unwrap();
    let endpoint = format!("http://127.0.0.1:{}", s3.port);
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKTEST"),
        ("AWS_SECRET_ACCESS_KEY", "SKTEST"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ALLOW_HTTP", "true"),
    ];
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
    assert!(!stderr.contains("SKTEST"));
    let units = json(&out.path().join("units.json"));
    let ids: Vec<&str> = units["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert!(ids.contains(&"95/1_95_1_0003/SER3/2021-08-05"));
    let u = units["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == "92/1_92_1_0001/SER1/2021-08-04")
        .unwrap();
    assert_eq!(u["duration_s"], 5.0, "durations from ranged header reads");
    assert_eq!(
        u["recordings"][0]["path"],
        "s3://recordings/sipecam/92/1_92_1_0001/SER1/2021-08-04/audio/A_20210804_090000.wav"
    );
    let moth = units["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == "92/1_92_0_0002/SER2/2021-08-04")
        .unwrap();
    assert_eq!(
        moth["recordings"][0]["start"], "2021-08-04T05:00:00-05:00",
        "AudioMoth comment read remotely"
    );
    let report = json(&out.path().join("run_report.json"));
    let failed: Vec<String> = report["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "failed")
        .map(|r| r["reason"].as_str().unwrap().to_string())
        .collect();
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
    let s3 = start_s3();
    archive(&s3.root.path().join("recordings"));
    let out = tempfile::tempdir().unwrap();
    let endpoint = format!("http://127.0.0.1:{}", s3.port);
    let run = get_audio_df(
        &[
            "--source",
            "s3://recordings/",
            "--out",
            out.path().to_str().unwrap(),
            "--layout",
            "sipecam",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "AKTEST"),
            ("AWS_SECRET_ACCESS_KEY", "SKTEST"),
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ALLOW_HTTP", "true"),
        ],
    );
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("C_20210804_000000.wav"), "{stderr}");
}

#[test]
fn s3_wrong_credentials_fail_the_run() {
    let s3 = start_s3();
    std::fs::create_dir_all(s3.root.path().join("recordings")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let endpoint = format!("http://127.0.0.1:{}", s3.port);
    let run = get_audio_df(
        &[
            "--source",
            "s3://recordings/x/",
            "--out",
            out.path().to_str().unwrap(),
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "AKTEST"),
            ("AWS_SECRET_ACCESS_KEY", "nope"),
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ALLOW_HTTP", "true"),
        ],
    );
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("s3://recordings/x/"));
}
