//! Chats: `CreateChat` (POST /api/chat), `GetAllChatsByUserId` (GET /api/chats/user/{userId}),
//! `GetAllMessagesByChatId` (GET /api/chats/{chatId}, members only, paged), `MarkChatRead`
//! (POST /api/chats/{chatId}/read) and `SendTyping` (POST /api/chats/{chatId}/typing, pushed to
//! the other member with `sendToUser`).

use std::collections::HashMap;

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
    ChatMessage, CosmosUser, MessageCursor, UserChatSummary, UserRef, chat_page, containers,
};
use crate::app::domain::ids::{ChatId, ChatIdError};
use crate::app::domain::realtime::{RealtimeMessage, TypingEvent};
use crate::app::domain::values::{DisplayName, UserId};
use crate::app::progress::WRITE_ATTEMPTS;
use crate::app::services::AppServices;
use crate::runtime::Function;
use crate::runtime::outputs::{Outputs, WebPubSubAction, WebPubSubActions};
use crate::store::{ETag, Query, SortOrder};

/// Default and largest page of messages.
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 200;
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
    let key = pk(message.chat.id.as_str())?;
    let store = store(&services).await?;
    let stored = match store
        .create(containers::CHATS, &key, to_doc(&message)?)
        .await
    {
        Ok(doc) => doc,
        // A retried send with the same client id: answer with the first write.
        Err(e) if e.is_conflict() => store
            .read(containers::CHATS, &key, &message.id)
            .await?
            .ok_or(e)?,
        Err(e) => return Err(e.into()),
    };
    Ok(ok(without_system_properties(stored)))
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
