//! The three plots and their metadata, written beside the soundscape table.

use std::path::Path;

use compute_soundscapes::{run, Job};
use soundscape_table::input::{scan_folder, UnitDefaults};

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn plots_and_their_metadata() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/golden/mini");
    let defaults = UnitDefaults {
        node: Some("1_95_1_1350".into()),
        recorder: Some("R".into()),
        ..Default::default()
    };
    let out = tempfile::tempdir().unwrap();
    let mut job = Job::new(
        scan_folder(&golden, &defaults).unwrap(),
        out.path().to_path_buf(),
    );
    job.cumulus = Some("92".into());
    job.product_dir = Some("/shared_volume/audio/soundscapes/92/1_95_1_1350/R/2021-08-04".into());
    let report = run(&job, &|_| {}, &|_| {}).unwrap().report;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    for name in ["sequence.png", "mean_soundscape.png", "std_soundscape.png"] {
        let img = image::open(out.path().join(name)).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (2000, 1500), "{name}");
        let mut colours: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
        colours.sort();
        colours.dedup();
        assert!(
            colours.len() > 50,
            "{name} looks blank ({} colours)",
            colours.len()
        );
        assert!(report.outputs.iter().any(|o| o.ends_with(name)));
    }
    let unit = "/shared_volume/audio/soundscapes/92/1_95_1_1350/R/2021-08-04";
    let soundscape = json(&out.path().join("soundscape_metadata.json"));
    let seq = json(&out.path().join("soundscape_seq_metadata.json"));
    assert_eq!(seq["product_name"], "Soundscape sequential plot");
    assert_eq!(
        seq["product_path"],
        format!("{unit}/sequence.png"),
        "the original wrote soundscape_seq.png"
    );
    assert_eq!(seq["product_parent"], soundscape["product_id"]);
    assert_eq!(
        seq["product_id"],
        format!("{:x}", md5::compute(format!("{unit}/sequence.png")))
    );
    let mean = json(&out.path().join("mean_soundscape_metadata.json"));
    assert_eq!(mean["product_name"], "Soundscape mean plot");
    let std = json(&out.path().join("std_soundscape_metadata.json"));
    assert_eq!(std["product_path"], format!("{unit}/std_soundscape.png"));
    assert_eq!(std["CumulusName"], 92);
}

#[test]
fn plots_can_be_turned_off() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/golden/mini");
    let out = tempfile::tempdir().unwrap();
    let mut job = Job::new(
        scan_folder(&golden, &UnitDefaults::default()).unwrap(),
        out.path().to_path_buf(),
    );
    job.plots = None;
    run(&job, &|_| {}, &|_| {}).unwrap();
    assert!(!out.path().join("sequence.png").exists());
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
