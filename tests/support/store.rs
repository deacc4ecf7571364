//! Fixtures for the store tests: an embedded store on a temp dir, and a Cosmos DB
//! backend over the SDK's in-memory emulator.

use std::sync::Arc;

use azure_core::credentials::Secret;
use azure_data_cosmos::fault_injection::FaultInjectionRule;
use azure_data_cosmos::{AccountReference, CosmosClient, CosmosRuntimeBuilder, RoutingStrategy};
use azure_data_cosmos_driver::in_memory_emulator::{
    InMemoryEmulatorHttpClient, VirtualAccountConfig, VirtualRegion,
};
use cosmospark::store::Store;
use cosmospark::store::cosmos::CosmosStore;
use cosmospark::store::embedded::EmbeddedStore;
use tempfile::TempDir;

pub struct Embedded {
    pub store: Store,
    pub dir: TempDir,
}

pub async fn embedded() -> Embedded {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(dir.path())
        .await
        .expect("open embedded store");
    Embedded {
        store: Arc::new(store),
        dir,
    }
}

/// A Cosmos DB client over a fresh in-memory emulator (one per test: isolation).
pub async fn emulator_client(rules: Option<Vec<Arc<FaultInjectionRule>>>) -> CosmosClient {
    let endpoint = "https://eastus.emulator.local";
    let config = VirtualAccountConfig::new(vec![VirtualRegion::new(
        "East US",
        endpoint.parse().expect("endpoint"),
    )])
    .expect("emulator config");
    let emulator = Arc::new(InMemoryEmulatorHttpClient::new(config));
    let runtime = CosmosRuntimeBuilder::from(emulator.runtime_builder())
        .build()
        .await
        .expect("runtime");
    let mut builder = CosmosClient::builder().with_runtime(runtime);
    if let Some(rules) = rules {
        builder = builder
            .with_fault_injection_rules(rules)
            .expect("fault rules");
    }
    builder
        .build(
            AccountReference::with_authentication_key(
                endpoint.parse().expect("endpoint"),
                Secret::from("dGVzdGtleQ=="),
            ),
            RoutingStrategy::PreferredRegions(vec![]),
        )
        .await
        .expect("emulator client")
}

pub async fn cosmos_emulator() -> Store {
    let client = emulator_client(None).await;
    let store = CosmosStore::new(client, "CosmicDB", true)
        .await
        .expect("cosmos store");
    Arc::new(store)
}
