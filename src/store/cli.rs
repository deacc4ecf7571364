//! `cosmospark store …`: store tools for people and tests.
//!
//! - `smoke`: against the configured backend, creates containers, writes, reads, queries, runs a
//!   batch and reads the change feed through a lease; prints a JSON summary.
//! - `crash-writer`: writes numbered items to an embedded store forever from concurrent writers
//!   (so they share group commits), printing `ack <id>` after each durable write, and consumes
//!   its change feed, printing `processing <ids>` before and `checkpoint` after each checkpoint.
//!   The crash test kills it with SIGKILL.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::embedded::EmbeddedStore;
use super::{
    BatchOp, ChangeFeedConsumer, ChangeFeedStart, CmpOp, ContainerSpec, ETag, PartitionKey, Query,
    SortOrder, Store, StoreConfig, open_store,
};

/// Arguments of `cosmospark store`.
#[derive(Debug, Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub command: StoreCommand,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Exercise the configured store end to end and print a JSON summary.
    Smoke,
    /// Test helper: write and consume forever on an embedded store (killed by the crash test).
    CrashWriter {
        /// Store directory.
        #[arg(long)]
        dir: PathBuf,
        /// First item number to write.
        #[arg(long, default_value_t = 0)]
        start: u64,
    },
}

/// Runs `cosmospark store <command>`.
pub async fn run_store_command(args: StoreArgs) -> anyhow::Result<()> {
    match args.command {
        StoreCommand::Smoke => {
            let config = StoreConfig::from_env()?;
            let store = open_store(&config).await?;
            let summary = smoke(&store).await?;
            println!("{}", serde_json::to_string(&summary)?);
            Ok(())
        }
        StoreCommand::CrashWriter { dir, start } => crash_writer(dir, start).await,
    }
}

/// Container written by `crash-writer`.
pub const CRASH_CONTAINER: &str = "crash";
/// Lease container and consumer name used by `crash-writer`.
pub const CRASH_LEASES: &str = "leases";
pub const CRASH_CONSUMER: &str = "crash-consumer";

async fn smoke(store: &Store) -> anyhow::Result<Value> {
    let users = ContainerSpec::parse("SmokeUsers", "/userId")?;
    let chats = ContainerSpec::parse("SmokeChats", "/chat/id")?;
    store.ensure_container(&users).await?;
    store.ensure_container(&chats).await?;
    let consumer = ChangeFeedConsumer::open(
        store.clone(),
        "SmokeUsers",
        "SmokeLeases",
        "smoke",
        ChangeFeedStart::Beginning,
    )
    .await?;

    // Fresh partition keys per run, so the smoke test can run again against the same account.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (user1, user2, chat) = (
        format!("{run}-u1"),
        format!("{run}-u2"),
        format!("{run}-c1"),
    );
    let u1 = PartitionKey::from(user1.as_str());
    let created = store
        .create(
            "SmokeUsers",
            &u1,
            json!({"id": "a", "userId": user1, "score": 3}),
        )
        .await?;
    let conflict = store
        .create("SmokeUsers", &u1, json!({"id": "a", "userId": user1}))
        .await
        .err()
        .map(|e| e.status());
    let etag = ETag::of(&created).context("created item has no _etag")?;
    store
        .replace(
            "SmokeUsers",
            &u1,
            json!({"id": "a", "userId": user1, "score": 5}),
            Some(&etag),
        )
        .await?;
    let stale = store
        .replace(
            "SmokeUsers",
            &u1,
            json!({"id": "a", "userId": user1}),
            Some(&etag),
        )
        .await
        .err()
        .map(|e| e.status());
    store
        .upsert(
            "SmokeUsers",
            &u1,
            json!({"id": "b", "userId": user1, "score": 9}),
        )
        .await?;
    store
        .upsert(
            "SmokeUsers",
            &PartitionKey::from(user2.as_str()),
            json!({"id": "c", "userId": user2, "score": 1}),
        )
        .await?;
    let read = store
        .read("SmokeUsers", &u1, "a")
        .await?
        .context("item a missing")?;
    let missing = store.read("SmokeUsers", &u1, "zzz").await?.is_none();
    let ordered: Vec<Value> = store
        .query(
            "SmokeUsers",
            Some(&u1),
            &Query::new()
                .filter("/score", CmpOp::Gt, 0)
                .order_by("/score", SortOrder::Desc),
        )
        .await?
        .into_iter()
        .map(|d| d["id"].clone())
        .collect();
    let count = store.count("SmokeUsers", Some(&u1), &Query::new()).await?;
    let batch = store
        .batch(
            "SmokeChats",
            &PartitionKey::from(chat.as_str()),
            vec![
                BatchOp::Create(json!({"id": "m1", "chat": {"id": chat}, "text": "Hi-CosmosPark"})),
                BatchOp::Create(json!({"id": "m2", "chat": {"id": chat}, "text": "hello"})),
            ],
        )
        .await?;
    let page = consumer.next_page().await?;
    consumer.checkpoint(&page).await?;
    let feed: Vec<Value> = page.items.iter().map(|d| d["id"].clone()).collect();
    store.delete("SmokeUsers", &u1, "b", None).await?;
    let summary = json!({
        "created": created["id"],
        "conflict": conflict,
        "staleReplace": stale,
        "readScore": read["score"],
        "missingIsNone": missing,
        "query": ordered,
        "count": count,
        "batch": batch.results.iter().map(|r| r.status).collect::<Vec<_>>(),
        "changeFeed": feed,
    });
    if conflict != Some(409) || stale != Some(412) || !missing || !batch.is_success() {
        bail!("smoke test found unexpected behaviour: {summary}");
    }
    Ok(summary)
}

/// Partitions written by `crash-writer`, one concurrent writer each, so writes share group
/// commits while each partition's writes stay in number order.
const CRASH_WRITERS: u64 = 3;

async fn crash_writer(dir: PathBuf, start: u64) -> anyhow::Result<()> {
    let embedded = EmbeddedStore::open(&dir).await?;
    let mut wake = embedded.subscribe_container(CRASH_CONTAINER);
    let store: Store = Arc::new(embedded);
    store
        .ensure_container(&ContainerSpec::parse(CRASH_CONTAINER, "/pk")?)
        .await?;
    let consumer = ChangeFeedConsumer::open(
        store.clone(),
        CRASH_CONTAINER,
        CRASH_LEASES,
        CRASH_CONSUMER,
        ChangeFeedStart::Beginning,
    )
    .await?
    .with_max_items(7);
    let mut writers = tokio::task::JoinSet::new();
    for first in start..start + CRASH_WRITERS {
        let store = store.clone();
        writers.spawn(async move {
            for n in (first..).step_by(CRASH_WRITERS as usize) {
                let id = format!("item-{n:08}");
                let pk = PartitionKey::from(format!("p{}", n % 3));
                store
                    .create(
                        CRASH_CONTAINER,
                        &pk,
                        json!({"id": id, "pk": pk.value(), "n": n}),
                    )
                    .await?;
                say(&format!("ack {id}"))?;
            }
            anyhow::Ok(())
        });
    }
    let consume = async {
        loop {
            let page = consumer.next_page().await?;
            if page.items.is_empty() {
                wake.changed().await?;
                continue;
            }
            let ids: Vec<&str> = page.items.iter().filter_map(|d| d["id"].as_str()).collect();
            say(&format!("processing {}", ids.join(",")))?;
            consumer.checkpoint(&page).await?;
            say("checkpoint")?;
        }
    };
    tokio::select! {
        result = consume => result,
        Some(result) = writers.join_next() => result?,
    }
}

/// One whole line on stdout, flushed before returning.
fn say(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}
