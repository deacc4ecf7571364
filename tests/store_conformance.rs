//! One conformance suite for every `DocumentStore` backend: each case runs against the embedded
//! backend on a temp dir and against the Cosmos DB backend over the SDK's in-memory emulator.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use cosmospark::store::{
    BatchOp, ChangeFeedConsumer, ChangeFeedRequest, ChangeFeedStart, CmpOp, ContainerSpec, ETag,
    PartitionKey, Query, SortOrder, Store,
};
use serde_json::{Value, json};

fn pk(s: &str) -> PartitionKey {
    PartitionKey::from(s)
}

async fn users(store: &Store) -> &'static str {
    store
        .ensure_container(&ContainerSpec::parse("users", "/userId").unwrap())
        .await
        .unwrap();
    "users"
}

fn ids(docs: &[Value]) -> Vec<String> {
    docs.iter()
        .map(|d| d["id"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Reads pages until an empty one; returns every item and the final continuation.
async fn drain(store: &Store, c: &str, start: ChangeFeedStart, max: u32) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    let mut start = start;
    loop {
        let page = store
            .read_change_feed(c, &ChangeFeedRequest::new(start).max_items(max))
            .await
            .unwrap();
        assert!(
            page.items.len() <= max as usize,
            "page larger than max_items"
        );
        let empty = page.items.is_empty();
        items.extend(page.items);
        start = ChangeFeedStart::Continuation(page.continuation.clone());
        if empty {
            return (items, page.continuation);
        }
    }
}

/// [`drain`] through `read_change_feed_raw`, each item decoded from its text.
async fn drain_raw(store: &Store, c: &str, start: ChangeFeedStart, max: u32) -> Vec<Value> {
    let mut items = Vec::new();
    let mut start = start;
    loop {
        let page = store
            .read_change_feed_raw(c, &ChangeFeedRequest::new(start).max_items(max))
            .await
            .unwrap();
        assert!(
            page.items.len() <= max as usize,
            "page larger than max_items"
        );
        if page.items.is_empty() {
            return items;
        }
        items.extend(page.items.iter().map(|text| {
            serde_json::from_slice::<Value>(text).expect("a raw item is one JSON document")
        }));
        start = ChangeFeedStart::Continuation(page.continuation);
    }
}

/// Groups change-feed items by partition key, keeping their order.
fn by_pk(items: &[Value], path: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for item in items {
        let key = item.pointer(path).map(Value::to_string).unwrap_or_default();
        out.entry(key)
            .or_default()
            .push(item["id"].as_str().unwrap_or("?").to_owned());
    }
    out
}

pub async fn crud_round_trip(store: Store) {
    let c = users(&store).await;
    let created = store
        .create(c, &pk("u1"), json!({"id": "a", "userId": "u1", "n": 1}))
        .await
        .unwrap();
    assert_eq!(created["n"], 1);
    assert!(created["_etag"].is_string(), "{created}");
    assert!(created["_ts"].as_i64().unwrap() > 1_700_000_000);
    let read = store.read(c, &pk("u1"), "a").await.unwrap().unwrap();
    assert_eq!(read["_etag"], created["_etag"]);
    assert_eq!(read["n"], 1);

    let upserted = store
        .upsert(c, &pk("u1"), json!({"id": "a", "userId": "u1", "n": 2}))
        .await
        .unwrap();
    assert_ne!(upserted["_etag"], created["_etag"]);
    let fresh = store
        .upsert(c, &pk("u1"), json!({"id": "b", "userId": "u1", "n": 9}))
        .await
        .unwrap();
    assert_eq!(fresh["n"], 9);

    let etag = ETag::of(&upserted).unwrap();
    let replaced = store
        .replace(
            c,
            &pk("u1"),
            json!({"id": "a", "userId": "u1", "n": 3}),
            Some(&etag),
        )
        .await
        .unwrap();
    assert_eq!(
        store.read(c, &pk("u1"), "a").await.unwrap().unwrap()["n"],
        3
    );

    store
        .delete(c, &pk("u1"), "a", ETag::of(&replaced).as_ref())
        .await
        .unwrap();
    assert!(store.read(c, &pk("u1"), "a").await.unwrap().is_none());
    assert!(store.read(c, &pk("u1"), "b").await.unwrap().is_some());
}

pub async fn duplicate_create_conflicts(store: Store) {
    let c = users(&store).await;
    store
        .create(c, &pk("u1"), json!({"id": "a", "userId": "u1"}))
        .await
        .unwrap();
    let err = store
        .create(c, &pk("u1"), json!({"id": "a", "userId": "u1"}))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(err.status(), 409);
    // The same id in another partition is a different item.
    store
        .create(c, &pk("u2"), json!({"id": "a", "userId": "u2"}))
        .await
        .unwrap();
}

pub async fn stale_etag_fails_precondition(store: Store) {
    let c = users(&store).await;
    let v1 = store
        .create(c, &pk("u1"), json!({"id": "a", "userId": "u1", "n": 1}))
        .await
        .unwrap();
    let stale = ETag::of(&v1).unwrap();
    store
        .upsert(c, &pk("u1"), json!({"id": "a", "userId": "u1", "n": 2}))
        .await
        .unwrap();
    let err = store
        .replace(
            c,
            &pk("u1"),
            json!({"id": "a", "userId": "u1", "n": 3}),
            Some(&stale),
        )
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    assert_eq!(err.status(), 412);
    let err = store
        .delete(c, &pk("u1"), "a", Some(&stale))
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    assert_eq!(
        store.read(c, &pk("u1"), "a").await.unwrap().unwrap()["n"],
        2
    );
}

pub async fn missing_items_are_not_found(store: Store) {
    let c = users(&store).await;
    store
        .create(c, &pk("u1"), json!({"id": "a", "userId": "u1"}))
        .await
        .unwrap();
    assert!(store.read(c, &pk("u1"), "nope").await.unwrap().is_none());
    assert!(
        store.read(c, &pk("u2"), "a").await.unwrap().is_none(),
        "wrong partition key reads nothing"
    );
    let err = store
        .replace(c, &pk("u1"), json!({"id": "nope", "userId": "u1"}), None)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = store.delete(c, &pk("u1"), "nope", None).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = store
        .read("no_such_container", &pk("u1"), "a")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

pub async fn partition_key_mismatch_is_bad_request(store: Store) {
    let c = users(&store).await;
    let err = store
        .create(c, &pk("u1"), json!({"id": "a", "userId": "u2"}))
        .await
        .unwrap_err();
    assert!(err.is_bad_request(), "{err}");
    assert_eq!(err.status(), 400);
    let err = store
        .upsert(c, &pk("u1"), json!({"id": "a", "userId": "u2"}))
        .await
        .unwrap_err();
    assert!(err.is_bad_request(), "{err}");
    assert!(store.read(c, &pk("u2"), "a").await.unwrap().is_none());
}

pub async fn oversized_item_is_too_large(store: Store) {
    let c = users(&store).await;
    let big = "x".repeat(2 * 1024 * 1024 + 10);
    let err = store
        .create(
            c,
            &pk("u1"),
            json!({"id": "big", "userId": "u1", "blob": big}),
        )
        .await
        .unwrap_err();
    assert!(err.is_too_large(), "{err}");
    assert_eq!(err.status(), 413);
    let fine = "x".repeat(1024 * 1024);
    store
        .create(
            c,
            &pk("u1"),
            json!({"id": "ok", "userId": "u1", "blob": fine}),
        )
        .await
        .unwrap();
}

pub async fn invalid_ids_are_rejected(store: Store) {
    let c = users(&store).await;
    for bad in ["a/b", "a\\b", "a?b", "a#b"] {
        let err = store
            .create(c, &pk("u1"), json!({"id": bad, "userId": "u1"}))
            .await
            .unwrap_err();
        assert!(err.is_bad_request(), "{bad}: {err}");
        assert!(err.to_string().contains("id"), "{err}");
    }
    let long = "x".repeat(256);
    let err = store
        .create(c, &pk("u1"), json!({"id": long, "userId": "u1"}))
        .await
        .unwrap_err();
    assert!(err.is_bad_request(), "{err}");
    let err = store
        .create(c, &pk("u1"), json!({"userId": "u1"}))
        .await
        .unwrap_err();
    assert!(
        err.is_bad_request() && err.to_string().contains("id"),
        "{err}"
    );
    let err = store
        .create(c, &pk("u1"), json!({"id": 7, "userId": "u1"}))
        .await
        .unwrap_err();
    assert!(err.is_bad_request(), "{err}");
    store
        .create(c, &pk("u1"), json!({"id": "x".repeat(255), "userId": "u1"}))
        .await
        .unwrap();
}

pub async fn nested_partition_key_path(store: Store) {
    store
        .ensure_container(&ContainerSpec::parse("chats", "/chat/id").unwrap())
        .await
        .unwrap();
    // ensure_container is idempotent.
    store
        .ensure_container(&ContainerSpec::parse("chats", "/chat/id").unwrap())
        .await
        .unwrap();
    let err = store
        .ensure_container(&ContainerSpec::parse("chats", "/id").unwrap())
        .await
        .unwrap_err();
    assert!(
        err.is_bad_request() && err.to_string().contains("/chat/id"),
        "{err}"
    );
    let doc = json!({"id": "m1", "chat": {"id": "c1"}, "text": "hi"});
    store.create("chats", &pk("c1"), doc).await.unwrap();
    assert_eq!(
        store.read("chats", &pk("c1"), "m1").await.unwrap().unwrap()["text"],
        "hi"
    );
    let err = store
        .create(
            "chats",
            &pk("c2"),
            json!({"id": "m2", "chat": {"id": "c1"}}),
        )
        .await
        .unwrap_err();
    assert!(err.is_bad_request(), "{err}");
}

async fn seed_scores(store: &Store) -> &'static str {
    let c = users(store).await;
    for (id, user, score, name) in [
        ("s1", "u1", 5, "e"),
        ("s2", "u1", 3, "b"),
        ("s3", "u1", 9, "a"),
        ("s4", "u2", 7, "d"),
        ("s5", "u2", 1, "c"),
        ("s6", "u3", 4, "f"),
    ] {
        let doc = json!({"id": id, "userId": user, "score": score, "name": name, "meta": {"tier": score % 2}});
        store.create(c, &pk(user), doc).await.unwrap();
    }
    c
}

pub async fn single_partition_queries(store: Store) {
    let c = seed_scores(&store).await;
    let u1 = pk("u1");
    let all = store.query(c, Some(&u1), &Query::new()).await.unwrap();
    assert_eq!(sorted(ids(&all)), ["s1", "s2", "s3"]);
    let desc = Query::new().order_by("/score", SortOrder::Desc);
    assert_eq!(
        ids(&store.query(c, Some(&u1), &desc).await.unwrap()),
        ["s3", "s1", "s2"]
    );
    let asc_top = Query::new().order_by("/score", SortOrder::Asc).top(2);
    assert_eq!(
        ids(&store.query(c, Some(&u1), &asc_top).await.unwrap()),
        ["s2", "s1"]
    );
    let paged = Query::new()
        .order_by("/name", SortOrder::Asc)
        .offset(1)
        .limit(1);
    assert_eq!(
        ids(&store.query(c, Some(&u1), &paged).await.unwrap()),
        ["s2"]
    );
    let range = Query::new()
        .filter("/score", CmpOp::Ge, 5)
        .filter("/score", CmpOp::Lt, 9);
    assert_eq!(
        ids(&store.query(c, Some(&u1), &range).await.unwrap()),
        ["s1"]
    );
    let nested = Query::new()
        .eq("/meta/tier", 1)
        .order_by("/score", SortOrder::Asc);
    assert_eq!(
        ids(&store.query(c, Some(&u1), &nested).await.unwrap()),
        ["s2", "s1", "s3"]
    );
    let strings = Query::new()
        .filter("/name", CmpOp::Gt, "a")
        .order_by("/name", SortOrder::Asc);
    assert_eq!(
        ids(&store.query(c, Some(&u1), &strings).await.unwrap()),
        ["s2", "s1"]
    );
    let mixed = Query::new().filter("/score", CmpOp::Gt, "1");
    assert!(
        store.query(c, Some(&u1), &mixed).await.unwrap().is_empty(),
        "number vs string never matches"
    );
    assert_eq!(store.count(c, Some(&u1), &Query::new()).await.unwrap(), 3);
    assert_eq!(
        store
            .count(c, Some(&u1), &Query::new().filter("/score", CmpOp::Gt, 4))
            .await
            .unwrap(),
        2
    );
    let projected = store
        .query(
            c,
            Some(&u1),
            &Query::new()
                .eq("/id", "s3")
                .select(&["/name", "/meta/tier"]),
        )
        .await
        .unwrap();
    assert_eq!(projected, vec![json!({"name": "a", "tier": 1})]);
}

pub async fn cross_partition_queries(store: Store) {
    let c = seed_scores(&store).await;
    let all = store.query(c, None, &Query::new()).await.unwrap();
    assert_eq!(sorted(ids(&all)), ["s1", "s2", "s3", "s4", "s5", "s6"]);
    let desc = Query::new().order_by("/score", SortOrder::Desc);
    assert_eq!(
        ids(&store.query(c, None, &desc).await.unwrap()),
        ["s3", "s4", "s1", "s6", "s2", "s5"]
    );
    let top = Query::new().order_by("/score", SortOrder::Asc).top(3);
    assert_eq!(
        ids(&store.query(c, None, &top).await.unwrap()),
        ["s5", "s2", "s6"]
    );
    let page = Query::new()
        .order_by("/score", SortOrder::Asc)
        .offset(2)
        .limit(2);
    assert_eq!(
        ids(&store.query(c, None, &page).await.unwrap()),
        ["s6", "s1"]
    );
    let filtered = Query::new()
        .filter("/score", CmpOp::Le, 4)
        .order_by("/name", SortOrder::Desc);
    assert_eq!(
        ids(&store.query(c, None, &filtered).await.unwrap()),
        ["s6", "s5", "s2"]
    );
    assert_eq!(store.count(c, None, &Query::new()).await.unwrap(), 6);
    assert_eq!(
        store
            .count(c, None, &Query::new().eq("/meta/tier", 0))
            .await
            .unwrap(),
        1
    );
}

pub async fn malformed_queries_are_bad_requests(store: Store) {
    let c = seed_scores(&store).await;
    for q in [
        Query::new().eq("score", 1),
        Query::new().eq("/sc ore", 1),
        Query::new().filter("/score", CmpOp::Lt, json!({"a": 1})),
        Query::new().offset(3),
        Query::new().order_by("/", SortOrder::Asc),
    ] {
        let err = store.query(c, None, &q).await.unwrap_err();
        assert!(err.is_bad_request(), "{q:?}: {err}");
    }
    let err = store
        .count(c, None, &Query::new().top(1))
        .await
        .unwrap_err();
    assert!(err.is_bad_request(), "{err}");
}

pub async fn ttl_hides_expired_items(store: Store) {
    let spec = ContainerSpec::parse("sessions", "/userId")
        .unwrap()
        .with_default_ttl(-1)
        .unwrap();
    store.ensure_container(&spec).await.unwrap();
    let short = ContainerSpec::parse("ephemeral", "/userId")
        .unwrap()
        .with_default_ttl(1)
        .unwrap();
    store.ensure_container(&short).await.unwrap();
    store
        .create(
            "sessions",
            &pk("u1"),
            json!({"id": "short", "userId": "u1", "ttl": 1}),
        )
        .await
        .unwrap();
    store
        .create(
            "sessions",
            &pk("u1"),
            json!({"id": "forever", "userId": "u1"}),
        )
        .await
        .unwrap();
    store
        .create(
            "ephemeral",
            &pk("u1"),
            json!({"id": "gone", "userId": "u1"}),
        )
        .await
        .unwrap();
    store
        .create(
            "ephemeral",
            &pk("u1"),
            json!({"id": "kept", "userId": "u1", "ttl": -1}),
        )
        .await
        .unwrap();
    assert!(
        store
            .read("sessions", &pk("u1"), "short")
            .await
            .unwrap()
            .is_some()
    );
    // TTL is in whole seconds of `_ts`; after 2.5 s a 1-second item is past its expiry.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        store
            .read("sessions", &pk("u1"), "short")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .read("sessions", &pk("u1"), "forever")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .read("ephemeral", &pk("u1"), "gone")
            .await
            .unwrap()
            .is_none()
    );
    let left = store.query("ephemeral", None, &Query::new()).await.unwrap();
    assert_eq!(ids(&left), ["kept"]);
    // Counts skip them, with and without a filter (the unfiltered count reads system members
    // only).
    for container in ["sessions", "ephemeral"] {
        assert_eq!(
            store.count(container, None, &Query::new()).await.unwrap(),
            1,
            "{container}"
        );
        assert_eq!(
            store
                .count(
                    container,
                    Some(&pk("u1")),
                    &Query::new().eq("/userId", "u1")
                )
                .await
                .unwrap(),
            1,
            "{container}"
        );
    }
    // Both change-feed reads hide expired items too.
    let (feed, _) = drain(&store, "sessions", ChangeFeedStart::Beginning, 10).await;
    assert_eq!(ids(&feed), ["forever"]);
    let raw = drain_raw(&store, "ephemeral", ChangeFeedStart::Beginning, 10).await;
    assert_eq!(ids(&raw), ["kept"]);
    // An expired id can be created again.
    store
        .create(
            "ephemeral",
            &pk("u1"),
            json!({"id": "gone", "userId": "u1"}),
        )
        .await
        .unwrap();
}

pub async fn batch_is_atomic(store: Store) {
    let c = users(&store).await;
    let v1 = store
        .create(c, &pk("u1"), json!({"id": "c", "userId": "u1", "n": 1}))
        .await
        .unwrap();
    let stale = ETag::of(&v1).unwrap();
    store
        .upsert(c, &pk("u1"), json!({"id": "c", "userId": "u1", "n": 2}))
        .await
        .unwrap();
    let failed = store
        .batch(
            c,
            &pk("u1"),
            vec![
                BatchOp::Create(json!({"id": "a", "userId": "u1"})),
                BatchOp::Upsert(json!({"id": "b", "userId": "u1"})),
                BatchOp::Replace {
                    doc: json!({"id": "c", "userId": "u1", "n": 3}),
                    if_match: Some(stale),
                },
            ],
        )
        .await
        .unwrap();
    assert!(!failed.is_success());
    assert_eq!(failed.failure(), Some((2, 412)));
    assert_eq!(
        failed.results.iter().map(|r| r.status).collect::<Vec<_>>(),
        [424, 424, 412]
    );
    assert!(
        store.read(c, &pk("u1"), "a").await.unwrap().is_none(),
        "rolled back"
    );
    assert!(
        store.read(c, &pk("u1"), "b").await.unwrap().is_none(),
        "rolled back"
    );

    let current = store.read(c, &pk("u1"), "c").await.unwrap().unwrap();
    let ok = store
        .batch(
            c,
            &pk("u1"),
            vec![
                BatchOp::Create(json!({"id": "a", "userId": "u1"})),
                BatchOp::Replace {
                    doc: json!({"id": "c", "userId": "u1", "n": 3}),
                    if_match: ETag::of(&current),
                },
                BatchOp::Read { id: "a".into() },
                BatchOp::Delete {
                    id: "a".into(),
                    if_match: None,
                },
            ],
        )
        .await
        .unwrap();
    assert!(ok.is_success(), "{ok:?}");
    assert_eq!(
        ok.results.iter().map(|r| r.status).collect::<Vec<_>>(),
        [201, 200, 200, 204]
    );
    assert_eq!(ok.results[2].item.as_ref().unwrap()["id"], "a");
    assert_eq!(
        store.read(c, &pk("u1"), "c").await.unwrap().unwrap()["n"],
        3
    );
    assert!(store.read(c, &pk("u1"), "a").await.unwrap().is_none());

    let dup = store
        .batch(
            c,
            &pk("u1"),
            vec![BatchOp::Create(json!({"id": "c", "userId": "u1"}))],
        )
        .await
        .unwrap();
    assert_eq!(dup.failure(), Some((0, 409)));

    let too_many = (0..101)
        .map(|i| BatchOp::Upsert(json!({"id": format!("x{i}"), "userId": "u1"})))
        .collect();
    let err = store.batch(c, &pk("u1"), too_many).await.unwrap_err();
    assert!(err.is_bad_request(), "{err}");
}

pub async fn change_feed_latest_version_in_pk_order(store: Store) {
    let c = users(&store).await;
    for (id, user) in [
        ("a", "u1"),
        ("b", "u2"),
        ("c", "u1"),
        ("d", "u2"),
        ("e", "u3"),
    ] {
        store
            .create(c, &pk(user), json!({"id": id, "userId": user, "v": 1}))
            .await
            .unwrap();
    }
    store
        .upsert(c, &pk("u1"), json!({"id": "a", "userId": "u1", "v": 2}))
        .await
        .unwrap();
    store.delete(c, &pk("u3"), "e", None).await.unwrap();
    let (items, _) = drain(&store, c, ChangeFeedStart::Beginning, 100).await;
    let groups = by_pk(&items, "/userId");
    assert_eq!(
        groups["\"u1\""],
        ["c", "a"],
        "a appears once, at its latest position"
    );
    assert_eq!(groups["\"u2\""], ["b", "d"]);
    assert!(
        !groups.contains_key("\"u3\""),
        "deletes are not in the latest-version feed"
    );
    let a = items.iter().find(|d| d["id"] == "a").unwrap();
    assert_eq!(a["v"], 2, "latest version only");

    // Paging with a small max returns the same items.
    let (paged, _) = drain(&store, c, ChangeFeedStart::Beginning, 1).await;
    assert_eq!(by_pk(&paged, "/userId"), groups);

    // The raw feed is the same feed, item for item, page size or not.
    for max in [100, 2] {
        let raw = drain_raw(&store, c, ChangeFeedStart::Beginning, max).await;
        assert_eq!(by_pk(&raw, "/userId"), groups);
        assert_eq!(raw.len(), items.len());
    }
}

pub async fn change_feed_resume_now_and_time(store: Store) {
    let c = users(&store).await;
    store
        .create(c, &pk("u1"), json!({"id": "old", "userId": "u1"}))
        .await
        .unwrap();
    let (_, from_now) = drain(&store, c, ChangeFeedStart::Now, 10).await;
    store
        .create(c, &pk("u1"), json!({"id": "new", "userId": "u1"}))
        .await
        .unwrap();
    store
        .create(c, &pk("u2"), json!({"id": "new2", "userId": "u2"}))
        .await
        .unwrap();

    let (items, cont) = drain(&store, c, ChangeFeedStart::Continuation(from_now), 10).await;
    assert_eq!(sorted(ids(&items)), ["new", "new2"]);

    let (items, cont) = drain(&store, c, ChangeFeedStart::Continuation(cont), 10).await;
    assert!(items.is_empty(), "nothing new after a drained continuation");
    store
        .upsert(
            c,
            &pk("u1"),
            json!({"id": "old", "userId": "u1", "touched": true}),
        )
        .await
        .unwrap();
    let (items, _) = drain(&store, c, ChangeFeedStart::Continuation(cont), 10).await;
    assert_eq!(ids(&items), ["old"]);

    let scoped = store
        .read_change_feed(
            c,
            &ChangeFeedRequest::new(ChangeFeedStart::Beginning).partition(pk("u2")),
        )
        .await
        .unwrap();
    assert_eq!(ids(&scoped.items), ["new2"]);
}

pub async fn change_feed_from_time(store: Store) {
    let c = users(&store).await;
    store
        .create(c, &pk("u1"), json!({"id": "old", "userId": "u1"}))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let since = chrono::Utc::now();
    store
        .create(c, &pk("u1"), json!({"id": "new", "userId": "u1"}))
        .await
        .unwrap();
    store
        .create(c, &pk("u2"), json!({"id": "new2", "userId": "u2"}))
        .await
        .unwrap();
    let (items, _) = drain(&store, c, ChangeFeedStart::Time(since), 10).await;
    assert_eq!(sorted(ids(&items)), ["new", "new2"]);
}

pub async fn leases_track_independent_consumers(store: Store) {
    let c = users(&store).await;
    for i in 0..5 {
        store
            .create(c, &pk("u1"), json!({"id": format!("i{i}"), "userId": "u1"}))
            .await
            .unwrap();
    }
    let open = |name: &'static str| {
        ChangeFeedConsumer::open(store.clone(), c, "leases", name, ChangeFeedStart::Beginning)
    };
    let first = open("relay").await.unwrap().with_max_items(2);
    let second = open("projector").await.unwrap().with_max_items(10);

    let page = first.next_page().await.unwrap();
    assert_eq!(ids(&page.items), ["i0", "i1"]);
    // Not checkpointed: the same page comes again.
    assert_eq!(ids(&first.next_page().await.unwrap().items), ["i0", "i1"]);
    first.checkpoint(&page).await.unwrap();
    let page = first.next_page().await.unwrap();
    assert_eq!(ids(&page.items), ["i2", "i3"]);
    first.checkpoint(&page).await.unwrap();

    let all = second.next_page().await.unwrap();
    assert_eq!(ids(&all.items), ["i0", "i1", "i2", "i3", "i4"]);
    second.checkpoint(&all).await.unwrap();

    // A reopened consumer resumes from its lease; a stale instance cannot overwrite it.
    let reopened = open("relay").await.unwrap().with_max_items(10);
    let rest = reopened.next_page().await.unwrap();
    assert_eq!(ids(&rest.items), ["i4"]);
    reopened.checkpoint(&rest).await.unwrap();
    let err = first.checkpoint(&rest).await.unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    assert!(reopened.next_page().await.unwrap().items.is_empty());
    assert!(
        open("projector")
            .await
            .unwrap()
            .next_page()
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

/// The store's backlog count for `start` (and `partition`) against reading the feed from there:
/// the same number of items, and the oldest write is the first item's.
async fn backlog_matches_a_read(
    store: &Store,
    c: &str,
    start: ChangeFeedStart,
    partition: Option<PartitionKey>,
) -> u64 {
    let counted = store
        .change_feed_backlog(c, &start, partition.as_ref())
        .await
        .unwrap()
        .expect("the embedded store counts its change feed");
    let mut request = ChangeFeedRequest::new(start).max_items(1000);
    request.partition_key = partition;
    let page = store.read_change_feed(c, &request).await.unwrap();
    assert_eq!(counted.pending, page.items.len() as u64, "{request:?}");
    assert_eq!(
        counted.oldest.map(|at| at.timestamp()),
        page.items.first().and_then(|d| d["_ts"].as_i64()),
        "{request:?}"
    );
    counted.pending
}

pub async fn change_feed_backlog_counts_what_a_read_returns(store: Store) {
    let c = users(&store).await;
    for (id, user) in [
        ("a1", "u1"),
        ("a2", "u1"),
        ("b1", "u2"),
        ("b2", "u2"),
        ("c1", "u3"),
    ] {
        store
            .create(c, &pk(user), json!({"id": id, "userId": user}))
            .await
            .unwrap();
    }
    // An update moves a1 to the end of the feed; a deleted item leaves it.
    store
        .upsert(c, &pk("u1"), json!({"id": "a1", "userId": "u1", "v": 2}))
        .await
        .unwrap();
    store.delete(c, &pk("u2"), "b2", None).await.unwrap();
    let beginning = ChangeFeedStart::Beginning;
    assert_eq!(
        backlog_matches_a_read(&store, c, beginning.clone(), None).await,
        4
    );
    assert_eq!(
        backlog_matches_a_read(&store, c, beginning.clone(), Some(pk("u1"))).await,
        2
    );
    assert_eq!(
        backlog_matches_a_read(&store, c, beginning.clone(), Some(pk("nobody"))).await,
        0
    );
    let first = store
        .read_change_feed(c, &ChangeFeedRequest::new(beginning).max_items(1))
        .await
        .unwrap();
    let after_first = ChangeFeedStart::Continuation(first.continuation);
    assert_eq!(
        backlog_matches_a_read(&store, c, after_first.clone(), None).await,
        3
    );
    assert_eq!(
        backlog_matches_a_read(&store, c, after_first, Some(pk("u2"))).await,
        1
    );
    let (_, end) = drain(&store, c, ChangeFeedStart::Beginning, 2).await;
    let end = ChangeFeedStart::Continuation(end);
    assert_eq!(
        backlog_matches_a_read(&store, c, end.clone(), None).await,
        0
    );
    assert_eq!(
        backlog_matches_a_read(&store, c, ChangeFeedStart::Now, None).await,
        0
    );
    let past = ChangeFeedStart::Time(chrono::Utc::now() - chrono::Duration::hours(1));
    assert_eq!(backlog_matches_a_read(&store, c, past, None).await, 4);
    store
        .create(c, &pk("u4"), json!({"id": "d1", "userId": "u4"}))
        .await
        .unwrap();
    assert_eq!(backlog_matches_a_read(&store, c, end, None).await, 1);
    let unknown = store
        .change_feed_backlog("missing", &ChangeFeedStart::Beginning, None)
        .await;
    assert!(unknown.is_err_and(|e| e.is_not_found()));
}

macro_rules! conformance {
    ($($case:ident),* $(,)?; embedded only: $($embedded_case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    let fixture = super::support::store::embedded().await;
                    super::$case(fixture.store.clone()).await;
                }
            )*
            $(
                #[tokio::test]
                async fn $embedded_case() {
                    let fixture = super::support::store::embedded().await;
                    super::$embedded_case(fixture.store.clone()).await;
                }
            )*
        }
        mod cosmos_emulator {
            $(
                #[tokio::test]
                async fn $case() {
                    let store = super::support::store::cosmos_emulator().await;
                    super::$case(store).await;
                }
            )*
        }
    };
}

conformance!(
    crud_round_trip,
    duplicate_create_conflicts,
    stale_etag_fails_precondition,
    missing_items_are_not_found,
    partition_key_mismatch_is_bad_request,
    oversized_item_is_too_large,
    invalid_ids_are_rejected,
    nested_partition_key_path,
    single_partition_queries,
    cross_partition_queries,
    malformed_queries_are_bad_requests,
    batch_is_atomic,
    change_feed_latest_version_in_pk_order,
    change_feed_resume_now_and_time,
    leases_track_independent_consumers;
    // The SDK's in-memory emulator implements neither TTL expiry nor a point-in-time change-feed
    // start (it ignores `If-Modified-Since`); real Cosmos DB does both server-side.
    // The Cosmos DB backend answers no backlog count (`None`): its feed has no positions to count.
    embedded only: ttl_hides_expired_items, change_feed_from_time,
    change_feed_backlog_counts_what_a_read_returns,
);
