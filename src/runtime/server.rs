//! Serving: configuration from the environment, binding 127.0.0.1, and graceful shutdown on
//! SIGTERM / Ctrl-C that lets in-flight invocations finish.

use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use tokio::net::TcpListener;

/// The port variable the Functions host sets for a custom handler.
pub const PORT_VAR: &str = "FUNCTIONS_CUSTOMHANDLER_PORT";
/// The legacy name of the same variable.
pub const LEGACY_PORT_VAR: &str = "FUNCTIONS_HTTPWORKER_PORT";
/// Overrides the largest accepted envelope, in bytes.
pub const MAX_ENVELOPE_VAR: &str = "COSMOSPARK_MAX_ENVELOPE_BYTES";

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable `{name}` must be a TCP port (1-65535), got `{value}`")]
    BadPort { name: String, value: String },
    #[error("environment variable `{name}` must be a positive whole number, got `{value}`")]
    BadNumber { name: String, value: String },
    #[error("no port: set `{PORT_VAR}` (the Functions host does) or pass `--port`")]
    NoPort,
}

/// Parses a port value read from variable `name`.
pub fn parse_port(name: &str, value: &str) -> Result<u16, ConfigError> {
    value
        .trim()
        .parse::<u16>()
        .ok()
        .filter(|port| *port != 0)
        .ok_or_else(|| ConfigError::BadPort {
            name: name.to_owned(),
            value: value.to_owned(),
        })
}

/// The port the host assigned: `FUNCTIONS_CUSTOMHANDLER_PORT`, else the legacy variable.
pub fn host_port_from_env() -> Result<Option<u16>, ConfigError> {
    for name in [PORT_VAR, LEGACY_PORT_VAR] {
        if let Ok(value) = std::env::var(name) {
            return parse_port(name, &value).map(Some);
        }
    }
    Ok(None)
}

/// `COSMOSPARK_MAX_ENVELOPE_BYTES`, if set.
pub fn max_envelope_from_env() -> Result<Option<usize>, ConfigError> {
    match std::env::var(MAX_ENVELOPE_VAR) {
        Err(_) => Ok(None),
        Ok(value) => value
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|bytes| *bytes > 0)
            .map(Some)
            .ok_or(ConfigError::BadNumber {
                name: MAX_ENVELOPE_VAR.to_owned(),
                value,
            }),
    }
}

/// Binds `127.0.0.1:port` (the host only calls the loopback address); port 0 binds any free port.
pub async fn bind_loopback(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
}

/// The line `serve` prints once it listens, with the bound address (`listener.local_addr()`,
/// so port 0 shows the port actually bound): `Listening on http://127.0.0.1:PORT`.
pub fn listening_line(addr: SocketAddr) -> String {
    format!("Listening on http://{addr}")
}

/// Serves `router` on `listener` until SIGTERM or Ctrl-C, then drains in-flight requests.
pub async fn serve(listener: TcpListener, router: Router) -> std::io::Result<()> {
    serve_until(listener, router, shutdown_signal()).await
}

/// Serves `router` until `shutdown` resolves, then stops accepting and lets in-flight requests
/// finish before returning.
pub async fn serve_until(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Resolves on the first SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; draining in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_port_names_the_variable() {
        let error = parse_port(PORT_VAR, "eighty").unwrap_err();
        assert!(error.to_string().contains(PORT_VAR));
        assert!(parse_port(PORT_VAR, "0").is_err());
        assert_eq!(parse_port(PORT_VAR, " 7071 ").unwrap(), 7071);
    }
}
