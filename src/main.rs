//! The `cosmospark` binary: `serve` (the custom handler the Functions host starts), `dev` (the
//! local platform), `deadletters` (list / replay / discard), `check` (validate the manifest
//! against the registered handlers), `seed` (demo users), `rebuild` (read models) and `store`
//! tools.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use cosmospark::app::AppServices;
use cosmospark::app::cqrs::layout::DEAD_LETTERS as READ_MODEL_DEAD_LETTERS;
use cosmospark::app::services::Settings;
use cosmospark::app::settings;
use cosmospark::devhost;
use cosmospark::devhost::dead_letter::{AppDeadLetters, DeadLetterError, DeadLetters, Entry};
use cosmospark::devhost::event_grid::Redelivery;
use cosmospark::devhost::event_hubs::DEFAULT_PARTITIONS;
use cosmospark::devhost::replay::{Replayed, replay};
use cosmospark::devhost::server::{DevOptions, Platform};
use cosmospark::devhost::webpubsub::AccessKey;
use cosmospark::runtime::manifest::{Manifest, check, check_settings};
use cosmospark::runtime::progress::Reporter;
use cosmospark::runtime::telemetry::{self, Telemetry};
use cosmospark::runtime::{FunctionApp, server};
use cosmospark::store::cli::{StoreArgs, run_store_command};
use cosmospark::store::{Store, StoreConfig};

/// The executable name host.json must point at.
const EXECUTABLE: &str = env!("CARGO_PKG_NAME");

/// mimalloc instead of the C library's allocator: under a backlog the platform's many
/// short-lived documents spent about half of `dev`'s CPU in glibc's malloc, free and arena
/// locks (docs/reliability.md), and musl's allocator in the deploy build is slower still.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    Serve {
        /// Listen on this port instead (0: any free port; the bound address is printed).
        #[arg(long)]
        port: Option<u16>,
    },
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
    /// Create N demo users around the world through the store (the change feed fires for them).
    /// Stop `cosmospark dev` first, or start it with `--seed N`.
    Seed {
        #[arg(long, default_value_t = 20)]
        users: usize,
        /// The `dev` data directory (store in `<DIR>/store`); default: the app settings' store.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Rebuild a read model (leaderboard, stats, countries, records, or all) from the write
    /// side into a new generation, then switch queries to it. With the embedded store, stop
    /// `cosmospark dev` first (it locks the store).
    Rebuild {
        /// `leaderboard`, `stats`, `countries`, `records` or `all`.
        model: String,
        /// The `dev` data directory (store in `<DIR>/store`); default: the app settings' store.
        #[arg(long)]
        data_dir: Option<PathBuf>,
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
    /// Port to listen on (0: any free port; the banner shows the bound address).
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
    /// When the store has no users, create this many demo users at start.
    #[arg(long, default_value_t = 0)]
    seed: usize,
    /// How long the local Event Hubs keep events, in seconds (Azure's hub retention; 1 day).
    #[arg(long, default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..))]
    hub_retention_secs: u64,
    /// The longest a SIGTERM / Ctrl-C shutdown may take, in seconds.
    #[arg(long, default_value_t = 30)]
    shutdown_grace_secs: u64,
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
            seed: 0,
            hub_retention_secs: 86_400,
            shutdown_grace_secs: 30,
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
    /// Drop a dead letter without replaying it. Stop `cosmospark dev` first, or
    /// DELETE /_devhost/deadletters/<id> while it runs.
    Discard {
        /// The dead letter id (see `list`).
        id: String,
        #[arg(long, default_value = ".data")]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match cli.command {
        Some(command) => command,
        None => match server::host_port_from_env() {
            Ok(Some(_)) => Command::Serve { port: None },
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
        Command::Serve { port } => run_async(serve(port)),
        Command::Dev(args) => run_async(dev(args)),
        Command::Deadletters { action } => run_async(dead_letters(action)),
        Command::Seed { users, data_dir } => run_async(seed(users, data_dir)),
        Command::Rebuild { model, data_dir } => run_async(rebuild(model, data_dir)),
        Command::Store(args) => run_async(async {
            let telemetry = init_telemetry()?;
            let result = run_store_command(args).await;
            telemetry.shutdown_async().await;
            result
        }),
    };
    match result {
        Ok(code) => code,
        Err(error) => fail(error),
    }
}

/// The subscriber and, when configured, OpenTelemetry export (see `runtime::telemetry`); a bad
/// telemetry variable stops the command before anything starts.
fn init_telemetry() -> anyhow::Result<Telemetry> {
    Ok(telemetry::init_from_env()?)
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
    let result = runtime.block_on(future);
    // Tasks still running after a bounded shutdown are abandoned, not waited for.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result?;
    Ok(ExitCode::SUCCESS)
}

/// The app over `services`, with the host's envelope limit.
fn build_app(services: AppServices) -> anyhow::Result<FunctionApp> {
    let mut app = cosmospark::app::function_app(services).context("function registry")?;
    if let Some(bytes) = server::max_envelope_from_env()? {
        app = app.with_max_envelope_bytes(bytes);
    }
    Ok(app)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn settings() -> anyhow::Result<Settings> {
    Ok(Settings::from_lookup(env)?)
}

/// For the local platform: the app over the platform's own store, calling the platform's Web
/// PubSub hub at `endpoint` with its access key (the `WebPubSubConnection` setting the app
/// would get from `local.settings.json` for a real service).
fn app_over(store: Store, key: &AccessKey, endpoint: &str) -> Result<FunctionApp, String> {
    let connection = key.connection_string(endpoint);
    let settings = Settings::from_lookup(|name| {
        if name == settings::WEB_PUBSUB_CONNECTION {
            Some(connection.clone())
        } else {
            env(name)
        }
    });
    let services = settings
        .map_err(anyhow::Error::from)
        .and_then(|settings| Ok(AppServices::with_store(store, settings)?))
        .map_err(|e| format!("{e:#}"))?;
    build_app(services).map_err(|e| format!("{e:#}"))
}

/// In Azure, every setting the deployed app needs, checked before anything starts.
fn azure_settings(platform_var: &str) -> anyhow::Result<()> {
    let problems = settings::azure_problems(env);
    if problems.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
    anyhow::bail!(
        "running in Azure ({platform_var} is set) with {} missing or malformed app setting(s); \
         not starting:\n{}\nSet them from the Bicep outputs (infra/main.bicep APP_SETTINGS) or, \
         for a local run, from local.settings.json.example.",
        problems.len(),
        lines.join("\n")
    )
}

async fn serve(port: Option<u16>) -> anyhow::Result<()> {
    let port = match port {
        Some(port) => port,
        None => server::host_port_from_env()?.ok_or(server::ConfigError::NoPort)?,
    };
    // In Azure nothing falls back to a local default: every problem is named before any
    // port is bound, so the host never sees a half-configured app as ready.
    let azure = cosmospark::runtime::settings::azure_platform(env);
    if let Some(platform_var) = azure {
        azure_settings(platform_var)?;
    }
    let telemetry = init_telemetry()?;
    let result = serve_with(port, azure).await;
    telemetry.shutdown_async().await;
    result
}

async fn serve_with(port: u16, azure: Option<&'static str>) -> anyhow::Result<()> {
    let store = StoreConfig::from_env().context("app settings")?;
    let app_settings = settings()?;
    if azure.is_some() && store.is_embedded() {
        anyhow::ensure!(
            settings::embedded_store_allowed(env),
            "running in Azure without a Cosmos DB setting: the embedded store is never used \
             there (set CosmosDBConnection__accountEndpoint)"
        );
        tracing::warn!(
            setting = settings::ALLOW_EMBEDDED_STORE,
            "the embedded store is in use in Azure: data lives on this instance's disk only and \
             is lost on scale-in or redeployment; for single-instance test deployments only"
        );
    }
    // Bind before building the app: the host polls `/` and counts refusals as "not ready yet".
    let listener = server::bind_loopback(port)
        .await
        .with_context(|| format!("cannot bind 127.0.0.1:{port}"))?;
    let addr = listener.local_addr().context("the bound address")?;
    let services = AppServices::from_config(store, app_settings).context("app settings")?;
    let app = build_app(services)?;
    tracing::info!(%addr, "custom handler listening");
    println!("{}", server::listening_line(addr));
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
        hub_retention: std::time::Duration::from_secs(args.hub_retention_secs),
        shutdown_grace: std::time::Duration::from_secs(args.shutdown_grace_secs),
    }
}

/// `files` with the app's own dead letters: the update processor's (`app-…`) and the Event
/// Grid relays' (`relay-…`).
fn with_app_dead_letters(files: DeadLetters, store: &Store) -> DeadLetters {
    files
        .with_app(AppDeadLetters::new(store.clone(), READ_MODEL_DEAD_LETTERS))
        .with_app(AppDeadLetters::with_prefix(
            store.clone(),
            cosmospark::app::relay_dead_letters::CONTAINER,
            "relay-",
        ))
}

/// The platform over the app, with the app's read-model dead letters listed and replayable
/// beside the platform's own, and claims a crashed replay left released.
async fn open_platform(args: &DevArgs, endpoint: &str) -> anyhow::Result<Platform> {
    let mut platform = Platform::open_with(&dev_options(args), |store, key| {
        app_over(store, key, endpoint)
    })
    .await?;
    platform.dead_letters = with_app_dead_letters(platform.dead_letters.clone(), &platform.store);
    let released = platform.dead_letters.recover().await?;
    if released > 0 {
        tracing::warn!(released, "released dead letters an interrupted replay held");
    }
    Ok(platform)
}

async fn dev(args: DevArgs) -> anyhow::Result<()> {
    let telemetry = init_telemetry()?;
    let result = dev_with(args).await;
    // Spans of the last invocations leave before the process does.
    telemetry.shutdown_async().await;
    result
}

async fn dev_with(args: DevArgs) -> anyhow::Result<()> {
    let addr = std::net::SocketAddr::from((args.host, args.port));
    // Bound before the app is built: the app calls the hub's REST API at this address.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cosmospark dev: cannot listen on {addr}"))?;
    let endpoint = local_endpoint(listener.local_addr()?);
    let platform = open_platform(&args, &endpoint)
        .await
        .context("cosmospark dev")?;
    // This process holds the store's lock: a rebuild marked running died with the last one.
    if let Err(error) =
        cosmospark::app::cqrs::rebuild_job::recover_after_restart(&platform.store).await
    {
        tracing::warn!(%error, "cannot clean up an interrupted read-model rebuild");
    }
    let services = AppServices::with_store(platform.store.clone(), settings()?)?;
    if args.seed > 0 {
        let written = cosmospark::app::seed::seed_if_empty(&services, args.seed)
            .await
            .context("seeding demo users")?;
        if written > 0 {
            println!("seeded {written} demo users");
        }
    } else if cosmospark::app::seed::is_empty(&services).await? {
        println!("The store has no users yet: restart with `--seed 20` for a lively demo map.");
    }
    devhost::server::serve_platform(listener, platform, dev_options(&args).shutdown_grace)
        .await
        .context("cosmospark dev")
}

/// The http URL the app reaches the local platform at (loopback when bound to all addresses).
fn local_endpoint(addr: std::net::SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        addr.ip()
    };
    format!("http://{}", std::net::SocketAddr::from((host, addr.port())))
}

async fn seed(users: usize, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let _telemetry = init_telemetry()?;
    let config = match data_dir {
        Some(dir) => StoreConfig::Embedded {
            dir: dir.join("store"),
        },
        None => StoreConfig::from_env()?,
    };
    let services = AppServices::open(&config, settings()?)
        .await
        .context("cannot open the store (stop `cosmospark dev` first)")?;
    let written = cosmospark::app::seed::seed_with(&services, users, &Reporter::stderr())
        .await
        .context("seeding failed")?;
    println!("seed: wrote {written} users");
    Ok(())
}

async fn rebuild(target: String, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    use cosmospark::app::cqrs::rebuild::{parse_target, rebuild_all_with};
    let _telemetry = init_telemetry()?;
    let models = parse_target(&target).map_err(anyhow::Error::msg)?;
    let config = match data_dir {
        Some(dir) => StoreConfig::Embedded {
            dir: dir.join("store"),
        },
        None => StoreConfig::from_env()?,
    };
    let store = cosmospark::store::open_store(&config)
        .await
        .context("cannot open the store (stop `cosmospark dev` first)")?;
    cosmospark::app::services::ensure_containers(&store).await?;
    for report in rebuild_all_with(&store, &models, &Reporter::stderr()).await? {
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

async fn dead_letters(action: DeadLetterAction) -> anyhow::Result<()> {
    match action {
        DeadLetterAction::List { data_dir } => {
            let files = DeadLetters::new(&data_dir);
            // The app's own dead letters live in the store, which a running `dev` holds.
            let config = StoreConfig::Embedded {
                dir: data_dir.join("store"),
            };
            let letters = match cosmospark::store::open_store(&config).await {
                Ok(store) => with_app_dead_letters(files, &store),
                Err(error) => {
                    eprintln!(
                        "note: the store is not readable ({error}); the app's own dead letters are not listed (GET /_devhost/deadletters on the running `cosmospark dev` lists everything)"
                    );
                    files
                }
            };
            let entries = letters.entries().await?;
            if entries.is_empty() {
                println!("no dead letters in {}", data_dir.display());
            }
            for entry in entries {
                print_entry(&entry);
            }
            Ok(())
        }
        DeadLetterAction::Replay {
            id,
            all,
            data_dir,
            root,
        } => {
            let _telemetry = init_telemetry()?;
            let args = DevArgs {
                data_dir,
                root,
                ..DevArgs::default()
            };
            let endpoint = local_endpoint((args.host, args.port).into());
            let platform = open_platform(&args, &endpoint)
                .await
                .context("opening the data directory (stop `cosmospark dev` first)")?;
            let ids: Vec<String> = match (id, all) {
                (_, true) => platform
                    .dead_letters
                    .entries()
                    .await?
                    .into_iter()
                    .filter_map(|entry| match entry {
                        Entry::Letter(letter) => Some(letter.id),
                        Entry::Corrupt(_) => None,
                    })
                    .collect(),
                (Some(id), false) => vec![id],
                (None, false) => anyhow::bail!("give a dead letter id or --all"),
            };
            let mut failed = 0;
            for id in &ids {
                match replay(id, &platform.invoker, &platform.dead_letters).await {
                    Ok(Replayed::Sent) => println!("replayed {id}"),
                    Ok(Replayed::SentAndFailedAgain) => {
                        println!("replayed {id}; it failed again and is listed anew")
                    }
                    Err(error) => {
                        failed += 1;
                        eprintln!("{id}: {error}");
                    }
                }
            }
            anyhow::ensure!(failed == 0, "{failed} of {} replays failed", ids.len());
            Ok(())
        }
        DeadLetterAction::Discard { id, data_dir } => {
            // The app's own dead letters live in the store, which a running `dev` holds.
            let config = StoreConfig::Embedded {
                dir: data_dir.join("store"),
            };
            let store = cosmospark::store::open_store(&config).await.with_context(|| {
                format!(
                    "opening the store (stop `cosmospark dev` first, or DELETE /_devhost/deadletters/{id} while it runs)"
                )
            })?;
            let letters = with_app_dead_letters(DeadLetters::new(&data_dir), &store);
            match letters.discard(&id).await {
                Ok(()) => {
                    println!("discarded {id}");
                    Ok(())
                }
                Err(DeadLetterError::NotFound(_)) => {
                    anyhow::bail!(
                        "dead letter `{id}` does not exist in {}",
                        data_dir.display()
                    )
                }
                Err(error) => Err(error.into()),
            }
        }
    }
}

fn print_entry(entry: &Entry) {
    match entry {
        Entry::Letter(letter) => println!(
            "{}  {:<9} {:<28} {:<22} attempts={} at {}{}\n    {}",
            letter.id,
            letter.kind.folder(),
            letter.source,
            letter.function,
            letter.attempts,
            letter.dead_lettered_at,
            if letter.replaying {
                " (being replayed)"
            } else {
                ""
            },
            letter.reason
        ),
        Entry::Corrupt(corrupt) => println!(
            "{}  {:<9} UNREADABLE at {}\n    {}",
            corrupt.id,
            corrupt.kind.folder(),
            corrupt.location,
            corrupt.corrupt
        ),
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
            package::write_zip_with(&entries, out, &Reporter::stderr())?;
            println!(
                "package: {} files written to {}",
                entries.len(),
                out.display()
            );
        }
        (None, Some(dir)) => {
            package::write_dir_with(&entries, dir, &Reporter::stderr())?;
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
    let app = cosmospark::app::function_app(AppServices::declarations_only())
        .context("function registry")?;
    let (problems, warnings) = match Manifest::load(root) {
        Ok(manifest) => {
            let mut problems = check(&manifest, &app, EXECUTABLE);
            problems.extend(check_settings(&manifest, settings::APP_SETTINGS));
            (problems, manifest.warnings)
        }
        Err(problems) => (problems, Vec::new()),
    };
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    if problems.is_empty() {
        println!(
            "check: {} functions match their handlers ({} warning(s))",
            app.declarations().len(),
            warnings.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &problems {
        eprintln!("{problem}");
    }
    eprintln!("check: {} problem(s) in {}", problems.len(), root.display());
    Ok(ExitCode::FAILURE)
}
