//! dirstruct: folders only for units that exist, ids as the original computes them, nothing
//! deleted, unit keys checked, reruns quiet.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

fn recording(id: &str, node: &str, recorder: &str, deployment: &str) -> Value {
    json!({
        "index": 0, "id": id, "path": format!("/audio/{id}.wav"),
        "start": "2021-08-04T05:50:00-05:00", "time_zone": "America/Mexico_City",
        "unit": {"node": node, "recorder": recorder, "deployment": deployment},
        "cumulus": "92", "latitude": null, "longitude": null,
        "declared_duration": null, "declared_samplerate": null
    })
}

fn unit(node: &str, recorder: &str, deployment: &str) -> Value {
    json!({
        "id": format!("92/{node}/{recorder}/{deployment}"),
        "cumulus": "92", "node": node, "recorder": recorder, "deployment": deployment,
        "recordings": [recording(&format!("{node}-{recorder}"), node, recorder, deployment)],
        "duration_s": 60.0
    })
}

fn write_units(dir: &Path, units: Vec<Value>) -> std::path::PathBuf {
    let p = dir.join("units.json");
    let m = json!({"version": 1, "source": "test", "audio_table": "audio.parquet", "recordings": units.len(), "units": units});
    std::fs::write(&p, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    p
}

fn dirstruct(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dirstruct"))
        .args(args)
        .args(["--no-progress", "--log-format", "json"])
        .output()
        .unwrap()
}

fn read(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn only_existing_units_with_the_original_ids_and_nothing_deleted() {
    let work = tempfile::tempdir().unwrap();
    let results = work.path().join("results");
    let units = write_units(
        work.path(),
        vec![
            unit("1_95_1_1350", "248C7D075B1F7CDB", "2021-08-04"),
            unit("1_95_0_1351", "AAAA", "2021-08-05"),
        ],
    );
    // Earlier results of another cumulus and an earlier product must survive.
    std::fs::create_dir_all(results.join("95/x/y/z")).unwrap();
    std::fs::write(results.join("95/x/y/z/hashed_soundscape.parquet"), b"old").unwrap();
    let old_unit = results.join("92/1_95_1_1350/248C7D075B1F7CDB/2021-08-04");
    std::fs::create_dir_all(&old_unit).unwrap();
    std::fs::write(old_unit.join("sequence.png"), b"png").unwrap();

    let u = units.to_str().unwrap();
    let r = results.to_str().unwrap();
    let run = dirstruct(&[
        "--units",
        u,
        "--results-dir",
        r,
        "--id-root",
        "/shared_volume/audio/soundscapes",
    ]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(results.join("95/x/y/z/hashed_soundscape.parquet").exists());
    assert!(old_unit.join("sequence.png").exists());
    // No Cartesian product: 2 units, 2 folders.
    let nodes: Vec<_> = std::fs::read_dir(results.join("92"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(nodes.len(), 2);
    assert!(!results.join("92/1_95_1_1350/AAAA").exists());
    assert!(!results.join("92/1_95_0_1351/248C7D075B1F7CDB").exists());

    let uj = read(&old_unit.join("unit.json"));
    assert_eq!(
        uj["unit_dir"],
        "/shared_volume/audio/soundscapes/92/1_95_1_1350/248C7D075B1F7CDB/2021-08-04"
    );
    assert_eq!(
        uj["products"][0]["product_id"],
        "c58892f5d93ec1adf0b17325c6c17f4a"
    );
    assert_eq!(uj["products"][1]["file"], "sequence.png");
    assert_eq!(
        uj["products"][1]["product_id"],
        "9f80823bc2f694e48c659be973fa9a0e"
    );
    assert_eq!(
        uj["products"][1]["product_parent"],
        "c58892f5d93ec1adf0b17325c6c17f4a"
    );
    assert_eq!(uj["recordings"][0]["id"], "1_95_1_1350-248C7D075B1F7CDB");

    // A rerun changes nothing.
    let run = dirstruct(&[
        "--units",
        u,
        "--results-dir",
        r,
        "--id-root",
        "/shared_volume/audio/soundscapes",
    ]);
    assert_eq!(run.status.code(), Some(0));
    let report = read(&work.path().join("dirstruct_report.json"));
    assert!(report["units"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["status"] == "skipped"));
}

#[test]
fn bad_keys_fail_their_unit_only() {
    let work = tempfile::tempdir().unwrap();
    let results = work.path().join("results");
    let mut evil = unit("1_95_1_1350", "..", "2021-08-04");
    evil["id"] = json!("92/1_95_1_1350/../2021-08-04");
    let units = write_units(
        work.path(),
        vec![evil, unit("1_95_1_1352", "R", "2021-08-04")],
    );
    let run = dirstruct(&[
        "--units",
        units.to_str().unwrap(),
        "--results-dir",
        results.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(3));
    let report = read(&work.path().join("dirstruct_report.json"));
    assert_eq!(report["units"][0]["status"], "failed");
    assert!(report["units"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("'..'"));
    assert_eq!(report["units"][1]["status"], "done");
    assert!(results
        .join("92/1_95_1_1352/R/2021-08-04/unit.json")
        .exists());
    assert!(!results.join("92/1_95_1_1350").exists());
    assert!(!results.join("92/2021-08-04").exists());
    // ids use the results folder when no --id-root is given
    let uj = read(&results.join("92/1_95_1_1352/R/2021-08-04/unit.json"));
    assert!(uj["unit_dir"]
        .as_str()
        .unwrap()
        .ends_with("/results/92/1_95_1_1352/R/2021-08-04"));
}

#[test]
fn one_unit_and_unknown_units() {
    let work = tempfile::tempdir().unwrap();
    let results = work.path().join("results");
    let units = write_units(
        work.path(),
        vec![
            unit("1_95_1_1350", "A", "2021-08-04"),
            unit("1_95_1_1351", "B", "2021-08-04"),
        ],
    );
    let (u, r) = (units.to_str().unwrap(), results.to_str().unwrap());
    let run = dirstruct(&[
        "--units",
        u,
        "--results-dir",
        r,
        "--unit",
        "92/1_95_1_1351/B/2021-08-04",
    ]);
    assert_eq!(run.status.code(), Some(0));
    assert!(results
        .join("92/1_95_1_1351/B/2021-08-04/unit.json")
        .exists());
    assert!(!results.join("92/1_95_1_1350").exists());
    let run = dirstruct(&["--units", u, "--results-dir", r, "--unit", "92/none/x/y"]);
    assert_eq!(run.status.code(), Some(1));
    let run = dirstruct(&["--units", "/nonexistent/units.json", "--results-dir", r]);
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("/nonexistent/units.json"));
}
