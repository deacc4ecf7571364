//! Embedded-backend specifics beyond the shared conformance suite: persistence across reopen,
//! purging of expired items, and correctness under many concurrent writers.

mod support;

use std::sync::Arc;
use std::time::Duration;

use cosmospark::store::embedded::EmbeddedStore;
use cosmospark::store::{
    BatchOp, ChangeFeedRequest, ChangeFeedStart, ContainerSpec, ETag, PartitionKey, Query, Store,
};
use serde_json::json;

#[tokio::test]
async fn data_and_containers_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path()).await.unwrap();
        let store: Store = Arc::new(store);
        store
            .ensure_container(&ContainerSpec::parse("chats", "/chat/id").unwrap())
            .await
            .unwrap();
        store
            .create(
                "chats",
                &PartitionKey::from("c1"),
                json!({"id": "m1", "chat": {"id": "c1"}}),
            )
            .await
            .unwrap();
    }
    // The first handle is gone; its purge task holds only a weak reference.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let store = EmbeddedStore::open(dir.path()).await.unwrap();
    let read = store_read(&store, "chats", "c1", "m1").await;
    assert_eq!(read["chat"]["id"], "c1");
    let page = cosmospark::store::DocumentStore::read_change_feed(
        &store,
        "chats",
        &ChangeFeedRequest::new(ChangeFeedStart::Beginning),
    )
    .await
    .unwrap();
    assert_eq!(page.items.len(), 1);
}

async fn store_read(store: &EmbeddedStore, c: &str, pk: &str, id: &str) -> serde_json::Value {
    cosmospark::store::DocumentStore::read(store, c, &PartitionKey::from(pk), id)
        .await
        .unwrap()
        .expect("item present")
}

#[tokio::test]
async fn purge_removes_expired_items_and_their_feed_entries() {
    let dir = tempfile::tempdir().unwrap();
    let embedded = EmbeddedStore::open(dir.path()).await.unwrap();
    let store: Store = Arc::new(embedded.clone());
    let spec = ContainerSpec::parse("sessions", "/userId")
        .unwrap()
        .with_default_ttl(1)
        .unwrap();
    store.ensure_container(&spec).await.unwrap();
    let pk = PartitionKey::from("u1");
    store
        .create("sessions", &pk, json!({"id": "a", "userId": "u1"}))
        .await
        .unwrap();
    store
        .create(
            "sessions",
            &pk,
            json!({"id": "b", "userId": "u1", "ttl": -1}),
        )
        .await
        .unwrap();
    assert_eq!(
        embedded.purge_expired().await.unwrap(),
        0,
        "nothing has expired yet"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(embedded.purge_expired().await.unwrap(), 1);
    let feed = store
        .read_change_feed(
            "sessions",
            &ChangeFeedRequest::new(ChangeFeedStart::Beginning),
        )
        .await
        .unwrap();
    assert_eq!(feed.items.len(), 1);
    assert_eq!(feed.items[0]["id"], "b");
    assert_eq!(
        store.count("sessions", None, &Query::new()).await.unwrap(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_etag_guarded_increments_lose_nothing() {
    let fixture = support::store::embedded().await;
    let store = fixture.store.clone();
    store
        .ensure_container(&ContainerSpec::parse("counters", "/id").unwrap())
        .await
        .unwrap();
    let pk = PartitionKey::from("hits");
    store
        .create("counters", &pk, json!({"id": "hits", "n": 0}))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let pk = pk.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                loop {
                    let current = store.read("counters", &pk, "hits").await.unwrap().unwrap();
                    let n = current["n"].as_i64().unwrap();
                    let next = json!({"id": "hits", "n": n + 1});
                    match store
                        .replace("counters", &pk, next, ETag::of(&current).as_ref())
                        .await
                    {
                        Ok(_) => break,
                        Err(e) if e.is_precondition_failed() => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        store.read("counters", &pk, "hits").await.unwrap().unwrap()["n"],
        80
    );
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Score {
    id: String,
    #[serde(rename = "userId")]
    user_id: String,
    points: i64,
}

#[tokio::test]
async fn typed_helpers_round_trip_models() {
    use cosmospark::store::DocumentStoreExt;
    let fixture = support::store::embedded().await;
    let store = fixture.store.clone();
    store
        .ensure_container(&ContainerSpec::parse("scores", "/userId").unwrap())
        .await
        .unwrap();
    let pk = PartitionKey::from("u1");
    let score = Score {
        id: "s1".into(),
        user_id: "u1".into(),
        points: 4,
    };
    assert_eq!(store.create_as("scores", &pk, &score).await.unwrap(), score);
    let read: Option<Score> = store.read_as("scores", &pk, "s1").await.unwrap();
    assert_eq!(read, Some(score));
    let found: Vec<Score> = store
        .query_as("scores", None, &Query::new().eq("/points", 4))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    store
        .upsert(
            "scores",
            &pk,
            json!({"id": "bad", "userId": "u1", "points": "four"}),
        )
        .await
        .unwrap();
    let err = store
        .read_as::<Score>("scores", &pk, "bad")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`bad`"), "{err}");
}

#[tokio::test]
async fn feed_readers_are_woken_by_commits() {
    let fixture = support::store::embedded().await;
    let store = fixture.store.clone();
    store
        .ensure_container(&ContainerSpec::parse("events", "/id").unwrap())
        .await
        .unwrap();
    let mut commits = store
        .commit_notifications()
        .expect("embedded store notifies");
    commits.borrow_and_update();
    let empty = store
        .read_change_feed("events", &ChangeFeedRequest::new(ChangeFeedStart::Now))
        .await
        .unwrap();
    assert!(empty.items.is_empty());
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .create("events", &PartitionKey::from("e1"), json!({"id": "e1"}))
                .await
                .unwrap();
        })
    };
    commits.changed().await.expect("a commit wakes the reader");
    writer.await.unwrap();
    let page = store
        .read_change_feed(
            "events",
            &ChangeFeedRequest::new(ChangeFeedStart::Continuation(empty.continuation)),
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_sharing_a_group_commit_keep_their_own_outcomes() {
    use cosmospark::store::BatchOp;
    let fixture = support::store::embedded().await;
    let store = fixture.store.clone();
    store
        .ensure_container(&ContainerSpec::parse("items", "/pk").unwrap())
        .await
        .unwrap();
    let taken = json!({"id": "taken", "pk": "b"});
    store
        .create("items", &PartitionKey::from("b"), taken)
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..48 {
        let store = store.clone();
        tasks.spawn(async move {
            match n % 3 {
                // Everyone creates the same id: exactly one may win.
                0 => store
                    .create(
                        "items",
                        &PartitionKey::from("a"),
                        json!({"id": "dup", "pk": "a"}),
                    )
                    .await
                    .map(|_| "created")
                    .or_else(|e| (e.status() == 409).then_some("conflict").ok_or(e)),
                // A batch whose second operation conflicts: its first write must vanish.
                1 => {
                    let ops = vec![
                        BatchOp::Create(json!({"id": format!("half-{n}"), "pk": "b"})),
                        BatchOp::Create(json!({"id": "taken", "pk": "b"})),
                    ];
                    let response = store
                        .batch("items", &PartitionKey::from("b"), ops)
                        .await
                        .unwrap();
                    assert_eq!(response.failure(), Some((1, 409)));
                    Ok("batch failed")
                }
                _ => store
                    .upsert(
                        "items",
                        &PartitionKey::from("c"),
                        json!({"id": format!("plain-{n}"), "pk": "c"}),
                    )
                    .await
                    .map(|_| "upserted"),
            }
        });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        outcomes.push(joined.unwrap().unwrap());
    }
    assert_eq!(outcomes.iter().filter(|o| **o == "created").count(), 1);
    assert_eq!(outcomes.iter().filter(|o| **o == "conflict").count(), 15);
    let half: Vec<_> = store
        .query("items", Some(&PartitionKey::from("b")), &Query::new())
        .await
        .unwrap();
    assert_eq!(half.len(), 1, "only `taken` is in partition b: {half:?}");
    // Every committed write is in the feed once, in commit (LSN) order.
    let page = store
        .read_change_feed(
            "items",
            &ChangeFeedRequest::new(ChangeFeedStart::Beginning).max_items(1000),
        )
        .await
        .unwrap();
    let lsns: Vec<u64> = page
        .items
        .iter()
        .map(|d| d["_lsn"].as_u64().unwrap())
        .collect();
    assert_eq!(
        lsns.len(),
        1 + 1 + 16,
        "taken, dup and 16 upserts: {lsns:?}"
    );
    assert!(lsns.windows(2).all(|w| w[0] < w[1]), "{lsns:?}");
}

#[tokio::test]
async fn a_commit_wakes_only_readers_of_its_container() {
    let fixture = support::store::embedded().await;
    let store = fixture.store.clone();
    for name in ["watched", "other"] {
        store
            .ensure_container(&ContainerSpec::parse(name, "/id").unwrap())
            .await
            .unwrap();
    }
    let mut watched = store
        .container_notifications("watched")
        .expect("embedded store notifies per container");
    watched.borrow_and_update();
    store
        .create("other", &PartitionKey::from("o1"), json!({"id": "o1"}))
        .await
        .unwrap();
    assert!(
        !watched.has_changed().unwrap(),
        "a write elsewhere woke the reader"
    );
    store
        .create("watched", &PartitionKey::from("w1"), json!({"id": "w1"}))
        .await
        .unwrap();
    assert!(
        watched.has_changed().unwrap(),
        "its own container's commit must wake it"
    );
}

#[tokio::test]
async fn batches_on_several_partitions_commit_together_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let store: Store = Arc::new(EmbeddedStore::open(dir.path()).await.unwrap());
    store
        .ensure_container(&ContainerSpec::parse("models", "/pk").unwrap())
        .await
        .unwrap();
    let (a, b) = (PartitionKey::from("a"), PartitionKey::from("b"));
    let existing = store
        .create("models", &b, json!({"id": "x", "pk": "b", "n": 0}))
        .await
        .unwrap();
    let stale = ETag::of(&existing).unwrap();
    let commits = store.commit_notifications().unwrap();
    let before = *commits.borrow();

    // One batch fails its ETag check: nothing of any batch is written.
    let responses = store
        .batch_partitions(
            "models",
            vec![
                (
                    a.clone(),
                    vec![BatchOp::Create(json!({"id": "1", "pk": "a"}))],
                ),
                (
                    b.clone(),
                    vec![BatchOp::Replace {
                        doc: json!({"id": "x", "pk": "b", "n": 1}),
                        if_match: Some(ETag("\"not-the-etag\"".into())),
                    }],
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(responses[0].results[0].status, 424);
    assert_eq!(responses[1].failure(), Some((0, 412)));
    assert!(store.read("models", &a, "1").await.unwrap().is_none());
    assert_eq!(
        store.read("models", &b, "x").await.unwrap().unwrap()["n"],
        0
    );

    // Both batches succeed: one commit, every write visible, each with its own result.
    let responses = store
        .batch_partitions(
            "models",
            vec![
                (
                    a.clone(),
                    vec![BatchOp::Create(json!({"id": "1", "pk": "a"}))],
                ),
                (
                    b.clone(),
                    vec![BatchOp::Replace {
                        doc: json!({"id": "x", "pk": "b", "n": 1}),
                        if_match: Some(stale),
                    }],
                ),
            ],
        )
        .await
        .unwrap();
    assert!(responses.iter().all(|r| r.is_success()));
    assert_eq!(responses[0].results[0].status, 201);
    assert_eq!(
        *commits.borrow(),
        before + 1,
        "one commit for both partitions"
    );
    let read = store
        .read_many(
            "models",
            &[
                (a.clone(), "1".to_owned()),
                (b.clone(), "x".to_owned()),
                (a, "missing".to_owned()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(read[0].as_ref().unwrap()["pk"], "a");
    assert_eq!(read[1].as_ref().unwrap()["n"], 1);
    assert!(read[2].is_none());

    // Sizes are checked like a single batch's.
    let empty = store
        .batch_partitions("models", vec![(b, Vec::new())])
        .await;
    assert!(matches!(
        empty,
        Err(cosmospark::store::StoreError::BadRequest(_))
    ));
}
