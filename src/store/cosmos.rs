//! The Azure Cosmos DB backend, through `azure_data_cosmos`.
//!
//! The backend takes a ready [`CosmosClient`], so production code builds one from
//! [`StoreConfig`](super::StoreConfig) while tests inject a client over the SDK's in-memory
//! emulator. Queries are the typed [`Query`] translated to parameterised Cosmos SQL. Writes ask
//! for the stored item back (content response on write) so callers see `_etag` and `_ts`.

use std::collections::HashMap;
use std::num::NonZeroU32;

use async_trait::async_trait;
use azure_data_cosmos::clients::{ContainerClient, DatabaseClient};
use azure_data_cosmos::feed::{ContinuationToken, FeedScope};
use azure_data_cosmos::models::{
    ChangeFeedItem, ContainerProperties, PartitionKey as CosmosPk, PartitionKeyValue, TimeToLive,
};
use azure_data_cosmos::options::{
    BatchDeleteOptions, BatchReplaceOptions, ChangeFeedOptions, ChangeFeedStartFrom,
    ContentResponseOnWrite, ItemWriteOptions, MaxItemCountHint, OperationOptions, Precondition,
};
use azure_data_cosmos::{CosmosClient, CosmosError, TransactionalBatch};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;
use tokio::sync::RwLock;

use super::DocumentStore;
use super::error::{StoreError, StoreResult};
use super::model::{
    BatchOp, BatchOpResult, BatchResponse, ChangeFeedPage, ChangeFeedRequest, ChangeFeedStart,
    ContainerSpec, ETag, JsonPath, MAX_BATCH_OPS, PartitionKey, check_partition_key, id_of,
    validate_container_name, validate_id,
};
use super::query::Query;

/// Maps an SDK error to the store's error by HTTP status.
pub fn map_error(err: CosmosError) -> StoreError {
    let status = u16::from(err.status().status_code());
    StoreError::from_status(status, err.to_string())
}

fn to_cosmos_pk(pk: &PartitionKey) -> StoreResult<CosmosPk> {
    let value: PartitionKeyValue = match pk.value() {
        Value::String(s) => s.clone().into(),
        Value::Bool(b) => (*b).into(),
        Value::Null => PartitionKeyValue::NULL,
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => PartitionKeyValue::try_from(n.as_f64().unwrap_or(f64::NAN)).map_err(|e| {
                StoreError::BadRequest(format!("partition key {n} is not a finite number: {e}"))
            })?,
        },
        other => {
            return Err(StoreError::BadRequest(format!(
                "partition key {other} must be a scalar"
            )));
        }
    };
    Ok(CosmosPk::from(value))
}

fn write_options(if_match: Option<&ETag>) -> ItemWriteOptions {
    let mut operation = OperationOptions::default();
    operation.content_response_on_write = Some(ContentResponseOnWrite::Enabled);
    let options = ItemWriteOptions::default().with_operation_options(operation);
    match if_match {
        Some(tag) => options.with_precondition(Precondition::if_match(tag.0.clone())),
        None => options,
    }
}

/// Cosmos DB behind the [`DocumentStore`] API; share it as an `Arc`.
pub struct CosmosStore {
    client: CosmosClient,
    database: DatabaseClient,
    database_name: String,
    create_if_not_exists: bool,
    containers: RwLock<HashMap<String, (ContainerClient, JsonPath)>>,
}

impl std::fmt::Debug for CosmosStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosmosStore")
            .field("endpoint", &self.client.endpoint().as_str())
            .field("database", &self.database_name)
            .finish()
    }
}

impl CosmosStore {
    /// Wraps a client. With `create_if_not_exists`, the database is created now (if missing)
    /// and `ensure_container` creates containers; otherwise both must already exist.
    pub async fn new(
        client: CosmosClient,
        database: &str,
        create_if_not_exists: bool,
    ) -> StoreResult<Self> {
        if create_if_not_exists {
            match client.create_database(database, None).await {
                Ok(_) => tracing::info!(database, "created Cosmos DB database"),
                Err(e) if e.status().is_conflict() => {}
                Err(e) => return Err(map_error(e)),
            }
        }
        let db = client.database_client(database.to_owned());
        Ok(Self {
            client,
            database: db,
            database_name: database.to_owned(),
            create_if_not_exists,
            containers: Default::default(),
        })
    }

    /// The SDK client, for tools that need more than the store API.
    pub fn client(&self) -> &CosmosClient {
        &self.client
    }

    /// The cached client and partition-key path of a container.
    async fn container(&self, name: &str) -> StoreResult<(ContainerClient, JsonPath)> {
        if let Some(found) = self.containers.read().await.get(name) {
            return Ok(found.clone());
        }
        validate_container_name(name)?;
        let client = self
            .database
            .container_client(name.to_owned(), None)
            .await
            .map_err(|e| {
                let err = map_error(e);
                if err.is_not_found() {
                    StoreError::NotFound(format!(
                        "container `{name}` does not exist in database `{}`",
                        self.database_name
                    ))
                } else {
                    err
                }
            })?;
        let props: ContainerProperties = client
            .read(None)
            .await
            .map_err(map_error)?
            .into_model()
            .map_err(map_error)?;
        let path = props.partition_key.paths().first().ok_or_else(|| {
            StoreError::Other(format!("container `{name}` has no partition key path"))
        })?;
        let path = JsonPath::parse_named(path, "partition key path")?;
        let entry = (client, path);
        self.containers
            .write()
            .await
            .insert(name.to_owned(), entry.clone());
        Ok(entry)
    }

    fn spec(name: &str, path: &JsonPath) -> ContainerSpec {
        ContainerSpec {
            name: name.to_owned(),
            partition_key_path: path.clone(),
            default_ttl: None,
        }
    }

    async fn write(
        &self,
        container: &str,
        pk: &PartitionKey,
        doc: Value,
        kind: WriteKind,
        if_match: Option<&ETag>,
    ) -> StoreResult<Value> {
        let (client, path) = self.container(container).await?;
        let id = id_of(&doc)?.to_owned();
        check_partition_key(&Self::spec(container, &path), pk, &doc)?;
        let key = to_cosmos_pk(pk)?;
        let options = Some(write_options(if_match));
        let response = match kind {
            WriteKind::Create => client.create_item(key, &id, &doc, options).await,
            WriteKind::Upsert => client.upsert_item(key, &id, &doc, options).await,
            WriteKind::Replace => client.replace_item(key, &id, &doc, options).await,
        }
        .map_err(map_error)?;
        response.into_model::<Value>().map_err(map_error)
    }

    /// Pages of the change feed until one has items, or every feed range answered empty.
    async fn feed_page(
        &self,
        container: &str,
        request: &ChangeFeedRequest,
    ) -> StoreResult<ChangeFeedPage> {
        let (client, _) = self.container(container).await?;
        let max = NonZeroU32::new(request.max_items)
            .ok_or_else(|| StoreError::BadRequest("max_items must be at least 1".into()))?;
        let mut options =
            ChangeFeedOptions::default().with_max_item_count(MaxItemCountHint::Limit(max));
        let start = match &request.start {
            ChangeFeedStart::Beginning => ChangeFeedStartFrom::Beginning,
            ChangeFeedStart::Now => ChangeFeedStartFrom::Now,
            ChangeFeedStart::Time(t) => {
                let nanos = i128::from(t.timestamp()) * 1_000_000_000
                    + i128::from(t.timestamp_subsec_nanos());
                let at = time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
                    .map_err(|e| StoreError::BadRequest(format!("change feed start time: {e}")))?;
                ChangeFeedStartFrom::PointInTime(at)
            }
            ChangeFeedStart::Continuation(token) => {
                options =
                    options.with_continuation_token(ContinuationToken::from_string(token.clone()));
                ChangeFeedStartFrom::Beginning
            }
        };
        let scope = match &request.partition_key {
            Some(pk) => FeedScope::partition(to_cosmos_pk(pk)?),
            None => FeedScope::full_container(),
        };
        let ranges = match &request.partition_key {
            Some(_) => 1,
            None => client
                .read_feed_ranges(None)
                .await
                .map_err(map_error)?
                .len()
                .max(1),
        };
        let mut pages = client
            .query_change_feed::<Value>(scope, start, Some(options))
            .await
            .map_err(map_error)?;
        let mut items = Vec::new();
        for _ in 0..ranges {
            let Some(page) = pages.next().await else {
                break;
            };
            let page = page.map_err(map_error)?;
            items.extend(
                page.into_items()
                    .into_iter()
                    .filter_map(|item: ChangeFeedItem<Value>| item.current().cloned()),
            );
            if !items.is_empty() {
                break;
            }
        }
        let continuation = pages
            .to_continuation_token()
            .map_err(map_error)?
            .as_str()
            .to_owned();
        Ok(ChangeFeedPage {
            items,
            continuation,
        })
    }
}

#[derive(Clone, Copy)]
enum WriteKind {
    Create,
    Upsert,
    Replace,
}

fn success_status(op: &BatchOp) -> u16 {
    match op {
        BatchOp::Create(_) => 201,
        BatchOp::Upsert(_) | BatchOp::Replace { .. } | BatchOp::Read { .. } => 200,
        BatchOp::Delete { .. } => 204,
    }
}

#[async_trait]
impl DocumentStore for CosmosStore {
    async fn ensure_container(&self, spec: &ContainerSpec) -> StoreResult<()> {
        validate_container_name(&spec.name)?;
        if self.create_if_not_exists {
            let mut props = ContainerProperties::new(
                spec.name.clone(),
                spec.partition_key_path.to_string().into(),
            );
            if let Some(ttl) = spec.default_ttl {
                props = props.with_default_ttl(match u32::try_from(ttl) {
                    Ok(seconds) => TimeToLive::Seconds(seconds),
                    Err(_) => TimeToLive::NoDefault,
                });
            }
            match self.database.create_container(props, None).await {
                Ok(_) => tracing::info!(container = %spec.name, "created Cosmos DB container"),
                Err(e) if e.status().is_conflict() => {}
                Err(e) => return Err(map_error(e)),
            }
        }
        let (_, path) = self.container(&spec.name).await?;
        if path != spec.partition_key_path {
            return Err(StoreError::BadRequest(format!(
                "container `{}` exists with partition key path `{path}`, not `{}`",
                spec.name, spec.partition_key_path
            )));
        }
        Ok(())
    }

    async fn create(&self, container: &str, pk: &PartitionKey, doc: Value) -> StoreResult<Value> {
        self.write(container, pk, doc, WriteKind::Create, None)
            .await
    }

    async fn upsert(&self, container: &str, pk: &PartitionKey, doc: Value) -> StoreResult<Value> {
        self.write(container, pk, doc, WriteKind::Upsert, None)
            .await
    }

    async fn replace(
        &self,
        container: &str,
        pk: &PartitionKey,
        doc: Value,
        if_match: Option<&ETag>,
    ) -> StoreResult<Value> {
        self.write(container, pk, doc, WriteKind::Replace, if_match)
            .await
    }

    async fn delete(
        &self,
        container: &str,
        pk: &PartitionKey,
        id: &str,
        if_match: Option<&ETag>,
    ) -> StoreResult<()> {
        let (client, _) = self.container(container).await?;
        validate_id(id)?;
        let options = if_match.map(|tag| {
            ItemWriteOptions::default().with_precondition(Precondition::if_match(tag.0.clone()))
        });
        client
            .delete_item(to_cosmos_pk(pk)?, id, options)
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn read(
        &self,
        container: &str,
        pk: &PartitionKey,
        id: &str,
    ) -> StoreResult<Option<Value>> {
        let (client, _) = self.container(container).await?;
        validate_id(id)?;
        match client.read_item(to_cosmos_pk(pk)?, id, None).await {
            Ok(response) => Ok(Some(response.into_model::<Value>().map_err(map_error)?)),
            Err(e) if e.status().is_not_found() => Ok(None),
            Err(e) => Err(map_error(e)),
        }
    }

    async fn query(
        &self,
        container: &str,
        pk: Option<&PartitionKey>,
        query: &Query,
    ) -> StoreResult<Vec<Value>> {
        let plan = query.plan()?;
        let (client, _) = self.container(container).await?;
        run_sql(&client, pk, plan.to_sql()).await
    }

    async fn count(
        &self,
        container: &str,
        pk: Option<&PartitionKey>,
        query: &Query,
    ) -> StoreResult<u64> {
        let plan = query.plan()?;
        plan.check_countable()?;
        let (client, _) = self.container(container).await?;
        // The SDK cannot aggregate across partitions: count matching rows client-side there.
        let rows = run_sql(&client, pk, plan.to_count_sql(pk.is_none())).await?;
        Ok(match pk {
            Some(_) => rows.first().and_then(Value::as_u64).unwrap_or(0),
            None => rows.len() as u64,
        })
    }

    async fn batch(
        &self,
        container: &str,
        pk: &PartitionKey,
        ops: Vec<BatchOp>,
    ) -> StoreResult<BatchResponse> {
        if ops.is_empty() || ops.len() > MAX_BATCH_OPS {
            return Err(StoreError::BadRequest(format!(
                "a batch needs 1 to {MAX_BATCH_OPS} operations, got {}",
                ops.len()
            )));
        }
        let (client, path) = self.container(container).await?;
        let spec = Self::spec(container, &path);
        let statuses: Vec<u16> = ops.iter().map(success_status).collect();
        let mut batch = TransactionalBatch::new(to_cosmos_pk(pk)?);
        for op in ops {
            batch = match op {
                BatchOp::Create(doc) => {
                    id_of(&doc)?;
                    check_partition_key(&spec, pk, &doc)?;
                    batch.create_item(doc).map_err(map_error)?
                }
                BatchOp::Upsert(doc) => {
                    id_of(&doc)?;
                    check_partition_key(&spec, pk, &doc)?;
                    batch.upsert_item(doc, None).map_err(map_error)?
                }
                BatchOp::Replace { doc, if_match } => {
                    let id = id_of(&doc)?.to_owned();
                    check_partition_key(&spec, pk, &doc)?;
                    let options = if_match.map(|t| {
                        BatchReplaceOptions::default()
                            .with_precondition(Precondition::if_match(t.0))
                    });
                    batch.replace_item(id, doc, options).map_err(map_error)?
                }
                BatchOp::Delete { id, if_match } => {
                    validate_id(&id)?;
                    let options = if_match.map(|t| {
                        BatchDeleteOptions::default().with_precondition(Precondition::if_match(t.0))
                    });
                    batch.delete_item(id, options)
                }
                BatchOp::Read { id } => {
                    validate_id(&id)?;
                    batch.read_item(id, None)
                }
            };
        }
        let response = client
            .execute_transactional_batch(batch, None)
            .await
            .map_err(map_error)?;
        let model = response.into_model().map_err(map_error)?;
        let results = model
            .results()
            .iter()
            .zip(statuses)
            .map(|(r, ok_status)| {
                let status = if r.is_success() {
                    ok_status
                } else {
                    r.status_code()
                };
                let item = r
                    .resource_body()
                    .and_then(|raw| serde_json::from_str(raw.get()).ok());
                BatchOpResult { status, item }
            })
            .collect();
        Ok(BatchResponse { results })
    }

    async fn read_change_feed(
        &self,
        container: &str,
        request: &ChangeFeedRequest,
    ) -> StoreResult<ChangeFeedPage> {
        self.feed_page(container, request).await
    }
}

async fn run_sql(
    client: &ContainerClient,
    pk: Option<&PartitionKey>,
    sql: super::query::Sql,
) -> StoreResult<Vec<Value>> {
    let mut query = azure_data_cosmos::Query::from(sql.text);
    for (name, value) in sql.params {
        query = query.with_parameter(name, value).map_err(map_error)?;
    }
    let scope = match pk {
        Some(pk) => FeedScope::partition(to_cosmos_pk(pk)?),
        None => FeedScope::full_container(),
    };
    let items = client
        .query_items::<Value>(query, scope, None)
        .await
        .map_err(map_error)?;
    items.try_collect().await.map_err(map_error)
}
