//! The engine against the original code's output (tests/fixtures/golden, copied from the
//! project's golden data; edge inputs other than the bad files are stored as FLAC, which is
//! lossless). Tolerances are those of tests/fixtures/golden/README.md and are not to be loosened.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int64Type, TimestampNanosecondType};
use arrow::record_batch::RecordBatch;
use compute_soundscapes::{run, Job, PARQUET};
use soundscape_core::Status;
use soundscape_table::input::{read_manifest, UnitDefaults};

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/golden")
}

fn read_table(path: &Path) -> RecordBatch {
    soundscape_testkit::read_parquet(path)
}

fn job(manifest: &Path, out: &Path) -> Job {
    let mut job = Job::new(
        read_manifest(manifest, &UnitDefaults::default()).unwrap(),
        out.to_path_buf(),
    );
    job.cumulus = Some("92".into());
    job
}

fn manifest(dir: &Path, files: &[&str]) -> PathBuf {
    let mut text = String::from("path,node,recorder,deployment\n");
    for f in files {
        text.push_str(&format!(
            "{},0_00_1_0000,HARNESS,2021-08-04\n",
            golden().join(f).display()
        ));
    }
    let p = dir.join("manifest.csv");
    std::fs::write(&p, text).unwrap();
    p
}

fn column<'a>(b: &'a RecordBatch, name: &str) -> &'a dyn Array {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_ref()
}

/// Compares ours with the golden table; returns a line per index column for the log.
fn compare(ours: &RecordBatch, gold: &RecordBatch) -> Vec<String> {
    let names = |b: &RecordBatch| {
        b.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(ours), names(gold), "column names and order");
    assert_eq!(ours.num_rows(), gold.num_rows(), "row count");
    for c in [
        "id",
        "time_raw",
        "time_format",
        "time_zone",
        "node",
        "recorder",
        "deployment",
    ] {
        let (a, b) = (
            column(ours, c).as_string::<i32>(),
            column(gold, c).as_string::<i32>(),
        );
        assert!(a.iter().eq(b.iter()), "column {c} differs");
    }
    for c in ["time_utc", "abs_start_time", "abs_end_time"] {
        let (a, b) = (
            column(ours, c).as_primitive::<TimestampNanosecondType>(),
            column(gold, c).as_primitive::<TimestampNanosecondType>(),
        );
        assert_eq!(a.values(), b.values(), "column {c} differs");
        assert_eq!(a.timezone(), b.timezone(), "time zone of {c}");
    }
    for c in ["crono_hash_30m", "__index_level_0__"] {
        let (a, b) = (
            column(ours, c).as_primitive::<Int64Type>(),
            column(gold, c).as_primitive::<Int64Type>(),
        );
        assert_eq!(a.values(), b.values(), "column {c} differs");
    }
    for c in ["start_time", "end_time", "min_freq", "max_freq", "weight"] {
        let (a, b) = (
            column(ours, c).as_primitive::<Float64Type>(),
            column(gold, c).as_primitive::<Float64Type>(),
        );
        assert_eq!(a.values(), b.values(), "column {c} differs");
    }
    let pu = |b: &RecordBatch| {
        format!(
            "{:?}",
            column(b, "proc_unit")
                .as_list::<i32>()
                .values()
                .as_string::<i32>()
        )
    };
    assert_eq!(pu(ours), pu(gold), "proc_unit");

    let mut log = Vec::new();
    let n = ours.num_rows();
    // The acceptance tolerances (a share of rows within `tol`), then the largest difference
    // the engine is held to on every row: what copying numpy's float32 arithmetic reaches
    // (docs/fidelity.md#figures), so that a change moving away from it shows here.
    for (c, tol, share, bound) in [
        ("TOTAL", 1e-4, 1.0, 5e-6),
        ("TAIL", 1e-4, 1.0, 5e-6),
        ("INFORMATION", 1e-5, 1.0, 1e-12),
        ("ICOMPLEXITY", 1e-5, 1.0, 1e-12),
        ("CORE", 1e-2, 0.995, 5e-6),
        ("EXAG", 1e-2, 0.995, 5e-6),
    ] {
        let (a, b) = (
            column(ours, c).as_primitive::<Float64Type>(),
            column(gold, c).as_primitive::<Float64Type>(),
        );
        let mut within = 0usize;
        let mut worst = 0f64;
        let mut outliers = Vec::new();
        for i in 0..n {
            let (x, y) = (a.value(i), b.value(i));
            let ok = match (a.is_null(i), b.is_null(i)) {
                (true, true) => true,
                (false, false) => {
                    worst = worst.max((x - y).abs());
                    (x - y).abs() <= tol
                }
                _ => false,
            };
            if ok {
                within += 1;
            } else {
                outliers.push(format!("row {i}: {x} vs {y}"));
            }
        }
        let line = format!(
            "{c}: max |diff| {worst:.3e}, {} of {n} rows beyond {tol} {outliers:?}",
            n - within
        );
        assert!(within as f64 >= share * n as f64, "{line}");
        assert!(worst <= bound, "{line}: beyond the engine's bound {bound}");
        log.push(line);
    }
    log
}

#[test]
fn mini_matches_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        dir.path(),
        &[
            "mini/MINI_20210804_055000.wav",
            "mini/MINI_20210804_062000.wav",
        ],
    );
    let out = dir.path().join("out");
    let result = run(&job(&m, &out), &|_| {}, &|_| {}).unwrap();
    assert_eq!(result.report.summary.done, 2);
    let log = compare(
        &read_table(&out.join(PARQUET)),
        &read_table(&golden().join("mini/hashed_soundscape.parquet")),
    );
    eprintln!("mini:\n  {}", log.join("\n  "));
}

#[test]
fn stereo_is_averaged_to_mono() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), &["edge/ESTEREO_20210804_071000.flac"]);
    let out = dir.path().join("out");
    run(&job(&m, &out), &|_| {}, &|_| {}).unwrap();
    let log = compare(
        &read_table(&out.join(PARQUET)),
        &read_table(&golden().join("edge/ESTEREO.hashed_soundscape.parquet")),
    );
    eprintln!("stereo:\n  {}", log.join("\n  "));
}

#[test]
fn digital_silence_gives_nan_core_tail_exag() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), &["edge/ESILENT_20210804_073000.flac"]);
    let out = dir.path().join("out");
    run(&job(&m, &out), &|_| {}, &|_| {}).unwrap();
    let ours = read_table(&out.join(PARQUET));
    compare(
        &ours,
        &read_table(&golden().join("edge/ESILENT.hashed_soundscape.parquet")),
    );
    for c in ["CORE", "TAIL", "EXAG"] {
        assert_eq!(
            column(&ours, c).null_count(),
            96,
            "{c} is null in every row"
        );
    }
    assert_eq!(column(&ours, "TOTAL").null_count(), 0);
}

#[test]
fn bad_inputs_are_reported_and_the_rest_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        "edge/ESTEREO_20210804_071000.flac",
        "edge/E441_20210804_070000.flac",
        "edge/ESHORT_20210804_072000.flac",
        "edge/ETRUNC_20210804_074000.wav",
        "edge/EEMPTY_20210804_075000.wav",
        "edge/ETEXT_20210804_080000.wav",
        "edge/DOES_NOT_EXIST_20210804_090000.wav",
    ];
    let m = manifest(dir.path(), &files);
    let out = dir.path().join("out");
    let result = run(&job(&m, &out), &|_| {}, &|_| {}).unwrap();
    let r = &result.report;
    let status: HashMap<&str, (Status, String)> = r
        .recordings
        .iter()
        .map(|o| {
            (
                o.id.as_str(),
                (
                    o.status,
                    o.reason.clone().unwrap_or_default() + &o.warnings.join(";"),
                ),
            )
        })
        .collect();
    let expect = |id: &str, s: Status, words: &[&str]| {
        let (got, reason) = &status[id];
        assert_eq!(*got, s, "{id}: {reason}");
        for w in words {
            assert!(reason.contains(w), "{id}: {reason:?} should mention {w:?}");
        }
        if s != Status::Done {
            assert!(
                reason.contains(id),
                "{id}: the reason names the file: {reason}"
            );
        }
    };
    expect("ESTEREO_20210804_071000", Status::Done, &[]);
    expect(
        "E441_20210804_070000",
        Status::Done,
        &["7 of 96 bands", "Nyquist", "NaN"],
    );
    expect(
        "ESHORT_20210804_072000",
        Status::Skipped,
        &["shorter than one slice", "29.000 s"],
    );
    expect(
        "ETRUNC_20210804_074000",
        Status::Failed,
        &["truncated", "1488000"],
    );
    expect("EEMPTY_20210804_075000", Status::Failed, &["empty"]);
    expect(
        "ETEXT_20210804_080000",
        Status::Failed,
        &["not a recognised audio file"],
    );
    expect(
        "DOES_NOT_EXIST_20210804_090000",
        Status::Failed,
        &["cannot open"],
    );
    assert_eq!(
        (r.summary.done, r.summary.skipped, r.summary.failed),
        (2, 1, 4)
    );
    assert_eq!(r.exit_code(), 3);

    // The table holds the two good recordings; the 44.1 kHz one has NaN above 22050 Hz only.
    let t = read_table(&out.join(PARQUET));
    assert_eq!(t.num_rows(), 2 * 96);
    let ids = column(&t, "id").as_string::<i32>();
    let total = column(&t, "TOTAL").as_primitive::<Float64Type>();
    let minf = column(&t, "min_freq").as_primitive::<Float64Type>();
    let idx = column(&t, "__index_level_0__").as_primitive::<Int64Type>();
    for i in 0..t.num_rows() {
        let nan = total.is_null(i);
        let e441 = ids.value(i).starts_with("E441");
        assert_eq!(idx.value(i), if e441 { 1 } else { 0 });
        assert_eq!(
            nan,
            e441 && minf.value(i) >= 22250.0,
            "row {i}: {} {}",
            ids.value(i),
            minf.value(i)
        );
    }
    // The report is on disk too.
    let on_disk: soundscape_core::RunReport =
        serde_json::from_str(&std::fs::read_to_string(out.join("run_report.json")).unwrap())
            .unwrap();
    assert_eq!(on_disk.summary, r.summary);
}

#[test]
fn a_rerun_with_unchanged_inputs_does_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), &["mini/MINI_20210804_062000.wav"]);
    let out = dir.path().join("out");
    let first = run(&job(&m, &out), &|_| {}, &|_| {}).unwrap();
    assert!(!first.up_to_date);
    let modified = std::fs::metadata(out.join(PARQUET))
        .unwrap()
        .modified()
        .unwrap();
    let second = run(&job(&m, &out), &|_| {}, &|_| {}).unwrap();
    assert!(second.up_to_date);
    assert_eq!(
        std::fs::metadata(out.join(PARQUET))
            .unwrap()
            .modified()
            .unwrap(),
        modified
    );
    // A removed output makes it recompute.
    std::fs::remove_file(out.join(PARQUET)).unwrap();
    let third = run(&job(&m, &out), &|_| {}, &|_| {}).unwrap();
    assert!(!third.up_to_date && out.join(PARQUET).exists());
    // So does --force.
    let mut forced = job(&m, &out);
    forced.force = true;
    assert!(!run(&forced, &|_| {}, &|_| {}).unwrap().up_to_date);
}

#[test]
fn metadata_json_follows_the_original_layout() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), &["mini/MINI_20210804_062000.wav"]);
    let out = dir.path().join("92/0_00_1_0000/HARNESS/2021-08-04");
    let mut j = job(&m, &out);
    j.product_dir =
        Some("/shared_volume/audio/soundscapes/92/1_95_1_1350/248C7D075B1F7CDB/2021-08-04".into());
    run(&j, &|_| {}, &|_| {}).unwrap();
    let text = std::fs::read_to_string(out.join("soundscape_metadata.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "product_id",
            "product_parent",
            "product_name",
            "product_configs",
            "product_path",
            "product_spectrum",
            "CumulusName",
            "NodeCategoryIntegrity",
            "NomenclatureNode",
            "SerialNumber",
            "DateDeployment"
        ]
    );
    assert_eq!(v["product_id"], "c58892f5d93ec1adf0b17325c6c17f4a");
    assert_eq!(v["product_parent"], "Null");
    assert_eq!(v["product_name"], "Soundscape");
    assert_eq!(v["CumulusName"], 92);
    assert_eq!(v["NodeCategoryIntegrity"], "Integro");
    assert_eq!(
        v["product_configs"]["indices"],
        serde_json::json!([
            "TOTAL",
            "CORE",
            "TAIL",
            "INFORMATION",
            "ICOMPLEXITY",
            "EXAG"
        ])
    );
    assert_eq!(
        v["product_configs"]["slice_config"]["frequency_limits"],
        serde_json::json!([0.0, 24000.0])
    );
    assert!(v["product_path"]
        .as_str()
        .unwrap()
        .ends_with("/2021-08-04/hashed_soundscape.parquet"));
    assert!(
        text.starts_with("{\n    \""),
        "4-space indent as json.dump(indent=4)"
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

/// The golden inputs give the same table, bit for bit, with every AVX2 path on and with
/// every one off (in one process: the engine's setter for tests).
#[test]
fn both_simd_modes_give_identical_tables_on_the_golden_inputs() {
    use soundscape_engine::simd::{avx2_under_test, with_kernels_off, Kernel};
    if !avx2_under_test() {
        return; // scalar paths only: there is no second mode to compare with
    }
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        dir.path(),
        &[
            "mini/MINI_20210804_055000.wav",
            "mini/MINI_20210804_062000.wav",
            "edge/ESTEREO_20210804_071000.flac",
            "edge/ESILENT_20210804_073000.flac",
        ],
    );
    let table = |out: &Path| {
        let result = run(&job(&m, out), &|_| {}, &|_| {}).unwrap();
        assert_eq!(result.report.summary.done, 4);
        read_table(&out.join(PARQUET))
    };
    let fast = table(&dir.path().join("fast"));
    let scalar = with_kernels_off(&Kernel::ALL, 2, || table(&dir.path().join("scalar")));
    assert_eq!(fast.schema(), scalar.schema());
    assert_eq!(fast.num_rows(), scalar.num_rows());
    let mut floats = 0;
    for (i, field) in fast.schema().fields().iter().enumerate() {
        let (a, b) = (fast.column(i), scalar.column(i));
        match (
            a.as_primitive_opt::<Float64Type>(),
            b.as_primitive_opt::<Float64Type>(),
        ) {
            (Some(a), Some(b)) => {
                let bits = |x: &arrow::array::Float64Array| -> Vec<Option<u64>> {
                    x.iter().map(|v| v.map(f64::to_bits)).collect()
                };
                assert_eq!(bits(a), bits(b), "column {}", field.name());
                floats += 1;
            }
            _ => assert_eq!(a, b, "column {}", field.name()),
        }
    }
    assert!(floats >= 6, "the six index columns compared");
}
