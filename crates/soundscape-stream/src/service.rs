//! The capture service: every source's threads, the HTTP endpoints, the signals that stop it,
//! and the report it leaves.
//!
//! `GET /health` answers `200` with a JSON summary while the process runs (`status` is `ok`
//! when every source that is still expected to deliver does, `degraded` otherwise: a liveness
//! probe should not restart the capture because a microphone's server is down).
//! `GET /metrics` gives the Prometheus text format ([`crate::metrics`]).

use std::net::SocketAddr;
use std::path::Path;
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
use crate::metrics::{prometheus, Snapshot, SourceMetrics, State};
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
    }
}

#[derive(Clone)]
struct Shared {
    sources: Arc<Vec<Arc<SourceMetrics>>>,
    started: i64,
    stop: Arc<Stop>,
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    started: String,
    uptime_s: f64,
    sources: Vec<Snapshot>,
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
    })
}

async fn get_metrics(AxState(s): AxState<Shared>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        prometheus(&s.sources),
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
) -> anyhow::Result<Report> {
    let out = settings.out.clone();
    std::fs::create_dir_all(&out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    let index =
        Arc::new(Index::open(&out).map_err(|e| {
            anyhow::anyhow!("cannot open the chunk index in {}: {e}", out.display())
        })?);
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
    let shared = Shared {
        sources: Arc::new(metrics.clone()),
        started,
        stop: stop.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
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
    let report = Report {
        started: rfc3339(started),
        finished: rfc3339(now_micros()),
        stopped_by: stopped_by.to_string(),
        chunk_seconds: settings.chunk_seconds,
        sources,
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
