//! The `cosmospark` binary: `serve` (the custom handler the Functions host starts), `dev` (serve
//! the functions locally) and `check` (validate the manifest against the registered handlers).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use cosmospark::app::AppServices;
use cosmospark::app::services::Settings;
use cosmospark::runtime::manifest::{Manifest, check};
use cosmospark::runtime::{FunctionApp, init_tracing, server};
use cosmospark::store::StoreConfig;

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
    /// Create N demo users around the world through the store (the change feed fires for them).
    Seed {
        #[arg(long, default_value_t = 20)]
        users: usize,
        /// Embedded store directory (default: the `Store__Dir` setting, else `.data/store`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Document store tools (smoke test, crash-test writer).
    Store(cosmospark::store::cli::StoreArgs),
    /// Rebuild a read model (leaderboard, stats, countries, records, or all) from the write
    /// side into a new generation, then switch queries to it.
    Rebuild {
        /// `leaderboard`, `stats`, `countries`, `records` or `all`.
        model: String,
        /// The embedded store directory (default: the store the app settings select).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
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
        Command::Rebuild { model, data_dir } => run_async(rebuild(model, data_dir)),
        Command::Seed { users, data_dir } => run_async(seed(users, data_dir)),
        Command::Store(args) => run_async(async {
            init_tracing();
            cosmospark::store::cli::run_store_command(args).await
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

async fn build_app() -> anyhow::Result<FunctionApp> {
    let services = AppServices::from_env()
        .await
        .context("cannot open the app's services")?;
    let mut app = cosmospark::app::function_app(services).context("function registry")?;
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
    let app = build_app().await?;
    tracing::info!(port, "custom handler listening");
    server::serve(listener, app.router())
        .await
        .context("server failed")
}

async fn dev(port: u16) -> anyhow::Result<()> {
    init_tracing();
    let app = build_app().await?;
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

async fn seed(users: usize, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    init_tracing();
    let config = match data_dir {
        Some(dir) => StoreConfig::Embedded { dir },
        None => StoreConfig::from_env()?,
    };
    let services = AppServices::open(
        &config,
        Settings::from_lookup(|name| std::env::var(name).ok())?,
    )
    .await
    .context("cannot open the app's services")?;
    let written = cosmospark::app::seed::seed(&services, users)
        .await
        .context("seeding failed")?;
    println!("seed: wrote {written} users");
    Ok(())
}

async fn rebuild(target: String, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    use cosmospark::app::cqrs::rebuild::{parse_target, rebuild_all};
    use cosmospark::store::open_store;
    init_tracing();
    let models = parse_target(&target).map_err(anyhow::Error::msg)?;
    let config = match data_dir {
        Some(dir) => StoreConfig::Embedded { dir },
        None => StoreConfig::from_env()?,
    };
    let store = open_store(&config).await.context("cannot open the store")?;
    cosmospark::app::services::ensure_containers(&store).await?;
    for report in rebuild_all(&store, &models).await? {
        println!(
            "rebuilt {}: generation {}, {} source documents, {} written, {} skipped, {} old removed",
            report.model.name(),
            report.generation,
            report.documents,
            report.written,
            report.skipped,
            report.removed
        );
    }
    Ok(())
}

fn run_check(root: &std::path::Path) -> anyhow::Result<ExitCode> {
    let app = cosmospark::app::function_app(AppServices::declarations_only())
        .context("function registry")?;
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
