//! Capturing one source: a reader thread that connects, decodes and reconnects, and a chunker
//! thread that turns the decoded blocks into FLAC chunks and index records.
//!
//! The two are apart so that a reader stuck in a read that FFmpeg cannot interrupt (a FIFO
//! without a writer) never keeps the chunker from finishing its open chunks at shutdown. The
//! reader sends [`Event`]s over a bounded channel: `Opened` when a stream header has been read,
//! `Block` for decoded audio, `Ended` with the cause when the connection ends. The chunker keeps
//! the source's timeline (see [`crate::timeline`]): every chunk and every gap is written to the
//! index, so that the records of a source tile its time without overlap.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use soundscape_audio::live::LiveInput;

use crate::config::Source;
use crate::flac::FlacWriter;
use crate::index::{Cause, ChunkRecord, GapRecord, Index, Record};
use crate::metrics::{SourceMetrics, State};
use crate::timeline::{name_stamp, next_session_start, now_micros, rfc3339, utc, Micros, Timeline};

/// How sources are captured.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The output folder (chunks under `<source>/<YYYY-MM-DD>/`, the index at the top).
    pub out: PathBuf,
    /// Chunk length in seconds; chunks start on multiples of it in UTC.
    pub chunk_seconds: u32,
    /// A source that sends nothing for this long is dropped and reconnected.
    pub stall_timeout: Duration,
    /// First wait before reconnecting; doubled after each failure up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Attempts to open a source that is read once before it counts as failed.
    pub once_attempts: u32,
    /// FLAC compression level (0-12).
    pub flac_level: u32,
    /// How long the chunker waits at shutdown for what the reader still sends.
    pub drain: Duration,
    /// An object-store URL (`s3://bucket/prefix`, ...) the chunks and the index go to; `out`
    /// is then the spool ([`crate::store`]).
    pub store: Option<String>,
}

impl Settings {
    pub fn new(out: PathBuf) -> Settings {
        Settings {
            out,
            chunk_seconds: 60,
            stall_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            once_attempts: 3,
            flac_level: 5,
            drain: Duration::from_secs(2),
            store: None,
        }
    }
}

/// The stop request, shared by every thread: a flag for FFmpeg's interrupt callbacks and a
/// condition variable that ends back-off waits at once.
#[derive(Debug, Default)]
pub struct Stop {
    flag: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Stop {
    pub fn request(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.cv.notify_all();
    }

    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Sleeps for `d` or until a stop is requested; true if it was.
    pub fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        while !self.requested() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = self
                .cv
                .wait_timeout(g, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

/// What the reader tells the chunker.
#[derive(Debug)]
pub enum Event {
    /// A stream header was read at `at` (the wall clock).
    Opened {
        at: Micros,
        codec: String,
        bits: u32,
    },
    /// Decoded audio, channels interleaved.
    Block {
        samples: Vec<f32>,
        channels: usize,
        rate: u32,
    },
    /// The connection ended (or could not be made: then no `Opened` came before).
    Ended {
        cause: Cause,
        detail: String,
        /// The source is given up: a source read once that ended in an error.
        failed: bool,
    },
}

/// How a source's capture ended, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct SourceOutcome {
    pub name: String,
    /// `ended`, `stopped` or `failed`.
    pub outcome: &'static str,
    /// Why it failed, and the chunks that could not be written.
    pub failures: Vec<String>,
}

/// Starts capturing `source`: its reader and chunker threads. The handle's thread returns when
/// the chunker is done (the source ended, or a stop was requested and the open chunks are
/// written).
pub fn spawn(
    source: Source,
    settings: Arc<Settings>,
    index: Arc<Index>,
    last_end: Option<Micros>,
    metrics: Arc<SourceMetrics>,
    stop: Arc<Stop>,
    live: Option<soundscape_live::LiveTap>,
) -> std::io::Result<JoinHandle<SourceOutcome>> {
    // About a second of 20 ms blocks in flight.
    let (tx, rx) = sync_channel(64);
    {
        let (source, settings, metrics, stop) = (
            source.clone(),
            settings.clone(),
            metrics.clone(),
            stop.clone(),
        );
        std::thread::Builder::new()
            .name(format!("read-{}", source.name))
            .spawn(move || read(&source, &settings, &metrics, &stop, &tx))?;
    }
    std::thread::Builder::new()
        .name(format!("chunk-{}", source.name))
        .spawn(move || {
            let mut c = Chunker::new(source, settings, index, last_end, metrics);
            c.live = live;
            c.run(&rx, &stop);
            c.outcome()
        })
}

/// FFmpeg options of every source: a short probe (the stream's parameters are in its
/// headers; a long probe would only delay the first sample), and a client name.
const INPUT_OPTIONS: [(&str, &str); 3] = [
    ("analyzeduration", "500000"),
    ("probesize", "65536"),
    (
        "user_agent",
        concat!("soundscape-capture/", env!("CARGO_PKG_VERSION")),
    ),
];

/// Watches one connection for stalls: FFmpeg polls [`Watch::interrupt`] while it waits.
struct Watch {
    last: AtomicI64,
    stalled: AtomicBool,
    timeout_us: i64,
    stop: Arc<Stop>,
}

impl Watch {
    fn touch(&self) {
        self.last.store(now_micros(), Ordering::Relaxed);
    }

    fn interrupt(&self) -> bool {
        if self.stop.requested() {
            return true;
        }
        if now_micros() - self.last.load(Ordering::Relaxed) > self.timeout_us {
            self.stalled.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }
}

/// The reader: connect, decode, send; reconnect permanent sources with back-off.
fn read(
    source: &Source,
    settings: &Settings,
    metrics: &SourceMetrics,
    stop: &Arc<Stop>,
    tx: &SyncSender<Event>,
) {
    let mut backoff = settings.backoff_min;
    let mut attempts = 0;
    while !stop.requested() {
        attempts += 1;
        metrics.set_state(State::Connecting);
        let watch = Arc::new(Watch {
            last: AtomicI64::new(now_micros()),
            stalled: AtomicBool::new(false),
            timeout_us: settings.stall_timeout.as_micros() as i64,
            stop: stop.clone(),
        });
        let w = watch.clone();
        let (cause, detail, delivered) = match LiveInput::open(
            &source.url,
            &INPUT_OPTIONS,
            move || w.interrupt(),
        ) {
            Err(e) => {
                let stalled = watch.stalled.load(Ordering::Relaxed);
                let detail = if stalled {
                    format!("no answer within {:?}", settings.stall_timeout)
                } else {
                    e
                };
                if !stop.requested() {
                    metrics.connect_failed(&detail);
                    tracing::warn!(source = %source.name, error = %detail, "cannot open the stream");
                }
                (
                    if stalled {
                        Cause::Stall
                    } else {
                        Cause::Reconnect
                    },
                    detail,
                    false,
                )
            }
            Ok(mut input) => {
                let opened = Event::Opened {
                    at: now_micros(),
                    codec: input.info().codec.clone(),
                    bits: input.lossless_bits(),
                };
                tracing::info!(source = %source.name, codec = %input.info().codec,
                    rate = input.info().sample_rate, channels = input.info().channels, "stream open");
                if tx.send(opened).is_err() {
                    return;
                }
                watch.touch();
                let mut delivered = false;
                let end = loop {
                    match input.next_block() {
                        Ok(Some(b)) => {
                            watch.touch();
                            if b.samples.is_empty() {
                                continue;
                            }
                            if !delivered {
                                metrics.connected(b.rate, b.channels);
                                metrics.set_state(State::Streaming);
                                delivered = true;
                            }
                            let block = Event::Block {
                                samples: b.samples.to_vec(),
                                channels: b.channels,
                                rate: b.rate,
                            };
                            if tx.send(block).is_err() {
                                return;
                            }
                        }
                        Ok(None) => break (Cause::Reconnect, "the stream ended".to_string()),
                        Err(e) if watch.stalled.load(Ordering::Relaxed) && !stop.requested() => {
                            metrics.set_state(State::Stalled);
                            tracing::warn!(source = %source.name, timeout = ?settings.stall_timeout, "stalled: no data");
                            break (
                                Cause::Stall,
                                format!("no data for {:?} ({e})", settings.stall_timeout),
                            );
                        }
                        Err(e) => break (Cause::Reconnect, format!("read error: {e}")),
                    }
                };
                (end.0, end.1, delivered)
            }
        };
        if stop.requested() {
            let _ = tx.send(Event::Ended {
                cause: Cause::Shutdown,
                detail: "stopped".into(),
                failed: false,
            });
            return;
        }
        if !source.permanent {
            let clean_end = delivered && detail == "the stream ended";
            if clean_end || delivered || attempts >= settings.once_attempts {
                let failed = !clean_end;
                let _ = tx.send(Event::Ended {
                    cause: if failed { cause } else { Cause::SourceEnded },
                    detail,
                    failed,
                });
                return;
            }
        }
        let _ = tx.send(Event::Ended {
            cause,
            detail,
            failed: false,
        });
        if delivered {
            backoff = settings.backoff_min;
        }
        metrics.set_state(State::Waiting);
        let jitter = backoff.mul_f64(fastrand::f64() * 0.25);
        if stop.sleep(backoff + jitter) {
            break;
        }
        backoff = (backoff * 2).min(settings.backoff_max);
    }
    let _ = tx.send(Event::Ended {
        cause: Cause::Shutdown,
        detail: "stopped".into(),
        failed: false,
    });
}

/// One channel's open chunk.
struct OpenChunk {
    channel: usize,
    writer: Option<FlacWriter>,
    error: Option<String>,
    tmp: PathBuf,
    path: PathBuf,
    rel: String,
}

/// A connection's run of samples.
struct Session {
    timeline: Timeline,
    channels: usize,
    bits: u32,
    /// Kept channels, in the stream's numbering.
    keep: Vec<usize>,
    /// The same, for the live detector.
    keep_shared: Arc<[usize]>,
    /// Where the open chunks began (session samples), if any are open.
    chunk_from: Option<u64>,
    chunks: Vec<OpenChunk>,
}

/// Why the timeline stopped, waiting for the next session to tell how long the gap is.
struct Pending {
    cause: Cause,
    detail: String,
    failures: u32,
    last_error: Option<String>,
}

struct Chunker {
    source: Source,
    settings: Arc<Settings>,
    index: Arc<Index>,
    metrics: Arc<SourceMetrics>,
    /// Where the timeline so far ends.
    last_end: Option<Micros>,
    /// The timeline's end came from an earlier run's index.
    restarted: bool,
    pending: Option<Pending>,
    opened: Option<(Micros, u32)>,
    session: Option<Session>,
    scratch: Vec<f32>,
    failures: Vec<String>,
    outcome: &'static str,
    /// The live detector's queue, when detections are on.
    live: Option<soundscape_live::LiveTap>,
    name_shared: Arc<str>,
    /// The chunk names given out in the current second (a spool's uploaded chunks are gone
    /// from disk, so the folder alone cannot tell).
    named: (i64, std::collections::HashSet<String>),
}

impl Chunker {
    fn new(
        source: Source,
        settings: Arc<Settings>,
        index: Arc<Index>,
        last_end: Option<Micros>,
        metrics: Arc<SourceMetrics>,
    ) -> Chunker {
        Chunker {
            name_shared: Arc::from(source.name.as_str()),
            live: None,
            named: (i64::MIN, Default::default()),
            source,
            settings,
            index,
            metrics,
            restarted: last_end.is_some(),
            last_end,
            pending: None,
            opened: None,
            session: None,
            scratch: Vec::new(),
            failures: Vec::new(),
            outcome: "stopped",
        }
    }

    fn outcome(self) -> SourceOutcome {
        SourceOutcome {
            name: self.source.name,
            outcome: self.outcome,
            failures: self.failures,
        }
    }

    fn run(&mut self, rx: &Receiver<Event>, stop: &Stop) {
        let mut drain_until: Option<Instant> = None;
        loop {
            if drain_until.is_none() && stop.requested() {
                drain_until = Some(Instant::now() + self.settings.drain);
            }
            let wait = match drain_until {
                Some(t) => t.saturating_duration_since(Instant::now()),
                None => Duration::from_millis(200),
            };
            match rx.recv_timeout(wait) {
                Ok(ev) => {
                    if self.handle(ev) {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) if drain_until.is_some() => break,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.shutdown();
    }

    /// Handles one event; true when the source is done.
    fn handle(&mut self, ev: Event) -> bool {
        match ev {
            Event::Opened { at, bits, .. } => {
                self.opened = Some((at, bits));
                false
            }
            Event::Block {
                samples,
                channels,
                rate,
            } => {
                self.block(&samples, channels, rate);
                false
            }
            Event::Ended {
                cause,
                detail,
                failed,
            } => self.ended(cause, detail, failed),
        }
    }

    fn record(&self, r: &Record) {
        if let Err(e) = self.index.append(r) {
            // The index is the capture's memory; without it chunks still land, named by time.
            tracing::error!(source = %self.source.name, error = %e, "cannot write the chunk index");
        }
    }

    fn gap(&mut self, from: Micros, to: Micros, cause: Cause, detail: Option<String>) {
        self.metrics.gap(cause, to - from);
        let g = GapRecord::new(&self.source.name, from, to, cause, detail);
        self.record(&Record::Gap(g));
    }

    /// Starts a session at the first block after a header.
    fn begin(&mut self, channels: usize, rate: u32) {
        let (opened_at, bits) = self.opened.unwrap_or((now_micros(), 24));
        let start = next_session_start(self.last_end, opened_at);
        let timeline = Timeline::new(start, rate, self.settings.chunk_seconds);
        let start = timeline.start();
        if let Some(end) = self.last_end {
            match self.pending.take() {
                Some(p) => {
                    let mut detail = p.detail;
                    if p.failures > 0 {
                        detail.push_str(&format!(
                            "; {} failed attempt(s), the last: {}",
                            p.failures,
                            p.last_error.unwrap_or_default()
                        ));
                    }
                    self.gap(end, start, p.cause, Some(detail));
                }
                None if self.restarted => {
                    self.gap(
                        end,
                        start,
                        Cause::Restart,
                        Some("the capture was restarted".into()),
                    );
                }
                None => {}
            }
        }
        self.restarted = false;
        let keep: Vec<usize> = match &self.source.channels {
            None => (0..channels).collect(),
            Some(list) => {
                let (ok, missing): (Vec<usize>, Vec<usize>) =
                    list.iter().partition(|&&c| c < channels);
                if !missing.is_empty() {
                    let msg = format!(
                        "channels {missing:?} asked for, but the stream has {channels}; they are not captured"
                    );
                    tracing::warn!(source = %self.source.name, "{msg}");
                    self.metrics.error(&msg);
                }
                ok
            }
        };
        self.session = Some(Session {
            timeline,
            channels,
            bits,
            keep_shared: Arc::from(keep.as_slice()),
            keep,
            chunk_from: None,
            chunks: Vec::new(),
        });
    }

    fn block(&mut self, samples: &[f32], channels: usize, rate: u32) {
        if let Some(s) = &self.session {
            if s.channels != channels || s.timeline.rate() != rate {
                let detail = format!(
                    "{} Hz x {} -> {rate} Hz x {channels}",
                    s.timeline.rate(),
                    s.channels
                );
                self.end_session();
                let end = self.last_end.unwrap_or_else(now_micros);
                self.gap(end, end, Cause::FormatChange, Some(detail));
                self.opened = Some((end, self.opened.map_or(24, |o| o.1)));
            }
        }
        if self.session.is_none() {
            self.begin(channels, rate);
        }
        let frames = samples.len() / channels;
        if let Some(live) = &self.live {
            let s = self.session.as_ref().expect("session begun");
            live.send(
                soundscape_live::LiveMsg::Audio {
                    source: self.name_shared.clone(),
                    start_us: s.timeline.time_at(s.timeline.position()),
                    rate,
                    channels,
                    keep: s.keep_shared.clone(),
                    samples: samples.to_vec(),
                },
                !self.source.permanent,
            );
        }
        let mut off = 0;
        while off < frames {
            let s = self.session.as_ref().expect("session begun");
            let (k, done) = s.timeline.take(frames - off);
            if s.chunk_from.is_none() {
                self.open_chunks();
            }
            let s = self.session.as_mut().expect("session begun");
            for c in &mut s.chunks {
                let Some(w) = c.writer.as_mut() else { continue };
                self.scratch.clear();
                self.scratch.extend(
                    samples[off * channels + c.channel..(off + k) * channels]
                        .iter()
                        .step_by(channels),
                );
                if let Err(e) = w.push(&self.scratch) {
                    c.error = Some(e);
                    c.writer = None;
                }
            }
            s.timeline.advance(k);
            off += k;
            if done {
                self.close_chunks();
            }
        }
        let s = self.session.as_ref().expect("session begun");
        self.metrics.data(frames, s.timeline.end());
    }

    /// Opens the chunk files of the kept channels at the session's current sample.
    fn open_chunks(&mut self) {
        let name = self.source.name.clone();
        let out = self.settings.out.clone();
        let level = self.settings.flac_level;
        let s = self.session.as_mut().expect("session begun");
        let pos = s.timeline.position();
        let start = s.timeline.time_at(pos);
        let day = utc(start).format("%Y-%m-%d").to_string();
        let rel_dir = format!("{name}/{day}");
        let dir = out.join(&rel_dir);
        let made = std::fs::create_dir_all(&dir);
        let second = start.div_euclid(1_000_000);
        if self.named.0 != second {
            self.named = (second, Default::default());
        }
        let named = &mut self.named.1;
        s.chunk_from = Some(pos);
        s.chunks = s
            .keep
            .iter()
            .map(|&channel| {
                let ch = if s.channels > 1 {
                    format!("_ch{channel:02}")
                } else {
                    String::new()
                };
                let stem = format!("{name}{ch}_{}", name_stamp(start));
                let file = free_name(&dir, &stem, named);
                let tmp = dir.join(format!(".{file}.part"));
                let path = dir.join(&file);
                let rel = format!("{rel_dir}/{file}");
                let writer = match &made {
                    Err(e) => Err(format!("cannot create {}: {e}", dir.display())),
                    Ok(()) => FlacWriter::create(&tmp, s.timeline.rate(), s.bits, level),
                };
                let (writer, error) = match writer {
                    Ok(w) => (Some(w), None),
                    Err(e) => (None, Some(e)),
                };
                OpenChunk {
                    channel,
                    writer,
                    error,
                    tmp,
                    path,
                    rel,
                }
            })
            .collect();
    }

    /// Finishes the open chunks: renames each to its name and indexes it, or records its span
    /// as a gap of its channel.
    fn close_chunks(&mut self) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        let Some(from) = s.chunk_from.take() else {
            return;
        };
        let to = s.timeline.position();
        let (t0, t1) = (s.timeline.time_at(from), s.timeline.time_at(to));
        let rate = s.timeline.rate();
        let bits = s.bits;
        let chunks = std::mem::take(&mut s.chunks);
        for c in chunks {
            let written = match (c.writer, c.error) {
                (Some(w), None) => w.finish().and_then(|n| {
                    std::fs::rename(&c.tmp, &c.path)
                        .map(|()| n)
                        .map_err(|e| format!("cannot rename {}: {e}", c.tmp.display()))
                }),
                (_, Some(e)) => Err(e),
                (None, None) => Err("no writer".into()),
            };
            match written {
                Ok(n) => {
                    debug_assert_eq!(n, to - from);
                    self.metrics.chunk(&c.rel);
                    self.record(&Record::Chunk(ChunkRecord {
                        source: self.source.name.clone(),
                        channel: c.channel,
                        start: rfc3339(t0),
                        end: rfc3339(t1),
                        duration_s: n as f64 / f64::from(rate),
                        samples: n,
                        sample_rate: rate,
                        bits,
                        path: c.rel,
                    }));
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&c.tmp);
                    let msg = format!("{}: {e}", c.rel);
                    tracing::error!(source = %self.source.name, error = %msg, "chunk not written");
                    self.metrics.chunk_failed(&msg);
                    self.failures.push(msg.clone());
                    self.metrics.gap(Cause::WriteFailed, t1 - t0);
                    let mut g =
                        GapRecord::new(&self.source.name, t0, t1, Cause::WriteFailed, Some(msg));
                    g.channel = Some(c.channel);
                    self.record(&Record::Gap(g));
                }
            }
        }
    }

    /// Closes the session: its open chunks end where its samples end.
    fn end_session(&mut self) {
        self.close_chunks();
        if let Some(s) = self.session.take() {
            self.last_end = Some(s.timeline.end());
            if let Some(live) = &self.live {
                live.send(
                    soundscape_live::LiveMsg::Reset {
                        source: self.name_shared.clone(),
                    },
                    !self.source.permanent,
                );
            }
        }
    }

    /// The connection ended; true when the source is done.
    fn ended(&mut self, cause: Cause, detail: String, failed: bool) -> bool {
        let had_session = self.session.is_some();
        self.end_session();
        self.opened = None;
        match cause {
            Cause::Shutdown => {
                self.shutdown();
                true
            }
            _ if failed => {
                tracing::error!(source = %self.source.name, error = %detail, "source failed");
                self.metrics.error(&detail);
                self.metrics.set_state(State::Failed);
                self.failures.push(detail.clone());
                self.outcome = "failed";
                if let Some(end) = self.last_end {
                    self.gap(end, end, Cause::SourceEnded, Some(detail));
                }
                true
            }
            Cause::SourceEnded => {
                self.metrics.set_state(State::Ended);
                self.outcome = "ended";
                if let Some(end) = self.last_end {
                    self.gap(end, end, Cause::SourceEnded, Some(detail));
                }
                true
            }
            _ => {
                match &mut self.pending {
                    Some(p) if !had_session => {
                        p.failures += 1;
                        p.last_error = Some(detail);
                    }
                    _ => {
                        self.pending = Some(Pending {
                            cause,
                            detail,
                            failures: 0,
                            last_error: None,
                        })
                    }
                }
                false
            }
        }
    }

    /// Stopped: the open chunks are finished, a gap still open runs to now, and an end marker
    /// closes the timeline.
    fn shutdown(&mut self) {
        if self.outcome != "stopped" {
            return;
        }
        self.end_session();
        self.metrics.set_state(State::Stopped);
        let Some(end) = self.last_end else { return };
        let mut at = end;
        if let Some(p) = self.pending.take() {
            at = now_micros().max(end);
            self.gap(end, at, p.cause, Some(p.detail));
        }
        self.gap(at, at, Cause::Shutdown, None);
        // Written once: later calls see no session and no pending gap.
        self.last_end = None;
    }
}

/// `stem.flac` in `dir`, or `stem_1.flac`, `stem_2.flac`, ... if taken (a session that
/// starts within the second another chunk started); the name is added to `named`.
fn free_name(dir: &Path, stem: &str, named: &mut std::collections::HashSet<String>) -> String {
    let mut name = format!("{stem}.flac");
    let mut k = 0;
    while dir.join(&name).exists() || named.contains(&name) {
        k += 1;
        name = format!("{stem}_{k}.flac");
    }
    named.insert(name.clone());
    name
}
