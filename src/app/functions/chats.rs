//! Chats: `CreateChat` (POST /api/chat, numbered in its chat: see [`ChatSequence`]), `GetAllChatsByUserId` (GET /api/chats/user/{userId}),
//! `GetAllMessagesByChatId` (GET /api/chats/{chatId}, members only, paged), `MarkChatRead`
//! (POST /api/chats/{chatId}/read) and `SendTyping` (POST /api/chats/{chatId}/typing, pushed to
//! the other member with `sendToUser`).

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query as QueryParams};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::api::{
    ApiError, ApiResult, Caller, json_body, ok, parse_docs, path_user_id, pk, read_body, read_doc,
    store, to_doc,
};
use super::users::without_system_properties;
use crate::app::domain::auth::{self, Route};
use crate::app::domain::commands::SendMessage;
use crate::app::domain::documents::{
    ChatMessage, ChatSequence, CosmosUser, MessageCursor, UserChatSummary, UserRef, chat_page,
    containers,
};
use crate::app::domain::ids::{ChatId, ChatIdError};
use crate::app::domain::realtime::{RealtimeMessage, TypingEvent};
use crate::app::domain::values::{DisplayName, UserId};
use crate::app::progress::WRITE_ATTEMPTS;
use crate::app::services::AppServices;
use crate::runtime::Function;
use crate::runtime::outputs::{Outputs, WebPubSubAction, WebPubSubActions};
use crate::store::{BatchOp, ETag, Query, SortOrder, StoreError};

/// Default and largest page of messages.
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 200;
/// Tries at numbering a message before giving up (each lost race means another message of the
/// same chat got its number first, so this bounds the burst a chat absorbs at once).
const SEQUENCE_ATTEMPTS: usize = 24;
/// Header carrying the `before` cursor of the next (older) page.
pub const NEXT_PAGE_HEADER: &str = "x-next-before";

pub fn create_chat(services: &AppServices) -> Function {
    let services = services.clone();
    Function::http(
        "CreateChat",
        &["POST"],
        "chat",
        move |caller: Caller, body: Body| send_message(services.clone(), caller, body),
    )
}

pub fn get_all_chats_by_user_id(services: &AppServices) -> Function {
    let services = services.clone();
    Function::http(
        "GetAllChatsByUserId",
        &["GET"],
        "chats/user/{userId}",
        move |caller: Caller, Path(user_id): Path<String>| {
            chat_summaries(services.clone(), caller, user_id)
        },
    )
}

pub fn get_all_messages_by_chat_id(services: &AppServices) -> Function {
    let services = services.clone();
    Function::http(
        "GetAllMessagesByChatId",
        &["GET"],
        "chats/{chatId}",
        move |caller: Caller,
              Path(chat_id): Path<String>,
              QueryParams(params): QueryParams<HashMap<String, String>>| {
            messages(services.clone(), caller, chat_id, params)
        },
    )
}

pub fn mark_chat_read(services: &AppServices) -> Function {
    let services = services.clone();
    Function::http(
        "MarkChatRead",
        &["POST"],
        "chats/{chatId}/read",
        move |caller: Caller, Path(chat_id): Path<String>, body: Body| {
            mark_read(services.clone(), caller, chat_id, body)
        },
    )
}

pub fn send_typing(services: &AppServices) -> Function {
    let services = services.clone();
    Function::http(
        "SendTyping",
        &["POST"],
        "chats/{chatId}/typing",
        move |caller: Caller, Path(chat_id): Path<String>, body: Body| {
            typing(services.clone(), caller, chat_id, body)
        },
    )
    .output::<WebPubSubActions>("actions")
}

async fn profile(services: &AppServices, id: &UserId) -> ApiResult<Option<CosmosUser>> {
    Ok(read_doc(
        store(services).await?,
        containers::USERS,
        id.as_str(),
        id.as_str(),
    )
    .await?)
}

async fn send_message(services: AppServices, caller: Caller, body: Body) -> ApiResult<Response> {
    caller.authorize(Route::CreateChat, None)?;
    let body = json_body(body).await?;
    let command = SendMessage::parse(&body)?;
    let principal = caller.require_self(command.claimed_sender.as_ref())?;
    if command.to_user_id == principal.user_id {
        return Err(ApiError::bad_request(
            "toUserId",
            ChatIdError::SelfChat.to_string(),
        ));
    }
    let recipient = profile(&services, &command.to_user_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("toUserId", format!("no user {}", command.to_user_id))
        })?;
    let sender_name = match profile(&services, &principal.user_id).await? {
        Some(me) => me.name,
        None => DisplayName::parse(&principal.user_details)
            .or_else(|_| DisplayName::parse(principal.user_id.as_str()))?,
    };
    let message = ChatMessage::new(
        command.message_id(&principal.user_id),
        UserRef {
            id: principal.user_id.clone(),
            name: sender_name,
        },
        UserRef {
            id: recipient.id,
            name: recipient.name,
        },
        command.content,
        services.now(),
    )
    .map_err(|e| ApiError::bad_request("toUserId", e.to_string()))?;
    let stored = store_numbered(&services, message).await?;
    Ok(ok(without_system_properties(stored)))
}

/// Stores `message` with the next number of its chat: the message and the chat's
/// [`ChatSequence`] counter are written in one transactional batch, the counter under its ETag,
/// so two senders never share a number and a number is never skipped. A retried send (same
/// message id) answers with the first write and its number.
async fn store_numbered(
    services: &AppServices,
    message: ChatMessage,
) -> ApiResult<serde_json::Value> {
    let key = pk(message.chat.id.as_str())?;
    let store = store(services).await?;
    for attempt in 0..SEQUENCE_ATTEMPTS {
        if attempt > 0 {
            // Senders that lost the race spread out instead of colliding again.
            let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0] % 8);
            tokio::time::sleep(Duration::from_millis(attempt as u64 * 2 + jitter)).await;
        }
        if let Some(first) = store.read(containers::CHATS, &key, &message.id).await? {
            return Ok(first);
        }
        let counter_doc = store
            .read(containers::CHATS, &key, ChatSequence::ID)
            .await?;
        let counter = match &counter_doc {
            Some(doc) => serde_json::from_value::<ChatSequence>(doc.clone()).map_err(|e| {
                ApiError::Store(StoreError::Other(format!(
                    "the sequence of chat {} is unreadable: {e}",
                    message.chat.id
                )))
            })?,
            None => ChatSequence::start(message.chat.id.clone()),
        };
        let next = counter.next();
        let numbered = message.clone().numbered(next.last);
        let counter_op = match counter_doc.as_ref() {
            Some(doc) => BatchOp::Replace {
                doc: to_doc(&next)?,
                if_match: ETag::of(doc),
            },
            None => BatchOp::Create(to_doc(&next)?),
        };
        // `to_doc` stamps the request's trace: the change-feed relay continues it.
        let ops = vec![BatchOp::Create(to_doc(&numbered)?), counter_op];
        let response = store.batch(containers::CHATS, &key, ops).await?;
        match response.failure() {
            None => {
                return Ok(response
                    .results
                    .into_iter()
                    .next()
                    .and_then(|r| r.item)
                    .map_or_else(|| to_doc(&numbered), Ok)?);
            }
            // 409 on the message: a retry raced its first write (read it next time round);
            // 409 / 412 on the counter: another message took the number.
            Some((_, 409 | 412)) => continue,
            Some((index, status)) => {
                return Err(StoreError::from_status(
                    status,
                    format!("storing the message failed at batch operation {index}"),
                )
                .into());
            }
        }
    }
    Err(ApiError::Store(StoreError::PreconditionFailed(
        "the chat kept changing while the message was numbered; send it again".to_owned(),
    )))
}

async fn chat_summaries(
    services: AppServices,
    caller: Caller,
    raw_id: String,
) -> ApiResult<Response> {
    let user_id = path_user_id(&raw_id)?;
    caller.authorize(Route::GetChatsByUserId, Some(&user_id))?;
    let query = Query::new().order_by("/lastMessageTimestamp", SortOrder::Desc);
    let docs = store(&services)
        .await?
        .query(containers::USER_CHATS, Some(&pk(user_id.as_str())?), &query)
        .await?;
    let summaries: Vec<UserChatSummary> = parse_docs(containers::USER_CHATS, docs);
    Ok(ok(summaries))
}

fn page_limit(params: &HashMap<String, String>) -> ApiResult<usize> {
    let Some(raw) = params.get("limit") else {
        return Ok(DEFAULT_PAGE);
    };
    match raw.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(
            "limit",
            format!("limit must be a whole number from 1 to {MAX_PAGE} (got {raw:?})"),
        )),
    }
}

async fn messages(
    services: AppServices,
    caller: Caller,
    raw_id: String,
    params: HashMap<String, String>,
) -> ApiResult<Response> {
    caller.authorize(Route::GetMessagesByChatId, None)?;
    let chat_id = ChatId::parse(&raw_id)?;
    let limit = page_limit(&params)?;
    let before = params
        .get("before")
        .map(|raw| MessageCursor::parse(raw))
        .transpose()?;
    let docs = store(&services)
        .await?
        .query(
            containers::CHATS,
            Some(&pk(chat_id.as_str())?),
            &Query::new(),
        )
        .await?;
    let docs = docs
        .into_iter()
        .filter(|doc| !ChatSequence::is_counter(doc))
        .collect();
    let all: Vec<ChatMessage> = parse_docs(containers::CHATS, docs);
    // A chat between two others answers exactly like a pair that never chatted.
    let principal = caller.principal()?;
    let all = match all.first() {
        Some(first) if !auth::can_read_chat(principal, first.participants()) => Vec::new(),
        _ => all,
    };
    let (page, next) = chat_page(all, before.as_ref(), limit);
    let mut response = ok(page);
    if let Some(cursor) = next
        && let Ok(value) = HeaderValue::from_str(&cursor.to_string())
    {
        response.headers_mut().insert(NEXT_PAGE_HEADER, value);
    }
    Ok(response)
}

async fn my_summary(
    services: &AppServices,
    owner: &UserId,
    chat_id: &ChatId,
) -> ApiResult<(UserChatSummary, Option<ETag>)> {
    let store = store(services).await?;
    let doc = store
        .read(
            containers::USER_CHATS,
            &pk(owner.as_str())?,
            chat_id.as_str(),
        )
        .await?
        .ok_or_else(|| ApiError::not_found("chatId", format!("you have no chat {chat_id}")))?;
    let etag = ETag::of(&doc);
    let summary = serde_json::from_value(doc).map_err(|e| {
        ApiError::Store(crate::store::StoreError::Other(format!(
            "stored chat summary is unreadable: {e}"
        )))
    })?;
    Ok((summary, etag))
}

async fn mark_read(
    services: AppServices,
    caller: Caller,
    raw_id: String,
    body: Body,
) -> ApiResult<Response> {
    caller.authorize(Route::MarkChatRead, None)?;
    read_body(body).await?;
    let chat_id = ChatId::parse(&raw_id)?;
    let owner = caller.principal()?.user_id.clone();
    let store = store(&services).await?;
    for _ in 0..WRITE_ATTEMPTS {
        let (mut summary, etag) = my_summary(&services, &owner, &chat_id).await?;
        let before = summary.clone();
        summary.mark_read_at(services.now());
        if summary == before {
            return Ok(ok(summary));
        }
        match store
            .replace(
                containers::USER_CHATS,
                &pk(owner.as_str())?,
                to_doc(&summary)?,
                etag.as_ref(),
            )
            .await
        {
            Ok(_) => return Ok(ok(summary)),
            Err(e) if e.is_precondition_failed() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Store(
        crate::store::StoreError::PreconditionFailed(
            "the chat summary kept changing; try again".to_owned(),
        ),
    ))
}

async fn typing(
    services: AppServices,
    caller: Caller,
    raw_id: String,
    body: Body,
) -> ApiResult<Response> {
    caller.authorize(Route::SendTyping, None)?;
    read_body(body).await?;
    let chat_id = ChatId::parse(&raw_id)?;
    let principal = caller.principal()?;
    let (summary, _) = my_summary(&services, &principal.user_id, &chat_id).await?;
    let my_name = match profile(&services, &principal.user_id).await? {
        Some(me) => me.name,
        None => DisplayName::parse(principal.user_id.as_str())?,
    };
    let event = RealtimeMessage::TypingEvent(TypingEvent::new(
        chat_id,
        principal.user_id.clone(),
        &my_name,
    ));
    let action = WebPubSubAction::send_to_user_json(summary.to_user_id.as_str(), &event)
        .map_err(|e| ApiError::Store(crate::store::StoreError::Other(e.to_string())))?;
    let mut response = StatusCode::ACCEPTED.into_response();
    response
        .extensions_mut()
        .insert(Outputs::new().set("actions", WebPubSubActions(vec![action])));
    Ok(response)
}
