//! The one support module of the integration tests (`mod support;`): the repository root, the
//! built binary started on port 0 with its bound address read back ([`process`]), the
//! `cosmospark dev` wrapper that waits on the platform's idle signal ([`dev`]), the custom
//! handler and the recorded protocol fixtures ([`handler`]), npm installs ([`npm`]), and the
//! browser harness ([`browser`]).
#![allow(dead_code, unused_imports)]

pub mod process;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

pub use process::{Process, binary, cosmospark, log_file, spawn_dev, spawn_serve};

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
