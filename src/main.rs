//! The `cosmospark` binary: `serve` (the custom handler the Functions host starts), `dev` (serve
//! the functions locally) and `check` (validate the manifest against the registered handlers).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use cosmospark::runtime::manifest::{Manifest, check};
use cosmospark::runtime::{FunctionApp, init_tracing, server};
use cosmospark::store::cli::{StoreArgs, run_store_command};

/// The executable name host.json must point at.
const EXECUTABLE: &str = env!("CARGO_PKG_NAME");

#[derive(Parser)]
#[command(
    name = "cosmospark",
    version,
    about = "CosmosPark: the Azure Functions custom handler and its local platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the host's invocations on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT.
    Serve,
    /// Serve the functions locally on 127.0.0.1:<port> (forwarded HTTP paths and invocations).
    Dev {
        #[arg(long, env = "COSMOSPARK_DEV_PORT", default_value_t = 7071)]
        port: u16,
    },
    /// Check host.json and functions/*/function.json against the registered handlers.
    Check {
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
    /// Document store tools (smoke test, crash-test writer).
    Store(StoreArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match cli.command {
        Some(command) => command,
        None => match server::host_port_from_env() {
            Ok(Some(_)) => Command::Serve,
            Ok(None) => Command::Dev { port: 7071 },
            Err(error) => return fail(anyhow::Error::new(error)),
        },
    };
    let result = match command {
        Command::Check { root } => run_check(&root),
        Command::Serve => run_async(serve()),
        Command::Dev { port } => run_async(dev(port)),
        Command::Store(args) => run_async(async {
            init_tracing();
            run_store_command(args).await
        }),
    };
    match result {
        Ok(code) => code,
        Err(error) => fail(error),
    }
}

fn fail(error: anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::FAILURE
}

fn run_async(future: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(future)?;
    Ok(ExitCode::SUCCESS)
}

fn build_app() -> anyhow::Result<FunctionApp> {
    let mut app = cosmospark::app::function_app().context("function registry")?;
    if let Some(bytes) = server::max_envelope_from_env()? {
        app = app.with_max_envelope_bytes(bytes);
    }
    Ok(app)
}

async fn serve() -> anyhow::Result<()> {
    let port = server::host_port_from_env()?.ok_or(server::ConfigError::NoPort)?;
    // Bind first: the host polls `/` and counts connection refusals as "not ready yet".
    let listener = server::bind_loopback(port)
        .await
        .with_context(|| format!("cannot bind 127.0.0.1:{port}"))?;
    init_tracing();
    let app = build_app()?;
    tracing::info!(port, "custom handler listening");
    server::serve(listener, app.router())
        .await
        .context("server failed")
}

async fn dev(port: u16) -> anyhow::Result<()> {
    init_tracing();
    let app = build_app()?;
    let listener = server::bind_loopback(port)
        .await
        .with_context(|| format!("cannot bind 127.0.0.1:{port}"))?;
    tracing::info!(
        "dev: serving HTTP functions on http://127.0.0.1:{port}/{}/",
        app.route_prefix()
    );
    server::serve(listener, app.router())
        .await
        .context("server failed")
}

fn run_check(root: &std::path::Path) -> anyhow::Result<ExitCode> {
    let app = cosmospark::app::function_app().context("function registry")?;
    let problems = match Manifest::load(root) {
        Ok(manifest) => check(&manifest, &app, EXECUTABLE),
        Err(problems) => problems,
    };
    if problems.is_empty() {
        println!(
            "check: {} functions match their handlers",
            app.declarations().len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &problems {
        eprintln!("{problem}");
    }
    eprintln!("check: {} problem(s) in {}", problems.len(), root.display());
    Ok(ExitCode::FAILURE)
}
