//! Azure Maps through the shared HTTP client against a local stand-in for the Azure Maps REST
//! endpoint (a real HTTP server on loopback): the key goes in a header, answers pass through in
//! the Azure Maps shape, and upstream failures become 502 with a clear message.

mod support;

use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use cosmospark::app::services::Settings;
use serde_json::{Value, json};
use std::collections::HashMap;
use support::game::{Game, Who, profile};

/// Serves `search/address/reverse/json`: 200 with one address when the key is right,
/// 500 with an Azure Maps error body for latitude 0, 401 otherwise.
async fn maps_stand_in() -> String {
    async fn reverse(
        headers: HeaderMap,
        Query(q): Query<HashMap<String, String>>,
    ) -> (StatusCode, String) {
        if headers
            .get("subscription-key")
            .and_then(|v| v.to_str().ok())
            != Some("test-key")
        {
            return (
                StatusCode::UNAUTHORIZED,
                json!({"error": {"code": "401", "message": "no key"}}).to_string(),
            );
        }
        let query = q.get("query").cloned().unwrap_or_default();
        if query.starts_with("0,") {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": {"code": "InternalError", "message": "upstream broke"}})
                    .to_string(),
            );
        }
        let body = json!({"summary": {"numResults": 1}, "addresses": [{"address": {
            "countryCode": "US", "country": "United States", "countryCodeISO3": "USA",
            "countrySubdivision": "WA", "countrySubdivisionName": "Washington",
            "municipality": "Redmond", "freeformAddress": "Redmond, WA 98052",
            "streetName": "NE 36th St"}, "position": query}]});
        (StatusCode::OK, body.to_string())
    }
    let app = Router::new().route("/search/address/reverse/json", get(reverse));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn game_with_maps() -> std::sync::Arc<Game> {
    let endpoint = maps_stand_in().await;
    let settings = Settings::from_lookup(|name| match name {
        "AzureMaps__Endpoint" => Some(endpoint.clone()),
        "AzureMaps__Key" => Some("test-key".to_owned()),
        _ => None,
    })
    .unwrap();
    Game::with_settings(settings).await
}

#[tokio::test]
async fn lookups_pass_the_azure_maps_answer_through() {
    let game = game_with_maps().await;
    let reply = game
        .http(
            "LookupAddress",
            "GET",
            "/api/azMap/addressLookup/47.64/-122.13",
            &Who::user("me"),
            None,
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.body["addresses"][0]["address"]["municipality"],
        "Redmond"
    );
    let signup = game
        .http(
            "CreateUser",
            "POST",
            "/api/user",
            &Who::user("me"),
            Some(&profile("Me", 47.64, -122.13)),
        )
        .await;
    assert_eq!(signup.status, 200);
    assert_eq!(signup.body["address"]["country"]["code"], "US");
    assert_eq!(
        signup.body["address"]["country"]["subDivision"],
        "Washington"
    );
}

#[tokio::test]
async fn upstream_failures_are_502_with_a_clear_message() {
    let game = game_with_maps().await;
    for (function, method, path, body) in [
        (
            "LookupAddress",
            "GET",
            "/api/azMap/addressLookup/0/10",
            None,
        ),
        (
            "CreateUser",
            "POST",
            "/api/user",
            Some(profile("Me", 0.0, 10.0)),
        ),
    ] {
        let reply = game
            .http(function, method, path, &Who::user("me"), body.as_deref())
            .await;
        assert_eq!(reply.status, 502, "{function}: {:?}", reply.body);
        assert_eq!(reply.body["error"]["code"], "UpstreamFailed");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("upstream broke"), "{message}");
        assert!(!message.contains("test-key"));
    }
    // Nothing was written for the failed sign-up.
    assert_eq!(game.all("CosmicUsers").await, Vec::<Value>::new());
}
