//! Helpers of the get-audio-df tests: tiny WAV files and running the binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// A PCM16 mono WAV of `frames` frames, with an optional AudioMoth comment.
pub fn wav(rate: u32, frames: u32, comment: Option<&str>) -> Vec<u8> {
    let mut chunks = Vec::new();
    let mut push = |id: &[u8], body: &[u8]| {
        chunks.extend_from_slice(id);
        chunks.extend_from_slice(&(body.len() as u32).to_le_bytes());
        chunks.extend_from_slice(body);
        if body.len() % 2 == 1 {
            chunks.push(0);
        }
    };
    let mut fmt = Vec::new();
    for v in [1u16, 1] {
        fmt.extend_from_slice(&v.to_le_bytes());
    }
    fmt.extend_from_slice(&rate.to_le_bytes());
    fmt.extend_from_slice(&(rate * 2).to_le_bytes());
    fmt.extend_from_slice(&2u16.to_le_bytes());
    fmt.extend_from_slice(&16u16.to_le_bytes());
    push(b"fmt ", &fmt);
    if let Some(c) = comment {
        let mut list = b"INFO".to_vec();
        list.extend_from_slice(b"ICMT");
        list.extend_from_slice(&(c.len() as u32 + 1).to_le_bytes());
        list.extend_from_slice(c.as_bytes());
        list.push(0);
        if (c.len() + 1) % 2 == 1 {
            list.push(0);
        }
        push(b"LIST", &list);
    }
    let samples: Vec<u8> = (0..frames)
        .flat_map(|i| (((i * 37) % 2000) as i16 - 1000).to_le_bytes())
        .collect();
    push(b"data", &samples);
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(chunks.len() as u32 + 4).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(&chunks);
    out
}

pub fn put(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

pub fn get_audio_df(args: &[&str], env: &[(&str, &str)]) -> Output {
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
        c.env(k, v);
    }
    c.output().unwrap()
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
