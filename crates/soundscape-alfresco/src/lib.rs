//! Alfresco client of the soundscape pipeline.
//!
//! [`config`] reads the connection settings from the environment (secrets never printed),
//! [`retry`] owns the backoff policy shared by every call, and [`search`] lists recordings
//! through the Search API with a sort order, so that paging neither skips nor repeats.

pub mod config;
pub mod retry;
pub mod search;

pub use config::{AlfrescoConfig, Secret};
pub use retry::RetryPolicy;
pub use search::{SearchClient, SearchOutcome, SearchQuery};

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
    #[error("configuration: {0}")]
    Config(String),
}

impl AlfrescoError {
    /// Whether trying again may help (network trouble, 429, 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            AlfrescoError::Status { status, .. } => *status == 429 || *status >= 500,
            AlfrescoError::Network { .. } => true,
            _ => false,
        }
    }
}
