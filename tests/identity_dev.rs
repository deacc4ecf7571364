//! Identity as Static Web Apps delivers it, through `cosmospark dev`'s SWA emulation: a request
//! carrying only `x-ms-client-principal` is a signed-in caller on every HTTP route of the app,
//! and App Service's `x-ms-client-principal-id` header alone identifies nobody.

mod support;

use cosmospark::runtime::ClientPrincipal;
use serde_json::Value;
use support::{Dev, app_root, repo};

fn principal(user: &str, roles: &[&str]) -> String {
    ClientPrincipal {
        identity_provider: "github".into(),
        user_id: user.into(),
        user_details: user.into(),
        user_roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    }
    .encode()
}

/// Every HTTP function's (name, method, path with its parameters filled in).
fn http_routes() -> Vec<(String, String, String)> {
    let prefix = "api";
    let mut routes = Vec::new();
    for entry in std::fs::read_dir(repo().join("functions")).unwrap() {
        let entry = entry.unwrap();
        let text = std::fs::read_to_string(entry.path().join("function.json")).unwrap();
        let json: Value = serde_json::from_str(&text).unwrap();
        let Some(trigger) = json["bindings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "httpTrigger")
        else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        let route = trigger["route"].as_str().unwrap_or(&name).to_owned();
        let path: Vec<&str> = route
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "1"
                } else {
                    segment
                }
            })
            .collect();
        let method = trigger["methods"][0]
            .as_str()
            .unwrap_or("get")
            .to_ascii_uppercase();
        routes.push((name, method, format!("/{prefix}/{}", path.join("/"))));
    }
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
