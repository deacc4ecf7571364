//! Retry policies: parsing `function.json` `retry`, delays and counts under paused tokio time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cosmospark::devhost::retry::{
    RetryContext, RetryPolicy, RetryPolicyError, RetryStrategy, parse_timespan, run_with_retry,
};
use serde_json::json;
use tokio::time::Instant;

#[test]
fn timespans_parse_like_dotnet() {
    let table = [
        ("00:00:10", Duration::from_secs(10)),
        ("00:15:00", Duration::from_secs(900)),
        ("01:02:03", Duration::from_secs(3723)),
        ("1.00:00:01", Duration::from_secs(86_401)),
        ("00:00:01.5", Duration::from_millis(1500)),
        ("00:00:00.0000001", Duration::from_nanos(100)),
        ("00:05", Duration::from_secs(300)),
    ];
    for (text, expected) in table {
        assert_eq!(parse_timespan(text), Ok(expected), "{text}");
    }
    for bad in [
        "",
        "10",
        "-00:00:10",
        "00:60:00",
        "24:00:00",
        "aa:00:00",
        "00:00:10.",
        "00:00:01.12345678",
        "00:00:00:00",
    ] {
        assert!(parse_timespan(bad).is_err(), "{bad:?} should be rejected");
    }
}

#[test]
fn parses_both_strategies() {
    let fixed = RetryPolicy::from_json(
        &json!({"strategy":"fixedDelay","maxRetryCount":3,"delayInterval":"00:00:10"}),
    )
    .unwrap();
    assert_eq!(fixed.max_retry_count, Some(3));
    assert_eq!(
        fixed.strategy,
        RetryStrategy::FixedDelay {
            delay: Duration::from_secs(10)
        }
    );
    let exponential = RetryPolicy::from_json(&json!({
        "strategy":"exponentialBackoff","maxRetryCount":-1,
        "minimumInterval":"00:00:10","maximumInterval":"00:15:00"}))
    .unwrap();
    assert_eq!(exponential.max_retry_count, None);
    assert_eq!(
        exponential.strategy,
        RetryStrategy::ExponentialBackoff {
            minimum: Duration::from_secs(10),
            maximum: Duration::from_secs(900)
        }
    );
}

#[test]
fn bad_policies_name_the_field() {
    let cases = [
        (
            json!({"maxRetryCount":3,"delayInterval":"00:00:10"}),
            "retry.strategy: required",
        ),
        (
            json!({"strategy":"linear","maxRetryCount":3}),
            "retry.strategy",
        ),
        (
            json!({"strategy":"fixedDelay","delayInterval":"00:00:10"}),
            "retry.maxRetryCount: required",
        ),
        (
            json!({"strategy":"fixedDelay","maxRetryCount":-2,"delayInterval":"00:00:10"}),
            "retry.maxRetryCount",
        ),
        (
            json!({"strategy":"fixedDelay","maxRetryCount":"3","delayInterval":"00:00:10"}),
            "retry.maxRetryCount",
        ),
        (
            json!({"strategy":"fixedDelay","maxRetryCount":3}),
            "retry.delayInterval: required",
        ),
        (
            json!({"strategy":"fixedDelay","maxRetryCount":3,"delayInterval":"ten seconds"}),
            "retry.delayInterval",
        ),
        (
            json!({"strategy":"exponentialBackoff","maxRetryCount":3,"minimumInterval":"00:00:10"}),
            "retry.maximumInterval: required",
        ),
        (
            json!({"strategy":"exponentialBackoff","maxRetryCount":3,"minimumInterval":"00:01:00","maximumInterval":"00:00:10"}),
            "retry.maximumInterval",
        ),
    ];
    for (policy, expected) in cases {
        let error = RetryPolicy::from_json(&policy).unwrap_err().to_string();
        assert!(error.starts_with(expected), "{policy}: got {error:?}");
    }
    assert_eq!(
        RetryPolicy::from_json(&json!([])),
        Err(RetryPolicyError::NotAnObject)
    );
}

/// Records when (in paused tokio time) each attempt started and what context it got.
#[derive(Clone, Default)]
struct Attempts(Arc<Mutex<Vec<(Duration, RetryContext)>>>);

impl Attempts {
    fn record(&self, start: Instant, context: RetryContext) {
        self.0.lock().unwrap().push((start.elapsed(), context));
    }
    fn times(&self) -> Vec<u64> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(t, _)| t.as_secs())
            .collect()
    }
    fn contexts(&self) -> Vec<RetryContext> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, c)| c.clone())
            .collect()
    }
}

#[tokio::test(start_paused = true)]
async fn fixed_delay_retries_then_returns_last_error() {
    let policy = RetryPolicy::from_json(
        &json!({"strategy":"fixedDelay","maxRetryCount":3,"delayInterval":"00:00:10"}),
    )
    .unwrap();
    let attempts = Attempts::default();
    let start = Instant::now();
    let result: Result<(), String> = run_with_retry(&policy, |context| {
        let attempts = attempts.clone();
        async move {
            let n = context.retry_count;
            attempts.record(start, context);
            Err(format!("boom {n}"))
        }
    })
    .await;
    assert_eq!(result, Err("boom 3".to_owned()));
    assert_eq!(attempts.times(), vec![0, 10, 20, 30]);
    let contexts = attempts.contexts();
    assert_eq!(
        contexts[0].to_json(),
        json!({"RetryCount":0,"MaxRetryCount":3,"Exception":null})
    );
    assert_eq!(
        contexts[2].to_json(),
        json!({"RetryCount":2,"MaxRetryCount":3,"Exception":{"Message":"boom 1"}})
    );
}

#[tokio::test(start_paused = true)]
async fn exponential_backoff_doubles_up_to_the_maximum() {
    let policy = RetryPolicy::from_json(&json!({
        "strategy":"exponentialBackoff","maxRetryCount":5,
        "minimumInterval":"00:00:10","maximumInterval":"00:00:45"}))
    .unwrap();
    let attempts = Attempts::default();
    let start = Instant::now();
    let result: Result<(), &str> = run_with_retry(&policy, |context| {
        let attempts = attempts.clone();
        async move {
            attempts.record(start, context);
            Err("down")
        }
    })
    .await;
    assert_eq!(result, Err("down"));
    // Delays 10, 20, 40, 45 (capped), 45.
    assert_eq!(attempts.times(), vec![0, 10, 30, 70, 115, 160]);
}

#[tokio::test(start_paused = true)]
async fn success_stops_retrying_and_unlimited_policies_keep_going() {
    let policy = RetryPolicy::from_json(
        &json!({"strategy":"fixedDelay","maxRetryCount":-1,"delayInterval":"00:01:00"}),
    )
    .unwrap();
    let attempts = Attempts::default();
    let start = Instant::now();
    let result = run_with_retry(&policy, |context| {
        let attempts = attempts.clone();
        async move {
            let n = context.retry_count;
            attempts.record(start, context);
            if n < 7 { Err("not yet") } else { Ok(n) }
        }
    })
    .await;
    assert_eq!(result, Ok(7));
    assert_eq!(attempts.times(), vec![0, 60, 120, 180, 240, 300, 360, 420]);
    assert!(attempts.contexts().iter().all(|c| c.max_retry_count == -1));
}

#[tokio::test(start_paused = true)]
async fn zero_retries_means_one_attempt() {
    let policy = RetryPolicy::from_json(
        &json!({"strategy":"fixedDelay","maxRetryCount":0,"delayInterval":"00:00:05"}),
    )
    .unwrap();
    let attempts = Attempts::default();
    let start = Instant::now();
    let result: Result<(), &str> = run_with_retry(&policy, |context| {
        let attempts = attempts.clone();
        async move {
            attempts.record(start, context);
            Err("once")
        }
    })
    .await;
    assert_eq!(result, Err("once"));
    assert_eq!(attempts.times(), vec![0]);
}
