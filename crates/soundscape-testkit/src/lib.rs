//! Test and benchmark helpers shared by the crates: a real S3-compatible server
//! ([`S3Server`], s3s-fs on 127.0.0.1), small WAV files ([`wav`], [`wav_of`]), and the rerun of a
//! test binary on the scalar paths ([`rerun_with_scalar_paths`]).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An s3s-fs server on a free port of 127.0.0.1, serving a temporary folder (bucket `b` is the
/// folder `root/b`), path-style addressing. Stopped when dropped.
pub struct S3Server {
    child: Child,
    pub port: u16,
    pub root: tempfile::TempDir,
}

pub const ACCESS_KEY: &str = "AKTEST";
pub const SECRET_KEY: &str = "SKTEST";

impl S3Server {
    /// Starts the server; panics with install instructions when s3s-fs is missing.
    pub fn start() -> S3Server {
        let root = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(s3s_fs_binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "s3s-fs did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        S3Server { child, port, root }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The folder behind a bucket (created).
    pub fn bucket(&self, name: &str) -> PathBuf {
        let p = self.root.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// The `AWS_*` variables that point object_store at this server, with the given secret.
    pub fn env_with_secret(&self, secret: &str) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", secret.to_string()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    pub fn env(&self) -> Vec<(String, String)> {
        self.env_with_secret(SECRET_KEY)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The s3s-fs binary: `$S3S_FS`, else on `PATH`, else `~/.cargo/bin`.
pub fn s3s_fs_binary() -> PathBuf {
    if let Ok(p) = std::env::var("S3S_FS") {
        return p.into();
    }
    let home = std::env::var("HOME").unwrap_or_default();
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| PathBuf::from(d).join("s3s-fs"))
        .chain([PathBuf::from(home).join(".cargo/bin/s3s-fs")])
        .find(|p| p.is_file())
        .expect("s3s-fs not found: run scripts/setup.sh (cargo install s3s-fs@0.14.1 --features binary --locked) or set S3S_FS")
}

/// A PCM16 mono WAV of `frames` frames of a quiet test pattern, with an optional
/// `LIST/INFO/ICMT` comment.
pub fn wav(rate: u32, frames: u32, comment: Option<&str>) -> Vec<u8> {
    let samples: Vec<i16> = (0..frames)
        .map(|i| ((i * 37) % 2000) as i16 - 1000)
        .collect();
    wav_of(rate, &samples, comment)
}

/// A PCM16 mono WAV of these samples, with an optional `LIST/INFO/ICMT` comment.
pub fn wav_of(rate: u32, samples: &[i16], comment: Option<&str>) -> Vec<u8> {
    wav_channels(rate, 1, samples, comment)
}

/// A PCM16 WAV of `channels` channels holding these (interleaved) samples, with an optional
/// `LIST/INFO/ICMT` comment.
pub fn wav_channels(rate: u32, channels: u16, samples: &[i16], comment: Option<&str>) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    riff_wav(1, rate, channels, 16, &data, comment)
}

/// A mono WAV of 32-bit IEEE float samples (NaN and infinities kept as they are).
pub fn wav_f32(rate: u32, samples: &[f32]) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    riff_wav(3, rate, 1, 32, &data, None)
}

/// A RIFF WAV of format `tag` (1 PCM, 3 IEEE float) holding `data`, with an optional
/// `LIST/INFO/ICMT` comment before it.
fn riff_wav(
    tag: u16,
    rate: u32,
    channels: u16,
    bits: u16,
    data: &[u8],
    comment: Option<&str>,
) -> Vec<u8> {
    let mut chunks = Vec::new();
    let mut push = |id: &[u8], body: &[u8]| {
        chunks.extend_from_slice(id);
        chunks.extend_from_slice(&(body.len() as u32).to_le_bytes());
        chunks.extend_from_slice(body);
        if body.len() % 2 == 1 {
            chunks.push(0);
        }
    };
    let block = channels * bits / 8;
    let mut fmt = Vec::new();
    for v in [tag, channels] {
        fmt.extend_from_slice(&v.to_le_bytes());
    }
    fmt.extend_from_slice(&rate.to_le_bytes());
    fmt.extend_from_slice(&(rate * block as u32).to_le_bytes());
    fmt.extend_from_slice(&block.to_le_bytes());
    fmt.extend_from_slice(&bits.to_le_bytes());
    push(b"fmt ", &fmt);
    if let Some(c) = comment {
        let mut text = c.as_bytes().to_vec();
        text.push(0);
        let mut list = b"INFO".to_vec();
        list.extend_from_slice(b"ICMT");
        list.extend_from_slice(&(text.len() as u32).to_le_bytes());
        list.extend_from_slice(&text);
        if text.len() % 2 == 1 {
            list.push(0);
        }
        push(b"LIST", &list);
    }
    push(b"data", data);
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(chunks.len() as u32 + 4).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(&chunks);
    out
}

/// Writes `bytes` at `root/rel`, creating folders.
pub fn put(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// A results folder with `units` unit folders of products, as the stages leave them:
/// `unit.json`, the soundscape parquet and plots with their metadata, spectrograms, videos and
/// compressed spectrograms of `recordings` recordings per unit, and files that are not
/// products (reports, selection). The contents are arbitrary bytes of assorted sizes; the
/// metadata JSON has the fields in docs/method.md#metadata. Returns the unit folders.
pub fn results_tree(root: &Path, units: usize, recordings: usize) -> Vec<PathBuf> {
    use serde_json::json;
    let mut dirs = Vec::new();
    for u in 0..units {
        let (node, recorder, deployment) = (
            format!("1_9{u}_1_135{u}"),
            format!("24{u}C7D0"),
            "2021-08-04",
        );
        let rel = format!("92/{node}/{recorder}/{deployment}");
        let dir = root.join(&rel);
        std::fs::create_dir_all(&dir).unwrap();
        let unit = json!({"id": rel, "cumulus": "92", "node": node, "recorder": recorder,
            "deployment": deployment, "recordings": [], "duration_s": 0.0});
        std::fs::write(
            dir.join("unit.json"),
            serde_json::to_vec_pretty(&unit).unwrap(),
        )
        .unwrap();
        let base = json!({"product_parent": "Null", "product_spectrum": "Audible", "CumulusName": 92,
            "NodeCategoryIntegrity": "Integro", "NomenclatureNode": node, "SerialNumber": recorder,
            "DateDeployment": deployment});
        let configs = json!({
            "slice_config": {"time_unit": 30.0, "frequency_bins": 96, "frequency_limits": [0.0, 24000.0],
                "feature_type": "spectrogram",
                "feature_config": {"n_fft": 1024, "hop_length": 512, "window_function": "hann"},
                "frequency_hop": 1.0, "time_hop": 1.0},
            "indices": ["TOTAL", "CORE", "TAIL", "INFORMATION", "ICOMPLEXITY", "EXAG"],
            "hash_name": "crono_hash_30m",
            "cycle_config": {"aware_start": null, "start_format": "%Y-%m-%d %H:%M:%S",
                "start_time": "2018-01-01 00:00:00", "start_tzone": "America/Mexico_City",
                "time_module": 48, "time_unit": 1800, "time_utc_column": "abs_start_time"},
            "npartitions": 2});
        let meta = |name: &str, extra: serde_json::Value| {
            let mut m = base.clone();
            m["product_name"] = json!(name);
            for (k, v) in extra.as_object().unwrap() {
                m[k] = v.clone();
            }
            serde_json::to_vec_pretty(&m).unwrap()
        };
        let bytes = |seed: usize, len: usize| -> Vec<u8> {
            (0..len)
                .map(|i| ((i * 31 + seed * 7919) % 251) as u8)
                .collect()
        };
        let mut files: Vec<(String, Vec<u8>)> = vec![
            ("hashed_soundscape.parquet".into(), bytes(u, 40_000)),
            (
                "soundscape_metadata.json".into(),
                meta("Soundscape", json!({"product_configs": configs})),
            ),
        ];
        for (png, m, name) in [
            (
                "sequence.png",
                "soundscape_seq_metadata.json",
                "Soundscape sequential plot",
            ),
            (
                "mean_soundscape.png",
                "mean_soundscape_metadata.json",
                "Soundscape mean plot",
            ),
            (
                "std_soundscape.png",
                "std_soundscape_metadata.json",
                "Soundscape standard deviation plot",
            ),
        ] {
            files.push((png.into(), bytes(u + png.len(), 120_000)));
            files.push((m.into(), meta(name, json!({"product_configs": configs}))));
        }
        for r in 0..recordings {
            let id = format!("REC{u}_20210804_0{r}0000");
            let audio = json!({"AudioID": id});
            files.push((format!("{id}.png"), bytes(u * 100 + r, 90_000)));
            files.push((
                format!("{id}_spectrogram_metadata.json"),
                meta("Spectrogram", audio.clone()),
            ));
            files.push((format!("{id}.mp4"), bytes(u * 100 + r + 1, 300_000)));
            files.push((
                format!("{id}_spectrogram_video_metadata.json"),
                meta("spectrogram_video", audio.clone()),
            ));
            files.push((
                format!("{id}_compressed.png"),
                bytes(u * 100 + r + 2, 30_000),
            ));
            let mut c = audio.clone();
            c["segments"] = json!([[0.0, 1.5]]);
            files.push((
                format!("{id}_compressed.json"),
                meta("Compressed spectrogram", c),
            ));
        }
        files.push(("run_report.json".into(), b"{}".to_vec()));
        files.push(("selection.json".into(), b"[]".to_vec()));
        for (name, content) in files {
            std::fs::write(dir.join(name), content).unwrap();
        }
        dirs.push(dir);
    }
    dirs
}

/// A whole parquet file as one record batch (its row groups concatenated).
pub fn read_parquet(path: &Path) -> arrow::record_batch::RecordBatch {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| panic!("{}: no rows", path.display()));
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

/// A file of the repository that `just models` or `just corpus` fetches (`rel` from the
/// repository's root), if it is there. Its absence skips the test with a message, but fails
/// it under `just test` (`SOUNDSCAPE_REQUIRE_MODELS=1`), which fetches them first.
pub fn fetched(rel: &str, recipe: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("SOUNDSCAPE_REQUIRE_MODELS").as_deref() == Ok("1") {
        panic!("{rel} is missing ({recipe})");
    }
    eprintln!("skipped: no {rel} ({recipe})");
    None
}

/// Reproducible noise for synthetic data (xorshift64): values in [-0.5, 0.5).
#[derive(Debug, Clone)]
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Noise {
        Noise(seed.max(1))
    }

    /// The next value, in [-0.5, 0.5) with 24 bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

/// Runs the calling test binary once more with `SOUNDSCAPE_SIMD=off`, every test in it but
/// `this` (the calling test's name), and fails with the child's output when any fails: the
/// scalar paths that a machine without AVX2 takes are tested in the same `cargo test`, by the
/// same tests, on every machine. A separate process, so that everything the tests start
/// (stage binaries, worker threads) sees the switch too; within one process
/// `soundscape_engine::simd::with_kernels_off` compares the two modes. Does nothing when `scalar_already`
/// (`soundscape_engine::scalar_only()`, the one reading of the switch): in the child
/// itself, or when the whole run is scalar.
pub fn rerun_with_scalar_paths(this: &str, scalar_already: bool) {
    if scalar_already {
        return;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new(&exe)
        .args(["--skip", this])
        .env("SOUNDSCAPE_SIMD", "off")
        .output()
        .expect("running the test binary again");
    assert!(
        out.status.success(),
        "{} with SOUNDSCAPE_SIMD=off failed:\n{}\n{}",
        exe.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ran = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("test result:"))
        .map(str::to_string)
        .collect::<Vec<_>>();
    eprintln!("scalar paths: {}", ran.join("; "));
}
