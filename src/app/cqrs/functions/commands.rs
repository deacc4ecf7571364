//! The seed's command/query API, kept literally (cqrs-original.md §2) and made to work:
//!
//! - `CommandInsert` — `POST /api/command/insert` with `{"Data": …}` (signed in): stores the
//!   command in `Commands` and answers **202 Accepted** with `Location: /api/query/get?id=<id>`.
//!   An `Idempotency-Key` header makes a retry answer the same id without a second write.
//! - `QueryGet` — `GET /api/query/get?id=<id>` (signed in, own records): the projected record
//!   with its version, or 404 with a JSON body while it is not projected yet.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::ApiError;
use crate::app::cqrs::ReadSide;
use crate::app::cqrs::event::COMMANDS;
use crate::app::cqrs::layout::{Pointer, READ_MODELS, body, partition};
use crate::app::cqrs::model::{CommandDocument, Model, RecordDoc};
use crate::app::domain::auth::Route;
use crate::runtime::{ClientPrincipal, Function};
use crate::store::PartitionKey;
use crate::store::model::validate_id;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 128;
const IDEMPOTENCY_HEADER: &str = "idempotency-key";

const COMMAND_NAMESPACE: Uuid = Uuid::from_u128(0x8f3e_1c55_2a60_4d7b_a1c9_0e6f_3b28_d417);

pub fn insert(read_side: ReadSide) -> Function {
    Function::http(
        "CommandInsert",
        &["POST"],
        "command/insert",
        move |principal: ClientPrincipal, headers: HeaderMap, bytes: Bytes| {
            let read_side = read_side.clone();
            async move {
                match insert_command(&read_side, &principal, &headers, &bytes).await {
                    Ok(response) => response,
                    Err(error) => error.into_response(),
                }
            }
        },
    )
}

pub fn query_get(read_side: ReadSide) -> Function {
    Function::http(
        "QueryGet",
        &["GET"],
        "query/get",
        move |principal: ClientPrincipal, Query(query): Query<HashMap<String, String>>| {
            let read_side = read_side.clone();
            async move {
                match get_record(&read_side, &principal, query.get("id")).await {
                    Ok(response) => response,
                    Err(error) => error.into_response(),
                }
            }
        },
    )
}

/// The `Data` value of an insert body (`{"Data": …}`; the key is matched case-insensitively,
/// as ASP.NET model binding did for the original).
pub(crate) fn parse_insert_body(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than {MAX_BODY_BYTES} bytes"),
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "body",
            "request body is required: {\"Data\": …}",
        ));
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("body", format!("request body is not JSON: {e}")))?;
    let Value::Object(mut object) = value else {
        return Err(ApiError::bad_request(
            "body",
            "request body must be a JSON object {\"Data\": …}",
        ));
    };
    let key = if object.contains_key("Data") {
        Some("Data".to_owned())
    } else {
        object
            .keys()
            .find(|k| k.eq_ignore_ascii_case("data"))
            .cloned()
    };
    let data = key
        .and_then(|k| object.remove(&k))
        .ok_or_else(|| ApiError::bad_request("Data", "field `Data` is required"))?;
    match &data {
        Value::Null => Err(ApiError::bad_request(
            "Data",
            "field `Data` must not be null",
        )),
        Value::String(s) if s.trim().is_empty() => Err(ApiError::bad_request(
            "Data",
            "field `Data` must not be empty",
        )),
        _ => Ok(data),
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(
            "Idempotency-Key",
            format!(
                "header `Idempotency-Key` must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
            ),
        )
    };
    let text = value.to_str().map_err(|_| bad())?.trim();
    if text.is_empty()
        || text.len() > MAX_IDEMPOTENCY_KEY
        || !text.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(bad());
    }
    Ok(Some(text.to_owned()))
}

fn accepted(id: &str) -> Response {
    let location = format!("/api/query/get?id={id}");
    let mut response = (
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "status": "accepted", "location": location})),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

async fn insert_command(
    read_side: &ReadSide,
    principal: &ClientPrincipal,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    super::authorize(principal, Route::CommandInsert)?;
    let data = parse_insert_body(bytes)?;
    let key = idempotency_key(headers)?;
    let body_hash = Uuid::new_v5(&COMMAND_NAMESPACE, data.to_string().as_bytes())
        .simple()
        .to_string();
    let id = match &key {
        Some(key) => Uuid::new_v5(
            &COMMAND_NAMESPACE,
            format!("{}\n{key}", principal.user_id).as_bytes(),
        ),
        None => Uuid::new_v4(),
    }
    .simple()
    .to_string();
    let command = CommandDocument {
        id: id.clone(),
        data,
        user_id: Some(principal.user_id.clone()),
        created_at: Some(read_side.now().timestamp()),
        idempotency_key: key.clone(),
        body_hash: Some(body_hash.clone()),
    };
    let store = read_side.store().await.map_err(ApiError::internal)?;
    let pk = PartitionKey::from(id.as_str());
    let mut doc = serde_json::to_value(&command).map_err(ApiError::internal)?;
    // The change-feed relay continues this request's trace from the document.
    crate::runtime::telemetry::stamp(&mut doc);
    match store.create(COMMANDS, &pk, doc).await {
        Ok(_) => {
            tracing::info!(command = %id, "command accepted");
            Ok(accepted(&id))
        }
        Err(e) if e.is_conflict() => {
            let existing = store
                .read(COMMANDS, &pk, &id)
                .await
                .map_err(ApiError::internal)?
                .and_then(|d| serde_json::from_value::<CommandDocument>(d).ok());
            match existing {
                Some(existing) if existing.body_hash.as_deref() == Some(body_hash.as_str()) => {
                    Ok(accepted(&id))
                }
                _ => Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "`Idempotency-Key` was already used with a different body",
                )),
            }
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}

async fn get_record(
    read_side: &ReadSide,
    principal: &ClientPrincipal,
    id: Option<&String>,
) -> Result<Response, ApiError> {
    super::authorize(principal, Route::QueryGet)?;
    let id = id
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("id", "query parameter `id` is required"))?;
    validate_id(id).map_err(|e| ApiError::bad_request("id", format!("query parameter {e}")))?;
    let store = read_side.store().await.map_err(ApiError::internal)?;
    let generation = Pointer::load(store)
        .await
        .map_err(ApiError::internal)?
        .of(Model::Records)
        .active;
    let pk = partition(Model::Records, generation, id);
    let record = store
        .read(READ_MODELS, &PartitionKey::from(pk.as_str()), id)
        .await
        .map_err(ApiError::internal)?
        .map(|d| serde_json::from_value::<RecordDoc>(body(&d)))
        .transpose()
        .map_err(ApiError::internal)?
        .filter(|r| r.owner.as_deref().is_none_or(|o| o == principal.user_id));
    if let Some(record) = record {
        let created = chrono::DateTime::from_timestamp(record.created_at, 0);
        return Ok(Json(json!({
            "id": record.record_id,
            "data": record.data,
            "version": record.version,
            "createdAt": created,
        }))
        .into_response());
    }
    let pending = store
        .read(COMMANDS, &PartitionKey::from(id), id)
        .await
        .map_err(ApiError::internal)?
        .and_then(|d| serde_json::from_value::<CommandDocument>(d).ok())
        .is_some_and(|c| c.user_id.as_deref().is_none_or(|o| o == principal.user_id));
    let mut body = Map::new();
    body.insert("id".into(), Value::from(id));
    if pending {
        body.insert(
            "error".into(),
            Value::from(format!(
                "record `{id}` is accepted but not projected yet; retry shortly"
            )),
        );
        body.insert("status".into(), Value::from("pending"));
    } else {
        body.insert(
            "error".into(),
            Value::from(format!("record `{id}` not found")),
        );
        body.insert("status".into(), Value::from("notFound"));
    }
    let mut response = (StatusCode::NOT_FOUND, Json(Value::Object(body))).into_response();
    if pending {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    Ok(response)
}
