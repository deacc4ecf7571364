//! The local platform: emulates the Functions host, Static Web Apps and every binding.
//!
//! - [`server`]: `cosmospark dev` — assembles everything on one port and owns every task.
//! - [`http`]: HTTP functions served the way the host serves them (routes, methods, envelope).
//! - [`invoke`] + [`envelope`] + [`outputs`]: one invocation through `FunctionApp::router()`
//!   with the host's envelope, then its output bindings.
//! - [`cosmos_trigger`], [`event_grid`], [`event_hubs`], [`timer`]: the triggers.
//! - [`backlog`]: what each trigger still has to do, and the platform's idle signal;
//!   [`lag_watch`] prints a line when a trigger falls behind and when it catches up.
//! - [`isolate`]: a failing batch run event by event, so only the poison event is dead-lettered.
//! - [`dead_letter`]: failed events, listable (corrupt ones too) and replayable; [`replay`] claims
//!   one and sends it back, once.
//! - [`webpubsub`], [`swa`], [`retry`]: the embedded hub, Static Web Apps, retry policies.
//! - [`admin`]: the `/_devhost` data explorer (admin role, known `Host` names only);
//!   [`private_file`]: secrets on disk, owner-only.
//! - [`telemetry`] + [`dashboard`]: what the platform invoked and how far each trigger lags,
//!   shown live at `/_devhost/`.

pub mod admin;
pub mod backlog;
pub mod containers;
pub mod cosmos_trigger;
pub mod dashboard;
pub mod data_dir;
pub mod dead_letter;
pub mod due_index;
pub mod envelope;
pub mod event_grid;
pub mod event_hubs;
pub mod http;
pub mod hub_retention;
pub mod invoke;
pub mod isolate;
pub mod lag_watch;
pub mod notify;
pub mod outputs;
pub mod private_file;
pub mod replay;
pub mod retry;
pub mod server;
pub mod swa;
pub mod telemetry;
pub mod timer;
pub mod webpubsub;

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// Runs `attempt` once, or under `policy` with `Metadata.RetryContext` on each attempt.
/// Returns the outcome and how many attempts were made, or `None` when `cancel` fired during a
/// wait between attempts (shutdown): the caller then neither checkpoints nor dead-letters.
pub async fn run_with_policy<F, Fut, T, E>(
    policy: Option<&crate::runtime::manifest::RetryPolicy>,
    cancel: &CancellationToken,
    attempt: F,
) -> Option<(Result<T, E>, u32)>
where
    F: Fn(Option<Value>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let Some(policy) = policy else {
        return Some((attempt(None).await, 1));
    };
    let attempts = AtomicU32::new(0);
    let outcome = retry::run_with_retry_until(policy, cancel, |context| {
        attempts.fetch_add(1, Ordering::Relaxed);
        attempt(Some(context.to_json()))
    })
    .await;
    match outcome {
        retry::Retried::Done(result) => Some((result, attempts.load(Ordering::Relaxed))),
        retry::Retried::Stopped => None,
    }
}
