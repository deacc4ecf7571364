//! The CosmosPark domain and its functions.
//!
//! - [`domain`]: the game rules as plain Rust (no HTTP, no database).
//! - [`services`]: [`AppServices`] (store, settings, HTTP client, clock) and [`function_app`],
//!   which registers every function.
//! - [`cqrs`]: the CQRS read side (relays, update processor, read models, queries, seed API).
//! - [`functions`]: one module per function, next to its `functions/<Name>/function.json`.

pub mod cqrs;
pub mod domain;
pub mod functions;
pub mod services;

pub use services::{AppServices, function_app};
