//! What a running capture knows about each source, updated by its threads with atomics and
//! read by `/health`, `/metrics` and the final report. The Prometheus text exposition format
//! (version 0.0.4) is written here directly: a dozen metric families with one or two labels
//! need no registry.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Mutex;

use serde::Serialize;

use crate::index::Cause;
use crate::timeline::{now_micros, rfc3339, Micros};

/// Where a source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Opening the stream.
    Connecting,
    /// Audio is coming.
    Streaming,
    /// No data came for the stall timeout; about to reconnect.
    Stalled,
    /// Waiting before the next attempt after a failure or the end of the stream.
    Waiting,
    /// A source read once came to its end.
    Ended,
    /// A source read once could not be read (the reason is in `last_error`).
    Failed,
    /// The capture was stopped.
    Stopped,
}

impl State {
    const ALL: [State; 7] = [
        State::Connecting,
        State::Streaming,
        State::Stalled,
        State::Waiting,
        State::Ended,
        State::Failed,
        State::Stopped,
    ];

    fn label(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Streaming => "streaming",
            State::Stalled => "stalled",
            State::Waiting => "waiting",
            State::Ended => "ended",
            State::Failed => "failed",
            State::Stopped => "stopped",
        }
    }
}

/// One source's counters and state.
#[derive(Debug)]
pub struct SourceMetrics {
    pub name: String,
    pub permanent: bool,
    state: AtomicU8,
    state_since: AtomicI64,
    connects: AtomicU64,
    connect_failures: AtomicU64,
    frames: AtomicU64,
    chunks: AtomicU64,
    chunk_failures: AtomicU64,
    gaps: [AtomicU64; Cause::ALL.len()],
    gap_us: [AtomicU64; Cause::ALL.len()],
    last_data: AtomicI64,
    clock_offset_us: AtomicI64,
    sample_rate: AtomicU64,
    channels: AtomicU64,
    last_error: Mutex<Option<String>>,
    last_chunk: Mutex<Option<String>>,
}

impl SourceMetrics {
    pub fn new(name: &str, permanent: bool) -> SourceMetrics {
        SourceMetrics {
            name: name.to_string(),
            permanent,
            state: AtomicU8::new(State::Connecting as u8),
            state_since: AtomicI64::new(now_micros()),
            connects: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            chunks: AtomicU64::new(0),
            chunk_failures: AtomicU64::new(0),
            gaps: Default::default(),
            gap_us: Default::default(),
            last_data: AtomicI64::new(0),
            clock_offset_us: AtomicI64::new(0),
            sample_rate: AtomicU64::new(0),
            channels: AtomicU64::new(0),
            last_error: Mutex::new(None),
            last_chunk: Mutex::new(None),
        }
    }

    pub fn state(&self) -> State {
        State::ALL[self.state.load(Relaxed) as usize]
    }

    pub fn set_state(&self, s: State) {
        if self.state.swap(s as u8, Relaxed) != s as u8 {
            self.state_since.store(now_micros(), Relaxed);
        }
    }

    pub fn connected(&self, rate: u32, channels: usize) {
        self.connects.fetch_add(1, Relaxed);
        self.sample_rate.store(rate.into(), Relaxed);
        self.channels.store(channels as u64, Relaxed);
    }

    pub fn connect_failed(&self, error: &str) {
        self.connect_failures.fetch_add(1, Relaxed);
        self.error(error);
    }

    pub fn error(&self, error: &str) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.to_string());
    }

    /// `frames` more samples per channel, the sample clock then at `clock_end`.
    pub fn data(&self, frames: usize, clock_end: Micros) {
        let now = now_micros();
        self.frames.fetch_add(frames as u64, Relaxed);
        self.last_data.store(now, Relaxed);
        self.clock_offset_us.store(now - clock_end, Relaxed);
    }

    pub fn chunk(&self, path: &str) {
        self.chunks.fetch_add(1, Relaxed);
        *self.last_chunk.lock().unwrap_or_else(|p| p.into_inner()) = Some(path.to_string());
    }

    pub fn chunk_failed(&self, error: &str) {
        self.chunk_failures.fetch_add(1, Relaxed);
        self.error(error);
    }

    pub fn gap(&self, cause: Cause, length_us: i64) {
        let i = Cause::ALL.iter().position(|&c| c == cause).unwrap_or(0);
        self.gaps[i].fetch_add(1, Relaxed);
        self.gap_us[i].fetch_add(length_us.max(0) as u64, Relaxed);
    }

    /// The numbers for reports and `/health`.
    pub fn snapshot(&self) -> Snapshot {
        let lock = |m: &Mutex<Option<String>>| m.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let last = self.last_data.load(Relaxed);
        Snapshot {
            name: self.name.clone(),
            permanent: self.permanent,
            state: self.state(),
            since: rfc3339(self.state_since.load(Relaxed)),
            sample_rate: self.sample_rate.load(Relaxed) as u32,
            channels: self.channels.load(Relaxed) as usize,
            samples: self.frames.load(Relaxed),
            chunks: self.chunks.load(Relaxed),
            chunk_failures: self.chunk_failures.load(Relaxed),
            connects: self.connects.load(Relaxed),
            connect_failures: self.connect_failures.load(Relaxed),
            gaps: Cause::ALL
                .iter()
                .zip(&self.gaps)
                .filter(|(_, n)| n.load(Relaxed) > 0)
                .map(|(c, n)| (c.label().to_string(), n.load(Relaxed)))
                .collect(),
            last_data: (last > 0).then(|| rfc3339(last)),
            last_chunk: lock(&self.last_chunk),
            last_error: lock(&self.last_error),
        }
    }
}

/// A source's numbers at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub name: String,
    pub permanent: bool,
    pub state: State,
    pub since: String,
    pub sample_rate: u32,
    pub channels: usize,
    /// Samples per channel captured.
    pub samples: u64,
    pub chunks: u64,
    pub chunk_failures: u64,
    pub connects: u64,
    pub connect_failures: u64,
    /// Gaps by cause.
    pub gaps: std::collections::BTreeMap<String, u64>,
    pub last_data: Option<String>,
    pub last_chunk: Option<String>,
    pub last_error: Option<String>,
}

/// Escapes a label value for the text format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One family without labels (`soundscape_capture_<name>`), of the process rather than of a
/// source: the live detector's and the uploads' counters.
pub fn unlabelled(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP soundscape_capture_{name} {help}");
    let _ = writeln!(out, "# TYPE soundscape_capture_{name} {kind}");
    let _ = writeln!(out, "soundscape_capture_{name} {value}");
}

/// All sources in the Prometheus text exposition format.
pub fn prometheus(sources: &[std::sync::Arc<SourceMetrics>]) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, rows: &mut dyn FnMut(&mut String)| {
        let _ = writeln!(out, "# HELP soundscape_capture_{name} {help}");
        let _ = writeln!(out, "# TYPE soundscape_capture_{name} {kind}");
        rows(&mut out);
    };
    let simple = |name: &'static str, get: fn(&SourceMetrics) -> f64| {
        move |out: &mut String| {
            for s in sources {
                let _ = writeln!(
                    out,
                    "soundscape_capture_{name}{{source=\"{}\"}} {}",
                    label(&s.name),
                    get(s)
                );
            }
        }
    };
    family(
        "up",
        "gauge",
        "1 while the source delivers audio.",
        &mut simple("up", |s| (s.state() == State::Streaming) as u8 as f64),
    );
    family(
        "state",
        "gauge",
        "The source's state (1 for the current one).",
        &mut |out: &mut String| {
            for s in sources {
                let now = s.state();
                for st in State::ALL {
                    let _ = writeln!(
                        out,
                        "soundscape_capture_state{{source=\"{}\",state=\"{}\"}} {}",
                        label(&s.name),
                        st.label(),
                        (st == now) as u8
                    );
                }
            }
        },
    );
    family(
        "samples_total",
        "counter",
        "Samples per channel captured.",
        &mut simple("samples_total", |s| s.frames.load(Relaxed) as f64),
    );
    family(
        "chunks_total",
        "counter",
        "Chunk files written (one per kept channel and period).",
        &mut simple("chunks_total", |s| s.chunks.load(Relaxed) as f64),
    );
    family(
        "chunk_failures_total",
        "counter",
        "Chunks that could not be written (their span is a gap in the index).",
        &mut simple("chunk_failures_total", |s| {
            s.chunk_failures.load(Relaxed) as f64
        }),
    );
    family(
        "connects_total",
        "counter",
        "Connections that delivered a stream header.",
        &mut simple("connects_total", |s| s.connects.load(Relaxed) as f64),
    );
    family(
        "connect_failures_total",
        "counter",
        "Attempts to open the stream that failed.",
        &mut simple("connect_failures_total", |s| {
            s.connect_failures.load(Relaxed) as f64
        }),
    );
    let by_cause = |name: &'static str, scale: f64, get: fn(&SourceMetrics, usize) -> u64| {
        move |out: &mut String| {
            for s in sources {
                for (i, c) in Cause::ALL.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "soundscape_capture_{name}{{source=\"{}\",cause=\"{}\"}} {}",
                        label(&s.name),
                        c.label(),
                        get(s, i) as f64 * scale
                    );
                }
            }
        }
    };
    family(
        "gaps_total",
        "counter",
        "Gaps in the source's timeline, by cause.",
        &mut by_cause("gaps_total", 1.0, |s, i| s.gaps[i].load(Relaxed)),
    );
    family(
        "gap_seconds_total",
        "counter",
        "Seconds of the source's timeline without audio, by cause.",
        &mut by_cause("gap_seconds_total", 1e-6, |s, i| s.gap_us[i].load(Relaxed)),
    );
    family(
        "last_data_timestamp_seconds",
        "gauge",
        "Unix time when audio last arrived (0 if never).",
        &mut simple("last_data_timestamp_seconds", |s| {
            s.last_data.load(Relaxed) as f64 / 1e6
        }),
    );
    family(
        "clock_offset_seconds",
        "gauge",
        "Wall clock minus the sample clock at the last audio: grows when the stream runs slow, shrinks when it runs fast or in bursts.",
        &mut simple("clock_offset_seconds", |s| {
            s.clock_offset_us.load(Relaxed) as f64 / 1e6
        }),
    );
    family(
        "sample_rate_hertz",
        "gauge",
        "The stream's sample rate.",
        &mut simple("sample_rate_hertz", |s| s.sample_rate.load(Relaxed) as f64),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn text_format_lines() {
        let s = Arc::new(SourceMetrics::new("a\"b", true));
        s.set_state(State::Streaming);
        s.data(480, now_micros());
        s.gap(Cause::Stall, 2_500_000);
        let text = prometheus(&[s]);
        assert!(text.contains("soundscape_capture_up{source=\"a\\\"b\"} 1\n"));
        assert!(text.contains("soundscape_capture_samples_total{source=\"a\\\"b\"} 480\n"));
        assert!(text.contains(
            "soundscape_capture_gap_seconds_total{source=\"a\\\"b\",cause=\"stall\"} 2.5\n"
        ));
        assert!(text.contains("# TYPE soundscape_capture_gaps_total counter\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
        let mut text = String::new();
        unlabelled(&mut text, "store_pending_chunks", "gauge", "Waiting.", 3);
        assert_eq!(
            text,
            "# HELP soundscape_capture_store_pending_chunks Waiting.\n\
             # TYPE soundscape_capture_store_pending_chunks gauge\n\
             soundscape_capture_store_pending_chunks 3\n"
        );
    }
}
