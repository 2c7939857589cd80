//! `soundscape run` on the bundled demo data: every stage runs, every product of every stage is
//! made, and with targets configured the products reach the fake Alfresco (with their model
//! properties) and an object store.

use std::path::{Path, PathBuf};
use std::process::Command;

use alfresco_fake::{FakeAlfresco, State};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn bin_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_soundscape"))
        .parent()
        .unwrap()
        .to_path_buf();
    for b in [
        "get-audio-df",
        "dirstruct",
        "compute-soundscapes",
        "compute-embeddings",
        "spec-n-specvid",
        "upload-alfresco",
        "upload-model",
    ] {
        assert!(
            dir.join(b).is_file(),
            "{b} is not built: run `cargo build --workspace --bins` first"
        );
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_on_the_demo_makes_every_product_and_uploads_when_configured() {
    let (state, lib) = State::with_site("demo", "demo-pw", "sipecam-soundscape");
    let fake = FakeAlfresco::start(state).await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_soundscape"));
    c.current_dir(repo())
        .args([
            "run",
            "--input",
            "demo/manifest.csv",
            "--out",
            out.path().to_str().unwrap(),
        ])
        .args(["--set", &format!("alfresco-root-node={lib}")])
        .args([
            "--set",
            &format!("s3-url=file://{}", store.path().display()),
        ])
        .env("SOUNDSCAPE_BIN_DIR", bin_dir())
        .env("ALFRESCO_URL", fake.url())
        .env("ALFRESCO_USER", "demo")
        .env("ALFRESCO_PASSWORD", "demo-pw");
    let res = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    let log = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(0), "{log}");

    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.path().join("work/workflow_report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["summary"]["failed"], 0, "{report:#}");
    assert_eq!(report["summary"]["done"], 7, "{report:#}");
    // The final step: the run summary and the dataset.
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("work/run_summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["status"], "done", "{summary:#}");
    assert_eq!(summary["failed_total"], 0);
    assert!(out
        .path()
        .join("dataset/soundscapes/cumulus=92/node=0_00_1_0000/recorder=HARNESS/deployment=2021-08-04/part-0.parquet")
        .is_file());
    let unit = "92/0_00_1_0000/HARNESS/2021-08-04";
    let dir = out.path().join("results").join(unit);
    for f in [
        "hashed_soundscape.parquet",
        "sequence.png",
        "mean_soundscape.png",
        "std_soundscape.png",
        "soundscape_metadata.json",
        "upload_report.json",
        "model_report.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    for suffix in [
        ".mp4",
        "_compressed.png",
        "_spectrogram_metadata.json",
        "_spectrogram_video_metadata.json",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(suffix)),
            "no *{suffix} in {names:?}"
        );
    }
    for f in [
        "audio.parquet",
        "units.json",
        "batches.json",
        "fanout.json",
        "run_summary.brief.json",
        "logs/compute-soundscapes--92_0_00_1_0000_HARNESS_2021-08-04.log",
    ] {
        assert!(
            out.path().join("work").join(f).is_file(),
            "work/{f} missing"
        );
    }
    // Uploads: every product in the fake (with the model on the video) and in the store.
    let s = fake.state();
    let remote = s.repo.files_under(&lib);
    let video = names.iter().find(|n| n.ends_with(".mp4")).unwrap();
    let node = remote
        .iter()
        .find(|(p, _)| p == &format!("{unit}/{video}"))
        .expect("video in Alfresco")
        .1;
    assert_eq!(node.node_type, "soundscape:product");
    assert!(remote
        .iter()
        .any(|(p, _)| p.ends_with("/hashed_soundscape.parquet")));
    assert!(store.path().join(unit).join(video).is_file());
    assert!(s.violations.is_empty(), "{:?}", s.violations);
}

/// With a model named, every unit also gets its embeddings and detections (here with the
/// tiny test model that compute-embeddings writes).
#[test]
fn run_with_a_model_makes_embeddings_and_detections_per_unit() {
    let bins = bin_dir();
    let models = tempfile::tempdir().unwrap();
    let w = Command::new(bins.join("compute-embeddings"))
        .arg("--write-test-model")
        .arg(models.path())
        .output()
        .unwrap();
    assert!(w.status.success(), "{}", String::from_utf8_lossy(&w.stderr));
    let out = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    let res = Command::new(env!("CARGO_BIN_EXE_soundscape"))
        .current_dir(repo())
        .args(["run", "--input", "demo/manifest.csv", "--out"])
        .arg(out.path())
        .args(["--set", "model=test-linear", "--set"])
        .arg(format!("models-dir={}", models.path().display()))
        .arg("--set")
        .arg(format!("s3-url=file://{}", store.path().display()))
        .env("SOUNDSCAPE_BIN_DIR", &bins)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(0), "{log}");
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.path().join("work/workflow_report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["summary"]["failed"], 0, "{report:#}");
    let dir = out.path().join("results/92/0_00_1_0000/HARNESS/2021-08-04");
    for f in [
        "embeddings.parquet",
        "detections.parquet",
        "embeddings_metadata.json",
        "detections_metadata.json",
        "embeddings_report.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("embeddings_metadata.json")).unwrap())
            .unwrap();
    let soundscape: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("soundscape_metadata.json")).unwrap())
            .unwrap();
    assert_eq!(meta["product_parent"], soundscape["product_id"]);
    // The uploads carry the tables and their metadata.
    let unit = "92/0_00_1_0000/HARNESS/2021-08-04";
    for f in [
        "embeddings.parquet",
        "detections.parquet",
        "embeddings_metadata.json",
    ] {
        assert!(
            store.path().join(unit).join(f).is_file(),
            "{f} not uploaded"
        );
    }
}

#[test]
fn help_render_and_unknown_parameters() {
    let help = Command::new(env!("CARGO_BIN_EXE_soundscape"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("run") && text.contains("render"), "{text}");
    let out = tempfile::tempdir().unwrap();
    let r = Command::new(env!("CARGO_BIN_EXE_soundscape"))
        .args(["render", "--out", out.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    for f in ["workflowtemplate.yaml", "workflow.yaml"] {
        let fresh = std::fs::read_to_string(out.path().join(f)).unwrap();
        let committed = std::fs::read_to_string(repo().join("argo").join(f)).unwrap();
        assert_eq!(fresh, committed, "argo/{f} differs from a fresh render");
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_soundscape"))
        .args([
            "run",
            "--input",
            "x",
            "--out",
            out.path().to_str().unwrap(),
            "--set",
            "colour=red",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown parameter \"colour\""));
    // rerun checks the stage and the unit before it looks for a cluster.
    let rerun = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_soundscape"))
            .arg("rerun")
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let (code, err) = rerun(&["--stage", "compute-soundscapes"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("runs per unit: give --unit"), "{err}");
    let (code, err) = rerun(&["--stage", "dirstruct", "--unit", "92/a/b/c"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("whole run"), "{err}");
    let (_, err) = rerun(&["--stage", "plots", "--unit", "92/a/b/c"]);
    assert!(err.contains("unknown stage \"plots\""), "{err}");
}
