//! Alfresco client of the soundscape pipeline.
//!
//! [`config`] reads the connection settings from the environment (secrets never printed),
//! [`retry`] owns the backoff policy shared by every call, and [`search`] lists recordings
//! through the Search API with a sort order, so that paging neither skips nor repeats.
//! [`session`] logs in with tickets and renews them, and [`nodes`] holds the Nodes API calls
//! of the upload stages.

pub mod config;
pub mod nodes;
pub mod retry;
pub mod search;
pub mod session;

pub use config::{AlfrescoConfig, Secret};
pub use nodes::{NewFile, NodeInfo};
pub use retry::RetryPolicy;
pub use search::{SearchClient, SearchOutcome, SearchQuery};
pub use session::Session;

/// Errors of Alfresco calls, after retries.
#[derive(Debug, thiserror::Error)]
pub enum AlfrescoError {
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url}: {detail}")]
    Network { url: String, detail: String },
    #[error("{url}: unexpected response: {detail}")]
    Protocol { url: String, detail: String },
    /// A 401 right after a fresh login: the ticket was invalidated again (the server
    /// restarted, or tickets were revoked); worth another try.
    #[error("{url}: HTTP 401 with a fresh ticket")]
    TicketRefused { url: String },
    #[error("configuration: {0}")]
    Config(String),
}

impl AlfrescoError {
    /// The HTTP status of an error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            AlfrescoError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether trying again may help (network trouble, 429, 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            AlfrescoError::Status { status, .. } => *status == 429 || *status >= 500,
            AlfrescoError::Network { .. } | AlfrescoError::TicketRefused { .. } => true,
            _ => false,
        }
    }
}
