//! web/ served by the local Static Web Apps emulation (`devhost::swa`) with its real
//! staticwebapp.config.json, over a loopback port, in front of an API that echoes what it was
//! forwarded: the routes, roles, 401 redirect, navigation fallback and headers behave as the
//! front end relies on.

use std::path::Path;

use axum::Router;
use axum::extract::Request;
use axum::routing::any;
use cosmospark::devhost::swa::{self, SwaOptions};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use serde_json::{Value, json};

fn echo_api() -> Router {
    async fn echo(request: Request) -> axum::Json<Value> {
        let principal = request
            .headers()
            .get("x-ms-client-principal")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        axum::Json(json!({ "path": request.uri().path(), "principal": principal }))
    }
    Router::new().route("/api/{*rest}", any(echo))
}

struct Site {
    base: String,
    client: reqwest::Client,
}

impl Site {
    async fn start() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let app = swa::router(root, echo_api(), SwaOptions::default())
            .expect("web/staticwebapp.config.json is accepted by the emulation");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { base, client }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    async fn sign_in(&self, name: &str) {
        let response = self
            .client
            .post(format!("{}/.auth/login/github", self.base))
            .header("origin", &self.base)
            .form(&[("userDetails", name), ("post_login_redirect_uri", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
    }
}

fn header(response: &reqwest::Response, name: impl reqwest::header::AsHeaderName) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn anonymous_api_calls_are_sent_to_sign_in_except_public_reads() {
    let site = Site::start().await;
    let users = site.get("/api/users").await;
    assert_eq!(users.status(), StatusCode::FOUND);
    assert!(header(&users, LOCATION).starts_with("/.auth/login/github"));
    for public in ["/api/round", "/api/leaderboards?window=7d&top=10"] {
        let response = site.get(public).await;
        assert_eq!(response.status(), StatusCode::OK, "{public}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["principal"],
            Value::Null,
            "{public} reached the API anonymously"
        );
    }
    let post = site
        .client
        .post(format!("{}/api/round", site.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        post.status(),
        StatusCode::FOUND,
        "only GET /api/round is public"
    );
}

#[tokio::test]
async fn signed_in_calls_reach_the_api_with_the_principal() {
    let site = Site::start().await;
    site.sign_in("web-tester").await;
    let response = site.get("/api/users").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["path"], "/api/users");
    assert!(body["principal"].is_string(), "principal forwarded: {body}");
}

#[tokio::test]
async fn deep_links_get_the_page_but_missing_assets_do_not() {
    let site = Site::start().await;
    let page = site.get("/chats/some-conversation").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("<title>CosmosPark</title>")
    );
    assert_eq!(
        site.get("/assets/missing.js").await.status(),
        StatusCode::NOT_FOUND
    );
    let bundle = site.get("/assets/app.js").await;
    assert_eq!(bundle.status(), StatusCode::OK);
    assert!(header(&bundle, CONTENT_TYPE).starts_with("text/javascript"));
}

#[tokio::test]
async fn the_page_carries_the_security_headers() {
    let site = Site::start().await;
    let page = site.get("/").await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = header(&page, "content-security-policy");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    assert_eq!(header(&page, "x-frame-options"), "DENY");
}
