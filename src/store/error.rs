//! The store's error type, with one variant per Cosmos DB status code the app cares about.

use thiserror::Error;

/// Errors returned by every [`DocumentStore`](super::DocumentStore) backend.
#[derive(Debug, Error)]
pub enum StoreError {
    /// 404: the container or item does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// 409: an item with this id already exists in the partition.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 412: the `if-match` ETag does not match the stored item.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// 400: the request is invalid; the message names the offending field.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 413: the item is larger than Cosmos DB's 2 MB limit.
    #[error("request entity too large: {0}")]
    TooLarge(String),
    /// 429: the backend throttled the request after its own retries.
    #[error("throttled: {0}")]
    Throttled(String),
    /// 503: the backend is unavailable.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Anything else (I/O, engine, unexpected status).
    #[error("store error: {0}")]
    Other(String),
}

impl StoreError {
    /// The Cosmos DB HTTP status code this error corresponds to.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::PreconditionFailed(_) => 412,
            Self::BadRequest(_) => 400,
            Self::TooLarge(_) => 413,
            Self::Throttled(_) => 429,
            Self::Unavailable(_) => 503,
            Self::Other(_) => 500,
        }
    }

    /// Builds the variant for a Cosmos DB status code.
    pub fn from_status(status: u16, message: impl Into<String>) -> Self {
        let message = message.into();
        match status {
            404 => Self::NotFound(message),
            409 => Self::Conflict(message),
            412 => Self::PreconditionFailed(message),
            400 => Self::BadRequest(message),
            413 => Self::TooLarge(message),
            429 => Self::Throttled(message),
            503 => Self::Unavailable(message),
            _ => Self::Other(message),
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound(_))
    }
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict(_))
    }
    pub fn is_precondition_failed(&self) -> bool {
        matches!(self, Self::PreconditionFailed(_))
    }
    pub fn is_bad_request(&self) -> bool {
        matches!(self, Self::BadRequest(_))
    }
    pub fn is_too_large(&self) -> bool {
        matches!(self, Self::TooLarge(_))
    }
    pub fn is_throttled(&self) -> bool {
        matches!(self, Self::Throttled(_))
    }
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Result alias used throughout the store.
pub type StoreResult<T> = Result<T, StoreError>;
