//! Demo users through the store (so the change feed fires as for real sign-ups): used by
//! `cosmospark seed --users N` and offered by `dev` on an empty store.

use serde_json::Value;

use super::domain::documents::{LedgerEntry, containers};
use super::domain::seed::seed_users;
use super::services::{AppServices, ServiceError};
use super::store_io::to_doc;
use crate::runtime::progress::{Progress, Silent};
use crate::store::{PartitionKey, Query, StoreError};

/// The fixed seed: the same N users every time.
pub const SEED: u64 = 0xC05_305A;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Services(#[from] ServiceError),
}

/// Writes `n` demo users (upserts: running twice writes the same users) and their zero-score
/// ledger entries. Returns how many users were written.
pub async fn seed(services: &AppServices, n: usize) -> Result<usize, SeedError> {
    seed_with(services, n, &Silent).await
}

/// [`seed`], reporting one step per user to `progress`.
pub async fn seed_with(
    services: &AppServices,
    n: usize,
    progress: &dyn Progress,
) -> Result<usize, SeedError> {
    let store = services.store().await?;
    let users = seed_users(n, SEED);
    progress.begin("seed", Some(users.len() as u64));
    for user in &users {
        let key = PartitionKey::new(Value::String(user.id.as_str().to_owned()))?;
        store.upsert(containers::USERS, &key, to_doc(user)?).await?;
        let entry = LedgerEntry::joined(user);
        match store
            .create(containers::LEADERBOARDS, &key, to_doc(&entry)?)
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_conflict() => {}
            Err(e) => return Err(e.into()),
        }
        progress.advance(1);
    }
    progress.finish();
    Ok(users.len())
}

/// True when the store has no user at all.
pub async fn is_empty(services: &AppServices) -> Result<bool, SeedError> {
    let count = services
        .store()
        .await?
        .count(containers::USERS, None, &Query::new())
        .await?;
    Ok(count == 0)
}

/// Seeds `n` users when the store has no user at all; returns how many were written.
pub async fn seed_if_empty(services: &AppServices, n: usize) -> Result<usize, SeedError> {
    if !is_empty(services).await? {
        return Ok(0);
    }
    seed(services, n).await
}
