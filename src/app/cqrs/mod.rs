//! The CQRS read side: change feed (outbox) → Event Hubs → `UpdateProcessor` → read models →
//! queries, plus the seed's command/query API (`POST /api/command/insert`, `GET /api/query/get`).
//!
//! - [`event`]: the domain-event envelope and the relay mapping from a changed document.
//! - [`model`]: read-model documents and the pure, idempotent, order-insensitive projections.
//! - [`layout`]: partition keys, generations and the pointer document in `ReadModels`.
//! - [`projector`]: applies event batches to the store (ETag-guarded, dead letters).
//! - [`standings`]: the in-memory leaderboard index fed by the `ReadModels` change feed.
//! - [`rebuild`]: rebuilds one read model from the write side into a new generation and swaps.
//! - [`rebuild_job`]: the server-side job behind the admin route (one at a time, with status).
//! - [`functions`]: the relays, `UpdateProcessor`, the queries and the seed API.

pub mod event;
pub mod functions;
pub mod layout;
pub mod model;
pub mod projector;
pub mod rebuild;
pub mod rebuild_job;
pub mod standings;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::app::AppServices;
use crate::app::services::ServiceError;
use crate::store::Store;

pub use functions::register;
pub use standings::Standings;

/// What the read-side functions share: the app services and the leaderboard index.
#[derive(Clone, Debug)]
pub struct ReadSide {
    services: AppServices,
    standings: Arc<Standings>,
}

impl ReadSide {
    pub fn new(services: AppServices) -> Self {
        Self {
            services,
            standings: Arc::new(Standings::new()),
        }
    }

    /// The document store (opened on first use).
    pub async fn store(&self) -> Result<&Store, ServiceError> {
        self.services.store().await
    }

    pub fn standings(&self) -> &Standings {
        &self.standings
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.services.now()
    }
}
