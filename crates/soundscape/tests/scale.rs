//! A network-sized run on paper: 20,000 units of 100,000 recordings listed by the real
//! get-audio-df (names only), cut into batches; the fan-out parameter stays small, and the
//! Workflow Argo would keep for the run stays under its node and object-size bounds.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use soundscape_core::batches::BatchPlan;
use soundscape_workflow::scale::{estimate, FAN_OUT_LIMIT, OBJECT_LIMIT};
use soundscape_workflow::{soundscape, Settings};

fn get_audio_df() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_soundscape"))
        .parent()
        .unwrap();
    let b = dir.join("get-audio-df");
    assert!(
        b.is_file(),
        "get-audio-df is not built: run `cargo build --workspace --bins` first"
    );
    b
}

/// Lists the manifest `csv` with get-audio-df (names only) into `dir/work`.
fn list(dir: &Path, csv: &str) -> std::path::PathBuf {
    let manifest = dir.join("manifest.csv");
    std::fs::write(&manifest, csv).unwrap();
    let out = dir.join("work");
    let res = Command::new(get_audio_df())
        .args([
            "--source",
            manifest.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args(["--no-probe", "--no-progress"])
        .output()
        .unwrap();
    assert_eq!(
        res.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    out
}

#[test]
fn twenty_thousand_units_fit_one_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("path,start,node,recorder,deployment,cumulus\n");
    for u in 0..20_000 {
        let (cumulus, node) = (90 + u % 10, format!("1_{:02}_1_{:04}", u % 97, u / 97));
        for r in 0..5 {
            writeln!(
                csv,
                "/archive/{cumulus}/{node}/REC{u:05}/2021-08-04/REC{u:05}_20210804_{:02}0000.wav,2021-08-04T{:02}:00:00-05:00,{node},REC{u:05},2021-08-04,{cumulus}",
                r, r
            )
            .unwrap();
        }
    }
    let out = list(dir.path(), &csv);

    let fanout = std::fs::read(out.join("fanout.json")).unwrap();
    assert!(
        fanout.len() < FAN_OUT_LIMIT,
        "fanout.json: {} bytes",
        fanout.len()
    );
    let items: Vec<serde_json::Value> = serde_json::from_slice(&fanout).unwrap();
    assert_eq!(items.len(), 100);
    assert_eq!(items[7], serde_json::json!({"batch": 7, "hours": 1}));

    let plan = BatchPlan::read(&out.join("batches.json")).unwrap();
    assert_eq!(
        (plan.units, plan.batch_size, plan.batches.len()),
        (20_000, 200, 100)
    );
    let mut ids: Vec<&str> = plan.unit_ids().collect();
    assert_eq!(ids.len(), 20_000);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 20_000, "every unit in one batch exactly");

    // Every step enabled (a model, sample extraction, both upload targets), one pod in ten
    // retried once.
    let e = estimate(&soundscape(&Settings::default()), &plan, 0.1);
    eprintln!("{e:?}");
    assert!(e.nodes < 1_500, "{} Argo nodes", e.nodes);
    assert!(
        e.object_bytes < OBJECT_LIMIT,
        "Workflow object of {} bytes",
        e.object_bytes
    );
    // The count is Argo's: the main DAG, a task group, per batch a DAG and six steps of a
    // retry node and a pod, the run-wide steps likewise, and the retried pods.
    assert_eq!(
        e.nodes,
        1 + 2 + 2 + 1 + 100 * (1 + 6 * 2) + 2 + (e.pods - 603)
    );
}

/// A run of fewer units than the width keeps one unit per batch.
#[test]
fn a_small_run_keeps_one_unit_per_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("path,start,node,recorder,deployment,cumulus\n");
    for u in 0..3 {
        writeln!(
            csv,
            "/a/R{u}_20210804_000000.wav,2021-08-04T00:00:00-05:00,n{u},R{u},2021-08-04,92"
        )
        .unwrap();
    }
    let out = list(dir.path(), &csv);
    let plan = BatchPlan::read(&out.join("batches.json")).unwrap();
    assert_eq!(plan.batch_size, 1);
    assert!(plan.batches.iter().all(|b| b.units.len() == 1));
    assert_eq!(plan.batches.len(), 3);
}
