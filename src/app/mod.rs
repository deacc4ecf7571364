//! The CosmosPark domain and its functions.
//!
//! - [`domain`]: the game rules as plain Rust (no HTTP, no database).
//! - [`services`]: [`AppServices`] (store, settings, HTTP client, clock) and [`function_app`],
//!   which registers every function.
//! - [`cqrs`]: the CQRS read side (relays, update processor, read models, queries, seed API).
//! - [`functions`]: the functions, by area, each next to its `functions/<Name>/function.json`.
//! - [`progress`]: task assignment, completion and exactly-once awards against the store.
//! - [`maps`]: reverse geocoding (Azure Maps or offline) and Azure Maps tokens.
//! - [`settings`]: the table of every app setting and the typed [`settings::Settings`].
//! - [`webpubsub`]: Web PubSub client tokens through the service's REST API.
//! - [`seed`]: demo users for `cosmospark seed` and an empty `dev` store.
//! - [`store_io`]: typed document reads and writes.
//! - [`relay_dead_letters`]: change-feed documents the Event Grid relays set aside.

pub mod cqrs;
pub mod domain;
pub mod functions;
pub mod maps;
pub mod progress;
pub mod relay_dead_letters;
pub mod seed;
pub mod services;
pub mod settings;
pub mod store_io;
pub mod webpubsub;

pub use services::{AppServices, function_app};

/// The map of a JSON object (empty for any other value), for unit tests that write documents
/// with `json!`.
#[cfg(test)]
pub(crate) fn object(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}
