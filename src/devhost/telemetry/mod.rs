//! What the local platform observes of itself, for the dashboard (`/_devhost/`): the platform
//! is the host, so it records what it invokes, as the Functions host does, without relying on
//! the app's tracing subscriber.
//!
//! - [`recorder`]: every invocation's outcome and duration (per-function counts, failures and
//!   percentiles) and the latest invocations grouped by trace id.
//! - [`lag`]: each trigger's backlog sampled over time by a background task.
//! - [`gauges`]: those samples as OpenTelemetry gauges when `dev` exports metrics.

pub mod gauges;
pub mod lag;
pub mod recorder;

pub use lag::{LagView, TriggerLag};
pub use recorder::{Completed, FunctionStats, Recorder, Trace, TraceContext};
