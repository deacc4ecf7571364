//! Per-event isolation for batch triggers (`cosmosDBTrigger`, `eventHubTrigger` with
//! cardinality `many`).
//!
//! The host invokes a batch and, when the invocation fails, retries the *whole batch* under the
//! function's retry policy. When the retries run out, the extensions move on and the whole
//! batch, good events included, is gone: the Cosmos DB trigger reports the failure to its health
//! monitor and returns, so the lease is checkpointed (Azure/azure-webjobs-sdk-extensions
//! `src/WebJobs.Extensions.CosmosDB/Trigger/CosmosDBTriggerListener.cs`, `ProcessChangesAsync`);
//! the Event Hubs trigger "intentionally checkpoint[s] the batch regardless of function
//! success/failure" (Azure/azure-sdk-for-net `sdk/eventhub/Microsoft.Azure.WebJobs.Extensions.
//! EventHubs/src/Listeners/EventHubListener.PartitionProcessor.cs`, `ProcessEventsAsync`).
//! Locally the platform does better and never loses an event:
//!
//! 1. the batch is invoked once, as the host would (`RetryCount` 0);
//! 2. if that fails, the batch is bisected and each half invoked once, down to single events,
//!    so every event that can be processed is processed;
//! 3. each single event that still fails is retried under the policy on its own (`RetryCount`
//!    1, 2, … as the host numbers retries) and, when the policy gives up, reported as a
//!    [`Failure`] for the caller to dead-letter alone, with its own error.
//!
//! Under an unlimited policy (`maxRetryCount: -1`) step 3 never gives up, exactly as the host
//! never does: the good events of the batch are through, the failing one blocks the checkpoint.
//! Every wait between retries ends at shutdown: the batch is then neither checkpointed nor
//! dead-lettered, and is redelivered on the next start.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

use tokio_util::sync::CancellationToken;

use super::invoke::InvokeError;
use super::retry::{Retried, RetryContext, run_with_retry_until};
use crate::runtime::manifest::RetryPolicy;

/// How a trigger's batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Every event was processed or dead-lettered: the batch may be checkpointed.
    Done,
    /// Shutdown came during a wait between retries: leave the batch unacknowledged.
    Stopped,
}

/// One event that failed on its own after its retries.
#[derive(Debug)]
pub struct Failure<T> {
    pub item: T,
    pub error: String,
    /// Invocations of this event alone (the batch invocations it was part of not counted).
    pub attempts: u32,
}

/// The first attempt's `Metadata.RetryContext` under `policy` (none without a policy).
fn first_context(policy: Option<&RetryPolicy>) -> Option<Value> {
    policy.map(|policy| {
        RetryContext {
            retry_count: 0,
            max_retry_count: policy.max_retry_count.map_or(-1, i64::from),
            exception: None,
        }
        .to_json()
    })
}

/// Runs `items` through `invoke` with per-event isolation (see the module doc) and returns the
/// events that failed alone after their retries, in batch order, or `None` when `cancel` fired
/// during a wait between retries. `invoke(slice, retry)` makes one invocation with that slice as
/// the batch and `retry` as `Metadata.RetryContext`.
pub async fn run_isolated<T, F, Fut>(
    items: &[T],
    policy: Option<&RetryPolicy>,
    cancel: &CancellationToken,
    invoke: F,
) -> Option<Vec<Failure<T>>>
where
    T: Clone,
    F: Fn(Vec<T>, Option<Value>) -> Fut,
    Fut: Future<Output = Result<(), InvokeError>>,
{
    if items.is_empty() {
        return Some(Vec::new());
    }
    let mut suspects: Vec<(usize, String)> = Vec::new();
    // Depth-first, left half first: events are offered in batch order.
    let mut pending = vec![(0..items.len(), first_context(policy))];
    while let Some((range, context)) = pending.pop() {
        let error = match invoke(items[range.clone()].to_vec(), context).await {
            Ok(()) => continue,
            Err(error) => error.to_string(),
        };
        if range.len() == 1 {
            suspects.push((range.start, error));
            continue;
        }
        let middle = range.start + range.len() / 2;
        pending.push((middle..range.end, first_context(policy)));
        pending.push((range.start..middle, first_context(policy)));
    }
    let mut failures = Vec::new();
    for (index, first_error) in suspects {
        let item = &items[index];
        match retry_alone(item, first_error, policy, cancel, &invoke).await? {
            Ok(()) => {}
            Err((error, attempts)) => failures.push(Failure {
                item: item.clone(),
                error,
                attempts,
            }),
        }
    }
    Some(failures)
}

/// Retries one event under `policy`; its first attempt already failed with `first_error`.
/// `None` when `cancel` fired during a wait between attempts.
async fn retry_alone<T, F, Fut>(
    item: &T,
    first_error: String,
    policy: Option<&RetryPolicy>,
    cancel: &CancellationToken,
    invoke: &F,
) -> Option<Result<(), (String, u32)>>
where
    T: Clone,
    F: Fn(Vec<T>, Option<Value>) -> Fut,
    Fut: Future<Output = Result<(), InvokeError>>,
{
    let Some(policy) = policy else {
        return Some(Err((first_error, 1)));
    };
    let attempts = AtomicU32::new(1);
    let mut first_error = Some(first_error);
    let outcome = run_with_retry_until(policy, cancel, |context| {
        // The first attempt alone already happened during the bisection.
        let replayed = first_error.take().filter(|_| context.retry_count == 0);
        let call = replayed.is_none().then(|| {
            attempts.fetch_add(1, Ordering::Relaxed);
            invoke(vec![item.clone()], Some(context.to_json()))
        });
        async move {
            match (replayed, call) {
                (Some(error), _) => Err(error),
                (None, Some(call)) => call.await.map_err(|e| e.to_string()),
                (None, None) => Err("no attempt was made".to_owned()),
            }
        }
    })
    .await;
    match outcome {
        Retried::Done(result) => {
            Some(result.map_err(|error| (error, attempts.load(Ordering::Relaxed))))
        }
        Retried::Stopped => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::runtime::manifest::RetryStrategy;

    fn policy(retries: u32) -> RetryPolicy {
        RetryPolicy {
            max_retry_count: Some(retries),
            strategy: RetryStrategy::FixedDelay {
                delay: Duration::from_millis(1),
            },
        }
    }

    /// Invocations seen: (batch, RetryCount).
    type Seen = Mutex<Vec<(Vec<u32>, Option<i64>)>>;

    async fn run(
        items: &[u32],
        poison: &[u32],
        policy: Option<&RetryPolicy>,
    ) -> (Vec<Failure<u32>>, Seen) {
        let seen: Seen = Mutex::new(Vec::new());
        let cancel = CancellationToken::new();
        let failures = run_isolated(
            items,
            policy,
            &cancel,
            |batch: Vec<u32>, retry: Option<Value>| {
                let count = retry.as_ref().and_then(|r| r["RetryCount"].as_i64());
                seen.lock().unwrap().push((batch.clone(), count));
                let bad = batch.iter().any(|n| poison.contains(n));
                async move {
                    if bad {
                        Err(InvokeError::Transport(format!("poison in {batch:?}")))
                    } else {
                        Ok(())
                    }
                }
            },
        )
        .await
        .expect("never cancelled");
        (failures, seen)
    }

    #[tokio::test]
    async fn a_good_batch_is_invoked_once() {
        let (failures, seen) = run(&[1, 2, 3], &[], Some(&policy(3))).await;
        assert!(failures.is_empty());
        assert_eq!(seen.into_inner().unwrap(), [(vec![1, 2, 3], Some(0))]);
    }

    #[tokio::test]
    async fn one_poison_event_fails_alone_after_its_retries_and_the_others_are_processed() {
        let (failures, seen) = run(&[1, 2, 3, 4, 5], &[4], Some(&policy(2))).await;
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].item, 4);
        assert_eq!(failures[0].attempts, 3);
        assert_eq!(failures[0].error, "cannot reach the handler: poison in [4]");
        let seen = seen.into_inner().unwrap();
        let succeeded: Vec<u32> = seen
            .iter()
            .filter(|(batch, _)| !batch.contains(&4))
            .flat_map(|(batch, _)| batch.clone())
            .collect();
        assert_eq!(
            succeeded,
            [1, 2, 3, 5],
            "every good event exactly once, in order"
        );
        let alone: Vec<Option<i64>> = seen
            .iter()
            .filter(|(batch, _)| batch == &[4])
            .map(|(_, retry)| *retry)
            .collect();
        assert_eq!(alone, [Some(0), Some(1), Some(2)]);
    }

    #[tokio::test]
    async fn without_a_policy_a_failing_event_is_reported_after_one_attempt_alone() {
        let (failures, _) = run(&[1, 2], &[1, 2], None).await;
        let items: Vec<u32> = failures.iter().map(|f| f.item).collect();
        assert_eq!(items, [1, 2]);
        assert!(failures.iter().all(|f| f.attempts == 1));
    }

    #[tokio::test]
    async fn a_single_event_batch_gets_the_policy_like_the_host() {
        let (failures, seen) = run(&[7], &[7], Some(&policy(2))).await;
        assert_eq!(failures[0].attempts, 3);
        let retries: Vec<Option<i64>> = seen.into_inner().unwrap().iter().map(|s| s.1).collect();
        assert_eq!(retries, [Some(0), Some(1), Some(2)]);
    }
}
