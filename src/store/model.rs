//! Value types shared by every backend: JSON paths, partition keys, ETags, container specs,
//! batch operations and change-feed requests, plus the item rules Cosmos DB enforces.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{StoreError, StoreResult};

/// Largest item Cosmos DB accepts, in bytes of JSON.
pub const MAX_ITEM_BYTES: usize = 2 * 1024 * 1024;
/// Longest `id` Cosmos DB accepts.
pub const MAX_ID_CHARS: usize = 255;
/// Most operations in one transactional batch.
pub const MAX_BATCH_OPS: usize = 100;

/// A path into a JSON document, written `/a/b` like a Cosmos DB partition-key path.
/// Segments are restricted to `[A-Za-z0-9_-]` so they can be quoted safely in SQL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JsonPath {
    segments: Vec<String>,
}

impl JsonPath {
    /// Parses `/a/b`; `what` names the field in the error message.
    pub fn parse_named(text: &str, what: &str) -> StoreResult<Self> {
        let rest = text.strip_prefix('/').ok_or_else(|| {
            StoreError::BadRequest(format!(
                "{what} `{text}` must start with `/` (e.g. `/userId`)"
            ))
        })?;
        let segments: Vec<String> = rest.split('/').map(str::to_owned).collect();
        for segment in &segments {
            let valid = !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                return Err(StoreError::BadRequest(format!(
                    "{what} `{text}`: segment `{segment}` must be non-empty and use only letters, digits, `_` or `-`"
                )));
            }
        }
        Ok(Self { segments })
    }

    /// Parses `/a/b` as a query path.
    pub fn parse(text: &str) -> StoreResult<Self> {
        Self::parse_named(text, "path")
    }

    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The value at this path, if every segment exists.
    pub fn get<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        self.segments
            .iter()
            .try_fold(doc, |value, segment| value.as_object()?.get(segment))
    }

    /// The path as Cosmos SQL on alias `c`: `c.chat.id`, with `c["seg"]` for segments that
    /// are not plain identifiers or are SQL keywords (the SDK's local query planner only
    /// accepts dotted paths in ORDER BY across partitions).
    pub fn to_sql(&self) -> String {
        let mut sql = String::from("c");
        for segment in &self.segments {
            if is_plain_identifier(segment) {
                sql.push('.');
                sql.push_str(segment);
            } else {
                sql.push_str("[\"");
                sql.push_str(segment);
                sql.push_str("\"]");
            }
        }
        sql
    }
}

/// Cosmos SQL keywords that cannot follow a `.` in a property path.
const SQL_KEYWORDS: &[&str] = &[
    "and",
    "array",
    "as",
    "asc",
    "between",
    "by",
    "case",
    "cast",
    "convert",
    "cross",
    "desc",
    "distinct",
    "else",
    "end",
    "escape",
    "exists",
    "false",
    "for",
    "from",
    "group",
    "having",
    "in",
    "inner",
    "insert",
    "into",
    "is",
    "join",
    "left",
    "like",
    "limit",
    "not",
    "null",
    "offset",
    "on",
    "or",
    "order",
    "outer",
    "over",
    "right",
    "select",
    "set",
    "then",
    "top",
    "true",
    "udf",
    "undefined",
    "update",
    "value",
    "when",
    "where",
    "with",
];

fn is_plain_identifier(segment: &str) -> bool {
    let mut chars = segment.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !SQL_KEYWORDS.contains(&segment.to_ascii_lowercase().as_str())
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            write!(f, "/{segment}")?;
        }
        Ok(())
    }
}

impl TryFrom<String> for JsonPath {
    type Error = StoreError;
    fn try_from(value: String) -> StoreResult<Self> {
        Self::parse(&value)
    }
}

impl From<JsonPath> for String {
    fn from(value: JsonPath) -> Self {
        value.to_string()
    }
}

/// A partition-key value: a JSON string, number, boolean or null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct PartitionKey(Value);

impl PartitionKey {
    /// Wraps a scalar JSON value; objects and arrays are rejected.
    pub fn new(value: Value) -> StoreResult<Self> {
        match value {
            Value::Object(_) | Value::Array(_) => Err(StoreError::BadRequest(
                "partition key must be a string, number, boolean or null".into(),
            )),
            scalar => Ok(Self(scalar)),
        }
    }

    pub fn value(&self) -> &Value {
        &self.0
    }

    /// Canonical text used as the embedded backend's key (the JSON encoding).
    pub fn canonical(&self) -> String {
        canonical_scalar(&self.0)
    }
}

/// JSON text of a scalar with numbers normalised so `1` and `1.0` compare equal.
pub(crate) fn canonical_scalar(value: &Value) -> String {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

impl TryFrom<Value> for PartitionKey {
    type Error = StoreError;
    fn try_from(value: Value) -> StoreResult<Self> {
        Self::new(value)
    }
}

impl From<PartitionKey> for Value {
    fn from(value: PartitionKey) -> Self {
        value.0
    }
}

impl From<&str> for PartitionKey {
    fn from(value: &str) -> Self {
        Self(Value::String(value.to_owned()))
    }
}

impl From<String> for PartitionKey {
    fn from(value: String) -> Self {
        Self(Value::String(value))
    }
}

impl From<i64> for PartitionKey {
    fn from(value: i64) -> Self {
        Self(Value::from(value))
    }
}

/// An opaque entity tag (`_etag`) for optimistic concurrency.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ETag(pub String);

impl ETag {
    /// The `_etag` system property of a stored document.
    pub fn of(doc: &Value) -> Option<Self> {
        doc.get("_etag")
            .and_then(Value::as_str)
            .map(|s| Self(s.to_owned()))
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What `ensure_container` creates: a name, a partition-key path and the default TTL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub name: String,
    pub partition_key_path: JsonPath,
    /// `None`: TTL off (item `ttl` ignored). `Some(-1)`: on, items live until their own `ttl`.
    /// `Some(n)`, n > 0: items expire n seconds after their last write unless their `ttl` says otherwise.
    pub default_ttl: Option<i64>,
}

impl ContainerSpec {
    /// A container without TTL. Panics never: bad paths surface from [`ContainerSpec::parse`].
    pub fn parse(name: &str, partition_key_path: &str) -> StoreResult<Self> {
        validate_container_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            partition_key_path: JsonPath::parse_named(partition_key_path, "partition key path")?,
            default_ttl: None,
        })
    }

    pub fn with_default_ttl(mut self, ttl: i64) -> StoreResult<Self> {
        if ttl == 0 || ttl < -1 {
            return Err(StoreError::BadRequest(format!(
                "default_ttl {ttl} must be -1 or a positive number of seconds"
            )));
        }
        self.default_ttl = Some(ttl);
        Ok(self)
    }

    /// The partition-key value of `doc`, or a 400 naming the path.
    pub fn partition_key_of(&self, doc: &Value) -> StoreResult<PartitionKey> {
        let value = self.partition_key_path.get(doc).ok_or_else(|| {
            StoreError::BadRequest(format!(
                "document has no partition key at `{}`",
                self.partition_key_path
            ))
        })?;
        PartitionKey::new(value.clone())
    }
}

/// Container names: 1–255 chars, none of `/ \ ? #`.
pub fn validate_container_name(name: &str) -> StoreResult<()> {
    if name.is_empty() || name.chars().count() > MAX_ID_CHARS {
        return Err(StoreError::BadRequest(format!(
            "container name `{name}` must be 1 to {MAX_ID_CHARS} characters"
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '/' | '\\' | '?' | '#') || c.is_control())
    {
        return Err(StoreError::BadRequest(format!(
            "container name `{name}` contains the invalid character {c:?}"
        )));
    }
    Ok(())
}

/// Item ids: 1–255 chars, none of `/ \ ? #` (Cosmos DB cannot address them).
pub fn validate_id(id: &str) -> StoreResult<()> {
    if id.is_empty() {
        return Err(StoreError::BadRequest(
            "field `id` must not be empty".into(),
        ));
    }
    if id.chars().count() > MAX_ID_CHARS {
        return Err(StoreError::BadRequest(format!(
            "field `id` is longer than {MAX_ID_CHARS} characters"
        )));
    }
    if let Some(c) = id.chars().find(|c| matches!(c, '/' | '\\' | '?' | '#')) {
        return Err(StoreError::BadRequest(format!(
            "field `id` contains the invalid character {c:?} (`/`, `\\`, `?` and `#` are not allowed)"
        )));
    }
    Ok(())
}

/// The `id` of a document to write, validated.
pub fn id_of(doc: &Value) -> StoreResult<&str> {
    if !doc.is_object() {
        return Err(StoreError::BadRequest(
            "document must be a JSON object".into(),
        ));
    }
    let id = doc
        .get("id")
        .ok_or_else(|| StoreError::BadRequest("document has no field `id`".into()))?
        .as_str()
        .ok_or_else(|| StoreError::BadRequest("field `id` must be a string".into()))?;
    validate_id(id)?;
    Ok(id)
}

/// Checks a document against the partition key it is written under.
pub fn check_partition_key(
    spec: &ContainerSpec,
    pk: &PartitionKey,
    doc: &Value,
) -> StoreResult<()> {
    let actual = spec.partition_key_of(doc)?;
    if actual.canonical() != pk.canonical() {
        return Err(StoreError::BadRequest(format!(
            "partition key {} given for the request does not match {} at `{}` in the document",
            pk.canonical(),
            actual.canonical(),
            spec.partition_key_path
        )));
    }
    Ok(())
}

/// One operation of a transactional batch.
#[derive(Debug, Clone)]
pub enum BatchOp {
    Create(Value),
    Upsert(Value),
    Replace { doc: Value, if_match: Option<ETag> },
    Delete { id: String, if_match: Option<ETag> },
    Read { id: String },
}

/// The outcome of one batch operation: its HTTP status and, for writes and reads, the item.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOpResult {
    pub status: u16,
    pub item: Option<Value>,
}

/// The outcome of a batch: every operation succeeded and was committed, or none was.
/// A failed batch has one failing status and 424 (failed dependency) for the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchResponse {
    pub results: Vec<BatchOpResult>,
}

impl BatchResponse {
    pub fn is_success(&self) -> bool {
        self.results.iter().all(|r| r.status < 400)
    }

    /// A batch of `len` operations none of which ran because another one failed (424 each).
    pub fn failed_dependency(len: usize) -> Self {
        Self {
            results: (0..len)
                .map(|_| BatchOpResult {
                    status: 424,
                    item: None,
                })
                .collect(),
        }
    }

    /// The first failed operation, as `(index, status)`.
    pub fn failure(&self) -> Option<(usize, u16)> {
        self.results
            .iter()
            .position(|r| r.status >= 400 && r.status != 424)
            .map(|i| (i, self.results[i].status))
    }
}

/// Where a change-feed read starts when there is no continuation.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeFeedStart {
    /// Every item's latest version.
    Beginning,
    /// Only changes made after this read.
    Now,
    /// Changes made at or after this time.
    Time(DateTime<Utc>),
    /// Resume after the page that returned this continuation.
    Continuation(String),
}

/// One change-feed read.
#[derive(Debug, Clone)]
pub struct ChangeFeedRequest {
    pub start: ChangeFeedStart,
    /// Only this logical partition, or the whole container.
    pub partition_key: Option<PartitionKey>,
    /// Most items in the page (at least 1).
    pub max_items: u32,
}

impl ChangeFeedRequest {
    pub fn new(start: ChangeFeedStart) -> Self {
        Self {
            start,
            partition_key: None,
            max_items: 100,
        }
    }
    pub fn partition(mut self, pk: PartitionKey) -> Self {
        self.partition_key = Some(pk);
        self
    }
    pub fn max_items(mut self, max: u32) -> Self {
        self.max_items = max;
        self
    }
}

/// A page of changes (latest version of each changed item, ordered within a partition key)
/// and the continuation that resumes after it. An empty page means "nothing new yet".
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeFeedPage {
    pub items: Vec<Value>,
    pub continuation: String,
}

/// The changes a change-feed read would still return, counted by the store from its change-feed
/// index without reading the documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeFeedBacklog {
    /// Items whose latest change comes after the start (an item expired but not yet purged
    /// still counts).
    pub pending: u64,
    /// When the oldest of them was written.
    pub oldest: Option<DateTime<Utc>>,
}

/// A [`ChangeFeedPage`] whose items are left as their stored JSON text, for a reader that
/// decodes them straight into its own types (see `DocumentStore::read_change_feed_raw`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawChangeFeedPage {
    pub items: RawDocs,
    pub continuation: String,
}

/// JSON documents as text, back to back in one buffer (one allocation for a whole page).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawDocs {
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl RawDocs {
    /// Appends one document's JSON text.
    pub fn push(&mut self, doc: &[u8]) {
        self.text.extend_from_slice(doc);
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Each document's JSON text, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let doc = &self.text[start..end];
            start = end;
            doc
        })
    }
}
