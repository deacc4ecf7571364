//! The read models are a function of the *set* of events: any duplication, reordering or
//! replay gives the same documents as one in-order pass — in the pure projection (proptest),
//! through the store, and through a rebuild from the write side.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use cosmospark::app::cqrs::Standings;
use cosmospark::app::cqrs::event::DomainEvent;
use cosmospark::app::cqrs::layout::{Generations, Pointer, partition, stored};
use cosmospark::app::cqrs::model::{LocationDoc, Model, ScoreDoc, day_of, updates};
use cosmospark::app::cqrs::projector::{Incoming, project};
use cosmospark::app::cqrs::rebuild::{RebuildError, rebuild, rebuild_all};
use cosmospark::app::domain::documents::LedgerEntry;
use cosmospark::app::domain::leaderboard::{Window, standings};
use cosmospark::store::{ChangeFeedRequest, ChangeFeedStart, PartitionKey, Store};
use proptest::prelude::*;
use serde_json::{Value, json};
use support::cqrs::*;

const USERS: [&str; 5] = ["ann", "bob", "cy", "dee", "eve"];
const COUNTRIES: [&str; 3] = ["FR", "JP", "BR"];

#[derive(Debug, Clone)]
enum Op {
    User(usize, Option<usize>),
    Message(usize, usize, i64),
    Task(usize, usize, usize, i64),
    Award(usize, i64, i64),
    Command(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..5usize, proptest::option::of(0..3usize)).prop_map(|(u, c)| Op::User(u, c)),
        (0..5usize, 1..5usize, 0..40i64).prop_map(|(a, b, d)| Op::Message(a, (a + b) % 5, d)),
        (0..5usize, 1..5usize, 0..3usize, 0..40i64).prop_map(|(a, b, c, d)| Op::Task(
            a,
            (a + b) % 5,
            c,
            d
        )),
        (0..5usize, 0..7i64, 0..40i64).prop_map(|(u, s, d)| Op::Award(u, s, d)),
        (0..5usize).prop_map(Op::Command),
    ]
}

/// (container, document) for each op; every write gets the next LSN.
fn history(ops: &[Op]) -> Vec<(&'static str, Value)> {
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let lsn = i as u64 + 1;
            match op {
                Op::User(u, c) => ("CosmicUsers", user(USERS[*u], c.map(|c| COUNTRIES[c]), lsn)),
                Op::Message(a, b, d) => (
                    "CosmicChats",
                    message(&format!("m{i}"), USERS[*a], USERS[*b], NOW - d * DAY, lsn),
                ),
                Op::Task(a, b, c, d) => (
                    "CosmicUserTasks",
                    task(
                        &format!("t{i}"),
                        USERS[*a],
                        USERS[*b],
                        COUNTRIES[*c],
                        NOW - d * DAY,
                        lsn,
                    ),
                ),
                Op::Award(u, s, d) => (
                    "CosmicLeaderboards",
                    award(&format!("task-{i}"), USERS[*u], *s, NOW - d * DAY, lsn),
                ),
                Op::Command(u) => (
                    "Commands",
                    command(&format!("c{i}"), USERS[*u], json!({"n": i}), lsn),
                ),
            }
        })
        .collect()
}

type Models = BTreeMap<(Model, String), Value>;

/// One pass of the pure projection over `events`.
fn fold(events: &[DomainEvent]) -> Models {
    let mut models = Models::new();
    for event in events {
        for update in updates(event).unwrap() {
            let key = (update.model(), update.key().to_owned());
            if let Some(next) = update.apply(models.get(&key)).unwrap() {
                models.insert(key, next);
            }
        }
    }
    models
}

fn members(models: &Models) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for ((model, _), body) in models {
        if *model == Model::Countries {
            let location: LocationDoc = serde_json::from_value(body.clone()).unwrap();
            if let Some(country) = location.country {
                out.entry(country).or_default().insert(location.user_id);
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn duplication_reordering_and_replay_give_one_in_order_pass(
        ops in proptest::collection::vec(op(), 1..40),
        duplicates in proptest::collection::vec(0usize..1000, 0..30),
        order in proptest::collection::vec(any::<u64>(), 80),
    ) {
        let events: Vec<DomainEvent> = history(&ops).iter().map(|(c, d)| event(c, d)).collect();
        let mut delivered = events.clone();
        delivered.extend(duplicates.iter().map(|d| events[d % events.len()].clone()));
        let mut keyed: Vec<(u64, usize, DomainEvent)> = delivered
            .into_iter()
            .enumerate()
            .map(|(i, e)| (order[i % order.len()], i, e))
            .collect();
        keyed.sort_by_key(|(k, i, _)| (*k, *i));
        let shuffled: Vec<DomainEvent> = keyed.into_iter().map(|(_, _, e)| e).collect();
        let mut replayed = shuffled.clone();
        replayed.extend(events.iter().cloned());

        let expected = fold(&events);
        prop_assert_eq!(&fold(&shuffled), &expected);
        prop_assert_eq!(&fold(&replayed), &expected);
        prop_assert_eq!(members(&fold(&shuffled)), members(&expected));

        // The leaderboard agrees with the domain's own ledger arithmetic.
        let entries: Vec<LedgerEntry> = history(&ops)
            .into_iter()
            .filter(|(c, _)| *c == "CosmicLeaderboards")
            .map(|(_, d)| serde_json::from_value(d).unwrap())
            .collect();
        let now = chrono::DateTime::from_timestamp(NOW, 0).unwrap();
        for row in standings(&entries, Window::All, now) {
            let doc: ScoreDoc = serde_json::from_value(
                expected[&(Model::Leaderboard, row.user_id.as_str().to_owned())].clone(),
            ).unwrap();
            prop_assert_eq!(doc.totals(day_of(NOW)).all, row.score);
        }
    }
}

fn fixed_history() -> Vec<(&'static str, Value)> {
    let mut ops = Vec::new();
    for i in 0..40usize {
        ops.push(match i % 5 {
            0 => Op::User(i % 5, Some(i % 3)),
            1 => Op::Message(i % 5, (i + 1) % 5, (i % 9) as i64),
            2 => Op::Task(i % 5, (i + 2) % 5, i % 3, (i % 35) as i64),
            3 => Op::Award(i % 5, (i % 6) as i64 + 1, (i % 33) as i64),
            _ => Op::Command(i % 5),
        });
    }
    // A user moves country, then an older location arrives late.
    ops.push(Op::User(0, Some(1)));
    history(&ops)
}

fn incoming(texts: &[String], partition: &str, first: i64) -> Vec<Incoming> {
    texts
        .iter()
        .enumerate()
        .map(|(i, body)| Incoming {
            body: body.clone(),
            partition_id: Some(partition.to_owned()),
            sequence_number: Some(first + i as i64),
            enqueued_time: None,
        })
        .collect()
}

#[tokio::test]
async fn duplicated_and_reordered_batches_project_like_one_ordered_pass() {
    let texts: Vec<String> = fixed_history()
        .iter()
        .map(|(c, d)| event_text(c, d))
        .collect();
    let (ordered, _a) = store().await;
    for (n, chunk) in texts.chunks(10).enumerate() {
        project(&ordered, &incoming(chunk, "0", n as i64 * 10))
            .await
            .unwrap();
    }
    let (messy, _b) = store().await;
    let mut delivered: Vec<String> = texts.iter().rev().cloned().collect();
    delivered.extend(texts.iter().step_by(3).cloned());
    for (n, chunk) in delivered.chunks(7).enumerate() {
        let outcome = project(&messy, &incoming(chunk, "1", n as i64 * 7))
            .await
            .unwrap();
        assert_eq!(outcome.dead_lettered, 0);
    }
    let expected = snapshot(&ordered).await;
    assert!(expected.len() > 10, "{expected:?}");
    assert_eq!(snapshot(&messy).await, expected);

    // The user `ann` ended in JP (the later write), and is listed there only.
    let japan = messy
        .query(
            "ReadModels",
            Some(&PartitionKey::from("country|g1|JP")),
            &cosmospark::store::Query::new(),
        )
        .await
        .unwrap();
    assert!(japan.iter().any(|d| d["userId"] == "ann"));
    let france = messy
        .query(
            "ReadModels",
            Some(&PartitionKey::from("country|g1|FR")),
            &cosmospark::store::Query::new(),
        )
        .await
        .unwrap();
    assert!(!france.iter().any(|d| d["userId"] == "ann"));
}

/// Writes the documents to their write containers (the store sets the system properties).
async fn write(store: &Store, docs: &[(&'static str, Value)]) {
    for (container, doc) in docs {
        let mut doc = doc.clone();
        let map = doc.as_object_mut().unwrap();
        map.retain(|k, _| !k.starts_with('_'));
        let pk = match *container {
            "CosmicChats" => doc["chat"]["id"].clone(),
            "CosmicUserTasks" => doc["userId"].clone(),
            "CosmicLeaderboards" => doc["user"]["id"].clone(),
            _ => doc["id"].clone(),
        };
        store
            .upsert(container, &PartitionKey::new(pk).unwrap(), doc)
            .await
            .unwrap();
    }
}

/// What the relays would publish for every change since `continuations`, projected.
async fn relay_and_project(store: &Store, continuations: &mut BTreeMap<&'static str, String>) {
    for container in [
        "CosmicUsers",
        "CosmicChats",
        "CosmicUserTasks",
        "CosmicLeaderboards",
        "Commands",
    ] {
        loop {
            let start = continuations
                .get(container)
                .cloned()
                .map_or(ChangeFeedStart::Beginning, ChangeFeedStart::Continuation);
            let page = store
                .read_change_feed(container, &ChangeFeedRequest::new(start).max_items(16))
                .await
                .unwrap();
            continuations.insert(container, page.continuation.clone());
            if page.items.is_empty() {
                break;
            }
            let texts: Vec<String> = page
                .items
                .iter()
                .map(|d| event_text(container, d))
                .collect();
            project(store, &incoming(&texts, "2", 0)).await.unwrap();
        }
    }
}

#[tokio::test]
async fn rebuild_equals_incremental_even_while_the_processor_runs() {
    let (store, _dir) = store().await;
    let docs = fixed_history();
    let (first, second) = docs.split_at(25);
    let mut feeds = BTreeMap::new();
    write(&store, first).await;
    relay_and_project(&store, &mut feeds).await;

    // Rebuild every model while the processor keeps projecting new writes.
    let writer = async {
        write(&store, second).await;
        relay_and_project(&store, &mut feeds).await;
    };
    let models = Model::ALL;
    let (reports, ()) = tokio::join!(rebuild_all(&store, &models), writer);
    let reports = reports.unwrap();
    assert!(reports.iter().all(|r| r.generation == 2));
    relay_and_project(&store, &mut feeds).await;
    let incremental_and_rebuilt = snapshot(&store).await;
    let pointer = Pointer::load(&store).await.unwrap();
    assert_eq!(pointer.of(Model::Leaderboard).active, 2);
    assert_eq!(pointer.of(Model::Stats).building, None);

    // A second, quiet rebuild reproduces exactly the same read models.
    for model in Model::ALL {
        let report = rebuild(&store, model).await.unwrap();
        assert_eq!(report.generation, 3);
        assert!(report.removed > 0, "{report:?}");
    }
    assert_eq!(snapshot(&store).await, incremental_and_rebuilt);
    assert_eq!(
        generations(&store).await,
        BTreeSet::from([3]),
        "superseded generations are deleted"
    );

    // And a store that only ever saw the events in order agrees.
    let (fresh, _f) = store_with(&docs).await;
    assert_eq!(snapshot(&fresh).await, incremental_and_rebuilt);

    // The leaderboard index follows the pointer to the new generation.
    let standings = Standings::new();
    let now = chrono::DateTime::from_timestamp(NOW, 0).unwrap();
    let top = standings.top(&store, Window::All, 3, now).await.unwrap();
    let fresh_top = Standings::new()
        .top(&fresh, Window::All, 3, now)
        .await
        .unwrap();
    assert_eq!(top, fresh_top);
    assert!(!top.is_empty() && top[0].rank == 1);
}

/// The generations that have read-model documents.
async fn generations(store: &Store) -> BTreeSet<u64> {
    let docs = store
        .query("ReadModels", None, &cosmospark::store::Query::new())
        .await
        .unwrap();
    docs.iter().filter_map(|d| d["gen"].as_u64()).collect()
}

async fn set_pointer(store: &Store, model: Model, generations: Generations) {
    let mut pointer = Pointer::load(store).await.unwrap();
    pointer.set(model, generations);
    pointer.save(store).await.unwrap();
}

#[tokio::test]
async fn the_processor_never_writes_a_generation_being_built() {
    let (store, _dir) = store().await;
    set_pointer(
        &store,
        Model::Stats,
        Generations {
            active: 1,
            building: Some(2),
            heartbeat: Some(chrono::Utc::now()),
        },
    )
    .await;
    let docs = fixed_history();
    write(&store, &docs).await;
    relay_and_project(&store, &mut BTreeMap::new()).await;
    assert_eq!(generations(&store).await, BTreeSet::from([1]));
    // A live marker refuses a second rebuild.
    let refused = rebuild(&store, Model::Stats).await.unwrap_err();
    assert!(
        matches!(refused, RebuildError::Running { generation: 2, .. }),
        "{refused}"
    );
}

#[tokio::test]
async fn a_rebuild_that_died_is_taken_over_and_its_generation_deleted() {
    let (store, _dir) = store().await;
    let docs = fixed_history();
    write(&store, &docs).await;
    relay_and_project(&store, &mut BTreeMap::new()).await;
    // A rebuild into generation 5 stopped with its process a while ago, half-way.
    let stale = chrono::Utc::now() - chrono::Duration::minutes(10);
    set_pointer(
        &store,
        Model::Stats,
        Generations {
            active: 1,
            building: Some(5),
            heartbeat: Some(stale),
        },
    )
    .await;
    let pk = partition(Model::Stats, 5, "ann");
    store
        .upsert(
            "ReadModels",
            &PartitionKey::from(pk.as_str()),
            stored(Model::Stats, 5, &pk, "ann", json!({"userId": "ann"})),
        )
        .await
        .unwrap();
    assert!(generations(&store).await.contains(&5));

    let report = rebuild(&store, Model::Stats).await.unwrap();
    assert_eq!(report.generation, 6);
    let left = generations(&store).await;
    assert!(!left.contains(&5), "{left:?}");
    assert_eq!(
        Pointer::load(&store)
            .await
            .unwrap()
            .of(Model::Stats)
            .building,
        None
    );
}

#[tokio::test]
async fn a_failed_rebuild_removes_its_half_built_generation() {
    let (store, _dir) = store().await;
    let docs = fixed_history();
    write(&store, &docs).await;
    relay_and_project(&store, &mut BTreeMap::new()).await;
    let before = snapshot(&store).await;
    // An unreadable document where the next generation will write makes the rebuild fail.
    let pk = partition(Model::Stats, 2, "ann");
    store
        .upsert(
            "ReadModels",
            &PartitionKey::from(pk.as_str()),
            stored(
                Model::Stats,
                2,
                &pk,
                "ann",
                json!({"sent": "not a counter"}),
            ),
        )
        .await
        .unwrap();
    let failed = rebuild(&store, Model::Stats).await.unwrap_err();
    assert!(matches!(failed, RebuildError::Project(_)), "{failed}");
    let pointer = Pointer::load(&store).await.unwrap();
    assert_eq!(
        pointer.of(Model::Stats).building,
        None,
        "never left building"
    );
    assert_eq!(pointer.of(Model::Stats).active, 1);
    assert_eq!(generations(&store).await, BTreeSet::from([1]));
    assert_eq!(snapshot(&store).await, before);
}

async fn store_with(docs: &[(&'static str, Value)]) -> (Store, tempfile::TempDir) {
    let (store, dir) = store().await;
    write(&store, docs).await;
    relay_and_project(&store, &mut BTreeMap::new()).await;
    (store, dir)
}
