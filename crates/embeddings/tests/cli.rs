//! The `embeddings` tool as users run it: the real Perch shard of perch-hoplite's tests
//! (written by TensorFlow) imported and exported back to the same records; tables of the
//! embeddings stage's schema exported and imported back unchanged; search finding the query
//! window first and its near-duplicates next, exactly as a brute-force scan in float64 ranks
//! them; reports and exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float32Type, Float64Type, Int32Type, Int64Type};
use prost::Message;
use soundscape_table::embeddings::{EmbeddingsWriter, Keys};
use soundscape_vectors::example::{Example, FloatTensor};

fn embeddings(args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_embeddings"))
        .args(args)
        .args(["--no-progress", "--log-format", "json"])
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let at = args.iter().position(|a| *a == "--out").map(|i| args[i + 1]);
    let report = at
        .and_then(|dir| {
            let cmd = args[0];
            std::fs::read_to_string(Path::new(dir).join(format!("{cmd}_report.json"))).ok()
        })
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(serde_json::Value::Null);
    (code, report, stderr)
}

fn records(shard: &Path) -> Vec<Example> {
    let f = std::fs::File::open(shard).unwrap();
    soundscape_vectors::tfrecord::open(f)
        .unwrap()
        .map(|r| Example::decode(r.unwrap().data.as_slice()).unwrap())
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn the_perch_shard_of_tensorflow_comes_back_as_the_same_records() {
    let Some(shard) = soundscape_testkit::fetched(
        "tests/corpus/perch/embeddings-1730850444-00000-of-00001",
        "just corpus",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let imp = dir.path().join("imp");
    let (code, report, err) = embeddings(&["import", s(shard.parent().unwrap()), "--out", s(&imp)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(report["summary"]["records"], 6);
    assert_eq!(report["summary"]["rows"], 72);
    assert_eq!(report["summary"]["unparsed_names"], 6, "{report}");
    assert!(report["warnings"][0]
        .as_str()
        .unwrap()
        .contains("neg/bar_neg.wav"));
    let t = soundscape_testkit::read_parquet(&imp.join("embeddings.parquet"));
    assert_eq!(t.num_rows(), 72);
    let emb = t.column_by_name("embedding").unwrap().as_fixed_size_list();
    assert_eq!(emb.value_length(), 128);
    // The config.json beside the shard gives 5 s windows and hops: window k starts at 5 k.
    let start = t
        .column_by_name("start_time")
        .unwrap()
        .as_primitive::<Float64Type>();
    let window = t
        .column_by_name("window")
        .unwrap()
        .as_primitive::<Int32Type>();
    assert_eq!((start.value(11), window.value(11)), (55.0, 11));

    let exp = dir.path().join("exp");
    let (code, report, err) = embeddings(&["export", s(&imp), "--out", s(&exp)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (report["records"].as_u64(), report["rows"].as_u64()),
        (Some(6), Some(72))
    );
    let ours = records(&exp.join("embeddings-00000-of-00001"));
    let theirs = records(&shard);
    assert_eq!(ours.len(), theirs.len());
    for (o, t) in ours.iter().zip(&theirs) {
        for name in ["filename", "timestamp_s", "embedding_shape"] {
            assert_eq!(o.feature(name), t.feature(name), "{name}");
        }
        let tensor = |e: &Example| FloatTensor::decode(e.bytes("embedding").unwrap()).unwrap();
        assert_eq!(tensor(o), tensor(t));
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(exp.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["embed_fn_config"]["model_config"]["hop_size_s"], 5.0);
}

const D: usize = 8;

/// A table of the stage's schema: A2O-named recordings (so that import reads the same keys
/// back), two channels in the first, a gap in the second, values that say where they are.
fn stage_table(path: &Path) -> usize {
    let f = std::fs::File::create(path).unwrap();
    let mut w = EmbeddingsWriter::new(f, "UTC", D, &[]).unwrap();
    let recs = [
        (
            "20201126T200000+0800_Great-Western-Woodlands-Wet-A_1",
            "Great-Western-Woodlands",
            "Wet-A",
            "2020-11-26",
            1_606_392_000i64,
            2,
            vec![0, 1, 2],
        ),
        (
            "20210105T043000Z_Tarcutta-Dry-B_7",
            "Tarcutta",
            "Dry-B",
            "2021-01-05",
            1_609_821_000,
            1,
            vec![0, 1, 3, 4],
        ),
    ];
    let mut rows = 0;
    for (r, (id, node, rec, dep, t0, channels, windows)) in recs.iter().enumerate() {
        for &win in windows {
            for c in 0..*channels {
                let start = 3.0 * win as f64;
                let v: Vec<f32> = (0..D)
                    .map(|k| (100 * r as i32 + 10 * win + c) as f32 + k as f32 / 10.0)
                    .collect();
                let ns = |secs: f64| t0 * 1_000_000_000 + (secs * 1e9) as i64;
                w.push(
                    &Keys {
                        id,
                        recording_index: r as i64,
                        cumulus: None,
                        node,
                        recorder: rec,
                        deployment: dep,
                        channel: c,
                        window: win,
                        start_time: start,
                        end_time: start + 3.0,
                        abs_start_ns: ns(start),
                        abs_end_ns: ns(start + 3.0),
                    },
                    ("birdnet", "2.4"),
                    &v,
                    &[],
                )
                .unwrap();
                rows += 1;
            }
        }
    }
    w.finish().unwrap();
    rows
}

#[test]
fn a_stage_table_exports_and_imports_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("embeddings.parquet");
    let rows = stage_table(&table);
    let exp = dir.path().join("exp");
    let (code, report, err) = embeddings(&[
        "export",
        s(&table),
        "--out",
        s(&exp),
        "--gzip",
        "--records-per-shard",
        "2",
    ]);
    assert_eq!(code, 0, "{err}");
    // The gap in the second recording starts a record: three records in two shards.
    assert_eq!(
        (report["records"].as_u64(), report["rows"].as_u64()),
        (Some(3), Some(rows as u64))
    );
    assert_eq!(report["hop_s"], 3.0);
    let shards: Vec<PathBuf> = report["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| PathBuf::from(p.as_str().unwrap()))
        .collect();
    assert_eq!(shards.len(), 2);
    assert!(shards[1].ends_with("embeddings-00001-of-00002.gz"));
    let first = records(&shards[0]);
    assert_eq!(
        first[0].ints("embedding_shape"),
        Some(&[3i64, 2, D as i64][..])
    );

    let imp = dir.path().join("imp");
    let (code, _, err) = embeddings(&[
        "import",
        s(&exp),
        "--out",
        s(&imp),
        "--model",
        "birdnet",
        "--model-version",
        "2.4",
    ]);
    assert_eq!(code, 0, "{err}");
    let a = soundscape_testkit::read_parquet(&table);
    let b = soundscape_testkit::read_parquet(&imp.join("embeddings.parquet"));
    assert_eq!(a.num_rows(), b.num_rows());
    for c in a.schema().fields() {
        let n = c.name();
        assert_eq!(
            a.column_by_name(n).unwrap().to_data(),
            b.column_by_name(n).unwrap().to_data(),
            "{n}"
        );
    }

    // A rerun with fewer shards leaves none of the earlier ones behind.
    let (code, report, _) = embeddings(&["export", s(&table), "--out", s(&exp), "--gzip"]);
    assert_eq!(code, 0);
    assert_eq!(report["shards"].as_array().unwrap().len(), 1);
    let left: Vec<String> = std::fs::read_dir(&exp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("embeddings-"))
        .collect();
    assert_eq!(left, ["embeddings-00000-of-00001.gz"]);
}

#[test]
fn a_row_that_fits_no_record_is_reported_and_the_rest_exported() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("embeddings.parquet");
    let f = std::fs::File::create(&table).unwrap();
    let mut w = EmbeddingsWriter::new(f, "UTC", 2, &[]).unwrap();
    for (win, c) in [(0, 0), (0, 1), (1, 1), (2, 0)] {
        let k = Keys {
            id: "x",
            recording_index: 0,
            cumulus: None,
            node: "n",
            recorder: "r",
            deployment: "d",
            channel: c,
            window: win,
            start_time: win as f64,
            end_time: win as f64 + 1.0,
            abs_start_ns: 0,
            abs_end_ns: 0,
        };
        w.push(&k, ("m", "v"), &[1.0, 2.0], &[]).unwrap();
    }
    w.finish().unwrap();
    let exp = dir.path().join("exp");
    let (code, report, _) = embeddings(&["export", s(&table), "--out", s(&exp)]);
    assert_eq!(code, 3);
    assert_eq!(report["status"], "partial");
    assert_eq!(report["rows"], 3);
    let skipped = &report["skipped"][0];
    assert_eq!(skipped[1], 2);
    assert!(
        skipped[2]
            .as_str()
            .unwrap()
            .contains("channel 1 of window 1"),
        "{skipped}"
    );
}

/// Two tables of random vectors (rows counted across them); `dups` are near-duplicates of
/// row `of`, with noise of the given size.
fn random_tables(dir: &Path, n: [usize; 2], of: usize, dups: &[(usize, f32)]) -> Vec<Vec<f32>> {
    let mut noise = soundscape_testkit::Noise::new(0x2545_f491_4f6c_dd1d);
    let mut next = move || noise.next();
    let dim = 96;
    let mut all: Vec<Vec<f32>> = (0..n[0] + n[1])
        .map(|_| (0..dim).map(|_| next()).collect())
        .collect();
    for &(row, noise) in dups {
        all[row] = all[of].iter().map(|v| 2.0 * v + noise * next()).collect();
    }
    for (t, range) in [(0, 0..n[0]), (1, n[0]..n[0] + n[1])] {
        let f = std::fs::File::create(dir.join(format!("t{t}.parquet"))).unwrap();
        let mut w = EmbeddingsWriter::new(f, "+02:00", dim, &[]).unwrap();
        for i in range {
            let local = i - if t == 0 { 0 } else { n[0] };
            let k = Keys {
                id: &format!("rec{}", local / 100),
                recording_index: (local / 100) as i64,
                cumulus: None,
                node: "n",
                recorder: "r",
                deployment: "d",
                channel: 0,
                window: (local % 100) as i32,
                start_time: (local % 100) as f64 * 5.0,
                end_time: (local % 100) as f64 * 5.0 + 5.0,
                abs_start_ns: i as i64,
                abs_end_ns: i as i64,
            };
            w.push(&k, ("m", "v"), &all[i], &[]).unwrap();
        }
        w.finish().unwrap();
    }
    all
}

#[test]
fn search_finds_the_query_first_then_its_near_duplicates_as_brute_force_ranks_them() {
    let dir = tempfile::tempdir().unwrap();
    // Two tables, each of several row groups; the query in the first, its near-duplicates
    // in both.
    let of = 1234;
    let dups = [(17_000, 0.01), (40, 0.05), (9_999, 0.1)];
    let all = random_tables(dir.path(), [10_000, 9_000], of, &dups);
    let out = dir.path().join("hits");
    let (t0, t1) = (dir.path().join("t0.parquet"), dir.path().join("t1.parquet"));
    let (code, report, err) = embeddings(&[
        "search",
        "--embeddings",
        s(&t0),
        s(&t1),
        "--query-row",
        &of.to_string(),
        "--top",
        "25",
        "--out",
        s(&out),
        "--threads",
        "3",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(report["rows"], 19_000);
    let hits = soundscape_testkit::read_parquet(&out.join("hits.parquet"));
    assert_eq!(hits.num_rows(), 25);
    let rows: Vec<i64> = hits
        .column_by_name("row")
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    assert_eq!(&rows[..4], &[of as i64, 17_000, 40, 9_999]);
    // The same ranking as a float64 brute force, similarities within float32 rounding.
    let q = &all[of];
    let norm = |v: &[f32]| v.iter().map(|a| *a as f64 * *a as f64).sum::<f64>().sqrt();
    let cos = |x: &[f32]| {
        let d: f64 = q.iter().zip(x).map(|(a, b)| *a as f64 * *b as f64).sum();
        d / (norm(q) * norm(x))
    };
    let mut brute: Vec<(f64, usize)> = all.iter().enumerate().map(|(i, x)| (cos(x), i)).collect();
    brute.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let sims = hits
        .column_by_name("similarity")
        .unwrap()
        .as_primitive::<Float32Type>();
    for (k, (sim, i)) in brute.iter().take(25).enumerate() {
        assert!(
            (sims.value(k) as f64 - sim).abs() < 1e-5,
            "rank {k}: {} vs {sim}",
            sims.value(k)
        );
        // Where the float64 ranking is clear of float32 rounding, the rows agree.
        let clear = |j: usize| (brute[j].0 - sim).abs() > 1e-5;
        if (k == 0 || clear(k - 1)) && clear(k + 1) {
            assert_eq!(rows[k], *i as i64, "rank {k}");
        }
    }
    // The first search built each table's index; the next reads it; reading the tables
    // instead gives the same hits, similarities within float32 rounding.
    assert_eq!(report["tables"][1]["read"], "index (built)", "{report}");
    assert!(dir.path().join("t1.vectors").exists());
    let again = |extra: &[&str]| {
        let mut args = vec![
            "search",
            "--embeddings",
            s(&t0),
            s(&t1),
            "--query-row",
            "1234",
            "--top",
            "25",
            "--out",
            s(&out),
        ];
        args.extend(extra);
        let (code, report, err) = embeddings(&args);
        assert_eq!(code, 0, "{err}");
        (
            report,
            soundscape_testkit::read_parquet(&out.join("hits.parquet")),
        )
    };
    for (extra, read) in [(&[][..], "index"), (&["--no-index"][..], "table")] {
        let (report, h) = again(extra);
        assert_eq!(report["tables"][0]["read"], read);
        let r: Vec<i64> = h
            .column_by_name("row")
            .unwrap()
            .as_primitive::<Int64Type>()
            .values()
            .to_vec();
        assert_eq!(&r[..4], &rows[..4]);
        let s2 = h
            .column_by_name("similarity")
            .unwrap()
            .as_primitive::<Float32Type>();
        for k in 0..25 {
            assert!((s2.value(k) - sims.value(k)).abs() < 1e-6, "rank {k}");
        }
    }
    // A changed table makes its index stale: it is rebuilt.
    random_tables(dir.path(), [10_000, 9_000], of, &dups);
    let (report, _) = again(&[]);
    assert_eq!(report["tables"][0]["read"], "index (built)");

    // The hit's keys come from its table: row 17,000 is row 7,000 of the second.
    let table_row = hits
        .column_by_name("table_row")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(table_row.value(1), 7_000);
    let window = hits
        .column_by_name("window")
        .unwrap()
        .as_primitive::<Int32Type>();
    assert_eq!(window.value(1), 0);
    assert!(std::fs::read_to_string(out.join("hits.csv"))
        .unwrap()
        .starts_with("rank,row,similarity"));

    // A row beyond the tables is a failed run with a message.
    let (code, _, err) = embeddings(&[
        "search",
        "--embeddings",
        s(&t0),
        "--query-row",
        "10000",
        "--out",
        s(&out),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("row 10000: the tables hold 10000 rows"),
        "{err}"
    );
}

#[test]
fn usage_errors_corrupt_shards_and_empty_folders() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, _) = embeddings(&["search", "--embeddings", "x.parquet", "--out", "o"]);
    assert_eq!(code, 2, "no query");
    let (code, _, _) = embeddings(&["import"]);
    assert_eq!(code, 2, "no shards");

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = dir.path().join("out");
    let (code, report, _) = embeddings(&["import", s(&empty), "--out", s(&out)]);
    assert_eq!(
        (code, report["status"].as_str()),
        (0, Some("nothing to do"))
    );

    // A shard that is nothing but noise: no record could be read, the run failed.
    let noise = dir.path().join("noise.tfrecord");
    std::fs::write(&noise, vec![0x5au8; 4000]).unwrap();
    let (code, report, _) = embeddings(&["import", s(&noise), "--out", s(&out)]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["summary"]["shards_failed"], 1);
}
