//! The capture service: every source's threads, the HTTP endpoints, the signals that stop it,
//! and the report it leaves.
//!
//! `GET /health` answers `200` with a JSON summary while the process runs (`status` is `ok`
//! when every source that is still expected to deliver does, `degraded` otherwise: a liveness
//! probe should not restart the capture because a microphone's server is down).
//! `GET /metrics` gives the Prometheus text format ([`crate::metrics`]). With live detections,
//! `GET /events` streams every detection as a Server-Sent Event (the JSON of one line of
//! `detections.jsonl`), and the detector's thread runs beside the sources'.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State as AxState;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::capture::{spawn, Settings, SourceOutcome, Stop};
use crate::config::SourcesFile;
use crate::index::{last_ends, Index};
use crate::metrics::{prometheus, unlabelled, Snapshot, SourceMetrics, State};
use crate::store::{leftovers, StoreOut, StoreReport, StoreStats};
use crate::timeline::{now_micros, rfc3339};

/// The report file written into the output folder when the capture ends.
pub const REPORT_FILE: &str = "capture_report.json";

/// What a capture did, source by source.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub started: String,
    pub finished: String,
    /// `signal` (stopped by SIGTERM or SIGINT) or `sources ended`.
    pub stopped_by: String,
    pub chunk_seconds: u32,
    pub sources: Vec<SourceReport>,
    /// The live detector's work, when detections were on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveReport>,
    /// The uploads, with `--store`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LiveReport {
    pub windows: u64,
    pub dropped_blocks: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    #[serde(flatten)]
    pub outcome: SourceOutcome,
    pub stats: Snapshot,
}

impl Report {
    /// Whether some source failed or some chunk could not be written.
    pub fn partial(&self) -> bool {
        self.sources
            .iter()
            .any(|s| s.outcome.outcome == "failed" || !s.outcome.failures.is_empty())
            || self.live.as_ref().is_some_and(|l| l.note.is_some())
            || self.store.as_ref().is_some_and(StoreReport::partial)
    }
}

#[derive(Clone)]
struct Shared {
    sources: Arc<Vec<Arc<SourceMetrics>>>,
    started: i64,
    stop: Arc<Stop>,
    /// The detections' broadcast and the detector's counters, when detections are on.
    events: Option<tokio::sync::broadcast::Sender<String>>,
    /// Windows classified and blocks dropped by the detector.
    live: Option<(Arc<AtomicU64>, Arc<AtomicU64>)>,
    /// The uploads' counters, with `--store`.
    store: Option<Arc<StoreStats>>,
}

async fn get_events(AxState(s): AxState<Shared>) -> axum::response::Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    let Some(tx) = &s.events else {
        return (
            axum::http::StatusCode::NOT_FOUND,
            "live detections are off (start capture-stream with --detect)\n",
        )
            .into_response();
    };
    let stream = futures::stream::unfold(tx.subscribe(), |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(line) => {
                    return Some((
                        Ok::<_, std::convert::Infallible>(Event::default().data(line)),
                        rx,
                    ))
                }
                // A slow subscriber loses the oldest events; the file has them all.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    started: String,
    uptime_s: f64,
    sources: Vec<Snapshot>,
    #[serde(skip_serializing_if = "Option::is_none")]
    store: Option<StoreHealth>,
}

#[derive(Serialize)]
struct StoreHealth {
    uploaded: u64,
    pending: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
}

async fn get_health(AxState(s): AxState<Shared>) -> Json<Health> {
    let sources: Vec<Snapshot> = s.sources.iter().map(|m| m.snapshot()).collect();
    let expected = |m: &Snapshot| m.permanent || !matches!(m.state, State::Ended | State::Failed);
    let status = if s.stop.requested() {
        "stopping"
    } else if sources
        .iter()
        .filter(|m| expected(m))
        .all(|m| m.state == State::Streaming)
    {
        "ok"
    } else {
        "degraded"
    };
    Json(Health {
        status,
        started: rfc3339(s.started),
        uptime_s: (now_micros() - s.started) as f64 / 1e6,
        sources,
        store: s.store.as_ref().map(|st| StoreHealth {
            uploaded: st.uploaded.load(Ordering::Relaxed),
            pending: st.pending.load(Ordering::Relaxed),
            last_error: st
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }),
    })
}

async fn get_metrics(AxState(s): AxState<Shared>) -> impl IntoResponse {
    let mut text = prometheus(&s.sources);
    use std::sync::atomic::Ordering::Relaxed;
    if let Some((windows, dropped)) = &s.live {
        for (name, help, v) in [
            ("live_windows_total", "Windows the live detector classified.", windows),
            ("live_dropped_blocks_total", "Decoded blocks the live detector could not take (its windows are reported skipped).", dropped),
        ] {
            unlabelled(&mut text, name, "counter", help, v.load(Relaxed));
        }
    }
    if let Some(st) = &s.store {
        for (name, kind, help, v) in [
            (
                "store_uploaded_total",
                "counter",
                "Chunks put in the object store.",
                &st.uploaded,
            ),
            (
                "store_uploaded_bytes_total",
                "counter",
                "Bytes of the chunks put in the object store.",
                &st.bytes,
            ),
            (
                "store_pending_chunks",
                "gauge",
                "Chunks in the spool waiting for the object store.",
                &st.pending,
            ),
            (
                "store_errors_total",
                "counter",
                "Failed puts of chunks or index pieces (each is tried again).",
                &st.errors,
            ),
            (
                "store_conflicts_total",
                "counter",
                "Chunks whose key held other content in the store (kept in the spool).",
                &st.conflicts,
            ),
        ] {
            unlabelled(&mut text, name, kind, help, v.load(Relaxed));
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

/// Runs the capture until every source is done or a signal stops it; writes
/// [`REPORT_FILE`] and returns the report. `grace` bounds the wait for the sources' threads
/// after a stop.
pub fn run(
    file: &SourcesFile,
    settings: Settings,
    http: Option<SocketAddr>,
    grace: Duration,
    detect: Option<soundscape_live::config::Models>,
    extract_rules: Option<soundscape_live::ExtractRules>,
) -> anyhow::Result<Report> {
    let out = settings.out.clone();
    std::fs::create_dir_all(&out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    let mut index = Index::open(&out)
        .map_err(|e| anyhow::anyhow!("cannot open the chunk index in {}: {e}", out.display()))?;
    // With a store: the target, the earlier run's leftovers and the index's mirror.
    let store_parts = match &settings.store {
        Some(url) => {
            let (store, prefix) = soundscape_store::open_store(url).map_err(anyhow::Error::msg)?;
            let target =
                soundscape_upload::store::StoreTarget::new(store.clone(), prefix.clone(), url);
            let (resume, orphans) = leftovers(&out)?;
            for o in orphans {
                tracing::warn!(path = %o, "a chunk in the spool has no index record; it is left there");
            }
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            index = index.with_mirror(tx);
            Some((target, store, prefix, resume, rx))
        }
        None => None,
    };
    let index = Arc::new(index);
    let (ends, bad) = last_ends(&out)?;
    if bad > 0 {
        tracing::warn!(lines = bad, "index lines that do not parse were skipped");
    }
    let started = now_micros();
    let stop = Arc::new(Stop::default());
    let metrics: Vec<Arc<SourceMetrics>> = file
        .sources
        .iter()
        .map(|s| Arc::new(SourceMetrics::new(&s.name, s.permanent)))
        .collect();
    // The detector first: its models are loaded already, its file must open.
    let (events, live) = match detect {
        Some(models) => {
            let (tx, _) = tokio::sync::broadcast::channel(soundscape_live::events::BROADCAST_DEPTH);
            let sink = soundscape_live::events::Sink::open(&out, tx.clone())
                .map_err(anyhow::Error::msg)?;
            let extract = match extract_rules {
                Some(rules) => {
                    let window_s = models.window as f64 / models.rate as f64;
                    Some(
                        soundscape_live::clips::Extractor::open(rules, &out, window_s)
                            .map_err(anyhow::Error::msg)?,
                    )
                }
                None => None,
            };
            let (tap, handle) = soundscape_live::Detector::spawn(models, sink, extract)?;
            (Some(tx), Some((tap, handle)))
        }
        None => (None, None),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let uploads = store_parts.map(|(target, store, prefix, resume, rx)| {
        StoreOut::start(&runtime, target, store, prefix, out.clone(), resume, rx)
    });
    let shared = Shared {
        sources: Arc::new(metrics.clone()),
        started,
        stop: stop.clone(),
        events,
        live: live
            .as_ref()
            .map(|(t, _)| (t.windows.clone(), t.dropped.clone())),
        store: uploads.as_ref().map(|u| u.stats.clone()),
    };
    // Signals are caught from here on: a SIGTERM during start-up still finishes cleanly.
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = runtime.block_on(async {
        Ok::<_, std::io::Error>((
            signal(SignalKind::terminate())?,
            signal(SignalKind::interrupt())?,
        ))
    })?;
    // The port first: a taken port fails the run before any source is touched.
    let listener = match http {
        Some(addr) => Some(
            runtime
                .block_on(tokio::net::TcpListener::bind(addr))
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?,
        ),
        None => None,
    };
    if let Some(listener) = listener {
        let app = Router::new()
            .route("/health", get(get_health))
            .route("/metrics", get(get_metrics))
            .route("/events", get(get_events))
            .with_state(shared.clone());
        tracing::info!(addr = %listener.local_addr()?, "serving /health and /metrics");
        runtime.spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "HTTP server stopped");
            }
        });
    }

    let settings = Arc::new(settings);
    let mut handles = Vec::new();
    for (source, m) in file.sources.iter().zip(&metrics) {
        let h = spawn(
            source.clone(),
            settings.clone(),
            index.clone(),
            ends.get(&source.name).copied(),
            m.clone(),
            stop.clone(),
            live.as_ref().map(|(t, _)| t.clone()),
        )?;
        handles.push((source.name.clone(), h));
    }
    tracing::info!(sources = handles.len(), out = %out.display(), chunk_seconds = settings.chunk_seconds, "capturing");

    // A joiner thread collects the outcomes and wakes the runtime when all are in.
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let (outcome_tx, outcome_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for (name, h) in handles {
            let outcome = h.join().unwrap_or_else(|p| SourceOutcome {
                name,
                outcome: "failed",
                failures: vec![format!(
                    "internal error: {}",
                    soundscape_core::isolate::panic_message(p.as_ref())
                )],
            });
            let _ = outcome_tx.send(outcome);
        }
        let _ = done_tx.send(());
    });
    let stopped_by = runtime.block_on(async {
        tokio::select! {
            _ = term.recv() => {
                tracing::info!("SIGTERM: finishing the open chunks");
                "signal"
            }
            _ = int.recv() => {
                tracing::info!("SIGINT: finishing the open chunks");
                "signal"
            }
            _ = done_rx => "sources ended",
        }
    });
    stop.request();
    let deadline = std::time::Instant::now() + grace;
    let mut outcomes = Vec::new();
    while outcomes.len() < metrics.len() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match outcome_rx.recv_timeout(left) {
            Ok(o) => outcomes.push(o),
            Err(_) => break,
        }
    }
    // The detector ends when the last queue handle is gone: it finishes what is queued.
    let mut live_note = None;
    let mut live_counts = None;
    if let Some((tap, handle)) = live {
        live_counts = Some((tap.windows.clone(), tap.dropped.clone()));
        drop(tap);
        while !handle.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if handle.is_finished() {
            let _ = handle.join();
        } else {
            live_note = Some(format!(
                "the live detector did not finish its queue within {grace:?}"
            ));
        }
    }
    let sources = metrics
        .iter()
        .map(|m| {
            let outcome = outcomes
                .iter()
                .find(|o| o.name == m.name)
                .cloned()
                .unwrap_or_else(|| SourceOutcome {
                    name: m.name.clone(),
                    outcome: "failed",
                    failures: vec![format!("did not stop within {grace:?}")],
                });
            SourceReport {
                outcome,
                stats: m.snapshot(),
            }
        })
        .collect();
    // The uploads get what is left of the grace, at least 5 s (then 5 s for the index pieces).
    let upload_deadline = deadline.max(std::time::Instant::now() + Duration::from_secs(5));
    let store = uploads.map(|u| u.finish(&runtime, upload_deadline));
    let report = Report {
        started: rfc3339(started),
        finished: rfc3339(now_micros()),
        stopped_by: stopped_by.to_string(),
        chunk_seconds: settings.chunk_seconds,
        sources,
        live: live_counts.map(|(w, d)| LiveReport {
            windows: w.load(Ordering::Relaxed),
            dropped_blocks: d.load(Ordering::Relaxed),
            note: live_note,
        }),
        store,
    };
    write_report(&out, &report)?;
    runtime.shutdown_timeout(Duration::from_millis(200));
    Ok(report)
}

fn write_report(out: &Path, report: &Report) -> anyhow::Result<()> {
    let tmp = out.join(format!(".{REPORT_FILE}.part"));
    std::fs::write(&tmp, serde_json::to_vec_pretty(report)?)?;
    std::fs::rename(&tmp, out.join(REPORT_FILE))?;
    Ok(())
}
