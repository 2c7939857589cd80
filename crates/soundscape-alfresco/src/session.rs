//! A logged-in session of the Alfresco REST API: a ticket from the Authentication API sent as
//! `Authorization: Basic base64(ticket)` (docs/stages.md#upload-alfresco-and-upload-model), a new ticket when the server answers 401
//! or the ticket is older than [`AlfrescoConfig::ticket_max_age`] (the original crashed after
//! 40 minutes), and one place that turns HTTP answers into [`AlfrescoError`]s.
//!
//! [`Session::send`] makes one attempt (with at most one fresh login); [`Session::call`]
//! repeats idempotent calls with the retry policy. Calls that create things are retried by
//! their callers, who first look whether the earlier attempt took effect.

use std::time::Instant;

use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use crate::{AlfrescoConfig, AlfrescoError, Secret};

/// Path of the Authentication API under the Alfresco URL.
pub const AUTH_PATH: &str = "alfresco/api/-default-/public/authentication/versions/1";
/// Path of the Core (Nodes) API under the Alfresco URL.
pub const CORE_PATH: &str = "alfresco/api/-default-/public/alfresco/versions/1";

struct Ticket {
    header: Secret,
    issued: Instant,
    generation: u64,
}

/// An answer with a success status, its body read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self, url: &str) -> Result<Value, AlfrescoError> {
        serde_json::from_slice(&self.body).map_err(|e| AlfrescoError::Protocol {
            url: url.into(),
            detail: format!("answer is not JSON: {e}"),
        })
    }
}

pub struct Session {
    cfg: AlfrescoConfig,
    http: reqwest::Client,
    ticket: Mutex<Option<Ticket>>,
    logins: std::sync::atomic::AtomicU64,
}

pub(crate) fn network(url: &str, e: reqwest::Error) -> AlfrescoError {
    AlfrescoError::Network {
        url: url.into(),
        detail: e.without_url().to_string(),
    }
}

/// Sends a request; errors for every status but 2xx (with the start of the error body).
async fn respond(
    url: &str,
    req: reqwest::RequestBuilder,
) -> Result<reqwest::Response, AlfrescoError> {
    let resp = req.send().await.map_err(|e| network(url, e))?;
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(resp);
    }
    let body = resp.bytes().await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    Err(AlfrescoError::Status {
        url: url.into(),
        status,
        body: text.chars().take(300).collect(),
    })
}

/// Reads a successful answer whole.
async fn read(url: &str, resp: reqwest::Response) -> Result<Answer, AlfrescoError> {
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| network(url, e))?;
    Ok(Answer { status, body })
}

/// Sends a request and reads its answer whole; errors for every status but 2xx.
pub(crate) async fn exchange(
    url: &str,
    req: reqwest::RequestBuilder,
) -> Result<Answer, AlfrescoError> {
    read(url, respond(url, req).await?).await
}

impl Session {
    /// A session for the configured server; it logs in on the first call. Needs
    /// `ALFRESCO_USER` and `ALFRESCO_PASSWORD`.
    pub fn new(cfg: AlfrescoConfig) -> Result<Session, AlfrescoError> {
        if cfg.user.is_none() || cfg.password.is_none() {
            return Err(AlfrescoError::Config(
                "ALFRESCO_USER and ALFRESCO_PASSWORD must be set to log in".into(),
            ));
        }
        let http = cfg.http()?;
        Ok(Session {
            cfg,
            http,
            ticket: Mutex::new(None),
            logins: Default::default(),
        })
    }

    pub fn config(&self) -> &AlfrescoConfig {
        &self.cfg
    }

    /// URL of a Core API path (`nodes/...`).
    pub fn core_url(&self, path: &str) -> String {
        format!("{}{CORE_PATH}/{path}", self.cfg.base_url)
    }

    /// Logins made so far.
    pub fn logins(&self) -> u64 {
        self.logins.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn login(&self, generation: u64) -> Result<Ticket, AlfrescoError> {
        let url = format!("{}{AUTH_PATH}/tickets", self.cfg.base_url);
        let body = json!({
            "userId": self.cfg.user.as_deref().unwrap_or_default(),
            "password": self.cfg.password.as_ref().map(Secret::expose).unwrap_or_default(),
        });
        let answer = self
            .cfg
            .retry
            .run("login", || exchange(&url, self.http.post(&url).json(&body)))
            .await
            .map_err(|e| match e {
                AlfrescoError::Status {
                    status: 403, url, ..
                } => AlfrescoError::Status {
                    url,
                    status: 403,
                    body: "login failed: check ALFRESCO_USER and ALFRESCO_PASSWORD".into(),
                },
                e => e,
            })?;
        let v = answer.json(&url)?;
        let id = v
            .pointer("/entry/id")
            .and_then(Value::as_str)
            .ok_or_else(|| AlfrescoError::Protocol {
                url: url.clone(),
                detail: "ticket answer without entry.id".into(),
            })?;
        self.logins
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            user = self.cfg.user.as_deref().unwrap_or_default(),
            "logged in to Alfresco"
        );
        let header = base64::engine::general_purpose::STANDARD.encode(id);
        Ok(Ticket {
            header: Secret::new(format!("Basic {header}")),
            issued: Instant::now(),
            generation,
        })
    }

    /// The authorization header and its generation, logging in when there is no ticket, it
    /// is too old, or it is the one a 401 refused (`stale`).
    async fn authorization(&self, stale: Option<u64>) -> Result<(Secret, u64), AlfrescoError> {
        let mut t = self.ticket.lock().await;
        let renew = match &*t {
            None => true,
            Some(tk) => {
                Some(tk.generation) == stale || tk.issued.elapsed() > self.cfg.ticket_max_age
            }
        };
        if renew {
            let next = t.as_ref().map_or(1, |tk| tk.generation + 1);
            *t = Some(self.login(next).await?);
        }
        let tk = t.as_ref().unwrap();
        Ok((tk.header.clone(), tk.generation))
    }

    /// One attempt of a call, answered but not yet read: `build` makes the request; a 401
    /// gets one fresh login and one more try.
    pub async fn open<F>(&self, url: &str, build: F) -> Result<reqwest::Response, AlfrescoError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        let (auth, generation) = self.authorization(None).await?;
        match respond(
            url,
            build(&self.http).header("Authorization", auth.expose()),
        )
        .await
        {
            Err(AlfrescoError::Status { status: 401, .. }) => {
                tracing::info!("Alfresco answered 401: logging in again");
                let (auth, _) = self.authorization(Some(generation)).await?;
                match respond(
                    url,
                    build(&self.http).header("Authorization", auth.expose()),
                )
                .await
                {
                    Err(AlfrescoError::Status { status: 401, .. }) => {
                        Err(AlfrescoError::TicketRefused { url: url.into() })
                    }
                    other => other,
                }
            }
            other => other,
        }
    }

    /// One attempt of a call, its answer read whole (see [`Session::open`]).
    pub async fn send<F>(&self, url: &str, build: F) -> Result<Answer, AlfrescoError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        read(url, self.open(url, build).await?).await
    }

    /// An idempotent call, retried on network errors, 429 and 5xx.
    pub async fn call<F>(&self, what: &str, url: &str, build: F) -> Result<Answer, AlfrescoError>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    {
        self.cfg.retry.run(what, || self.send(url, &build)).await
    }
}
