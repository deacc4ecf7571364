//! The loop that applies a function's retry policy ([`RetryPolicy`], parsed by the manifest)
//! and the `RetryContext` each attempt receives.

use std::fmt::Display;
use std::future::Future;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

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
/// With unlimited retries the loop only ends on success; see [`run_with_retry_until`] for a
/// loop that stops at shutdown.
pub async fn run_with_retry<F, Fut, T, E>(policy: &RetryPolicy, operation: F) -> Result<T, E>
where
    F: FnMut(RetryContext) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display,
{
    match retry_loop(policy, None, operation).await {
        Retried::Done(result) => result,
        Retried::Stopped => unreachable!("a retry loop without a cancellation token never stops"),
    }
}

/// How a retry loop that observes shutdown ended.
#[derive(Debug)]
pub enum Retried<T, E> {
    /// Success, or the last error once the retries ran out.
    Done(Result<T, E>),
    /// `cancel` fired during a wait between attempts: the work was neither done nor failed for
    /// good, so the caller must not checkpoint nor dead-letter it (it is redelivered later).
    Stopped,
}

/// As [`run_with_retry`], but every wait between attempts ends when `cancel` fires. The
/// attempt in flight is never interrupted; only the sleeps are.
pub async fn run_with_retry_until<F, Fut, T, E>(
    policy: &RetryPolicy,
    cancel: &CancellationToken,
    operation: F,
) -> Retried<T, E>
where
    F: FnMut(RetryContext) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display,
{
    retry_loop(policy, Some(cancel), operation).await
}

async fn retry_loop<F, Fut, T, E>(
    policy: &RetryPolicy,
    cancel: Option<&CancellationToken>,
    mut operation: F,
) -> Retried<T, E>
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
            Ok(value) => return Retried::Done(Ok(value)),
            Err(error) => error,
        };
        if !policy.allows_retry(context.retry_count) {
            return Retried::Done(Err(error));
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
        let wait = tokio::time::sleep(policy.delay_before(context.retry_count));
        match cancel {
            None => wait.await,
            Some(cancel) => tokio::select! {
                () = cancel.cancelled() => {
                    tracing::info!(retry = context.retry_count, "shutting down: retry abandoned, the work stays unacknowledged");
                    return Retried::Stopped;
                }
                () = wait => {}
            },
        }
    }
}
