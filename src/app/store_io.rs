//! Typed document I/O over the store: point reads that parse, query results that skip
//! documents of another shape, and serialisation for writes.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::store::{PartitionKey, Store, StoreError};

/// Reads and parses a document; a stored document that no longer parses is a server error.
pub async fn read_doc<T: DeserializeOwned>(
    store: &Store,
    container: &str,
    partition: &str,
    id: &str,
) -> Result<Option<T>, StoreError> {
    let key = PartitionKey::new(Value::String(partition.to_owned()))?;
    match store.read(container, &key, id).await? {
        Some(doc) => serde_json::from_value(doc).map(Some).map_err(|e| {
            StoreError::Other(format!(
                "stored {container} document {id} is unreadable: {e}"
            ))
        }),
        None => Ok(None),
    }
}

/// Parses query results, skipping (and logging) documents of another shape.
pub fn parse_docs<T: DeserializeOwned>(container: &str, docs: Vec<Value>) -> Vec<T> {
    docs.into_iter()
        .filter_map(|doc| match serde_json::from_value(doc) {
            Ok(parsed) => Some(parsed),
            Err(error) => {
                tracing::debug!(container, %error, "skipped a document of another shape");
                None
            }
        })
        .collect()
}

/// Serialises a document for the store. Inside a traced invocation the document carries its
/// `traceparent`, so the change-feed relay that reads it continues the trace.
pub fn to_doc<T: Serialize>(value: &T) -> Result<Value, StoreError> {
    let mut doc =
        serde_json::to_value(value).map_err(|e| StoreError::Other(format!("serialise: {e}")))?;
    crate::runtime::telemetry::stamp(&mut doc);
    Ok(doc)
}
