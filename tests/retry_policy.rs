//! Retry policies: the manifest's `retry` parser (TimeSpans as .NET reads them), and the local
//! platform's retry loop (delays and counts under paused tokio time).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cosmospark::devhost::retry::{RetryContext, run_with_retry};
use cosmospark::runtime::manifest::{RetryPolicy, RetryStrategy, TimeSpan};
use serde_json::{Value, json};
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
        // hh:mm, and a bare number of days, as TimeSpan.Parse reads them.
        ("00:05", Duration::from_secs(300)),
        ("10", Duration::from_secs(10 * 86_400)),
    ];
    for (text, expected) in table {
        assert_eq!(
            TimeSpan::parse(text).map(TimeSpan::as_duration),
            Ok(expected),
            "{text}"
        );
    }
    for bad in [
        "",
        "-00:00:10",
        "00:60:00",
        "24:00:00",
        "25:00:00",
        "aa:00:00",
        "00:00:10.",
        "00:00:01.12345678",
        "00:00:00:00",
    ] {
        assert!(TimeSpan::parse(bad).is_err(), "{bad:?} should be rejected");
    }
}

#[test]
fn parses_both_strategies() {
    let fixed = RetryPolicy::parse(
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
    let exponential = RetryPolicy::parse(&json!({
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
            "retry.strategy: missing",
        ),
        (
            json!({"strategy":"linear","maxRetryCount":3}),
            "retry.strategy",
        ),
        (
            json!({"strategy":"fixedDelay","delayInterval":"00:00:10"}),
            "retry.maxRetryCount: missing",
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
            "retry.delayInterval: missing",
        ),
        (
            json!({"strategy":"fixedDelay","maxRetryCount":3,"delayInterval":"ten seconds"}),
            "retry.delayInterval",
        ),
        (
            json!({"strategy":"exponentialBackoff","maxRetryCount":3,"minimumInterval":"00:00:10"}),
            "retry.maximumInterval: missing",
        ),
        (
            json!({"strategy":"exponentialBackoff","maxRetryCount":3,"minimumInterval":"00:01:00","maximumInterval":"00:00:10"}),
            "retry.maximumInterval",
        ),
    ];
    for (policy, expected) in cases {
        let error = RetryPolicy::parse(&policy).unwrap_err();
        let error = format!("{}: {}", error.field, error.message);
        assert!(error.starts_with(expected), "{policy}: got {error:?}");
    }
    assert_eq!(RetryPolicy::parse(&json!([])).unwrap_err().field, "retry");
}

/// Runs `outcome(retry_count)` under `policy` on paused tokio time; returns the result, the
/// second at which each attempt started, and the context each attempt received.
async fn run<T>(
    policy: Value,
    outcome: impl Fn(u32) -> Result<T, String>,
) -> (Result<T, String>, Vec<u64>, Vec<RetryContext>) {
    let policy = RetryPolicy::parse(&policy).unwrap();
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let result = run_with_retry(&policy, |context| {
        attempts
            .lock()
            .unwrap()
            .push((start.elapsed().as_secs(), context.clone()));
        std::future::ready(outcome(context.retry_count))
    })
    .await;
    let (times, contexts) = attempts.lock().unwrap().drain(..).unzip();
    (result, times, contexts)
}

#[tokio::test(start_paused = true)]
async fn fixed_delay_retries_then_returns_last_error() {
    let policy = json!({"strategy":"fixedDelay","maxRetryCount":3,"delayInterval":"00:00:10"});
    let (result, times, contexts) = run(policy, |n| Err::<(), _>(format!("boom {n}"))).await;
    assert_eq!(result, Err("boom 3".to_owned()));
    assert_eq!(times, vec![0, 10, 20, 30]);
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
    let policy = json!({
        "strategy":"exponentialBackoff","maxRetryCount":5,
        "minimumInterval":"00:00:10","maximumInterval":"00:00:45"});
    let (result, times, _) = run(policy, |_| Err::<(), _>("down".to_owned())).await;
    assert_eq!(result, Err("down".to_owned()));
    // Delays 10, 20, 40, 45 (capped), 45.
    assert_eq!(times, vec![0, 10, 30, 70, 115, 160]);
}

#[tokio::test(start_paused = true)]
async fn success_stops_retrying_and_unlimited_policies_keep_going() {
    let policy = json!({"strategy":"fixedDelay","maxRetryCount":-1,"delayInterval":"00:01:00"});
    let (result, times, contexts) = run(policy, |n| {
        if n < 7 {
            Err("not yet".to_owned())
        } else {
            Ok(n)
        }
    })
    .await;
    assert_eq!(result, Ok(7));
    assert_eq!(times, vec![0, 60, 120, 180, 240, 300, 360, 420]);
    assert!(contexts.iter().all(|c| c.max_retry_count == -1));
}

#[tokio::test(start_paused = true)]
async fn zero_retries_means_one_attempt() {
    let policy = json!({"strategy":"fixedDelay","maxRetryCount":0,"delayInterval":"00:00:05"});
    let (result, times, _) = run(policy, |_| Err::<(), _>("once".to_owned())).await;
    assert_eq!(result, Err("once".to_owned()));
    assert_eq!(times, vec![0]);
}
