//! The upload stages as binaries, against the fake Alfresco and a real S3 server: a run killed
//! half-way and restarted finishes without duplicates, the password never shows, `--s3` works
//! from the environment, and upload-model follows.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use alfresco_fake::{FakeAlfresco, State};
use soundscape_core::products::ProductKind;
use soundscape_testkit::S3Server;
use soundscape_upload::catalog::select;

const PASSWORD: &str = "Never-Log-Me-42";

async fn fake() -> (FakeAlfresco, String) {
    let (state, lib) = State::with_site("uploader", PASSWORD, "sipecam-soundscape");
    (FakeAlfresco::start(state).await.unwrap(), lib)
}

fn command(bin: &str, fake: &FakeAlfresco, lib: &str, results: &Path) -> Command {
    let mut c = Command::new(bin);
    c.args([
        "--results-dir",
        results.to_str().unwrap(),
        "--root-node",
        lib,
    ])
    .args(["--log-format", "json"])
    .env("ALFRESCO_URL", fake.url())
    .env("ALFRESCO_USER", "uploader")
    .env("ALFRESCO_PASSWORD", PASSWORD)
    .env("RUST_LOG", "debug")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    c
}

async fn output(mut c: Command) -> Output {
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

fn expected(results: &Path) -> Vec<(String, Vec<u8>)> {
    select(Some(results), &[], &ProductKind::ALL)
        .unwrap()
        .iter()
        .flat_map(|u| u.contents().unwrap())
        .collect()
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_half_way_and_restarted_finishes_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    soundscape_testkit::results_tree(dir.path(), 2, 2);
    let total = expected(dir.path()).len();
    let (fake, lib) = fake().await;
    fake.state().write_delay = Some(Duration::from_millis(60));

    let mut c = command(
        env!("CARGO_BIN_EXE_upload-alfresco"),
        &fake,
        &lib,
        dir.path(),
    );
    c.args(["--jobs", "3"]);
    let mut child = c.spawn().unwrap();
    let t0 = Instant::now();
    while fake.state().content_writes < total as u64 / 2 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let stored = fake.state().content_writes;
    assert!(
        stored < total as u64,
        "the run finished before it was killed"
    );

    fake.state().write_delay = None;
    let out = output(command(
        env!("CARGO_BIN_EXE_upload-alfresco"),
        &fake,
        &lib,
        dir.path(),
    ))
    .await;
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    {
        let s = fake.state();
        let diff = s.differences(&lib, &expected(dir.path()));
        assert!(diff.is_empty(), "{diff:#?}");
        assert!(s.violations.is_empty(), "{:?}", s.violations);
        assert_eq!(s.content_writes, total as u64, "a product was stored twice");
    }

    let r = report(&dir.path().join("upload_report.json"));
    assert_eq!(r["summary"]["failed"], 0);
    assert_eq!(r["summary"]["total"], total);
    assert!(
        r["summary"]["done"].as_u64().unwrap() < total as u64,
        "the restart sent everything again"
    );
    // The password appears nowhere: not in the logs, the report or the journals.
    let mut seen = log.to_string() + &String::from_utf8_lossy(&out.stdout);
    seen += &std::fs::read_to_string(dir.path().join("upload_report.json")).unwrap();
    for u in select(Some(dir.path()), &[], &ProductKind::ALL).unwrap() {
        seen += &std::fs::read_to_string(u.dir.join("upload_journal.jsonl")).unwrap();
    }
    assert!(!seen.contains(PASSWORD), "the password leaked");
    assert!(log.contains("\"level\":\"INFO\""), "not JSON logs: {log}");

    // The content model on top, then once more: nothing changes.
    let out = output(command(
        env!("CARGO_BIN_EXE_upload-model"),
        &fake,
        &lib,
        dir.path(),
    ))
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let updates = fake.state().updates;
    // 12 products of each unit have a model (the 10 metadata files have none).
    assert_eq!(updates, 2 * 12);
    let out = output(command(
        env!("CARGO_BIN_EXE_upload-model"),
        &fake,
        &lib,
        dir.path(),
    ))
    .await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(fake.state().updates, updates);
    let r = report(&dir.path().join("model_report.json"));
    assert_eq!(r["summary"]["skipped"], 2 * 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_name_the_product_and_give_exit_code_3() {
    let dir = tempfile::tempdir().unwrap();
    soundscape_testkit::results_tree(dir.path(), 1, 0);
    let (fake, lib) = fake().await;
    // The server turns down every upload into the unit folder.
    fake.state()
        .faults
        .extend(std::iter::repeat_n(alfresco_fake::Fault::Status(403), 200));
    let out = output(command(
        env!("CARGO_BIN_EXE_upload-alfresco"),
        &fake,
        &lib,
        dir.path(),
    ))
    .await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&dir.path().join("upload_report.json"));
    let files = r["files"].as_array().unwrap();
    assert!(files.iter().all(|f| f["status"] == "failed"
        && f["reason"]
            .as_str()
            .unwrap()
            .contains(f["file"].as_str().unwrap())
        && f["reason"].as_str().unwrap().contains("403")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_and_missing_settings_are_explained() {
    let bin = env!("CARGO_BIN_EXE_upload-alfresco");
    let help = Command::new(bin).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for w in [
        "--results-dir",
        "--root-node",
        "--s3",
        "--existing",
        "ALFRESCO_PASSWORD",
        "Exit codes",
    ] {
        assert!(text.contains(w), "--help lacks {w}");
    }
    assert_eq!(Command::new(bin).output().unwrap().status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    soundscape_testkit::results_tree(dir.path(), 1, 0);
    let out = Command::new(bin)
        .args(["--results-dir", dir.path().to_str().unwrap()])
        .env_remove("ALFRESCO_NODE_ID")
        .env_remove("SOUNDSCAPE_S3_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to upload to"));
    let out = Command::new(bin)
        .args([
            "--results-dir",
            dir.path().to_str().unwrap(),
            "--root-node",
            "x",
        ])
        .env_remove("ALFRESCO_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ALFRESCO_URL"));
    let model = Command::new(env!("CARGO_BIN_EXE_upload-model"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&model.stdout).contains("soundscape:product"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_from_the_environment_beside_alfresco() {
    let s3 = S3Server::start();
    let bucket = s3.bucket("soundscape");
    let dir = tempfile::tempdir().unwrap();
    soundscape_testkit::results_tree(dir.path(), 1, 1);
    let (fake, lib) = fake().await;
    let mut c = command(
        env!("CARGO_BIN_EXE_upload-alfresco"),
        &fake,
        &lib,
        dir.path(),
    );
    c.args(["--s3", "s3://soundscape/runs/2021"]).envs(s3.env());
    let out = output(c).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = expected(dir.path());
    assert!(fake.state().differences(&lib, &want).is_empty());
    for (rel, content) in &want {
        assert_eq!(
            &std::fs::read(bucket.join("runs/2021").join(rel)).unwrap(),
            content,
            "{rel}"
        );
    }
    let r = report(&dir.path().join("upload_report.json"));
    assert_eq!(r["summary"]["done"], 2 * want.len());
    assert!(!String::from_utf8_lossy(&out.stderr).contains(soundscape_testkit::SECRET_KEY));
}

/// Folders that `compute-soundscapes --out` wrote alone have no `unit.json`: their unit keys
/// come from `soundscape_metadata.json`, and the report says so.
#[test]
fn compute_only_folders_are_uploaded() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let units = soundscape_testkit::results_tree(&results, 2, 1);
    for u in &units {
        std::fs::remove_file(u.join("unit.json")).unwrap();
    }
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_upload-alfresco"))
        .args(["--results-dir", results.to_str().unwrap()])
        .arg("--s3")
        .arg(format!("file://{}", store.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let r = report(&results.join("upload_report.json"));
    let expected = expected(&results);
    assert!(!expected.is_empty());
    assert_eq!(r["summary"]["done"], expected.len());
    for (key, bytes) in &expected {
        assert!(key.starts_with("92/"), "{key}");
        assert_eq!(&std::fs::read(store.join(key)).unwrap(), bytes, "{key}");
    }
    let warnings = r["warnings"].to_string();
    assert!(warnings.contains("no unit.json"), "{warnings}");
}

/// Asking for an upload where there is nothing to upload is an error that says why.
#[test]
fn nothing_to_upload_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let store = format!("file://{}", dir.path().join("store").display());
    let run = |results: &Path, products: &str| {
        Command::new(env!("CARGO_BIN_EXE_upload-alfresco"))
            .args(["--results-dir", results.to_str().unwrap(), "--s3", &store])
            .args(["--products", products])
            .output()
            .unwrap()
    };
    let out = run(&empty, "all");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no unit folders"), "{stderr}");

    // Unit folders, but none with a video.
    let results = dir.path().join("results");
    soundscape_testkit::results_tree(&results, 1, 0);
    let out = run(&results, "videos");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nothing to upload"), "{stderr}");
}
