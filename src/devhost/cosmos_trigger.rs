//! `cosmosDBTrigger`: one change-feed consumer per function on its container, with a lease
//! named `leaseContainerPrefix` + function name in `leaseContainerName`. Honours
//! `startFromBeginning`, `startFromTime` and `maxItemsPerInvocation`. It wakes only on commits
//! that wrote to its container ([`WriteSignal::of_container`]) and otherwise sleeps; only a
//! store without notifications is polled, every `feedPollDelay` (the host's 5 s by default).
//!
//! The lease moves once per batch, after the batch was handled: each document was processed,
//! or — isolated from the others and after its retries — written to the dead letter alone
//! ([`super::isolate`]). Nothing is skipped silently, and an empty page writes nothing. This is
//! the Cosmos DB trigger's cadence: the extension runs the SDK's change feed processor, whose
//! observer is wrapped in an `AutoCheckpointer` that checkpoints after every batch the delegate
//! returned from (Azure/azure-cosmos-dotnet-v3,
//! `Microsoft.Azure.Cosmos/src/ChangeFeedProcessor/FeedProcessing/AutoCheckpointer.cs`). The
//! processor's lease renewal (every 17 s, expiring after 60 s) exists to share partitions between
//! instances; the local platform holds its data directory exclusively, so it has no lease to
//! renew and writes nothing while idle.

use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::dead_letter::{DeadLetterError, DeadLetterKind, DeadLetters, Failed};
use super::envelope::{self, Envelope};
use super::invoke::Invoker;
use super::isolate::{Handled, run_isolated};
use super::notify::{WriteSignal, sleep_or_never};
use crate::runtime::manifest::RetryPolicy;
use crate::runtime::manifest::{BindingKind, CosmosDbTriggerOptions, FunctionJson};
use crate::store::{ChangeFeedConsumer, ChangeFeedPage, ChangeFeedStart, Store, StoreError};

/// Poll interval, for a store without commit notifications, when `feedPollDelay` is not set: the
/// host's default, 5,000 ms ("feedPollDelay", learn.microsoft.com/azure/azure-functions/
/// functions-bindings-cosmosdb-v2-trigger).
pub const DEFAULT_POLL: Duration = Duration::from_secs(5);

/// One function's change-feed settings.
#[derive(Debug, Clone)]
pub struct FeedTrigger {
    pub function: String,
    pub binding: String,
    pub container: String,
    pub lease_container: String,
    pub lease_name: String,
    pub start: ChangeFeedStart,
    pub max_items: u32,
    pub poll: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum FeedTriggerError {
    #[error("function `{function}`: cosmosDBTrigger.{field}: {message}")]
    Binding {
        function: String,
        field: &'static str,
        message: String,
    },
}

impl FeedTrigger {
    /// Reads the trigger of `function`, if it is a `cosmosDBTrigger`.
    pub fn of(function: &FunctionJson) -> Result<Option<Self>, FeedTriggerError> {
        let Some(trigger) = function.trigger() else {
            return Ok(None);
        };
        let BindingKind::CosmosDbTrigger(options) = &trigger.kind else {
            return Ok(None);
        };
        Self::from_options(&function.name, &trigger.name, options).map(Some)
    }

    fn from_options(
        function: &str,
        binding: &str,
        options: &CosmosDbTriggerOptions,
    ) -> Result<Self, FeedTriggerError> {
        let container = options.container_name.clone();
        // The manifest refuses startFromTime together with startFromBeginning.
        let start = match (options.start_from_time, options.start_from_beginning) {
            (Some(time), _) => ChangeFeedStart::Time(time),
            (None, true) => ChangeFeedStart::Beginning,
            (None, false) => ChangeFeedStart::Now,
        };
        Ok(Self {
            function: function.to_owned(),
            binding: binding.to_owned(),
            container,
            lease_container: options
                .lease_container_name
                .clone()
                .unwrap_or_else(|| "leases".to_owned()),
            lease_name: format!(
                "{}{function}",
                options.lease_container_prefix.clone().unwrap_or_default()
            ),
            start,
            max_items: options.max_items_per_invocation.unwrap_or(100).max(1),
            poll: options
                .feed_poll_delay
                .map_or(DEFAULT_POLL, Duration::from_millis),
        })
    }
}

/// Opens the consumer. Starting "now" pins the position with a first checkpoint, so writes
/// made after start-up are not lost if the process dies before the first batch; a first page
/// that already holds changes is returned for [`follow`] to process before anything else.
pub async fn open(
    store: Store,
    trigger: &FeedTrigger,
) -> Result<(ChangeFeedConsumer, Option<ChangeFeedPage>), StoreError> {
    let consumer = ChangeFeedConsumer::open(
        store,
        &trigger.container,
        &trigger.lease_container,
        &trigger.lease_name,
        trigger.start.clone(),
    )
    .await?
    .with_max_items(trigger.max_items);
    if consumer.checkpointed().await.is_none() && matches!(trigger.start, ChangeFeedStart::Now) {
        let page = consumer.next_page().await?;
        if !page.items.is_empty() {
            return Ok((consumer, Some(page)));
        }
        consumer.checkpoint(&page).await?;
    }
    Ok((consumer, None))
}

/// Follows the feed until `cancel`; the batch in flight completes first. `signal` must fire for
/// the trigger's container ([`WriteSignal::of_container`]).
pub async fn follow(
    consumer: ChangeFeedConsumer,
    mut pending: Option<ChangeFeedPage>,
    trigger: FeedTrigger,
    invoker: Invoker,
    dead_letters: DeadLetters,
    signal: WriteSignal,
    cancel: CancellationToken,
) {
    let mut wake = signal.subscribe();
    // Only a store that cannot notify is polled.
    let poll = (!signal.fires()).then_some(trigger.poll);
    let activity = invoker.activity().clone();
    let policy = invoker
        .manifest()
        .function(&trigger.function)
        .and_then(|f| f.retry.as_ref())
        .cloned();
    while !cancel.is_cancelled() {
        // Marked seen before reading, so a commit during the read wakes the next wait.
        wake.borrow_and_update();
        let next = match pending.take() {
            Some(page) => Ok(page),
            None => consumer.next_page().await,
        };
        let page = match next {
            Ok(page) => page,
            Err(error) => {
                tracing::error!(%error, function = %trigger.function, "cannot read the change feed");
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
        };
        if page.items.is_empty() {
            tokio::select! {
                () = cancel.cancelled() => break,
                _ = wake.changed() => {}
                () = sleep_or_never(poll) => {}
            }
            activity.woke();
            continue;
        }
        match handle(
            &page.items,
            &trigger,
            &invoker,
            &dead_letters,
            policy.as_ref(),
            &cancel,
        )
        .await
        {
            Ok(Handled::Done) => {}
            // Shut down between retries: neither checkpointed nor dead-lettered.
            Ok(Handled::Stopped) => break,
            Err(dead) => {
                tracing::error!(error = %dead, "cannot dead-letter an event; the batch will be retried");
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
        }
        if let Err(error) = consumer.checkpoint(&page).await {
            tracing::error!(%error, function = %trigger.function, "cannot checkpoint; the batch will be redelivered");
        }
    }
}

/// Invokes the function on one page with per-event isolation ([`super::isolate`]) and
/// dead-letters each document that still fails, alone, with its own error.
async fn handle(
    documents: &[Value],
    trigger: &FeedTrigger,
    invoker: &Invoker,
    dead_letters: &DeadLetters,
    policy: Option<&RetryPolicy>,
    cancel: &CancellationToken,
) -> Result<Handled, DeadLetterError> {
    let invoke = |batch: Vec<Value>, retry: Option<Value>| {
        // Documents written by a traced request carry its `traceparent`: the batch continues
        // its first document's trace (the runtime reads the same property in Azure).
        let traceparent = batch
            .iter()
            .find_map(|doc| doc.get("traceparent").and_then(Value::as_str))
            .map(str::to_owned);
        let mut envelope = Envelope::new(&trigger.function)
            .with_data(&trigger.binding, envelope::cosmos_documents(&batch));
        if let Some(retry) = retry {
            envelope = envelope.with_retry_context(retry);
        }
        async move {
            invoker
                .invoke(&trigger.function, envelope, traceparent)
                .await
                .map(|_| ())
        }
    };
    let Some(failures) = run_isolated(documents, policy, cancel, invoke).await else {
        return Ok(Handled::Stopped);
    };
    for failure in failures {
        let doc = &failure.item;
        let key = format!(
            "{}\n{}\n{}\n{}",
            trigger.function, trigger.container, doc["id"], doc["_lsn"]
        );
        dead_letters.write_once(
            &key,
            Failed {
                kind: DeadLetterKind::CosmosDb,
                source: &trigger.container,
                function: &trigger.function,
                reason: &failure.error,
                attempts: failure.attempts,
                payload: Value::Array(vec![failure.item]),
            },
        )?;
    }
    Ok(Handled::Done)
}
