//! The loop that applies a function's retry policy ([`RetryPolicy`], parsed by the manifest)
//! and the `RetryContext` each attempt receives.

use std::fmt::Display;
use std::future::Future;

use serde_json::Value;

use crate::runtime::manifest::RetryPolicy;

/// The `Metadata.RetryContext` value the host sends with each attempt under a retry policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryContext {
    /// 0 on the first attempt, then 1, 2, … on each retry.
    pub retry_count: u32,
    /// -1 when retries are unlimited.
    pub max_retry_count: i64,
    /// The previous attempt's failure; `null` on the first attempt.
    pub exception: Option<RetryException>,
}

/// The failure of the previous attempt, as carried in [`RetryContext`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryException {
    pub message: String,
}

impl RetryContext {
    /// The context as the JSON the host puts in `Metadata.RetryContext`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "RetryCount": self.retry_count,
            "MaxRetryCount": self.max_retry_count,
            "Exception": self.exception.as_ref().map(|e| serde_json::json!({"Message": e.message})),
        })
    }
}

/// Runs `operation` and retries it per `policy` until it succeeds or the retries run out, then
/// returns the last error. Each attempt receives its [`RetryContext`]. Waits use tokio time.
/// With unlimited retries the loop only ends on success: wrap it in a `select!` with a
/// cancellation token to stop it.
pub async fn run_with_retry<F, Fut, T, E>(policy: &RetryPolicy, mut operation: F) -> Result<T, E>
where
    F: FnMut(RetryContext) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display,
{
    let mut context = RetryContext {
        retry_count: 0,
        max_retry_count: policy.max_retry_count_value(),
        exception: None,
    };
    loop {
        let error = match operation(context.clone()).await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if !policy.allows_retry(context.retry_count) {
            return Err(error);
        }
        context.retry_count += 1;
        tracing::warn!(
            retry = context.retry_count,
            max = context.max_retry_count,
            error = %error,
            "invocation failed; retrying"
        );
        context.exception = Some(RetryException {
            message: error.to_string(),
        });
        tokio::time::sleep(policy.delay_before(context.retry_count)).await;
    }
}
