//! CosmosPark: one Rust binary that is the Azure Functions custom handler for a whole app.
//!
//! - [`runtime`]: the custom-handler framework (wire protocol, typed triggers and outputs,
//!   function registry, axum router, manifest validation). Knows nothing about CosmosPark.
//! - [`store`]: the `DocumentStore` API with Cosmos DB semantics and its backends.
//! - [`devhost`]: the local platform that serves the app the way Azure would.
//! - [`app`]: the CosmosPark domain and its functions.

pub mod app;
pub mod devhost;
pub mod runtime;
pub mod store;
