//! Retries with exponential backoff and full jitter, for network errors, timeouts, 429 and
//! 5xx answers. Other errors are returned at once.

use std::future::Future;
use std::time::Duration;

use crate::AlfrescoError;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (the first one included).
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Quick retries for tests.
    pub fn fast() -> RetryPolicy {
        RetryPolicy {
            attempts: 6,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
        }
    }

    /// Delay before retry number `n` (1-based): uniform in [0, min(max, base * 2^(n-1))].
    pub fn delay(&self, n: u32) -> Duration {
        let cap = self
            .base_delay
            .saturating_mul(1u32 << (n - 1).min(20))
            .min(self.max_delay);
        cap.mul_f64(fastrand::f64())
    }

    /// Runs `op` until it succeeds, fails for good, or the attempts are used up.
    pub async fn run<T, F, Fut>(&self, what: &str, op: F) -> Result<T, AlfrescoError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, AlfrescoError>>,
    {
        self.run_when(what, op, AlfrescoError::is_transient).await
    }

    /// Runs `op` until it succeeds, fails with an error `retry` does not accept, or the
    /// attempts are used up.
    pub async fn run_when<T, E, F, Fut>(
        &self,
        what: &str,
        mut op: F,
        retry: impl Fn(&E) -> bool,
    ) -> Result<T, E>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut n = 0;
        loop {
            n += 1;
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if retry(&e) && n < self.attempts => {
                    let wait = self.delay(n);
                    tracing::warn!(attempt = n, wait_ms = wait.as_millis() as u64, error = %e, "{what}: retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_capped() {
        let p = RetryPolicy {
            attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for n in 1..12 {
            let d = p.delay(n);
            assert!(d <= Duration::from_secs(1));
            assert!(d <= Duration::from_millis(100) * (1 << (n - 1)));
        }
    }

    #[tokio::test]
    async fn transient_errors_are_retried_others_not() {
        let p = RetryPolicy::fast();
        let mut calls = 0;
        let r: Result<u32, _> = p
            .run("t", || {
                calls += 1;
                let c = calls;
                async move {
                    if c < 3 {
                        Err(AlfrescoError::Status {
                            url: "u".into(),
                            status: 504,
                            body: String::new(),
                        })
                    } else {
                        Ok(c)
                    }
                }
            })
            .await;
        assert_eq!(r.unwrap(), 3);
        let mut calls = 0;
        let r: Result<u32, _> = p
            .run("t", || {
                calls += 1;
                async {
                    Err(AlfrescoError::Status {
                        url: "u".into(),
                        status: 400,
                        body: String::new(),
                    })
                }
            })
            .await;
        assert!(r.is_err());
        assert_eq!(calls, 1);
    }
}
