//! A stateful fake Alfresco server for tests and demos.
//!
//! It serves the parts of the Alfresco REST API the pipeline uses, following the vendored
//! Swagger contract ([`contract`]): requests that break the contract get a 400 and are
//! recorded in [`State::violations`], and answers are checked too. Faults can be scripted
//! ([`Fault`]) to test retries. The Search API answers in the order the request asks for; a
//! request without a sort gets a different order on every call, as an unsorted Solr result
//! set may, which is what made the original's paging unreliable.

pub mod contract;
mod search;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};

pub use search::sipecam_entry;

/// A scripted failure, served instead of the next answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this HTTP status and an Alfresco error body.
    Status(u16),
    /// Wait this long before answering normally (longer than the client's timeout = timeout).
    Delay(Duration),
    /// Answer 200 with a body that is not JSON.
    Garbage,
}

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub api_key: Option<String>,
    pub body: Value,
}

/// Everything the fake holds.
#[derive(Debug, Default)]
pub struct State {
    /// Nodes the Search API finds (`entry` objects with `properties` and `path`).
    pub search_entries: Vec<Value>,
    /// Required `x-api-key`, if any.
    pub api_key: Option<String>,
    pub faults: VecDeque<Fault>,
    pub seen: Vec<Seen>,
    /// Contract violations found in requests (and, as a self-check, in answers).
    pub violations: Vec<String>,
    calls: u64,
}

impl State {
    pub fn with_entries(entries: Vec<Value>) -> State {
        State {
            search_entries: entries,
            ..Default::default()
        }
    }
}

pub(crate) type Shared = Arc<Mutex<State>>;

/// A running fake server on 127.0.0.1.
pub struct FakeAlfresco {
    state: Shared,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl FakeAlfresco {
    /// Starts the server on a free port of 127.0.0.1.
    pub async fn start(state: State) -> std::io::Result<FakeAlfresco> {
        Self::start_on(state, "127.0.0.1:0").await
    }

    pub async fn start_on(state: State, addr: &str) -> std::io::Result<FakeAlfresco> {
        let state: Shared = Arc::new(Mutex::new(state));
        let app = axum::Router::new()
            .route(
                "/alfresco/api/-default-/public/search/versions/1/search",
                axum::routing::post(search::handle),
            )
            .fallback(|| async { error(404, "no such endpoint in the fake") })
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeAlfresco { state, addr, task })
    }

    /// Base URL (`ALFRESCO_URL`), ending in `/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

impl Drop for FakeAlfresco {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An Alfresco error answer (`Error` of the contract).
pub(crate) fn error(status: u16, message: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = json!({"error": {
        "errorKey": message,
        "statusCode": status,
        "briefSummary": message,
        "stackTrace": "For security reasons the stack trace is no longer displayed, but the property is kept for previous versions",
        "descriptionURL": "https://api-explorer.alfresco.com",
    }});
    (
        axum::http::StatusCode::from_u16(status)
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

/// Takes the next scripted fault, counting the call.
pub(crate) async fn next_fault(state: &Shared) -> Option<axum::response::Response> {
    use axum::response::IntoResponse;
    let fault = {
        let mut s = state.lock().unwrap();
        s.calls += 1;
        s.faults.pop_front()
    };
    match fault? {
        Fault::Status(code) => Some(error(code, "injected failure")),
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            None
        }
        Fault::Garbage => {
            Some((axum::http::StatusCode::OK, "<html>gateway page</html>").into_response())
        }
    }
}
