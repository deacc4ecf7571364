//! The `cosmospark` binary: `serve` (the custom handler the Functions host starts), `dev` (the
//! local platform), `deadletters` (list / replay), `check` (validate the manifest against the
//! registered handlers) and `store` tools.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use cosmospark::devhost;
use cosmospark::devhost::dead_letter::DeadLetters;
use cosmospark::devhost::event_grid::Redelivery;
use cosmospark::devhost::event_hubs::DEFAULT_PARTITIONS;
use cosmospark::devhost::replay::replay;
use cosmospark::devhost::server::{DevOptions, Platform};
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
    /// The whole app locally: Functions host, Static Web Apps and every binding, on one port.
    Dev(DevArgs),
    /// List or replay the local platform's dead letters.
    Deadletters {
        #[command(subcommand)]
        action: DeadLetterAction,
    },
    /// Check host.json and functions/*/function.json against the registered handlers.
    Check {
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
    /// Document store tools (smoke test, crash-test writer).
    Store(StoreArgs),
    /// Build the deploy package (host.json, one folder per function, the executable), after `check`.
    Package {
        /// Write a zip for zip deploy.
        #[arg(long, conflicts_with = "dir", required_unless_present = "dir")]
        out: Option<PathBuf>,
        /// Write a staged folder instead (what `func start --script-root DIR` runs).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The Linux x64 executable to ship.
        #[arg(
            long,
            default_value = "target/x86_64-unknown-linux-musl/release/cosmospark"
        )]
        binary: PathBuf,
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
}

#[derive(clap::Args, Clone)]
struct DevArgs {
    #[arg(long, env = "COSMOSPARK_DEV_PORT", default_value_t = 7071)]
    port: u16,
    /// Address to listen on (loopback unless told otherwise).
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    #[arg(long, default_value = ".data")]
    data_dir: PathBuf,
    /// Delete the data directory first.
    #[arg(long)]
    reset: bool,
    /// The app root (host.json, functions/, infra/, web/).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// First Event Grid redelivery delay in milliseconds (doubles per attempt).
    #[arg(long, default_value_t = 1000)]
    redelivery_ms: u64,
}

impl Default for DevArgs {
    fn default() -> Self {
        Self {
            port: 7071,
            host: std::net::IpAddr::from([127, 0, 0, 1]),
            data_dir: PathBuf::from(".data"),
            reset: false,
            root: PathBuf::from("."),
            redelivery_ms: 1000,
        }
    }
}

#[derive(Subcommand)]
enum DeadLetterAction {
    /// List dead letters.
    List {
        #[arg(long, default_value = ".data")]
        data_dir: PathBuf,
    },
    /// Re-enqueue dead letters (into the topic or hub) and remove them on success. Stop
    /// `cosmospark dev` first, or POST /_devhost/deadletters/<id>/replay while it runs.
    Replay {
        /// The dead letter id (see `list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        #[arg(long)]
        all: bool,
        #[arg(long, default_value = ".data")]
        data_dir: PathBuf,
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match cli.command {
        Some(command) => command,
        None => match server::host_port_from_env() {
            Ok(Some(_)) => Command::Serve,
            Ok(None) => Command::Dev(DevArgs::default()),
            Err(error) => return fail(anyhow::Error::new(error)),
        },
    };
    let result = match command {
        Command::Check { root } => run_check(&root),
        Command::Package {
            out,
            dir,
            binary,
            root,
        } => run_package(&root, &binary, out.as_deref(), dir.as_deref()),
        Command::Serve => run_async(serve()),
        Command::Dev(args) => run_async(dev(args)),
        Command::Deadletters { action } => run_async(dead_letters(action)),
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

fn dev_options(args: &DevArgs) -> DevOptions {
    DevOptions {
        root: args.root.clone(),
        data_dir: args.data_dir.clone(),
        host: args.host,
        port: args.port,
        reset: args.reset,
        redelivery: Redelivery {
            base: std::time::Duration::from_millis(args.redelivery_ms.max(1)),
            ..Redelivery::default()
        },
        hub_partitions: DEFAULT_PARTITIONS,
    }
}

async fn dev(args: DevArgs) -> anyhow::Result<()> {
    init_tracing();
    let app = build_app()?;
    devhost::server::run(dev_options(&args), app)
        .await
        .context("cosmospark dev")
}

async fn dead_letters(action: DeadLetterAction) -> anyhow::Result<()> {
    match action {
        DeadLetterAction::List { data_dir } => {
            let letters = DeadLetters::new(&data_dir).list()?;
            if letters.is_empty() {
                println!("no dead letters in {}", data_dir.display());
            }
            for letter in letters {
                println!(
                    "{}  {:<9} {:<28} {:<22} attempts={} at {}\n    {}",
                    letter.id,
                    letter.kind.folder(),
                    letter.source,
                    letter.function,
                    letter.attempts,
                    letter.dead_lettered_at,
                    letter.reason
                );
            }
            Ok(())
        }
        DeadLetterAction::Replay {
            id,
            all,
            data_dir,
            root,
        } => {
            init_tracing();
            let args = DevArgs {
                data_dir,
                root,
                ..DevArgs::default()
            };
            let platform = Platform::open(&dev_options(&args), build_app()?)
                .await
                .context("opening the data directory (stop `cosmospark dev` first)")?;
            let letters = match (id, all) {
                (_, true) => platform.dead_letters.list()?,
                (Some(id), false) => vec![platform.dead_letters.get(&id)?],
                (None, false) => anyhow::bail!("give a dead letter id or --all"),
            };
            let mut failed = 0;
            for letter in &letters {
                match replay(letter, &platform.invoker, &platform.dead_letters).await {
                    Ok(()) => println!("replayed {}", letter.id),
                    Err(error) => {
                        failed += 1;
                        eprintln!("{}: {error}", letter.id);
                    }
                }
            }
            anyhow::ensure!(failed == 0, "{failed} of {} replays failed", letters.len());
            Ok(())
        }
    }
}

fn run_package(
    root: &std::path::Path,
    binary: &std::path::Path,
    out: Option<&std::path::Path>,
    dir: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    use cosmospark::runtime::package;
    if run_check(root)? != ExitCode::SUCCESS {
        anyhow::bail!("not packaging: fix the problems `check` reported");
    }
    let manifest = Manifest::load(root).map_err(|problems| {
        anyhow::anyhow!(
            "{}",
            problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let entries = package::plan(&manifest, binary, EXECUTABLE)?;
    match (out, dir) {
        (Some(out), _) => {
            package::write_zip(&entries, out)?;
            println!(
                "package: {} files written to {}",
                entries.len(),
                out.display()
            );
        }
        (None, Some(dir)) => {
            package::write_dir(&entries, dir)?;
            println!(
                "package: {} files staged in {}",
                entries.len(),
                dir.display()
            );
        }
        (None, None) => anyhow::bail!("pass --out FILE or --dir DIR"),
    }
    Ok(ExitCode::SUCCESS)
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
