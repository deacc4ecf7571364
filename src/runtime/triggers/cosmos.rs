//! The Cosmos DB change-feed trigger: a batch of documents, generic over the document type.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Trigger;
use crate::runtime::protocol::decode::{from_value_lenient, unwrap_json_string};
use crate::runtime::protocol::{InvocationRequest, ProtocolError, kind};

/// One change-feed batch. Extension 4.x sends the array inside two string levels, 3.x inside one;
/// both (and a bare array) are accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct CosmosDocuments<T> {
    pub documents: Vec<T>,
}

impl<T: DeserializeOwned + Send + 'static> Trigger for CosmosDocuments<T> {
    const BINDING_TYPE: &'static str = "cosmosDBTrigger";

    fn from_invocation(binding: &str, request: &InvocationRequest) -> Result<Self, ProtocolError> {
        let field = format!("Data.{binding}");
        let raw = request.data_value(binding)?;
        let items = match unwrap_json_string(raw) {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            other => {
                return Err(ProtocolError::malformed(
                    field,
                    format!("expected an array of documents, got {}", kind(&other)),
                ));
            }
        };
        let documents = items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                from_value_lenient::<T>(item)
                    .map_err(|error| ProtocolError::malformed(format!("{field}[{index}]"), error))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { documents })
    }
}
