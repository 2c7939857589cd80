//! Connection settings, from the environment as in the original (`ALFRESCO_URL`,
//! `X_API_KEY`, `ALFRESCO_USER`, `ALFRESCO_PASSWORD`). Secrets are wrapped in [`Secret`],
//! whose `Debug` and `Display` print `***`.

use std::time::Duration;

use crate::retry::RetryPolicy;
use crate::AlfrescoError;

/// A credential that never shows in logs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}
impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Path of the Search API under the Alfresco URL.
pub const SEARCH_PATH: &str = "alfresco/api/-default-/public/search/versions/1/search";

#[derive(Debug, Clone)]
pub struct AlfrescoConfig {
    /// Base URL, ending in `/` (`ALFRESCO_URL`).
    pub base_url: String,
    /// Full search URL when it is not under the base URL (the SiPeCaM gateway).
    pub search_url: Option<String>,
    /// `x-api-key` header of the gateway (`X_API_KEY`).
    pub api_key: Option<Secret>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// Time limit of one request.
    pub timeout: Duration,
    /// Age after which a ticket is renewed before use (`ALFRESCO_TICKET_MAX_AGE`, seconds).
    pub ticket_max_age: Duration,
    pub retry: RetryPolicy,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl AlfrescoConfig {
    /// Settings for `base_url` with the defaults (60 s timeout, default retries).
    pub fn new(base_url: &str) -> AlfrescoConfig {
        let mut base = base_url.trim().to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        AlfrescoConfig {
            base_url: base,
            search_url: None,
            api_key: None,
            user: None,
            password: None,
            timeout: Duration::from_secs(60),
            ticket_max_age: Duration::from_secs(30 * 60),
            retry: RetryPolicy::default(),
        }
    }

    /// Reads `ALFRESCO_URL` (required), `ALFRESCO_SEARCH_URL`, `X_API_KEY`, `ALFRESCO_USER`,
    /// `ALFRESCO_PASSWORD`, `ALFRESCO_TICKET_MAX_AGE`.
    pub fn from_env() -> Result<AlfrescoConfig, AlfrescoError> {
        let url = env("ALFRESCO_URL").ok_or_else(|| {
            AlfrescoError::Config("ALFRESCO_URL is not set (e.g. https://host/)".into())
        })?;
        let mut c = AlfrescoConfig::new(&url);
        c.search_url = env("ALFRESCO_SEARCH_URL");
        c.api_key = env("X_API_KEY").map(Secret::new);
        c.user = env("ALFRESCO_USER");
        c.password = env("ALFRESCO_PASSWORD").map(Secret::new);
        if let Some(age) = env("ALFRESCO_TICKET_MAX_AGE") {
            let secs: u64 = age.parse().map_err(|_| {
                AlfrescoError::Config(format!(
                    "ALFRESCO_TICKET_MAX_AGE={age:?} is not a number of seconds"
                ))
            })?;
            c.ticket_max_age = Duration::from_secs(secs);
        }
        Ok(c)
    }

    pub fn search_url(&self) -> String {
        self.search_url
            .clone()
            .unwrap_or_else(|| format!("{}{SEARCH_PATH}", self.base_url))
    }

    pub(crate) fn http(&self) -> Result<reqwest::Client, AlfrescoError> {
        reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(Duration::from_secs(15))
            .user_agent(concat!("soundscape/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AlfrescoError::Config(format!("HTTP client: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let mut c = AlfrescoConfig::new("http://h");
        c.api_key = Some(Secret::new("top-secret-key"));
        c.password = Some(Secret::new("pw-123"));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("top-secret-key") && !shown.contains("pw-123"),
            "{shown}"
        );
        assert_eq!(c.base_url, "http://h/");
        assert_eq!(c.search_url(), format!("http://h/{SEARCH_PATH}"));
    }
}
