//! Retry behaviour of the Cosmos DB backend under injected faults (the SDK's public
//! `fault_injection` feature over its in-memory emulator): transient 429/503 are retried by the
//! SDK and succeed; persistent ones surface as `Throttled` / `Unavailable`. Persistent faults
//! run on paused tokio time so the SDK's back-off costs no wall-clock time.

mod support;

use std::sync::Arc;

use azure_data_cosmos::fault_injection::{
    FaultInjectionConditionBuilder, FaultInjectionErrorType, FaultInjectionResultBuilder,
    FaultInjectionRule, FaultInjectionRuleBuilder, FaultOperationType,
};
use cosmospark::store::cosmos::CosmosStore;
use cosmospark::store::{ContainerSpec, PartitionKey, Store};
use serde_json::json;

fn rule(
    id: &str,
    op: FaultOperationType,
    error: FaultInjectionErrorType,
    hits: Option<u32>,
) -> Arc<FaultInjectionRule> {
    let result = FaultInjectionResultBuilder::new().with_error(error).build();
    let condition = FaultInjectionConditionBuilder::new()
        .with_operation_type(op)
        .build();
    let mut builder = FaultInjectionRuleBuilder::new(id, result).with_condition(condition);
    if let Some(hits) = hits {
        builder = builder.with_hit_limit(hits);
    }
    Arc::new(builder.build())
}

async fn store_with(rules: Vec<Arc<FaultInjectionRule>>) -> Store {
    let client = support::store::emulator_client(Some(rules)).await;
    let store: Store = Arc::new(
        CosmosStore::new(client, "CosmicDB", true)
            .await
            .expect("store"),
    );
    store
        .ensure_container(&ContainerSpec::parse("users", "/userId").unwrap())
        .await
        .unwrap();
    store
}

#[tokio::test]
async fn transient_503_on_read_is_retried() {
    let fault = rule(
        "read-503",
        FaultOperationType::ReadItem,
        FaultInjectionErrorType::ServiceUnavailable,
        Some(1),
    );
    let store = store_with(vec![fault.clone()]).await;
    let pk = PartitionKey::from("u1");
    store
        .create("users", &pk, json!({"id": "a", "userId": "u1"}))
        .await
        .unwrap();
    let read = store.read("users", &pk, "a").await.unwrap();
    assert!(read.is_some());
    assert_eq!(
        fault.hit_count(),
        1,
        "the fault was injected once and retried past"
    );
}

#[tokio::test]
async fn transient_429_on_upsert_is_retried() {
    let fault = rule(
        "upsert-429",
        FaultOperationType::UpsertItem,
        FaultInjectionErrorType::TooManyRequests,
        Some(2),
    );
    let store = store_with(vec![fault.clone()]).await;
    let pk = PartitionKey::from("u1");
    store
        .upsert("users", &pk, json!({"id": "a", "userId": "u1", "n": 1}))
        .await
        .unwrap();
    assert_eq!(fault.hit_count(), 2);
    assert_eq!(
        store.read("users", &pk, "a").await.unwrap().unwrap()["n"],
        1
    );
}

#[tokio::test(start_paused = true)]
async fn persistent_429_surfaces_as_throttled() {
    let fault = rule(
        "create-429",
        FaultOperationType::CreateItem,
        FaultInjectionErrorType::TooManyRequests,
        None,
    );
    let store = store_with(vec![fault.clone()]).await;
    let err = store
        .create(
            "users",
            &PartitionKey::from("u1"),
            json!({"id": "a", "userId": "u1"}),
        )
        .await
        .unwrap_err();
    assert!(err.is_throttled(), "{err}");
    assert_eq!(err.status(), 429);
    assert!(fault.hit_count() > 1, "the SDK retried before giving up");
}

#[tokio::test(start_paused = true)]
async fn persistent_503_surfaces_as_unavailable() {
    let fault = rule(
        "query-503",
        FaultOperationType::ReplaceItem,
        FaultInjectionErrorType::ServiceUnavailable,
        None,
    );
    let store = store_with(vec![fault.clone()]).await;
    let pk = PartitionKey::from("u1");
    store
        .create("users", &pk, json!({"id": "a", "userId": "u1"}))
        .await
        .unwrap();
    let err = store
        .replace(
            "users",
            &pk,
            json!({"id": "a", "userId": "u1", "n": 2}),
            None,
        )
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert_eq!(
        store
            .read("users", &pk, "a")
            .await
            .unwrap()
            .unwrap()
            .get("n"),
        None,
        "nothing was written"
    );
}
