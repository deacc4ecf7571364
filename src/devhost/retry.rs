//! Function-level retry policies (`function.json` `retry`) and the loop that applies them.
//!
//! The host allows `fixedDelay` and `exponentialBackoff`; `maxRetryCount` -1 retries forever.
//! Exponential delays here are deterministic (`minimumInterval * 2^(n-1)`, capped at
//! `maximumInterval`): the host adds jitter, which a local platform does not need.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Why a `retry` object or a TimeSpan string was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RetryPolicyError {
    #[error("retry: expected a JSON object")]
    NotAnObject,
    #[error("retry.{field}: required")]
    Missing { field: &'static str },
    #[error("retry.{field}: {reason} (got {value})")]
    Invalid {
        field: &'static str,
        value: String,
        reason: String,
    },
}

/// A malformed TimeSpan string (`hh:mm:ss`, `d.hh:mm:ss`, fractional seconds).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid TimeSpan {value:?}: {reason}")]
pub struct TimeSpanError {
    pub value: String,
    pub reason: &'static str,
}

/// How long to wait before each retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryStrategy {
    FixedDelay {
        delay: Duration,
    },
    ExponentialBackoff {
        minimum: Duration,
        maximum: Duration,
    },
}

/// A parsed `retry` policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// `None` retries forever (`maxRetryCount: -1`).
    pub max_retry_count: Option<u32>,
    pub strategy: RetryStrategy,
}

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

impl RetryPolicy {
    /// Parses the `retry` object of a `function.json`.
    pub fn from_json(value: &Value) -> Result<Self, RetryPolicyError> {
        let object = value.as_object().ok_or(RetryPolicyError::NotAnObject)?;
        let strategy_name = required_str(object, "strategy")?;
        let max_retry_count = parse_max_retry_count(object)?;
        let strategy = match strategy_name.to_ascii_lowercase().as_str() {
            "fixeddelay" => RetryStrategy::FixedDelay {
                delay: required_timespan(object, "delayInterval")?,
            },
            "exponentialbackoff" => {
                let minimum = required_timespan(object, "minimumInterval")?;
                let maximum = required_timespan(object, "maximumInterval")?;
                if maximum < minimum {
                    return Err(invalid(
                        "maximumInterval",
                        object.get("maximumInterval"),
                        "must not be less than minimumInterval",
                    ));
                }
                RetryStrategy::ExponentialBackoff { minimum, maximum }
            }
            _ => {
                return Err(invalid(
                    "strategy",
                    object.get("strategy"),
                    "expected \"fixedDelay\" or \"exponentialBackoff\"",
                ));
            }
        };
        Ok(Self {
            max_retry_count,
            strategy,
        })
    }

    /// The delay before retry number `retry_count` (1-based).
    pub fn delay_before(&self, retry_count: u32) -> Duration {
        match &self.strategy {
            RetryStrategy::FixedDelay { delay } => *delay,
            RetryStrategy::ExponentialBackoff { minimum, maximum } => {
                let exponent = retry_count.saturating_sub(1).min(31);
                minimum
                    .checked_mul(1u32 << exponent)
                    .map_or(*maximum, |d| d.min(*maximum))
            }
        }
    }

    fn allows_retry(&self, retries_done: u32) -> bool {
        self.max_retry_count.is_none_or(|max| retries_done < max)
    }

    fn max_retry_count_json(&self) -> i64 {
        self.max_retry_count.map_or(-1, i64::from)
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
        max_retry_count: policy.max_retry_count_json(),
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

/// Parses a .NET TimeSpan as the host accepts it: `[d.]hh:mm[:ss[.fffffff]]`.
pub fn parse_timespan(text: &str) -> Result<Duration, TimeSpanError> {
    let fail = |reason| TimeSpanError {
        value: text.to_owned(),
        reason,
    };
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(fail("must not be negative"));
    }
    let mut parts = trimmed.split(':');
    let first = parts.next().unwrap_or_default();
    let (days, hours) = match first.split_once('.') {
        Some((d, h)) => (number(d).ok_or_else(|| fail("days must be a number"))?, h),
        None => (0, first),
    };
    let hours = number(hours).ok_or_else(|| fail("hours must be a number"))?;
    let minutes = parts
        .next()
        .and_then(number)
        .ok_or_else(|| fail("expected hh:mm:ss"))?;
    let (seconds, nanos) = match parts.next() {
        None => (0, 0),
        Some(s) => parse_seconds(s).ok_or_else(|| fail("seconds must be ss or ss.fffffff"))?,
    };
    if parts.next().is_some() {
        return Err(fail("too many ':' separators"));
    }
    if hours > 23 || minutes > 59 || seconds > 59 {
        return Err(fail("hours must be 0-23, minutes and seconds 0-59"));
    }
    let total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds;
    Ok(Duration::new(total, nanos))
}

fn number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_seconds(text: &str) -> Option<(u64, u32)> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let whole = number(whole)?;
    if fraction.is_empty() {
        return (!text.ends_with('.')).then_some((whole, 0));
    }
    if fraction.len() > 7 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let padded = format!("{fraction:0<9}");
    Some((whole, padded.parse().ok()?))
}

fn required_str<'a>(
    object: &'a serde_json::Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, RetryPolicyError> {
    match object.get(field) {
        None | Some(Value::Null) => Err(RetryPolicyError::Missing { field }),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(invalid(field, Some(other), "expected a string")),
    }
}

fn required_timespan(
    object: &serde_json::Map<String, Value>,
    field: &'static str,
) -> Result<Duration, RetryPolicyError> {
    let text = required_str(object, field)?;
    parse_timespan(text).map_err(|e| invalid(field, object.get(field), e.reason))
}

fn parse_max_retry_count(
    object: &serde_json::Map<String, Value>,
) -> Result<Option<u32>, RetryPolicyError> {
    const FIELD: &str = "maxRetryCount";
    let value = object
        .get(FIELD)
        .filter(|v| !v.is_null())
        .ok_or(RetryPolicyError::Missing { field: FIELD })?;
    match value.as_i64() {
        Some(-1) => Ok(None),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| invalid(FIELD, Some(value), "must be -1 (unlimited) or 0 or more")),
        None => Err(invalid(FIELD, Some(value), "expected an integer")),
    }
}

fn invalid(field: &'static str, value: Option<&Value>, reason: &str) -> RetryPolicyError {
    RetryPolicyError::Invalid {
        field,
        value: value.map_or_else(|| "nothing".to_owned(), Value::to_string),
        reason: reason.to_owned(),
    }
}
