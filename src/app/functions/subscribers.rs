//! Event Grid subscribers. Each accepts its event's clean type name and the original's name,
//! ignores other types, acknowledges (and logs) events whose data is unusable — redelivery
//! cannot fix them — and is idempotent: duplicates and reordering leave the same state.
//!
//! - `UserCreated`: a player joined → `UserCreatedEvent` to everyone (coarse position).
//! - `UserChatsCreate`: a message → both participants' chat summaries (ETag-guarded).
//! - `MessageSentPush`: a message → `MessageSentEvent` to both participants.
//! - `TaskGreetingValidator`: a greeting → proof recorded, matching task completed and awarded.
//! - `UserChatsPush`: a summary changed → `ChatsBarUpdatedEvent` to its owner.
//! - `TaskCompletedAward`: a task completed → award (once) and `TaskCompletedEvent` to its owner.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::app::domain::documents::{
    ChatMessage, CosmosUser, Greeting, UserChatSummary, UserTask, containers,
};
use crate::app::domain::event_kind::EventKind;
use crate::app::domain::ids::TaskId;
use crate::app::domain::realtime::{
    ChatsBarUpdatedEvent, MessageSentEvent, RealtimeMessage, TaskCompletedEvent, UserCreatedEvent,
};
use crate::app::domain::round::Round;
use crate::app::progress::{self, WRITE_ATTEMPTS};
use crate::app::services::AppServices;
use crate::app::store_io::to_doc;
use crate::runtime::outputs::{Outputs, WebPubSubAction, WebPubSubActions};
use crate::runtime::triggers::EventGridEvent;
use crate::runtime::{Context, Function, FunctionError};
use crate::store::{ETag, PartitionKey};

/// The data of `event` when it is of `kind`; `None` (logged) otherwise.
fn accept<T: DeserializeOwned>(event: &EventGridEvent, kind: EventKind) -> Option<T> {
    match EventKind::parse(event.event_type()) {
        Ok(k) if k == kind => {}
        _ => {
            tracing::info!(
                event_type = event.event_type(),
                id = event.id(),
                "ignored an event of another type"
            );
            return None;
        }
    }
    match event.data_as() {
        Ok(data) => Some(data),
        Err(error) => {
            tracing::warn!(id = event.id(), %error, "acknowledged an event whose data is unusable");
            None
        }
    }
}

/// An Event Grid subscriber `name` that hands the data of events of `kind` to `handle` and
/// acknowledges every other event (see [`accept`]).
fn subscriber<T, F, Fut>(name: &str, kind: EventKind, handle: F) -> Function
where
    T: DeserializeOwned + Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Outputs, FunctionError>> + Send + 'static,
{
    let handle = Arc::new(handle);
    Function::trigger(name, "event", move |event: EventGridEvent, _: Context| {
        let handle = Arc::clone(&handle);
        async move {
            match accept::<T>(&event, kind) {
                Some(data) => handle(data).await,
                None => Ok(Outputs::new()),
            }
        }
    })
}

fn push(actions: Vec<WebPubSubAction>) -> Outputs {
    Outputs::new().set("actions", WebPubSubActions(actions))
}

fn to_user(user: &str, message: &RealtimeMessage) -> Result<WebPubSubAction, FunctionError> {
    Ok(WebPubSubAction::send_to_user_json(user, message)?)
}

fn key(value: &str) -> Result<PartitionKey, FunctionError> {
    Ok(PartitionKey::new(Value::String(value.to_owned()))?)
}

pub fn user_created() -> Function {
    subscriber(
        "UserCreated",
        EventKind::UserUpserted,
        |user: CosmosUser| async move {
            let Some(payload) = UserCreatedEvent::from_user(&user) else {
                return Ok(Outputs::new());
            };
            let message = RealtimeMessage::UserCreatedEvent(payload);
            Ok(push(vec![WebPubSubAction::send_to_all_json(&message)?]))
        },
    )
    .output::<WebPubSubActions>("actions")
}

pub fn message_sent_push() -> Function {
    subscriber(
        "MessageSentPush",
        EventKind::ChatMessageSent,
        |message: ChatMessage| async move {
            let payload =
                RealtimeMessage::MessageSentEvent(MessageSentEvent::from_message(&message));
            let mut members: Vec<&str> = message.participants().map(|p| p.as_str()).collect();
            members.sort_unstable();
            members.dedup();
            let actions = members
                .into_iter()
                .map(|member| to_user(member, &payload))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(push(actions))
        },
    )
    .output::<WebPubSubActions>("actions")
}

pub fn user_chats_push() -> Function {
    subscriber(
        "UserChatsPush",
        EventKind::UserChatsUpdated,
        |summary: UserChatSummary| async move {
            let payload =
                RealtimeMessage::ChatsBarUpdatedEvent(ChatsBarUpdatedEvent::from_summary(&summary));
            Ok(push(vec![to_user(summary.user_id.as_str(), &payload)?]))
        },
    )
    .output::<WebPubSubActions>("actions")
}

pub fn user_chats_create(services: &AppServices) -> Function {
    let services = services.clone();
    subscriber(
        "UserChatsCreate",
        EventKind::ChatMessageSent,
        move |message: ChatMessage| {
            let services = services.clone();
            async move {
                let owners: Vec<_> = message.participants().cloned().collect();
                for owner in owners {
                    apply_to_summary(&services, &owner, &message).await?;
                }
                Ok(Outputs::new())
            }
        },
    )
}

/// Applies `message` to `owner`'s summary: create when absent, ETag-guarded replace when
/// present, nothing when the summary already reflects it.
async fn apply_to_summary(
    services: &AppServices,
    owner: &crate::app::domain::values::UserId,
    message: &ChatMessage,
) -> Result<(), FunctionError> {
    let store = services.store().await?;
    let partition = key(owner.as_str())?;
    for _ in 0..WRITE_ATTEMPTS {
        let doc = store
            .read(containers::USER_CHATS, &partition, message.chat.id.as_str())
            .await?;
        let etag = doc.as_ref().and_then(ETag::of);
        let current: Option<UserChatSummary> = match doc {
            Some(doc) => match serde_json::from_value(doc) {
                Ok(summary) => Some(summary),
                Err(error) => {
                    tracing::warn!(%error, "replacing an unreadable chat summary");
                    None
                }
            },
            None => None,
        };
        let Some(next) = UserChatSummary::apply(current.as_ref(), owner, message) else {
            return Ok(());
        };
        if current.as_ref() == Some(&next) {
            return Ok(());
        }
        let result = match etag {
            Some(etag) => {
                store
                    .replace(
                        containers::USER_CHATS,
                        &partition,
                        to_doc(&next)?,
                        Some(&etag),
                    )
                    .await
            }
            None => {
                store
                    .create(containers::USER_CHATS, &partition, to_doc(&next)?)
                    .await
            }
        };
        match result {
            Ok(_) => return Ok(()),
            Err(e) if e.is_precondition_failed() || e.is_conflict() || e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(FunctionError::msg(format!(
        "chat summary {} of {owner} kept changing",
        message.chat.id.as_str()
    )))
}

pub fn task_greeting_validator(services: &AppServices) -> Function {
    let services = services.clone();
    subscriber(
        "TaskGreetingValidator",
        EventKind::ChatMessageSent,
        move |message: ChatMessage| {
            let services = services.clone();
            async move {
                let Some(greeting) = Greeting::from_message(&message) else {
                    return Ok(Outputs::new());
                };
                progress::record_greeting(&services, &greeting).await?;
                // The task for this pair in the message's round has a derived id: one point read.
                let round = Round::containing(greeting.sent_at());
                let task_id = TaskId::derive(&greeting.user_id, &round.id(), &greeting.to_user_id);
                let outcome =
                    progress::recheck_task(&services, &greeting.user_id, &task_id).await?;
                tracing::info!(
                    task = task_id.as_str(),
                    found = outcome.is_some(),
                    success = outcome.as_ref().is_some_and(|o| o.success()),
                    "greeting checked"
                );
                Ok(Outputs::new())
            }
        },
    )
}

pub fn task_completed_award(services: &AppServices) -> Function {
    let services = services.clone();
    subscriber(
        "TaskCompletedAward",
        EventKind::TaskCompleted,
        move |task: UserTask| {
            let services = services.clone();
            async move {
                if !task.is_completed {
                    return Ok(Outputs::new());
                }
                progress::award(&services, &task).await?;
                let Some(payload) = TaskCompletedEvent::from_task(&task) else {
                    return Ok(Outputs::new());
                };
                let message = RealtimeMessage::TaskCompletedEvent(payload);
                Ok(push(vec![to_user(task.user_id.as_str(), &message)?]))
            }
        },
    )
    .output::<WebPubSubActions>("actions")
}
