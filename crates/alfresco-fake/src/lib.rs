//! A stateful fake Alfresco server for tests and demos.
//!
//! It serves the parts of the Alfresco REST API the pipeline uses, following the vendored
//! Swagger contract ([`contract`]): requests that break the contract get a 400 and are
//! recorded in [`State::violations`], and answers are checked too. Faults can be scripted
//! ([`Fault`]) or drawn at random ([`Chaos`]) to test retries.
//!
//! - Search API ([`search`]): answers in the order the request asks for; a request without a
//!   sort gets a different order on every call, as an unsorted Solr result set may, which is
//!   what made the original's paging unreliable.
//! - Nodes API and tickets ([`nodes`]) over an in-memory [`repo::Repository`].

pub mod contract;
pub mod nodes;
pub mod repo;
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

/// A failure [`Chaos`] can inject into a Nodes API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trouble {
    /// An error answer (500, 502, 503, 429) before anything changes.
    Status(u16),
    /// The connection breaks before anything changes.
    DropBefore,
    /// The change is made, then the connection breaks before the answer: the client cannot
    /// tell whether it happened (only for calls that change something).
    DropAfter,
    /// Every ticket expires: the call gets a 401.
    ExpireTickets,
}

/// Failures at a given rate, reproducible from a seed.
///
/// Whether a call fails is drawn at random; which failure it gets goes round the kinds in
/// turn (one turn for calls that change something, another for calls that do not), so every
/// kind is injected once a handful of calls of each sort have failed, whatever order
/// concurrent requests arrive in.
#[derive(Debug)]
pub struct Chaos {
    pub rate: f64,
    rng: fastrand::Rng,
    /// Failures handed out so far: [to calls that change nothing, to calls that change something].
    turns: [usize; 2],
}

impl Chaos {
    pub fn new(rate: f64, seed: u64) -> Chaos {
        Chaos {
            rate,
            rng: fastrand::Rng::with_seed(seed),
            turns: [0; 2],
        }
    }

    /// Draws the trouble for one call, if any.
    pub(crate) fn draw(&mut self, changes: bool) -> Option<Trouble> {
        if self.rng.f64() >= self.rate {
            return None;
        }
        const KINDS: [Trouble; 7] = [
            Trouble::Status(500),
            Trouble::Status(502),
            Trouble::Status(503),
            Trouble::Status(429),
            Trouble::DropBefore,
            Trouble::ExpireTickets,
            Trouble::DropAfter,
        ];
        // DropAfter, last, only for calls that change something.
        let kinds = if changes {
            KINDS.len()
        } else {
            KINDS.len() - 1
        };
        let turn = &mut self.turns[changes as usize];
        let t = KINDS[*turn % kinds].clone();
        *turn += 1;
        Some(t)
    }
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
    /// Folders and files of the Nodes API.
    pub repo: repo::Repository,
    /// Users who may log in: (user, password).
    pub users: Vec<(String, String)>,
    /// Tickets handed out: ticket -> (user, time of login).
    pub tickets: std::collections::HashMap<String, (String, std::time::Instant)>,
    /// Tickets older than this are refused with a 401.
    pub ticket_ttl: Option<Duration>,
    pub chaos: Option<Chaos>,
    /// Failures [`Chaos`] injected, as "METHOD trouble".
    pub injected: Vec<String>,
    /// Time every upload takes before it is stored.
    pub write_delay: Option<Duration>,
    /// Successful logins.
    pub logins: u64,
    /// Nodes created or overwritten by `POST .../children`.
    pub creates: u64,
    /// File contents stored (new files and new versions).
    pub content_writes: u64,
    /// Successful `PUT .../nodes/{id}`.
    pub updates: u64,
}

impl State {
    /// A repository with one user, and the site folder `Sites/<site>/documentLibrary`;
    /// returns the state and the id of the document library.
    pub fn with_site(user: &str, password: &str, site: &str) -> (State, String) {
        let mut s = State {
            users: vec![(user.into(), password.into())],
            ..Default::default()
        };
        let lib = s
            .repo
            .add_folders("-root-", &format!("Sites/{site}/documentLibrary"))
            .expect("fresh repository");
        (s, lib)
    }

    pub fn with_entries(entries: Vec<Value>) -> State {
        State {
            search_entries: entries,
            ..Default::default()
        }
    }
}

impl State {
    /// Checks a request against a contract definition: `None` when it follows it, otherwise
    /// the 400 answer, with the violations recorded.
    pub(crate) fn refuse(
        &mut self,
        api: contract::Api,
        definition: &'static str,
        body: &Value,
    ) -> Option<axum::response::Response> {
        let problems = contract::check(api, definition, body);
        if problems.is_empty() {
            return None;
        }
        let message = problems.join("; ");
        self.violations.extend(problems);
        Some(error(400, &message))
    }

    /// Checks an answer of the fake itself against a contract definition, recording what it
    /// breaks.
    pub(crate) fn check_answer(
        &mut self,
        api: contract::Api,
        definition: &'static str,
        answer: &Value,
    ) {
        let problems = contract::check(api, definition, answer);
        self.violations.extend(problems);
    }

    /// How the files below `folder` differ from `expected` (relative path, content): missing,
    /// extra, other content, more than one version, or no `cm:title`. Empty when every
    /// expected file is there exactly once.
    pub fn differences(&self, folder: &str, expected: &[(String, Vec<u8>)]) -> Vec<String> {
        let remote = self.repo.files_under(folder);
        let mut out = Vec::new();
        for (path, content) in expected {
            match remote.iter().find(|(p, _)| p == path) {
                None => out.push(format!("{path}: missing")),
                Some((_, n)) => {
                    if &n.content != content {
                        out.push(format!("{path}: other content"));
                    }
                    if n.versions != 1 {
                        out.push(format!("{path}: {} versions", n.versions));
                    }
                    if n.properties.get("cm:title").and_then(|t| t.as_str())
                        != Some(n.name.as_str())
                    {
                        out.push(format!("{path}: title {:?}", n.properties.get("cm:title")));
                    }
                }
            }
        }
        for (path, _) in &remote {
            if !expected.iter().any(|(p, _)| p == path) {
                out.push(format!("{path}: not expected"));
            }
        }
        out
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
        use axum::routing::{get, post};
        const CORE: &str = "/alfresco/api/-default-/public/alfresco/versions/1";
        let app = axum::Router::new()
            .route(
                "/alfresco/api/-default-/public/search/versions/1/search",
                post(search::handle),
            )
            .route(
                "/alfresco/api/-default-/public/authentication/versions/1/tickets",
                post(nodes::create_ticket),
            )
            .route(
                &format!("{CORE}/nodes/{{id}}"),
                get(nodes::get_node).put(nodes::update_node),
            )
            .route(
                &format!("{CORE}/nodes/{{id}}/children"),
                get(nodes::list_children).post(nodes::create_child),
            )
            .route(
                &format!("{CORE}/nodes/{{id}}/content"),
                get(nodes::get_content),
            )
            .layer(axum::extract::DefaultBodyLimit::disable())
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
