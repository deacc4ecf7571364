//! Differential test of the query engine: random typed queries run against the embedded backend
//! and against the Cosmos DB backend over the SDK's in-memory emulator (which evaluates real
//! Cosmos SQL) on the same documents must return the same results. Deterministic seed.

mod support;

use std::cell::RefCell;

use cosmospark::store::{CmpOp, ContainerSpec, PartitionKey, Query, SortOrder, Store};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};

const PARTITIONS: usize = 4;

fn documents() -> Vec<(String, Value)> {
    (0..40)
        .map(|i: i64| {
            let user = format!("u{}", i as usize % PARTITIONS);
            // Mostly numbers, some strings: range filters across types must not match.
            let score = if i % 7 == 3 {
                json!(format!("{}", i % 20))
            } else {
                json!(i % 20)
            };
            let flag = match i % 3 {
                0 => json!(true),
                1 => json!(false),
                _ => Value::Null,
            };
            let mut doc = json!({
                "id": format!("d{i:02}"),
                "userId": user,
                "rank": (i * 17) % 41,
                "score": score,
                "name": format!("{}", (b'a' + (i % 20) as u8) as char),
                "meta": {"tier": i % 4},
                "flag": flag,
            });
            if i % 5 == 0 {
                doc.as_object_mut().expect("object").remove("flag");
            }
            (user, doc)
        })
        .collect()
}

#[derive(Debug, Clone)]
struct Case {
    filters: Vec<(&'static str, CmpOp, Value)>,
    order: Option<(&'static str, SortOrder)>,
    page: (Option<u64>, Option<(u64, u64)>),
    partition: Option<usize>,
    select: bool,
}

fn op() -> impl Strategy<Value = CmpOp> {
    prop_oneof![
        Just(CmpOp::Eq),
        Just(CmpOp::Lt),
        Just(CmpOp::Le),
        Just(CmpOp::Gt),
        Just(CmpOp::Ge)
    ]
}

fn filter() -> impl Strategy<Value = (&'static str, CmpOp, Value)> {
    prop_oneof![
        (op(), 0i64..22).prop_map(|(o, v)| ("/score", o, json!(v))),
        (op(), 0i64..22).prop_map(|(o, v)| ("/score", o, json!(v.to_string()))),
        (op(), 0u8..22).prop_map(|(o, v)| ("/name", o, json!(((b'a' + v) as char).to_string()))),
        (op(), 0i64..5).prop_map(|(o, v)| ("/meta/tier", o, json!(v))),
        (op(), 0i64..41).prop_map(|(o, v)| ("/rank", o, json!(v))),
        any::<bool>().prop_map(|b| ("/flag", CmpOp::Eq, json!(b))),
        Just(("/flag", CmpOp::Eq, Value::Null)),
        Just(("/missing", CmpOp::Eq, json!(1))),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let order = proptest::option::of((
        prop_oneof![Just("/rank"), Just("/id")],
        prop_oneof![Just(SortOrder::Asc), Just(SortOrder::Desc)],
    ));
    (
        proptest::collection::vec(filter(), 0..3),
        order,
        0u8..3,
        1u64..8,
        0u64..10,
        proptest::option::of(0..PARTITIONS),
        any::<bool>(),
    )
        .prop_map(|(filters, order, paging, n, offset, partition, select)| {
            // Paging is only deterministic with an ORDER BY on a unique field.
            let page = match (order.is_some(), paging) {
                (true, 1) => (Some(n), None),
                (true, 2) => (None, Some((offset, n))),
                _ => (None, None),
            };
            Case {
                filters,
                order,
                page,
                partition,
                select,
            }
        })
}

fn build(case: &Case) -> Query {
    let mut q = Query::new();
    for (path, op, value) in &case.filters {
        q = q.filter(path, *op, value.clone());
    }
    if let Some((path, order)) = case.order {
        q = q.order_by(path, order);
    }
    if let Some(n) = case.page.0 {
        q = q.top(n);
    }
    if let Some((o, l)) = case.page.1 {
        q = q.offset(o).limit(l);
    }
    if case.select {
        q = q.select(&["/id", "/meta/tier", "/flag"]);
    }
    q
}

fn ids(docs: &[Value], ordered: bool) -> Vec<String> {
    let mut ids: Vec<String> = docs
        .iter()
        .map(|d| d["id"].as_str().unwrap_or("?").to_owned())
        .collect();
    if !ordered {
        ids.sort();
    }
    ids
}

async fn seed(store: &Store) {
    store
        .ensure_container(&ContainerSpec::parse("docs", "/userId").unwrap())
        .await
        .unwrap();
    for (user, doc) in documents() {
        store
            .create("docs", &PartitionKey::from(user), doc)
            .await
            .unwrap();
    }
}

#[test]
fn embedded_and_cosmos_agree_on_random_queries() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (fixture, cosmos) = rt.block_on(async {
        let fixture = support::store::embedded().await;
        let cosmos = support::store::cosmos_emulator().await;
        seed(&fixture.store).await;
        seed(&cosmos).await;
        (fixture, cosmos)
    });
    let embedded = fixture.store.clone();
    let rt = RefCell::new(rt);
    let config = Config {
        cases: 150,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    runner
        .run(&case(), |case| {
            let query = build(&case);
            let pk = case.partition.map(|p| PartitionKey::from(format!("u{p}")));
            let (a, b, ca, cb) = rt.borrow_mut().block_on(async {
                let a = embedded.query("docs", pk.as_ref(), &query).await.unwrap();
                let b = cosmos.query("docs", pk.as_ref(), &query).await.unwrap();
                let count_query = {
                    let mut q = Query::new();
                    for (path, op, value) in &case.filters {
                        q = q.filter(path, *op, value.clone());
                    }
                    q
                };
                let ca = embedded
                    .count("docs", pk.as_ref(), &count_query)
                    .await
                    .unwrap();
                let cb = cosmos
                    .count("docs", pk.as_ref(), &count_query)
                    .await
                    .unwrap();
                (a, b, ca, cb)
            });
            let ordered = case.order.is_some();
            prop_assert_eq!(ids(&a, ordered), ids(&b, ordered), "query {:?}", case);
            if case.select {
                let by_id = |docs: &[Value]| {
                    let mut v = docs.to_vec();
                    v.sort_by_key(|d| d["id"].as_str().unwrap_or("").to_owned());
                    v
                };
                prop_assert_eq!(by_id(&a), by_id(&b), "projection {:?}", case);
            }
            prop_assert_eq!(ca, cb, "count {:?}", case);
            Ok(())
        })
        .unwrap();
}
