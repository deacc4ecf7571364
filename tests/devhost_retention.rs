//! The local Event Hubs log is bounded like the real service's: events every consumer group
//! has checkpointed past are trimmed, events older than the retention are trimmed even when
//! unread, and a reader positioned before the oldest retained event reads from the oldest one.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cosmospark::devhost::containers::{Containers, EVENT_HUBS_CONTAINER};
use cosmospark::devhost::event_hubs::{EventHubs, OutgoingEvent};
use cosmospark::store::embedded::EmbeddedStore;
use cosmospark::store::{Query, Store};

const HUB: &str = "retained";
const DAY: Duration = Duration::from_secs(86_400);

async fn hubs() -> (EventHubs, Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Store = Arc::new(EmbeddedStore::open(dir.path().join("store")).await.unwrap());
    Containers::load(dir.path())
        .unwrap()
        .ensure_all(&store)
        .await
        .unwrap();
    (EventHubs::new(store.clone(), 1), store, dir)
}

fn events(n: usize) -> Vec<OutgoingEvent> {
    (0..n)
        .map(|i| OutgoingEvent {
            body: format!("{{\"n\":{i}}}"),
            partition_key: None,
            properties: serde_json::Map::new(),
        })
        .collect()
}

async fn stored_events(store: &Store) -> usize {
    let query = Query::new().eq("/kind", "event");
    store
        .query(EVENT_HUBS_CONTAINER, None, &query)
        .await
        .unwrap()
        .len()
}

fn groups(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[tokio::test]
async fn the_log_is_trimmed_behind_every_consumer_groups_checkpoint() {
    let (hubs, store, _dir) = hubs().await;
    hubs.send(HUB, events(250)).await.unwrap();
    hubs.set_checkpoint(HUB, "fast", 0, 180).await.unwrap();
    hubs.set_checkpoint(HUB, "slow", 0, 119).await.unwrap();

    let trimmed = hubs
        .trim(HUB, 0, &groups(&["fast", "slow"]), DAY, Utc::now())
        .await
        .unwrap();
    assert_eq!((trimmed.deleted, trimmed.first), (120, 120));
    assert_eq!(stored_events(&store).await, 130);
    // Both consumers go on from their checkpoints.
    let next = hubs.read(HUB, 0, 119, 5).await.unwrap();
    assert_eq!(next[0].sequence_number, 120);
    assert_eq!(
        hubs.read(HUB, 0, 180, 1).await.unwrap()[0].sequence_number,
        181
    );

    // A group that never checkpointed holds everything back.
    let held = hubs
        .trim(HUB, 0, &groups(&["fast", "slow", "new"]), DAY, Utc::now())
        .await
        .unwrap();
    assert_eq!(held.deleted, 0);
}

#[tokio::test]
async fn events_past_the_retention_are_trimmed_even_unread() {
    let (hubs, store, _dir) = hubs().await;
    hubs.send(HUB, events(150)).await.unwrap();
    hubs.set_checkpoint(HUB, "reader", 0, 9).await.unwrap();
    let tomorrow = Utc::now() + chrono::Duration::hours(25);
    let trimmed = hubs
        .trim(HUB, 0, &groups(&["reader"]), DAY, tomorrow)
        .await
        .unwrap();
    assert_eq!((trimmed.deleted, trimmed.first), (150, 150));
    assert_eq!(stored_events(&store).await, 0);

    // The reader's position expired: it goes on from the oldest retained event.
    hubs.send(HUB, events(3)).await.unwrap();
    let next = hubs.read(HUB, 0, 9, 10).await.unwrap();
    let numbers: Vec<i64> = next.iter().map(|e| e.sequence_number).collect();
    assert_eq!(numbers, vec![150, 151, 152]);
}
