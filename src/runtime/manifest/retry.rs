//! The function-level `retry` policy of a function.json.
//!
//! Rules from the host: `Utility.ValidateRetryOptions` (Azure/azure-functions-host,
//! `src/WebJobs.Script/Utility.cs`) requires `maxRetryCount`, `delayInterval` for
//! `fixedDelay`, and both intervals for `exponentialBackoff`, then builds the WebJobs SDK
//! attributes (Azure/azure-webjobs-sdk, `src/Microsoft.Azure.WebJobs.Host/RetryAttribute.cs`:
//! `maxRetryCount` ≥ -1, where -1 retries forever; `ExponentialBackoffRetryAttribute.cs`:
//! intervals parse as TimeSpans and the minimum is not above the maximum).

use std::time::Duration;

use serde_json::Value;

use super::FieldError;
use super::props::Props;
use super::timespan::TimeSpan;

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

impl RetryPolicy {
    /// Parses the `retry` object; errors name the field relative to `retry`.
    pub fn parse(value: &Value) -> Result<Self, FieldError> {
        let props = Props::new(value, "retry")?;
        props.only(&[
            "strategy",
            "maxRetryCount",
            "delayInterval",
            "minimumInterval",
            "maximumInterval",
        ])?;
        let strategy = props.required_string("strategy")?;
        let max_retry_count = match props.integer("maxRetryCount")? {
            None => return Err(props.error("maxRetryCount", "missing")),
            Some(-1) => None,
            Some(n) => Some(u32::try_from(n).map_err(|_| {
                props.error("maxRetryCount", "must be -1 (retry forever) or 0 or more")
            })?),
        };
        let span = |field: &str| -> Result<Duration, FieldError> {
            let text = props.required_string(field)?;
            TimeSpan::parse(&text)
                .map(TimeSpan::as_duration)
                .map_err(|e| props.error(field, e.to_string()))
        };
        let strategy = match strategy.to_ascii_lowercase().as_str() {
            "fixeddelay" => RetryStrategy::FixedDelay {
                delay: span("delayInterval")?,
            },
            "exponentialbackoff" => {
                let minimum = span("minimumInterval")?;
                let maximum = span("maximumInterval")?;
                if minimum > maximum {
                    return Err(
                        props.error("maximumInterval", "must not be less than minimumInterval")
                    );
                }
                RetryStrategy::ExponentialBackoff { minimum, maximum }
            }
            _ => {
                return Err(props.error(
                    "strategy",
                    format!("expected `fixedDelay` or `exponentialBackoff`, got `{strategy}`"),
                ));
            }
        };
        Ok(Self {
            max_retry_count,
            strategy,
        })
    }

    /// The delay before retry number `retry_count` (1-based). Exponential delays are
    /// `minimumInterval * 2^(n-1)` capped at `maximumInterval`: the host adds jitter, which a
    /// local platform does not need.
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

    /// Whether another retry is allowed after `retries_done`.
    pub fn allows_retry(&self, retries_done: u32) -> bool {
        self.max_retry_count.is_none_or(|max| retries_done < max)
    }

    /// `maxRetryCount` as the host reports it in `RetryContext` (-1 = forever).
    pub fn max_retry_count_value(&self) -> i64 {
        self.max_retry_count.map_or(-1, i64::from)
    }
}
