//! get-audio-df on a folder tree, on manifests (CSV and its own parquet) and on Alfresco
//! through the fake server; dirstruct on the result.

mod common;

use alfresco_fake::{sipecam_entry, FakeAlfresco, Fault, State};
use common::*;

#[test]
fn folder_tree_with_layout() {
    let src = tempfile::tempdir().unwrap();
    archive(src.path());
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let run = get_audio_df(
        &[
            "--source",
            src.path().to_str().unwrap(),
            "--out",
            o,
            "--layout",
            "sipecam",
            "--cumulus",
            "92",
        ],
        NO_ENV,
    );
    assert_exit(&run, 3);
    let units = json(&out.path().join("units.json"));
    let ids = unit_ids(&units);
    assert_eq!(
        ids,
        [
            "92/1_92_0_0002/SER2/2021-08-04",
            "92/1_92_1_0001/SER1/2021-08-04",
            "92/1_92_1_0001/SER1/2021-09-01"
        ]
    );
    // Fewer units than the fan-out width: a batch per unit, in unit order.
    let plan = json(&out.path().join("batches.json"));
    let batched: Vec<&str> = plan["batches"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| {
            b["units"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u.as_str().unwrap())
        })
        .collect();
    assert_eq!(batched, ids);
    assert_eq!(plan["batch_size"], 1);
    assert_eq!(
        json(&out.path().join("fanout.json")),
        serde_json::json!([{"batch": 0, "hours": 1}, {"batch": 1, "hours": 1}, {"batch": 2, "hours": 1}])
    );
    let u1 = &units["units"][1];
    assert_eq!(
        u1["recordings"][0]["id"], "A_20210804_090000",
        "start order"
    );
    assert_eq!(u1["recordings"][1]["id"], "A_20210804_100000");
    assert_eq!(u1["duration_s"], 5.0);
    assert_eq!(
        units["units"][0]["recordings"][0]["start"],
        "2021-08-04T05:00:00-05:00"
    );

    let report = json(&out.path().join("run_report.json"));
    let by_id = |id: &str| find(items(&report, "recordings"), "id", id).clone();
    assert_eq!(by_id("B_20210805_000000")["status"], "skipped");
    assert!(by_id("B_20210805_000000")["reason"]
        .as_str()
        .unwrap()
        .contains("cumulus 95"));
    let empty = by_id("E_20210804_110000");
    assert_eq!(empty["status"], "failed");
    assert!(empty["reason"]
        .as_str()
        .unwrap()
        .contains("E_20210804_110000.wav"));
    let bad = by_id("C_20210804_000000");
    assert_eq!(bad["status"], "failed");
    assert!(
        bad["reason"]
            .as_str()
            .unwrap()
            .contains("control character"),
        "{bad}"
    );
    assert_eq!(report["summary"]["done"], 4);
    assert_eq!(report["summary"]["total"], 7);
}

#[test]
fn filters_and_limit() {
    let src = tempfile::tempdir().unwrap();
    archive(src.path());
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let s = src.path().to_str().unwrap();
    let run = get_audio_df(
        &[
            "--source",
            s,
            "--out",
            o,
            "--layout",
            "sipecam",
            "--from",
            "2021-08-04",
            "--to",
            "2021-08-04",
            "--limit",
            "2",
        ],
        NO_ENV,
    );
    assert_eq!(run.status.code(), Some(3));
    let units = json(&out.path().join("units.json"));
    assert_eq!(units["recordings"], 2);
    let report = json(&out.path().join("run_report.json"));
    let reasons = reasons(&report, "skipped");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("outside 2021-08-04..2021-08-04")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("--limit 2")),
        "{reasons:?}"
    );

    let run = get_audio_df(
        &[
            "--source",
            s,
            "--out",
            o,
            "--layout",
            "sipecam",
            "--sample-rate",
            "48000",
        ],
        NO_ENV,
    );
    // Nothing kept: the run says so and fails, so that no later stage runs on nothing.
    assert_eq!(run.status.code(), Some(1));
    assert_eq!(json(&out.path().join("units.json"))["recordings"], 0);
    let report = json(&out.path().join("run_report.json"));
    assert!(
        report["errors"][0]
            .as_str()
            .unwrap()
            .contains("nothing to do"),
        "{report}"
    );
}

#[test]
fn manifests_csv_and_parquet_round_trip() {
    let src = tempfile::tempdir().unwrap();
    put(
        src.path(),
        "a/X_20210804_100000.wav",
        &wav(8000, 16000, None),
    );
    put(
        src.path(),
        "a/Y_20210804_101500.wav",
        &wav(8000, 8000, None),
    );
    std::fs::write(
        src.path().join("m.csv"),
        "path,start,cumulus,node,recorder,deployment,latitude,longitude,duration,samplerate\n\
         a/X_20210804_100000.wav,2021-08-04T05:00:00-05:00,92,1_92_1_0001,R1,2021-08-04,19.5,-99.1,2.0,8000\n\
         a/Y_20210804_101500.wav,2021-08-04T05:15:00-05:00,92,1_92_1_0001,R1,2021-08-04,19.5,-99.1,60,48000\n\
         a/missing.wav,2021-08-04T05:30:00-05:00,92,1_92_1_0001,R1,2021-08-04,,,,\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let run = get_audio_df(
        &[
            "--source",
            src.path().join("m.csv").to_str().unwrap(),
            "--out",
            o,
        ],
        NO_ENV,
    );
    assert_exit(&run, 0);
    let report = json(&out.path().join("run_report.json"));
    let y = find(items(&report, "recordings"), "id", "Y_20210804_101500");
    let w = y["warnings"].to_string();
    assert!(
        w.contains("declared duration 60") && w.contains("declared sample rate 48000"),
        "{w}"
    );
    let units = json(&out.path().join("units.json"));
    assert_eq!(
        units["recordings"], 3,
        "a file missing locally is listed with its declared values"
    );
    let first = units.clone();

    // The audio table is itself a manifest.
    let out2 = tempfile::tempdir().unwrap();
    let table = out.path().join("audio.parquet");
    let run = get_audio_df(
        &[
            "--source",
            table.to_str().unwrap(),
            "--out",
            out2.path().to_str().unwrap(),
        ],
        NO_ENV,
    );
    assert_exit(&run, 0);
    let again = json(&out2.path().join("units.json"));
    assert_eq!(again["units"][0]["id"], first["units"][0]["id"]);
    for (a, b) in again["units"][0]["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .zip(first["units"][0]["recordings"].as_array().unwrap())
    {
        assert_eq!(a["start"], b["start"]);
        assert_eq!(a["path"], b["path"]);
        assert_eq!(a["latitude"], b["latitude"]);
    }
}

fn alfresco_entries() -> Vec<serde_json::Value> {
    let mut v = Vec::new();
    for i in 0..40 {
        let (node, serial, dep) = if i < 25 {
            ("1_92_1_1350", "248C7D075B1F7CDB", "2021-08-04")
        } else {
            ("1_92_0_1351", "248C7D075B1F7CDC", "2021-08-05")
        };
        let minute = i * 10;
        let start = format!(
            "2021-08-04T{:02}:{:02}:00.000-0500",
            minute / 60,
            minute % 60
        );
        v.push(sipecam_entry(
            &format!("node-{i:03}"),
            "92",
            node,
            serial,
            dep,
            &format!("R_{i:03}.WAV"),
            &start,
            48000.0,
            60.0,
        ));
    }
    // A recording of another cumulus and a malformed entry.
    v.push(sipecam_entry(
        "node-x",
        "95",
        "1_95_1_0001",
        "S",
        "2021-08-04",
        "X.WAV",
        "2021-08-04T00:00:00.000-0500",
        48000.0,
        60.0,
    ));
    v[7]["properties"]
        .as_object_mut()
        .unwrap()
        .remove("sipecam:SerialNumber");
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn alfresco_three_pages_a_504_and_a_malformed_entry() {
    let mut state = State::with_entries(alfresco_entries());
    state.api_key = Some("secret-key-123".into());
    state.faults.push_back(Fault::Status(504)); // the count request fails once
    let fake = FakeAlfresco::start(state).await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap().to_string();
    let url = fake.url();
    let run = tokio::task::spawn_blocking(move || {
        get_audio_df(
            &[
                "--source",
                "alfresco",
                "--out",
                &o,
                "--cumulus",
                "92",
                "--sample-rate",
                "48000",
                "--page-size",
                "15",
                "--no-probe",
            ],
            &[
                ("ALFRESCO_URL", url.as_str()),
                ("X_API_KEY", "secret-key-123"),
            ],
        )
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(3), "{stderr}");
    assert!(
        !stderr.contains("secret-key-123"),
        "the key must not be logged"
    );
    {
        let s = fake.state();
        assert!(s.violations.is_empty(), "{:?}", s.violations);
        let pages: Vec<_> = s
            .seen
            .iter()
            .filter(|r| r.body.get("include").is_some())
            .collect();
        assert_eq!(pages.len(), 3, "40 entries in pages of 15");
        let q = s.seen[0].body["query"]["query"].as_str().unwrap();
        assert!(
            q.ends_with("AND (sipecam:CumulusName:\"92\") AND (sipecam:SampleRate:48000.0)"),
            "{q}"
        );
    }
    let units = json(&out.path().join("units.json"));
    assert_eq!(units["recordings"], 39);
    let u = &units["units"][1];
    assert_eq!(u["id"], "92/1_92_1_1350/248C7D075B1F7CDB/2021-08-04");
    assert_eq!(u["recordings"].as_array().unwrap().len(), 24);
    assert_eq!(
        u["recordings"][0]["path"],
        "/shared_volume/webdav_alfresco/Sites/sipecam/documentLibrary/92/1_92_1_1350/248C7D075B1F7CDB/2021-08-04/audio/R_000.WAV"
    );
    let report = json(&out.path().join("run_report.json"));
    let failed = reasons(&report, "failed");
    assert_eq!(failed.len(), 1);
    assert!(failed[0].contains("node-007"));
    for f in [
        "units.json",
        "run_report.json",
        "batches.json",
        "fanout.json",
    ] {
        let text = std::fs::read_to_string(out.path().join(f)).unwrap();
        assert!(!text.contains("secret-key-123"), "{f} holds the key");
    }
}

#[test]
fn alfresco_needs_its_url() {
    let out = tempfile::tempdir().unwrap();
    let run = get_audio_df(
        &[
            "--source",
            "alfresco",
            "--out",
            out.path().to_str().unwrap(),
        ],
        NO_ENV,
    );
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("ALFRESCO_URL"));
}

#[test]
fn bad_source_and_usage() {
    let run = get_audio_df(&["--source", "/no/such/place", "--out", "/tmp/x"], NO_ENV);
    assert_eq!(run.status.code(), Some(1));
    let run = get_audio_df(&["--out", "/tmp/x"], NO_ENV);
    assert_eq!(run.status.code(), Some(2));
}
