//! Crash safety of the embedded store: `cosmospark store crash-writer` acknowledges writes and
//! change-feed checkpoints in a loop and is killed with SIGKILL, three times. Afterwards every
//! acknowledged write is present, and the consumer resumes from its checkpoint: nothing
//! confirmed as processed is delivered again, and nothing acknowledged is lost.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;

use cosmospark::store::cli::{CRASH_CONSUMER, CRASH_CONTAINER, CRASH_LEASES};
use cosmospark::store::embedded::EmbeddedStore;
use cosmospark::store::{ChangeFeedConsumer, ChangeFeedStart, PartitionKey, Store};

#[derive(Default)]
struct Log {
    acked: Vec<String>,
    /// Batches whose checkpoint was confirmed.
    confirmed: Vec<Vec<String>>,
    /// Batches being processed when the process died (checkpoint may or may not have landed).
    pending: Vec<Vec<String>>,
}

fn n_of(id: &str) -> u64 {
    id.trim_start_matches("item-").parse().expect("item number")
}

/// Runs one writer until it has acknowledged `acks` writes and `checkpoints` checkpoints, then
/// SIGKILLs it and collects everything it printed.
fn run_and_kill(dir: &std::path::Path, start: u64, log: &mut Log) {
    let mut child = Command::new(support::binary())
        .args(["store", "crash-writer", "--dir"])
        .arg(dir)
        .args(["--start", &start.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start crash-writer");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut acks, mut checkpoints, mut killed) = (0, 0, false);
    let mut processing: Option<Vec<String>> = None;
    for line in rx {
        if let Some(id) = line.strip_prefix("ack ") {
            log.acked.push(id.to_owned());
            acks += 1;
        } else if let Some(ids) = line.strip_prefix("processing ") {
            processing = Some(
                ids.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            );
        } else if line == "checkpoint" {
            log.confirmed
                .push(processing.take().expect("checkpoint follows processing"));
            checkpoints += 1;
        }
        if !killed && acks >= 40 && checkpoints >= 3 {
            child.kill().expect("SIGKILL");
            killed = true;
        }
    }
    reader.join().expect("reader thread");
    let status = child.wait().expect("wait");
    assert!(!status.success(), "writer must have been killed");
    log.pending.extend(processing);
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_and_checkpoints_survive_sigkill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = Log::default();
    for cycle in 0..3 {
        // Fresh id ranges: a write committed but not acknowledged must not collide.
        run_and_kill(dir.path(), cycle * 1_000_000, &mut log);
    }
    assert!(log.acked.len() >= 120);

    let store: Store = Arc::new(EmbeddedStore::open(dir.path()).await.expect("reopen"));
    for id in &log.acked {
        let pk = PartitionKey::from(format!("p{}", n_of(id) % 3));
        assert!(
            store
                .read(CRASH_CONTAINER, &pk, id)
                .await
                .unwrap()
                .is_some(),
            "acknowledged {id} lost"
        );
    }

    let consumer = ChangeFeedConsumer::open(
        store.clone(),
        CRASH_CONTAINER,
        CRASH_LEASES,
        CRASH_CONSUMER,
        ChangeFeedStart::Beginning,
    )
    .await
    .expect("consumer");
    let mut rest = Vec::new();
    loop {
        let page = consumer.next_page().await.expect("page");
        if page.items.is_empty() {
            break;
        }
        consumer.checkpoint(&page).await.expect("checkpoint");
        rest.extend(
            page.items
                .iter()
                .map(|d| d["id"].as_str().expect("id").to_owned()),
        );
    }

    let mut delivered = HashSet::new();
    for id in log.confirmed.iter().flatten().chain(&rest) {
        assert!(
            delivered.insert(id.clone()),
            "{id} delivered again after its checkpoint"
        );
    }
    let pending: HashSet<&String> = log.pending.iter().flatten().collect();
    for id in &log.acked {
        assert!(
            delivered.contains(id) || pending.contains(id),
            "acknowledged {id} never delivered"
        );
    }
    // Per partition key, the remaining feed is in write order.
    let mut by_pk: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for id in &rest {
        by_pk.entry(n_of(id) % 3).or_default().push(n_of(id));
    }
    for (pk, ns) in by_pk {
        assert!(
            ns.windows(2).all(|w| w[0] < w[1]),
            "partition p{pk} out of order: {ns:?}"
        );
    }
}
