//! The one support module of the integration tests (`mod support;`):
//! - [`process`]: child processes, and the built binary started on port 0 with the address it
//!   bound read back from its output (no free-port probing);
//! - [`dev`]: `cosmospark dev` (one async `Dev`) that waits on the platform's idle signal, app
//!   roots in temp folders, a Web PubSub client;
//! - [`handler`]: `cosmospark serve` invoked as the host does, and the recorded protocol fixtures;
//! - [`npm`], [`browser`]: npm installs and the browser harness;
//! - [`game`], [`cqrs`], [`store`], [`infra`], [`pubsub`]: helpers of one area each;
//! - [`otlp`]: an in-test OpenTelemetry collector (OTLP/HTTP);
//! - [`arbitrary`]: proptest strategies for JSON shaped like what the decoders read.
//!
//! The helpers used across areas are re-exported here (`support::Dev`, `support::repo`, ...).
#![allow(dead_code, unused_imports)]

pub mod arbitrary;
pub mod browser;
pub mod cqrs;
pub mod dev;
pub mod game;
pub mod handler;
pub mod infra;
pub mod npm;
pub mod otlp;
pub mod platform;
pub mod process;
pub mod pubsub;
pub mod security;
pub mod store;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

pub use browser::{artifacts, chromium, free_port, run_scenario};
pub use dev::{
    Dev, PubSub, admin_principal, app_root, bare_app_root, subscription, write_function,
    write_subscriptions,
};
pub use handler::{Handler, fixture, fixture_names, fixtures_dir, invoke, read_fixture};
pub use npm::npm_install;
pub use process::{Process, binary, cosmospark, cosmospark_on, log_file, spawn_dev, spawn_serve};

/// An encoded `x-ms-client-principal` for `id` with `roles`, as Static Web Apps sends it.
pub fn principal(id: &str, roles: &[&str]) -> String {
    cosmospark::runtime::ClientPrincipal {
        identity_provider: "github".into(),
        user_id: id.to_owned(),
        user_details: format!("{id}-gh"),
        user_roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    }
    .encode()
}

/// Guards against a hung test only; never a performance assertion.
pub const HANG: Duration = Duration::from_secs(30);

/// The repository root (host.json, functions/, infra/, web/, tests/).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The repository root (the name some tests use).
pub fn repo_root() -> PathBuf {
    repo()
}

/// An HTTP client with a guard timeout, so a hang fails the test instead of stalling it.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// Polls `check` until it returns `Some`, failing only if the test hangs.
pub async fn eventually<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + HANG;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition never held"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
