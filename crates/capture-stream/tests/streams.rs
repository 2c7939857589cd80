//! capture-stream against a local HTTP server that streams Ogg Opus, Ogg Vorbis and MP3 made by
//! the FFmpeg command line, at real-time pace and faster, and that is stopped, stalled and
//! restarted mid-stream. The chunks are decoded again and compared with what the FFmpeg
//! command line decodes from the same file; the index must tile every source's time.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_capture-stream");

/// A stereo test signal (440 Hz left, 1 kHz right, distinct levels) encoded by FFmpeg.
fn encode(dir: &Path, name: &str, seconds: f64, rate: u32, codec: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let d = format!("{seconds}");
    let left = format!("sine=f=440:r={rate}:d={d},volume=0.6");
    let right = format!("sine=f=1000:r={rate}:d={d},volume=0.3");
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-v", "error", "-y", "-f", "lavfi", "-i", &left, "-f", "lavfi", "-i", &right,
    ])
    .args([
        "-filter_complex",
        "[0:a][1:a]join=inputs=2:channel_layout=stereo",
    ])
    .args(codec)
    .arg(&out);
    let st = cmd.status().expect("ffmpeg runs");
    assert!(st.success(), "ffmpeg could not encode {name}");
    out
}

/// Interleaved f32 samples and the channel count, as the FFmpeg command line decodes the
/// file's bytes read as a stream (from a pipe: no length, no seeking, as a live stream comes;
/// FFmpeg then cannot trim an MP3 encoder's end padding, which it does for a file).
fn reference(path: &Path) -> (Vec<f32>, usize) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i", "pipe:"])
        .args(["-f", "f32le", "-acodec", "pcm_f32le", "-"])
        .stdin(std::fs::File::open(path).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success());
    let samples = out
        .stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (samples, 2)
}

/// What one connection gets.
#[derive(Debug, Clone, Copy)]
enum Plan {
    /// The whole stream, then the connection closes.
    Full,
    /// This many bytes, then nothing (the connection stays open) for a while.
    StallAfter(usize),
}

struct ServerState {
    bytes: Vec<u8>,
    mime: &'static str,
    bytes_per_sec: f64,
    plans: Mutex<VecDeque<Plan>>,
    up: AtomicBool,
    completed: AtomicUsize,
    connections: AtomicUsize,
}

/// An Icecast-like HTTP/1.0 server: one stream per connection, paced, without a length.
struct StreamServer {
    port: u16,
    state: Arc<ServerState>,
    accept: Option<JoinHandle<()>>,
}

impl StreamServer {
    fn start(bytes: Vec<u8>, mime: &'static str, seconds: f64, speed: f64, plans: &[Plan]) -> Self {
        let state = Arc::new(ServerState {
            bytes_per_sec: bytes.len() as f64 / seconds * speed,
            bytes,
            mime,
            plans: Mutex::new(plans.iter().copied().collect()),
            up: AtomicBool::new(false),
            completed: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut s = StreamServer {
            port,
            state,
            accept: None,
        };
        s.listen(listener);
        s
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/live", self.port)
    }

    fn listen(&mut self, listener: TcpListener) {
        listener.set_nonblocking(true).unwrap();
        self.state.up.store(true, Ordering::SeqCst);
        let state = self.state.clone();
        self.accept = Some(std::thread::spawn(move || {
            while state.up.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let state = state.clone();
                        std::thread::spawn(move || serve(conn, &state));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }));
    }

    /// Stops listening and drops every connection.
    fn stop(&mut self) {
        self.state.up.store(false, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            h.join().unwrap();
        }
    }

    /// Listens again on the same port.
    fn restart(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        self.listen(listener);
    }
}

impl Drop for StreamServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(mut conn: TcpStream, state: &ServerState) {
    conn.set_nonblocking(false).unwrap();
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    state.connections.fetch_add(1, Ordering::SeqCst);
    let plan = state
        .plans
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Plan::Full);
    let head = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: {}\r\nicy-name: test\r\nCache-Control: no-cache\r\n\r\n",
        state.mime
    );
    if conn.write_all(head.as_bytes()).is_err() {
        return;
    }
    let limit = match plan {
        Plan::Full => state.bytes.len(),
        Plan::StallAfter(n) => n.min(state.bytes.len()),
    };
    let t0 = Instant::now();
    let mut sent = 0;
    while sent < limit {
        if !state.up.load(Ordering::SeqCst) {
            return;
        }
        let due = (t0.elapsed().as_secs_f64() * state.bytes_per_sec) as usize;
        if due <= sent {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        let to = due.min(limit).min(sent + 8192);
        if conn.write_all(&state.bytes[sent..to]).is_err() {
            return;
        }
        sent = to;
    }
    match plan {
        Plan::Full => {
            state.completed.fetch_add(1, Ordering::SeqCst);
        }
        Plan::StallAfter(_) => {
            let until = Instant::now() + Duration::from_secs(20);
            while Instant::now() < until && state.up.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// A running capture-stream.
struct Capture {
    child: Child,
    out: PathBuf,
}

impl Capture {
    fn start(dir: &Path, sources: Value, extra: &[&str]) -> Capture {
        Capture::start_env(dir, sources, extra, &[])
    }

    fn start_env(dir: &Path, sources: Value, extra: &[&str], env: &[(String, String)]) -> Capture {
        let config = dir.join("sources.json");
        std::fs::write(&config, sources.to_string()).unwrap();
        let out = dir.join("out");
        let child = Command::new(BIN)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg("--config")
            .arg(&config)
            .arg("--out")
            .arg(&out)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("CAPTURE_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::piped()
            })
            .spawn()
            .unwrap();
        Capture { child, out }
    }

    fn records(&self) -> Vec<Value> {
        records(&self.out)
    }

    /// SIGTERM, then the exit code and stderr.
    fn terminate(mut self) -> (i32, String) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        self.wait()
    }

    fn wait(&mut self) -> (i32, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    e.read_to_string(&mut err).unwrap();
                }
                return (st.code().unwrap_or(-1), err);
            }
            assert!(Instant::now() < deadline, "capture-stream did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn records(out: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read_to_string(out.join("chunks.jsonl")) else {
        return vec![];
    };
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn micros(t: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap())
        .unwrap()
        .timestamp_micros()
}

/// One channel's timeline: chunks (with their samples read back) and the source's gaps, in
/// time order, checked to tile without overlap. Returns the sessions: runs of samples between
/// gaps.
fn sessions(out: &Path, recs: &[Value], source: &str, channel: u64) -> Vec<Vec<f32>> {
    let mut items: Vec<(i64, i64, Option<&Value>)> = vec![];
    for r in recs.iter().filter(|r| r["source"] == source) {
        match r["type"].as_str().unwrap() {
            "chunk" if r["channel"] == channel => {
                items.push((micros(&r["start"]), micros(&r["end"]), Some(r)))
            }
            "gap" if r.get("channel").is_none() || r["channel"] == channel => {
                let (a, b) = (micros(&r["gap_start"]), micros(&r["gap_end"]));
                let s = r["gap_s"].as_f64().unwrap();
                assert!((s * 1e6 - (b - a) as f64).abs() < 1.0, "{r}");
                assert!(!r["cause"].as_str().unwrap().is_empty());
                items.push((a, b, None))
            }
            _ => {}
        }
    }
    // Zero-length gaps (end markers, format changes) sort before the chunk that starts there.
    items.sort_by_key(|&(a, b, r)| (a, b, r.is_some()));
    assert!(
        !items.is_empty(),
        "no records of {source} channel {channel}"
    );
    let mut out_sessions = vec![vec![]];
    for w in items.windows(2) {
        assert_eq!(
            w[0].1, w[1].0,
            "records of {source}/{channel} do not tile: {:?} then {:?}",
            w[0], w[1]
        );
    }
    for (a, b, r) in items {
        match r {
            None => {
                if !out_sessions.last().unwrap().is_empty() {
                    out_sessions.push(vec![]);
                }
            }
            Some(r) => {
                let path = out.join(r["path"].as_str().unwrap());
                let (info, samples) = soundscape_audio::read_mono(&path).unwrap();
                let n = r["samples"].as_u64().unwrap();
                let rate = r["sample_rate"].as_u64().unwrap();
                assert_eq!(samples.len() as u64, n, "{}", path.display());
                assert_eq!(info.sample_rate as u64, rate);
                assert!((r["duration_s"].as_f64().unwrap() - n as f64 / rate as f64).abs() < 1e-9);
                assert!(
                    ((b - a) as f64 - n as f64 * 1e6 / rate as f64).abs() <= 1.0,
                    "{r}"
                );
                let name = path.file_name().unwrap().to_str().unwrap();
                let multi = format!("{source}_ch{channel:02}_");
                let mono = name.starts_with(&format!("{source}_")) && !name.contains("_ch");
                assert!(name.starts_with(&multi) || (channel == 0 && mono), "{name}");
                out_sessions.last_mut().unwrap().extend(samples);
            }
        }
    }
    out_sessions.retain(|s| !s.is_empty());
    out_sessions
}

fn quantised(x: f32) -> f32 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) / 32768.0
}

/// A session that holds a whole connection's stream holds exactly the samples the FFmpeg
/// command line decodes, quantised to 16 bits.
fn assert_whole_stream(session: &[f32], reference: &[f32], channels: usize, channel: usize) {
    let want: Vec<f32> = reference[channel..]
        .iter()
        .step_by(channels)
        .map(|&x| quantised(x))
        .collect();
    assert_eq!(session.len(), want.len(), "samples of a whole connection");
    let differ = session.iter().zip(&want).filter(|(a, b)| a != b).count();
    assert_eq!(
        differ, 0,
        "samples differ from the FFmpeg command line's decoding"
    );
}

fn source(name: &str, url: &str) -> Value {
    serde_json::json!({"sources": [{"name": name, "url": url, "permanent": true}]})
}

/// Fast streams of three codecs: the first connection drops mid-stream, the server is down
/// for a moment, then whole streams follow. Every later whole connection's samples are in
/// the chunks once, in order.
#[test]
fn streams_of_three_codecs_survive_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &'static str, u32, &[&str]); 3] = [
        (
            "opus.opus",
            "audio/ogg",
            48_000,
            &["-c:a", "libopus", "-b:a", "96k", "-page_duration", "100000"],
        ),
        (
            "vorbis.ogg",
            "audio/ogg",
            44_100,
            &["-c:a", "libvorbis", "-q:a", "4", "-page_duration", "100000"],
        ),
        (
            "mp3.mp3",
            "audio/mpeg",
            32_000,
            &["-c:a", "libmp3lame", "-b:a", "128k"],
        ),
    ];
    let seconds = 5.0;
    let mut threads = vec![];
    for (name, mime, rate, codec) in cases {
        let path = encode(dir.path(), name, seconds, rate, codec);
        let work = dir.path().join(name.replace('.', "-"));
        std::fs::create_dir_all(&work).unwrap();
        threads.push(std::thread::spawn(move || {
            let bytes = std::fs::read(&path).unwrap();
            let (reference, channels) = reference(&path);
            let mut server = StreamServer::start(bytes, mime, seconds, 4.0, &[]);
            let src = name.split('.').next().unwrap();
            let cap = Capture::start(&work, source(src, &server.url()), &["--chunk-seconds", "1"]);
            wait_for("the first connection", 20, || {
                server.state.connections.load(Ordering::SeqCst) >= 1
            });
            // Half-way through the first connection (1.25 s at 4x), the server goes down.
            std::thread::sleep(Duration::from_millis(600));
            server.stop();
            std::thread::sleep(Duration::from_millis(700));
            server.restart();
            wait_for("a whole stream", 30, || {
                server.state.completed.load(Ordering::SeqCst) >= 1
            });
            // The whole stream's end reached the chunker once its reconnection starts.
            wait_for("the reconnection", 20, || {
                server.state.connections.load(Ordering::SeqCst) >= 3
            });
            let (code, err) = cap.terminate();
            assert_eq!(code, 0, "{err}");
            let out = work.join("out");
            let recs = records(&out);
            let gaps: Vec<&Value> = recs.iter().filter(|r| r["type"] == "gap").collect();
            assert!(gaps.iter().any(|g| g["cause"] == "reconnect"), "{gaps:?}");
            assert_eq!(recs.last().unwrap()["cause"], "shutdown");
            for ch in 0..2u64 {
                let s = sessions(&out, &recs, src, ch);
                assert!(s.len() >= 2, "{src}: sessions {}", s.len());
                // The first connection was cut: fewer samples than a whole stream.
                assert!(s[0].len() < reference.len() / channels);
                assert_whole_stream(&s[1], &reference, channels, ch as usize);
            }
            let leftovers: Vec<_> = walk(&out)
                .into_iter()
                .filter(|p| p.to_string_lossy().ends_with(".part"))
                .collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
            let report: Value =
                serde_json::from_slice(&std::fs::read(out.join("capture_report.json")).unwrap())
                    .unwrap();
            assert_eq!(report["stopped_by"], "signal");
            assert_eq!(report["sources"][0]["outcome"], "stopped");
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

/// At real-time pace the gaps have their real length: a stall is detected after the timeout
/// and a server that is down shows as a reconnection gap as long as it was down, give or
/// take the back-off.
#[test]
fn real_time_stream_with_a_stall_and_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let seconds = 3.0;
    // Ogg pages of 0.1 s, as live encoders flush them (FFmpeg's default is up to 1 s, which
    // a 1 s stall timeout would take for a stall).
    let path = encode(
        dir.path(),
        "live.opus",
        seconds,
        48_000,
        &["-c:a", "libopus", "-b:a", "64k", "-page_duration", "100000"],
    );
    let bytes = std::fs::read(&path).unwrap();
    let third = bytes.len() / 3;
    let mut server =
        StreamServer::start(bytes, "audio/ogg", seconds, 1.0, &[Plan::StallAfter(third)]);
    let cap = Capture::start(
        dir.path(),
        source("live", &server.url()),
        &[
            "--chunk-seconds",
            "2",
            "--stall-timeout",
            "1",
            "--max-backoff",
            "1",
        ],
    );
    let out = cap.out.clone();
    // The first connection stalls after a second of stream; the capture gives up on it after
    // a second without data and connects again.
    wait_for("the second connection", 20, || {
        server.state.connections.load(Ordering::SeqCst) >= 2
    });
    // A second into the second connection the server goes down for 2 s.
    std::thread::sleep(Duration::from_secs(1));
    server.stop();
    std::thread::sleep(Duration::from_secs(2));
    server.restart();
    wait_for("a whole stream", 20, || {
        server.state.completed.load(Ordering::SeqCst) >= 1
    });
    std::thread::sleep(Duration::from_millis(300));
    let (code, err) = cap.terminate();
    assert_eq!(code, 0, "{err}");
    let recs = records(&out);
    let gap = |cause: &str| -> Vec<f64> {
        recs.iter()
            .filter(|r| r["type"] == "gap" && r["cause"] == cause)
            .map(|r| r["gap_s"].as_f64().unwrap())
            .collect()
    };
    let stalls = gap("stall");
    assert_eq!(stalls.len(), 1, "{recs:?}");
    // The capture waited a second for data (plus the reconnection) before it gave up.
    assert!(
        stalls[0] >= 0.9 && stalls[0] < 4.0,
        "stall gap {}",
        stalls[0]
    );
    let reconnects = gap("reconnect");
    assert!(!reconnects.is_empty(), "{recs:?}");
    let outage = reconnects.iter().cloned().fold(0.0, f64::max);
    assert!((1.5..5.0).contains(&outage), "outage gap {outage}");
    let (reference, channels) = reference(&path);
    let s = sessions(&out, &recs, "live", 0);
    assert!(s.len() >= 3, "sessions {}", s.len());
    assert_whole_stream(&s[2], &reference, channels, 0);
}

/// SIGTERM in the middle of a chunk: the open chunk is finished, renamed and indexed, and
/// the process exits 0. /health and /metrics answer a real HTTP client meanwhile.
#[test]
fn sigterm_flushes_the_open_chunk_and_the_endpoints_answer() {
    let dir = tempfile::tempdir().unwrap();
    let seconds = 20.0;
    let path = encode(
        dir.path(),
        "long.ogg",
        seconds,
        16_000,
        &["-c:a", "libvorbis"],
    );
    let server = StreamServer::start(
        std::fs::read(&path).unwrap(),
        "audio/ogg",
        seconds,
        1.0,
        &[],
    );
    let port = free_port();
    let http = format!("127.0.0.1:{port}");
    let sources = serde_json::json!({"sources": [
        {"name": "mic", "url": server.url(), "permanent": true, "channels": [1]}
    ]});
    let cap = Capture::start(
        dir.path(),
        sources,
        &["--chunk-seconds", "86400", "--http", &http],
    );
    let out = cap.out.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let get = |path: &str| {
        let url = format!("http://{http}{path}");
        rt.block_on(async {
            let r = client.get(&url).send().await?;
            let ctype = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string());
            Ok::<_, reqwest::Error>((r.status().as_u16(), ctype, r.text().await?))
        })
    };
    let mut health = Value::Null;
    wait_for("a streaming source", 20, || match get("/health") {
        Ok((200, _, body)) => {
            health = serde_json::from_str(&body).unwrap();
            health["sources"][0]["state"] == "streaming"
        }
        _ => false,
    });
    assert_eq!(health["status"], "ok");
    std::thread::sleep(Duration::from_millis(1500));
    let (status, ctype, metrics) = get("/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(ctype.unwrap().starts_with("text/plain; version=0.0.4"));
    assert!(
        metrics.contains("soundscape_capture_up{source=\"mic\"} 1\n"),
        "{metrics}"
    );
    let samples: f64 = metrics
        .lines()
        .find(|l| l.starts_with("soundscape_capture_samples_total{source=\"mic\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(samples > 16_000.0, "{samples}");
    // Nothing is written before the day-long chunk ends, or a stop.
    assert!(records(&out).is_empty());
    let (code, err) = cap.terminate();
    assert_eq!(code, 0, "{err}");
    let recs = records(&out);
    assert_eq!(recs.len(), 2, "{recs:?}");
    let chunk = &recs[0];
    assert_eq!(chunk["type"], "chunk");
    assert_eq!(chunk["channel"], 1);
    let n = chunk["samples"].as_u64().unwrap();
    assert!((32_000..20 * 16_000).contains(&n), "{n}");
    let file = out.join(chunk["path"].as_str().unwrap());
    assert!(file
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("mic_ch01_"));
    assert_eq!(
        soundscape_audio::read_mono(&file).unwrap().1.len() as u64,
        n
    );
    assert_eq!(recs[1]["cause"], "shutdown");
    assert_eq!(recs[1]["gap_start"], chunk["end"]);
    // Only the kept channel.
    assert_eq!(
        walk(&out)
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "flac"))
            .count(),
        1
    );
}

/// Live detections with the tiny test model (1 s windows of 16 kHz, softmax over tone_1k,
/// tone_3k, nyquist): a stream whose left channel turns from 1 kHz to 3 kHz at 4 s and whose
/// right channel is 3 kHz throughout, sent four times faster than real time. A real HTTP
/// client reads the Server-Sent Events of `/events`; they carry each window's channel, time,
/// predictions and result, the same as `detections.jsonl`.
#[test]
fn live_detections_reach_a_server_sent_events_client() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    soundscape_embed::testmodel::write(&models.join(soundscape_embed::testmodel::NAME)).unwrap();
    let detect = dir.path().join("detect.json");
    std::fs::write(
        &detect,
        serde_json::json!({"selector": soundscape_embed::testmodel::NAME, "margin": 0.3})
            .to_string(),
    )
    .unwrap();
    // Live extraction: half-second clips of the 3 kHz tone, on the right channel only.
    let rules = dir.path().join("rules.json");
    std::fs::write(
        &rules,
        r#"{"seed": 3, "rules": [{"classes": ["tone_3k"], "channels": [1], "length": 0.5}]}"#,
    )
    .unwrap();
    let seconds = 8.0;
    let path = dir.path().join("tones.ogg");
    // Cosines: the test model's classes are correlations with cosines from each window's start.
    let left = "aevalsrc=0.5*cos(2*PI*1000*t):s=16000:d=4[a];aevalsrc=0.5*cos(2*PI*3000*t):s=16000:d=4[b];[a][b]concat=n=2:v=0:a=1[l]";
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono:d=0.01"])
        .args([
            "-filter_complex",
            &format!("{left};aevalsrc=0.5*cos(2*PI*3000*t):s=16000:d=8[r];[l][r]join=inputs=2:channel_layout=stereo[out]"),
        ])
        .args(["-map", "[out]", "-c:a", "libvorbis", "-q:a", "6"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(st.success());
    let port = free_port();
    let http = format!("127.0.0.1:{port}");
    // The stream's server is not up yet: the subscriber connects first, the capture retries.
    let stream_port = free_port();
    let url = format!("http://127.0.0.1:{stream_port}/live");
    let sources = serde_json::json!({"sources": [{"name": "pond", "url": url, "permanent": true}]});
    let cap = Capture::start(
        dir.path(),
        sources,
        &[
            "--chunk-seconds",
            "86400",
            "--http",
            &http,
            "--detect",
            detect.to_str().unwrap(),
            "--models-dir",
            models.to_str().unwrap(),
            "--extract-rules",
            rules.to_str().unwrap(),
            "--max-backoff",
            "0.5",
        ],
    );
    let out = cap.out.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let events_url = format!("http://{http}/events");
    let mut resp = None;
    wait_for("the events endpoint", 20, || {
        resp = rt.block_on(client.get(&events_url).send()).ok();
        resp.is_some()
    });
    let mut resp = resp.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let listener = TcpListener::bind(("127.0.0.1", stream_port)).unwrap();
    let mut server = StreamServer {
        port: stream_port,
        state: Arc::new(ServerState {
            bytes_per_sec: std::fs::metadata(&path).unwrap().len() as f64 / seconds * 4.0,
            bytes: std::fs::read(&path).unwrap(),
            mime: "audio/ogg",
            plans: Mutex::new(VecDeque::new()),
            up: AtomicBool::new(false),
            completed: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
        }),
        accept: None,
    };
    server.listen(listener);
    // Read events until both channels have had their eight windows.
    let mut events: Vec<Value> = Vec::new();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    while events.iter().filter(|e| e["type"] == "detection").count() < 16 {
        assert!(Instant::now() < deadline, "events so far: {events:?}");
        let chunk = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(5), resp.chunk()).await })
            .ok()
            .and_then(|c| c.ok())
            .flatten();
        if let Some(bytes) = chunk {
            text.push_str(std::str::from_utf8(&bytes).unwrap());
        }
        while let Some(i) = text.find("\n\n") {
            let block: String = text.drain(..i + 2).collect();
            for line in block.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    events.push(serde_json::from_str(data.trim()).unwrap());
                }
            }
        }
    }
    let of = |c: u64| -> Vec<&Value> { events.iter().filter(|e| e["channel"] == c).collect() };
    let (left, right) = (of(0), of(1));
    assert_eq!(left.len(), 8, "{left:?}");
    assert_eq!(right.len(), 8, "{right:?}");
    let t0 = micros(&left[0]["time"]);
    for (k, e) in left.iter().enumerate() {
        assert_eq!(e["source"], "pond");
        assert_eq!(micros(&e["time"]) - t0, k as i64 * 1_000_000, "{e}");
        assert_eq!(micros(&e["end"]) - micros(&e["time"]), 1_000_000);
        let want = if k < 4 { "tone_1k" } else { "tone_3k" };
        assert_eq!(e["result"], want, "window {k}: {e}");
        let p = e["predictions"][want].as_f64().unwrap();
        assert!(p > 0.6, "{e}");
    }
    assert!(right.iter().all(|e| e["result"] == "tone_3k"), "{right:?}");
    let (code, err) = cap.terminate();
    assert_eq!(code, 0, "{err}");
    // The file has every event the client read, in the same words.
    let lines: Vec<Value> = std::fs::read_to_string(out.join("detections.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for e in &events {
        assert!(lines.contains(e), "{e} not in detections.jsonl");
    }
    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("capture_report.json")).unwrap()).unwrap();
    assert!(
        report["live"]["windows"].as_u64().unwrap() >= 16,
        "{report}"
    );
    assert_eq!(report["live"]["dropped_blocks"], 0);
    // One clip per right-channel window, centred on it, with its sidecar; the ledger has each.
    let clips: Vec<PathBuf> = walk(&out.join("unchecked/tone_3k"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    assert_eq!(clips.len(), 8, "{clips:?}");
    for (k, clip) in clips.iter().enumerate() {
        let (info, samples) = soundscape_audio::read_mono(clip).unwrap();
        assert_eq!((info.sample_rate, samples.len()), (16_000, 8_000));
        let side: Value =
            serde_json::from_slice(&std::fs::read(clip.with_extension("json")).unwrap()).unwrap();
        assert_eq!(side["channel"], 1);
        assert_eq!(side["source"], "pond");
        let centre = (micros(&side["detection"]["time"]) + micros(&side["detection"]["end"])) / 2;
        assert_eq!(
            micros(&side["clip"]["abs_start"]),
            centre - 250_000,
            "clip {k}: {side}"
        );
    }
    let ledger = std::fs::read_to_string(out.join("extracted.jsonl")).unwrap();
    assert_eq!(ledger.lines().count(), 8);
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sources read once: a file ends with a `source ended` marker and exit 0; a missing one fails
/// after its attempts, with exit 3 and its reason in the report. A second run continues the
/// timeline with a `restart` gap.
#[test]
fn files_end_missing_sources_fail_and_restarts_are_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let path = encode(
        dir.path(),
        "night.flac",
        2.5,
        8_000,
        &["-ac", "1", "-sample_fmt", "s16"],
    );
    let sources = serde_json::json!({"sources": [
        {"name": "night", "url": path.to_str().unwrap()},
    ]});
    let mut cap = Capture::start(dir.path(), sources.clone(), &["--chunk-seconds", "1"]);
    let (code, err) = cap.wait();
    assert_eq!(code, 0, "{err}");
    let recs = cap.records();
    let last = recs.last().unwrap();
    assert_eq!(last["cause"], "source ended");
    let s = sessions(&cap.out, &recs, "night", 0);
    assert_eq!(s.len(), 1);
    let (_, want) = soundscape_audio::read_mono(&path).unwrap();
    assert_eq!(
        s[0], want,
        "a 16-bit FLAC file comes back sample for sample"
    );
    drop(cap);

    let mut again = Capture::start(dir.path(), sources, &["--chunk-seconds", "1"]);
    assert_eq!(again.wait().0, 0);
    let recs = again.records();
    let restart: Vec<&Value> = recs.iter().filter(|r| r["cause"] == "restart").collect();
    assert_eq!(restart.len(), 1);
    assert_eq!(restart[0]["gap_start"], last["gap_end"]);
    drop(again);

    let missing = serde_json::json!({"sources": [
        {"name": "gone", "url": dir.path().join("nope.flac").to_str().unwrap()},
    ]});
    let mut cap = Capture::start(dir.path(), missing, &[]);
    let (code, err) = cap.wait();
    assert_eq!(code, 3, "{err}");
    let report: Value =
        serde_json::from_slice(&std::fs::read(cap.out.join("capture_report.json")).unwrap())
            .unwrap();
    let gone = &report["sources"][0];
    assert_eq!(gone["name"], "gone");
    assert_eq!(gone["outcome"], "failed");
    assert!(
        gone["failures"][0]
            .as_str()
            .unwrap()
            .contains("No such file"),
        "{gone}"
    );
}

fn report(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join("capture_report.json")).unwrap()).unwrap()
}

/// The lines of every index piece under `<prefix>/_index/`.
fn store_index(prefix: &Path) -> Vec<String> {
    let mut lines = vec![];
    for f in walk(&prefix.join("_index")) {
        if f.extension().is_some_and(|e| e == "jsonl") {
            let text = std::fs::read_to_string(&f).unwrap();
            lines.extend(text.lines().filter(|l| !l.is_empty()).map(String::from));
        }
    }
    lines.sort();
    lines
}

fn local_index(out: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(out.join("chunks.jsonl")).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    lines.sort();
    lines
}

fn spooled(out: &Path) -> Vec<PathBuf> {
    walk(out)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "flac"))
        .collect()
}

/// `--store s3://...` against a real S3 server (s3s-fs): the chunks land under the prefix with
/// their index paths, the index pieces hold exactly the local index, the spool is left empty.
/// With the store away the chunks wait in the spool (exit 3, named in the report); the next
/// start puts them, and no record reaches the store twice.
#[test]
fn chunks_go_to_object_storage_and_wait_in_the_spool_while_it_is_away() {
    let s3 = soundscape_testkit::S3Server::start();
    let bucket = s3.bucket("caps");
    let prefix = bucket.join("site");
    let dir = tempfile::tempdir().unwrap();
    let path = encode(
        dir.path(),
        "night.flac",
        3.5,
        8_000,
        &["-ac", "1", "-sample_fmt", "s16"],
    );
    let url = path.to_str().unwrap();
    let store = [
        "--chunk-seconds",
        "1",
        "--store",
        "s3://caps/site",
        "--grace",
        "3",
    ];

    let night = serde_json::json!({"sources": [{"name": "night", "url": url}]});
    let mut cap = Capture::start_env(dir.path(), night, &store, &s3.env());
    let (code, err) = cap.wait();
    assert_eq!(code, 0, "{err}");
    let recs = cap.records();
    let chunks = recs.iter().filter(|r| r["type"] == "chunk").count();
    assert!(
        (4..=5).contains(&chunks),
        "3.5 s in chunks of 1 s on whole seconds: {chunks}"
    );
    let s = sessions(&prefix, &recs, "night", 0);
    let (_, want) = soundscape_audio::read_mono(&path).unwrap();
    assert_eq!(
        s,
        vec![want.clone()],
        "the store's chunks hold the file sample for sample"
    );
    assert_eq!(
        spooled(&cap.out),
        Vec::<PathBuf>::new(),
        "the spool is empty"
    );
    assert_eq!(store_index(&prefix), local_index(&cap.out));
    let r = report(&cap.out);
    assert_eq!(r["store"]["uploaded"], chunks, "{r}");
    assert_eq!(r["store"]["pending"], serde_json::json!([]));
    drop(cap);

    // The store away: the chunks stay in the spool and the run is partial.
    let dead: Vec<(String, String)> = s3
        .env()
        .into_iter()
        .map(|(k, v)| {
            let v = if k == "AWS_ENDPOINT_URL" {
                format!("http://127.0.0.1:{}", free_port())
            } else {
                v
            };
            (k, v)
        })
        .collect();
    let dawn = serde_json::json!({"sources": [{"name": "dawn", "url": url}]});
    let mut cap = Capture::start_env(dir.path(), dawn.clone(), &store, &dead);
    let (code, err) = cap.wait();
    assert_eq!(code, 3, "{err}");
    let r = report(&cap.out);
    let pending: Vec<&str> = r["store"]["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let dawn_chunks = |recs: &[Value]| {
        recs.iter()
            .filter(|r| r["type"] == "chunk" && r["source"] == "dawn")
            .count()
    };
    let first = dawn_chunks(&cap.records());
    assert!((4..=5).contains(&first));
    assert_eq!(pending.len(), first, "{r}");
    assert_eq!(spooled(&cap.out).len(), first);
    assert!(!r["store"]["index_pieces_unwritten"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(
        !err.contains(soundscape_testkit::SECRET_KEY),
        "no secret in the log"
    );
    drop(cap);

    // The store back: the next start puts what waited; every record is in the store once.
    let mut cap = Capture::start_env(dir.path(), dawn, &store, &s3.env());
    let (code, err) = cap.wait();
    assert_eq!(code, 0, "{err}");
    assert_eq!(spooled(&cap.out), Vec::<PathBuf>::new());
    for p in &pending {
        assert!(prefix.join(p).is_file(), "{p} reached the store");
    }
    let r = report(&cap.out);
    let both = dawn_chunks(&cap.records());
    assert_eq!(
        r["store"]["uploaded"], both,
        "the leftovers and the new chunks: {r}"
    );
    let in_store = store_index(&prefix);
    assert_eq!(
        in_store,
        local_index(&cap.out),
        "the pieces hold the local index, no line twice"
    );
    let recs = cap.records();
    let s = sessions(&prefix, &recs, "dawn", 0);
    assert_eq!(s, vec![want.clone(), want], "both reads of the file, whole");
}

#[test]
fn usage_errors_and_nothing_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let st = Command::new(BIN)
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(2));
    let st = Command::new(BIN)
        .args(["--config", "x.json", "--store", "bucket/prefix", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(2), "a store that is not a URL");
    assert!(String::from_utf8_lossy(&st.stderr).contains("s3://"));
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, r#"{"sources": []}"#).unwrap();
    let st = Command::new(BIN)
        .arg("--config")
        .arg(&empty)
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&st.stdout).contains("nothing to capture"));
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"sources": [{"name": "a/b", "url": "x"}]}"#).unwrap();
    let st = Command::new(BIN)
        .arg("--config")
        .arg(&bad)
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&st.stderr).contains("letters"));
}
