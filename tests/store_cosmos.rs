//! Cosmos-backend specifics beyond the shared conformance suite, over the SDK's in-memory
//! emulator: container provisioning (partition key, default TTL) and the no-create mode.

mod support;

use azure_data_cosmos::models::{ContainerProperties, TimeToLive};
use cosmospark::store::cosmos::CosmosStore;
use cosmospark::store::{ContainerSpec, DocumentStore, PartitionKey};
use serde_json::json;

#[tokio::test]
async fn creates_containers_with_partition_key_and_default_ttl() {
    let client = support::store::emulator_client(None).await;
    let store = CosmosStore::new(client.clone(), "CosmicDB", true)
        .await
        .unwrap();
    let spec = ContainerSpec::parse("sessions", "/user/id")
        .unwrap()
        .with_default_ttl(3600)
        .unwrap();
    store.ensure_container(&spec).await.unwrap();
    store.ensure_container(&spec).await.unwrap();
    let props: ContainerProperties = client
        .database_client("CosmicDB")
        .container_client("sessions", None)
        .await
        .unwrap()
        .read(None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(props.partition_key.paths(), ["/user/id"]);
    assert_eq!(props.default_ttl, TimeToLive::Seconds(3600));
    store
        .create(
            "sessions",
            &PartitionKey::from("u1"),
            json!({"id": "s", "user": {"id": "u1"}}),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn without_create_missing_containers_are_reported() {
    let client = support::store::emulator_client(None).await;
    CosmosStore::new(client.clone(), "CosmicDB", true)
        .await
        .unwrap();
    let store = CosmosStore::new(client, "CosmicDB", false).await.unwrap();
    let err = store
        .ensure_container(&ContainerSpec::parse("CosmicUsers", "/id").unwrap())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("CosmicUsers"), "{err}");
}
