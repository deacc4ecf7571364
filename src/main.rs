//! The `cosmospark` command line. (Minimal until the CLI issue lands: only `store` tools.)

use clap::{Parser, Subcommand};
use cosmospark::store::cli::{StoreArgs, run_store_command};

#[derive(Debug, Parser)]
#[command(
    name = "cosmospark",
    version,
    about = "CosmosPark custom handler and tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Document store tools (smoke test, crash-test writer).
    Store(StoreArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Store(args) => run_store_command(args).await,
    }
}
