//! The update processor's own dead letters through the running `cosmospark dev` binary: an
//! event it cannot read is set aside alone, listed beside the platform's dead letters, and
//! replayed through the same route — once, even when two replays race; and discarded from the
//! CLI.

mod support;

use serde_json::{Value, json};
use support::{Dev, app_root, eventually};

async fn app_letters(dev: &Dev) -> Vec<Value> {
    dev.dead_letters()
        .await
        .into_iter()
        .filter(|l| l["kind"] == "app")
        .collect()
}

#[tokio::test]
async fn read_model_dead_letters_are_listed_and_replayed_like_the_others() {
    let root = app_root(&[], None);
    let data = tempfile::tempdir().unwrap();
    let dev = Dev::start(root.path(), data.path()).await;
    // A command without `Data`: the relay publishes it, the processor cannot read it.
    dev.write("Commands", json!({"id": "no-data", "userId": "ann"}))
        .await;
    dev.write(
        "Commands",
        json!({"id": "fine", "userId": "ann", "Data": 1}),
    )
    .await;
    let letter = eventually(|| async { app_letters(&dev).await.into_iter().next() }).await;
    assert_eq!(letter["function"], "UpdateProcessor");
    assert_eq!(letter["source"], "cosmospark-events");
    let body: Value = serde_json::from_str(letter["payload"].as_str().unwrap()).unwrap();
    assert_eq!(
        body["aggregateId"], "no-data",
        "the poison event alone: {body}"
    );
    assert!(
        letter["reason"].as_str().unwrap().contains("Data"),
        "{letter}"
    );

    let id = letter["id"].as_str().unwrap().to_owned();
    let replay = || {
        dev.http
            .post(dev.url(&format!("/_devhost/deadletters/{id}/replay")))
            .header("x-ms-client-principal", support::admin_principal())
            .send()
    };
    let (first, second) = tokio::join!(replay(), replay());
    let mut statuses = [
        first.unwrap().status().as_u16(),
        second.unwrap().status().as_u16(),
    ];
    statuses.sort_unstable();
    assert!(
        statuses == [200, 404] || statuses == [200, 409],
        "one replay sends it, the other is refused: {statuses:?}"
    );
    // Still poison: it comes back as the same single entry, not held by a replay.
    let again = eventually(|| async {
        let letters = app_letters(&dev).await;
        (letters.len() == 1 && letters[0]["replaying"].is_null()).then(|| letters[0].clone())
    })
    .await;
    assert_eq!(again["id"], id.as_str());
    let unknown = dev
        .http
        .post(dev.url("/_devhost/deadletters/app-nothing/replay"))
        .header("x-ms-client-principal", support::admin_principal())
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    dev.terminate();
}

#[tokio::test]
async fn the_cli_discards_a_dead_letter_once_dev_has_stopped() {
    let root = app_root(&[], None);
    let data = tempfile::tempdir().unwrap();
    let dev = Dev::start(root.path(), data.path()).await;
    dev.write("Commands", json!({"id": "no-data", "userId": "bo"}))
        .await;
    let letter = eventually(|| async { app_letters(&dev).await.into_iter().next() }).await;
    let id = letter["id"].as_str().unwrap().to_owned();
    let cli = |args: &[&str]| support::cosmospark_on(data.path(), args);
    // The running platform holds the store: the CLI says so and changes nothing.
    let refused = cli(&["deadletters", "discard", &id]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("stop `cosmospark dev` first"), "{stderr}");
    assert!(dev.terminate().success());

    let listed = cli(&["deadletters", "list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&id));
    let discarded = cli(&["deadletters", "discard", &id]);
    assert!(
        discarded.status.success(),
        "{}",
        String::from_utf8_lossy(&discarded.stderr)
    );
    assert!(String::from_utf8_lossy(&discarded.stdout).contains(&format!("discarded {id}")));
    let listed = cli(&["deadletters", "list"]);
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(&id));
    let again = cli(&["deadletters", "discard", &id]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("does not exist"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
