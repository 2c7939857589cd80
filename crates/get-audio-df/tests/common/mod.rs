//! Helpers of the get-audio-df tests: tiny WAV files and running the binary.
#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;
use std::process::{Command, Output};

pub use soundscape_testkit::{put, wav};

/// No extra environment.
pub const NO_ENV: &[(&str, &str)] = &[];

pub fn get_audio_df<K: AsRef<str>, V: AsRef<str>>(args: &[&str], env: &[(K, V)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_get-audio-df"));
    c.args(args)
        .arg("--no-progress")
        .arg("--log-format")
        .arg("json");
    for k in [
        "ALFRESCO_URL",
        "X_API_KEY",
        "ALFRESCO_SEARCH_URL",
        "ALFRESCO_USER",
        "ALFRESCO_PASSWORD",
    ] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k.as_ref(), v.as_ref());
    }
    c.output().unwrap()
}

/// Asserts the exit code, showing stderr when it differs.
pub fn assert_exit(run: &Output, code: i32) {
    assert_eq!(
        run.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// Ids of the units of a units manifest.
pub fn unit_ids(units: &Value) -> Vec<String> {
    items(units, "units")
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect()
}

/// The array under `key`.
pub fn items<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v[key].as_array().unwrap()
}

/// The element of `list` whose `field` is `value`.
pub fn find<'a>(list: &'a [Value], field: &str, value: &str) -> &'a Value {
    list.iter()
        .find(|x| x[field] == value)
        .unwrap_or_else(|| panic!("no {field} = {value}"))
}

/// Reasons of the report's recordings with this status.
pub fn reasons(report: &Value, status: &str) -> Vec<String> {
    items(report, "recordings")
        .iter()
        .filter(|r| r["status"] == status)
        .map(|r| r["reason"].as_str().unwrap().to_string())
        .collect()
}

pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A SiPeCaM-like archive: two recorders in cumulus 92 (one spans two deployments), one in
/// cumulus 95, and files that must be reported.
pub fn archive(root: &Path) {
    let w = |secs: u32| wav(8000, 8000 * secs, None);
    let base = "92/1_92_1_0001/SER1";
    put(
        root,
        &format!("{base}/2021-08-04/audio/A_20210804_100000.wav"),
        &w(2),
    );
    put(
        root,
        &format!("{base}/2021-08-04/audio/A_20210804_090000.wav"),
        &w(3),
    );
    put(
        root,
        &format!("{base}/2021-09-01/audio/A_20210901_000000.wav"),
        &w(1),
    );
    put(
        root,
        "92/1_92_0_0002/SER2/2021-08-04/rec0001.wav",
        &wav(
            8000,
            8000,
            Some("Recorded at 05:00:00 04/08/2021 (UTC-5) by AudioMoth 24F3 at medium gain"),
        ),
    );
    put(
        root,
        "95/1_95_1_0003/SER3/2021-08-05/B_20210805_000000.wav",
        &w(1),
    );
    put(
        root,
        "92/1_92_1_0001/SER1/2021-08-04/audio/notes.txt",
        b"not audio",
    );
    put(
        root,
        "92/1_92_1_0001/SER1/2021-08-04/audio/E_20210804_110000.wav",
        b"",
    );
    put(
        root,
        "92/bad\u{1}node/SER9/2021-08-04/C_20210804_000000.wav",
        &w(1),
    );
}
