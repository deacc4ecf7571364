//! Identity as Static Web Apps delivers it, through `cosmospark dev`'s SWA emulation: a request
//! carrying only `x-ms-client-principal` is a signed-in caller on every HTTP route of the app,
//! and App Service's `x-ms-client-principal-id` header alone identifies nobody; live updates
//! negotiate and connect on whichever local name the browser used.

mod support;

use serde_json::Value;
use support::security::{World, fill, http_functions};
use support::{Dev, app_root, principal};

/// Every HTTP function's (name, method, path with its parameters filled in).
fn http_routes() -> Vec<(String, String, String)> {
    let world = World {
        chat: "1".to_owned(),
        task: "1".to_owned(),
    };
    let routes: Vec<_> = http_functions()
        .into_iter()
        .map(|f| {
            let method = f
                .methods
                .first()
                .cloned()
                .unwrap_or_else(|| "GET".to_owned());
            (f.name, method, fill(&f.route, &world))
        })
        .collect();
    assert!(routes.len() > 20, "the app's HTTP functions: {routes:?}");
    routes
}

#[tokio::test]
async fn the_principal_header_alone_signs_in_on_every_route() {
    let root = app_root(&[], None);
    let data = tempfile::tempdir().unwrap();
    let dev = Dev::start(root.path(), data.path()).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let admin = principal("admin1", &["anonymous", "authenticated", "admin"]);
    let mut failures = Vec::new();
    for (function, method, path) in http_routes() {
        let send = |headers: &[(&str, &str)]| {
            let mut request = client.request(method.parse().unwrap(), dev.url(&path));
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if method != "GET" {
                request = request
                    .header("content-type", "application/json")
                    .body("{}");
            }
            request.send()
        };
        let signed_in = send(&[("x-ms-client-principal", &admin)])
            .await
            .unwrap()
            .status()
            .as_u16();
        // 503 is GetToken without Azure Maps (dev): not an identity answer.
        if matches!(signed_in, 302 | 401 | 500) {
            failures.push(format!(
                "{function} {method} {path}: {signed_in} with only x-ms-client-principal"
            ));
        }
        // The App Service headers without the principal identify nobody: the route answers as
        // for an anonymous caller (public reads stay public).
        let anonymous = send(&[]).await.unwrap().status().as_u16();
        let id_only = send(&[
            ("x-ms-client-principal-id", "admin1"),
            ("x-ms-client-principal-name", "admin1"),
            ("x-ms-client-principal-idp", "github"),
        ])
        .await
        .unwrap()
        .status()
        .as_u16();
        if id_only != anonymous {
            failures.push(format!(
                "{function} {method} {path}: {id_only} with only the -id/-name/-idp headers, {anonymous} anonymous"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn live_updates_connect_on_the_local_name_the_browser_used() {
    let root = app_root(&[], None);
    let data = tempfile::tempdir().unwrap();
    let dev = Dev::start(root.path(), data.path()).await;
    let ann = principal("ann", &["anonymous", "authenticated"]);
    for name in ["localhost", "127.0.0.1"] {
        let origin = format!("http://{name}:{}", dev.port);
        let response = dev
            .http
            .get(format!("{origin}/api/pubsub/connection"))
            .header("x-ms-client-principal", &ann)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{name}");
        let answer: Value = response.json().await.unwrap();
        let url = answer["url"].as_str().unwrap();
        let hub = format!("ws://{name}:{}/client/hubs/", dev.port);
        assert!(url.starts_with(&hub), "{name}: {url}");
        let (mut client, _) = support::pubsub::connect(url, Some(support::pubsub::JSON))
            .await
            .unwrap_or_else(|e| panic!("{name}: the socket did not open: {e}"));
        let connected = client.next_json().await;
        assert_eq!(connected["event"], "connected", "{name}: {connected}");
        assert_eq!(connected["userId"], "ann", "{name}: {connected}");
    }
}
