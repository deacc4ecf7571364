//! System properties and TTL rules shared by the backends that must compute them themselves.

use serde_json::Value;

use super::error::{StoreError, StoreResult};
use super::model::{ContainerSpec, MAX_ITEM_BYTES};

/// Milliseconds since the Unix epoch.
pub(crate) fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// 413 when the document (as JSON) exceeds Cosmos DB's 2 MB item limit.
pub(crate) fn check_size(doc: &Value) -> StoreResult<Vec<u8>> {
    let bytes = serde_json::to_vec(doc).map_err(|e| StoreError::BadRequest(e.to_string()))?;
    if bytes.len() > MAX_ITEM_BYTES {
        return Err(StoreError::TooLarge(format!(
            "item is {} bytes; the limit is {MAX_ITEM_BYTES}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// Validates an item's own `ttl` field: absent, -1, or a positive number of seconds.
pub(crate) fn check_item_ttl(doc: &Value) -> StoreResult<()> {
    match doc.get("ttl") {
        None | Some(Value::Null) => Ok(()),
        Some(v) => match v.as_i64() {
            Some(-1) => Ok(()),
            Some(n) if n > 0 => Ok(()),
            _ => Err(StoreError::BadRequest(
                "field `ttl` must be -1 or a positive whole number of seconds".into(),
            )),
        },
    }
}

/// Seconds an item lives after its last write, or `None` for forever.
fn effective_ttl(spec: &ContainerSpec, item_ttl: Option<i64>) -> Option<i64> {
    let default = spec.default_ttl?;
    let ttl = item_ttl.unwrap_or(default);
    (ttl > 0).then_some(ttl)
}

/// When an item written at `ts` (epoch seconds) with its own `ttl` expires (ms since the Unix
/// epoch), or `None` for never.
pub(crate) fn expiry(spec: &ContainerSpec, ts: i64, item_ttl: Option<i64>) -> Option<i64> {
    let ttl = effective_ttl(spec, item_ttl)?;
    Some(ts.saturating_add(ttl).saturating_mul(1000))
}

/// When the item expires (ms since the Unix epoch), or `None` for never.
pub(crate) fn expires_at(spec: &ContainerSpec, doc: &Value) -> Option<i64> {
    let ts = doc.get("_ts").and_then(Value::as_i64).unwrap_or(0);
    expiry(spec, ts, doc.get("ttl").and_then(Value::as_i64))
}

/// True when the item has outlived its TTL at `now_ms`.
pub(crate) fn is_expired(spec: &ContainerSpec, doc: &Value, now_ms: i64) -> bool {
    expires_at(spec, doc).is_some_and(|at| now_ms >= at)
}
