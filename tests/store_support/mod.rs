//! Shared fixtures for the store tests: an embedded store on a temp dir, and a Cosmos DB
//! backend over the SDK's in-memory emulator.

#![allow(dead_code)]

use std::sync::Arc;

use cosmospark::store::Store;
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

pub async fn cosmos_emulator() -> Store {
    todo!("cosmos backend")
}
