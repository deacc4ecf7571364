//! The custom-handler framework. Knows nothing about CosmosPark.
//!
//! - [`protocol`]: the host's request/response envelopes and lenient decoding.
//! - [`triggers`] / [`outputs`]: typed trigger payloads and output values.
//! - [`Function`] / [`FunctionApp`]: the registry; [`FunctionApp::router`] is the one API boundary.
//! - [`manifest`]: `host.json` / `function.json` parsing and `check`; [`package`]: the deploy zip.
//! - [`server`]: binding, serving and graceful shutdown; [`principal`]: the SWA client principal.
//! - [`settings`]: app-setting specs, Azure detection and the required-settings check.
//! - [`edge`]: the guard in front of every HTTP function (cross-site, content type, size, JSON shape).
//! - [`progress`]: progress of long command-line work (a bar on a terminal, lines otherwise).

mod app;
pub mod edge;
mod function;
pub mod logs;
pub mod manifest;
pub mod outputs;
pub mod package;
pub mod principal;
pub mod progress;
pub mod protocol;
mod router;
pub mod server;
pub mod settings;
pub mod triggers;

pub use app::{DEFAULT_MAX_ENVELOPE_BYTES, FunctionApp, RegistryError};
pub use edge::EdgePolicy;
pub use function::{
    BindingDecl, Context, Direction, Function, FunctionDecl, FunctionError, HttpDecl,
};
pub use principal::{ClientPrincipal, PrincipalRejection};
pub use protocol::{InvocationRequest, InvocationResponse, ProtocolError};
pub use router::{INVOCATION_ID_HEADER, TRACEPARENT_HEADER};

/// Installs the process-wide subscriber: formatted events on stderr (filtered by `RUST_LOG`,
/// default `info`) plus the per-invocation capture that feeds `Logs`. Safe to call twice.
pub fn init_tracing() {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    let _ = tracing_subscriber::registry()
        .with(logs::InvocationLogLayer.with_filter(filter()))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter()),
        )
        .try_init();
}
