//! The run as Argo's pods run it, on this machine: get-audio-df cuts the units into batches,
//! `soundscape batch` runs a stage over each batch's units (one failing unit does not stop the
//! others, a unit whose earlier stage failed is skipped with the reason), and
//! `soundscape collect` gathers the batch reports into the run summary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_soundscape"))
        .parent()
        .unwrap();
    let b = dir.join(name);
    assert!(
        b.is_file(),
        "{name} is not built: run `cargo build --workspace --bins` first"
    );
    b
}

fn run(name: &str, args: &[&str]) -> Output {
    Command::new(bin(name))
        .args(args)
        .arg("--no-progress")
        .output()
        .unwrap()
}

fn json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

fn statuses(report: &Value) -> Vec<(String, String)> {
    report["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["unit"].as_str().unwrap().to_string(),
                u["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn batches_run_unit_by_unit_and_the_summary_gathers_them() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mini = repo.join("tests/fixtures/golden/mini/MINI_20210804_062000.wav");
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("path,start,node,recorder,deployment,cumulus\n");
    for (node, rec) in [
        ("1_92_1_0001", "FIRST"),
        ("1_92_1_0002", "SECOND"),
        ("1_92_1_0003", "THIRD"),
    ] {
        let f = dir.path().join(format!("{rec}_20210804_012000.wav"));
        std::fs::copy(&mini, &f).unwrap();
        csv.push_str(&format!(
            "{},2021-08-04T01:20:00-05:00,{node},{rec},2021-08-04,92\n",
            f.display()
        ));
    }
    let manifest = dir.path().join("m.csv");
    std::fs::write(&manifest, csv).unwrap();
    let work = dir.path().join("work");
    let results = dir.path().join("results");
    let (w, r) = (work.to_str().unwrap(), results.to_str().unwrap());
    let o = run(
        "get-audio-df",
        &[
            "--source",
            manifest.to_str().unwrap(),
            "--out",
            w,
            "--fan-out-width",
            "2",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let fanout = json(&work.join("fanout.json"));
    assert_eq!(
        fanout,
        serde_json::json!([{"batch": 0, "hours": 1}, {"batch": 1, "hours": 1}])
    );
    let o = run(
        "dirstruct",
        &["--units", &format!("{w}/units.json"), "--results-dir", r],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let plan = format!("--plan={w}/batches.json");
    let reports = format!("--reports={w}/batches");
    let batch = |b: usize, step: &str, after: &[&str], cmd: &[&str]| {
        let mut c = Command::new(bin("soundscape"));
        c.args([
            "batch",
            &format!("--step={step}"),
            &plan,
            &format!("--batch={b}"),
            &reports,
            "--no-progress",
        ]);
        for a in after {
            c.arg(format!("--after={a}"));
        }
        c.arg("--").args(cmd);
        c.output().unwrap()
    };
    let unit_dir = format!("--unit-dir={r}/{{unit}}");
    let cs = bin("compute-soundscapes");
    for b in 0..2 {
        let o = batch(
            b,
            "compute-soundscapes",
            &[],
            &[cs.to_str().unwrap(), &unit_dir],
        );
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let b0 = json(&work.join("batches/compute-soundscapes/00000.json"));
    assert_eq!(
        statuses(&b0),
        [
            ("92/1_92_1_0001/FIRST/2021-08-04".into(), "done".into()),
            ("92/1_92_1_0002/SECOND/2021-08-04".into(), "done".into())
        ]
    );
    for u in [
        "92/1_92_1_0001/FIRST/2021-08-04",
        "92/1_92_1_0002/SECOND/2021-08-04",
        "92/1_92_1_0003/THIRD/2021-08-04",
    ] {
        assert!(
            results.join(u).join("hashed_soundscape.parquet").is_file(),
            "{u}"
        );
    }

    // A stage that fails for one unit: the batch's other unit still runs; the batch is partial.
    let fails = [
        "sh",
        "-c",
        "case \"$0\" in *SECOND*) echo 'cannot do SECOND' >&2; exit 1;; esac",
        "{unit}",
    ];
    let o = batch(0, "check", &["compute-soundscapes"], &fails);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rep = json(&work.join("batches/check/00000.json"));
    assert_eq!(
        statuses(&rep),
        [
            ("92/1_92_1_0001/FIRST/2021-08-04".into(), "done".into()),
            ("92/1_92_1_0002/SECOND/2021-08-04".into(), "failed".into())
        ]
    );
    assert!(
        rep["units"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("cannot do SECOND"),
        "{rep:#}"
    );
    // The next stage skips the unit that failed, with the reason.
    let o = batch(0, "later", &["check"], &["true", "{unit}"]);
    assert_eq!(o.status.code(), Some(3));
    let rep = json(&work.join("batches/later/00000.json"));
    assert_eq!(rep["units"][1]["status"], "skipped");
    assert_eq!(rep["units"][1]["reason"], "check failed");
    assert_eq!(rep["units"][0]["status"], "done");
    // A batch that is not in the plan is a usage of the wrong plan: the run fails.
    assert_eq!(batch(9, "later", &[], &["true"]).status.code(), Some(1));

    let o = run(
        "soundscape",
        &["collect", "--work-dir", w, "--results-dir", r],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = json(&work.join("run_summary.json"));
    let cs = s["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["stage"] == "compute-soundscapes")
        .unwrap();
    assert_eq!(cs["units"]["done"], 3, "{s:#}");
    assert_eq!(cs["items"]["done"], 3);
    assert!(cs["seconds"].as_f64().unwrap() > 0.0);
    assert!(dir.path().join("dataset/soundscapes/cumulus=92/node=1_92_1_0003/recorder=THIRD/deployment=2021-08-04/part-0.parquet").is_file());
}
