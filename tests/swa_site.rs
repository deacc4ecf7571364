//! Static Web Apps emulation, black-box: the router served on a loopback port and driven by
//! `reqwest` with a cookie store, against the site in `tests/sites/basic`.

use std::path::Path;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderMap;
use axum::routing::any;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use cosmospark::devhost::swa::{self, SwaOptions};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, ETAG, IF_NONE_MATCH, LAST_MODIFIED, LOCATION};
use serde_json::{Value, json};

/// The inner API: echoes what the emulation forwarded.
fn echo_api() -> Router {
    async fn echo(request: Request) -> axum::Json<Value> {
        let headers: &HeaderMap = request.headers();
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let mut ms_headers: Vec<&str> = headers
            .keys()
            .map(|name| name.as_str())
            .filter(|name| name.starts_with("x-ms-"))
            .collect();
        ms_headers.sort_unstable();
        axum::Json(json!({
            "msHeaders": ms_headers,
            "method": request.method().as_str(),
            "path": request.uri().path(),
            "principal": get("x-ms-client-principal"),
            "id": get("x-ms-client-principal-id"),
            "name": get("x-ms-client-principal-name"),
            "idp": get("x-ms-client-principal-idp"),
            "originalUrl": get("x-ms-original-url"),
        }))
    }
    Router::new().route("/api/{*rest}", any(echo))
}

struct Site {
    base: String,
}

impl Site {
    async fn start() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sites/basic");
        let app = swa::router(root, echo_api(), SwaOptions::default()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A browser-like client: keeps cookies, does not follow redirects.
    fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// `GET /.auth/me` as `client`.
    async fn me(&self, client: &reqwest::Client) -> Value {
        json_of(client.get(self.url("/.auth/me")).send().await.unwrap()).await
    }

    /// `GET /.auth/me` from a fresh client sending exactly `cookie` (`name=value`).
    async fn me_with_cookie(&self, cookie: &str) -> Value {
        let request = self.browser().get(self.url("/.auth/me"));
        json_of(request.header("cookie", cookie).send().await.unwrap()).await
    }

    async fn sign_in(&self, client: &reqwest::Client, name: &str, roles: &str) {
        let response = client
            .post(self.url("/.auth/login/github"))
            .form(&[
                ("userDetails", name),
                ("userId", ""),
                ("userRoles", roles),
                ("post_login_redirect_uri", "/"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
    }
}

async fn json_of(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK, "{}", response.url());
    response.json().await.unwrap()
}

/// Sends `GET path` byte for byte and returns the status line.
async fn raw_get(site: &Site, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = site.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response.lines().next().unwrap_or_default().to_owned()
}

fn location(response: &reqwest::Response) -> &str {
    response.headers()[LOCATION].to_str().unwrap()
}

#[tokio::test]
async fn static_files_have_types_caching_headers_and_global_headers() {
    let site = Site::start().await;
    let client = site.browser();
    let cases = [
        ("/", "text/html", "index-page"),
        ("/app.js", "text/javascript", "app-script"),
        ("/style.css", "text/css", "color: black"),
        ("/data.dat", "application/x-cosmospark", "raw-data"),
    ];
    for (path, content_type, marker) in cases {
        let response = client.get(site.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{path}: {:?}",
            response.headers()[CONTENT_TYPE]
        );
        assert_eq!(response.headers()["x-frame-options"], "DENY", "{path}");
        assert!(response.headers().contains_key(LAST_MODIFIED), "{path}");
        assert!(response.text().await.unwrap().contains(marker), "{path}");
    }
    let first = client.get(site.url("/app.js")).send().await.unwrap();
    let etag = first.headers()[ETAG].clone();
    let again = client
        .get(site.url("/app.js"))
        .header(IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn navigation_fallback_serves_index_except_excluded_paths() {
    let site = Site::start().await;
    let client = site.browser();
    let deep = client
        .get(site.url("/chats/42/messages"))
        .send()
        .await
        .unwrap();
    assert_eq!(deep.status(), StatusCode::OK);
    assert!(deep.text().await.unwrap().contains("index-page"));
    for excluded in ["/images/missing.png", "/missing.css", "/js/missing.js"] {
        let response = client.get(site.url(excluded)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{excluded}");
        assert!(
            response.text().await.unwrap().contains("custom-404-page"),
            "404 override rewrite for {excluded}"
        );
    }
}

#[tokio::test]
async fn route_rules_redirect_rewrite_block_and_add_headers() {
    let site = Site::start().await;
    let client = site.browser();

    let moved = client.get(site.url("/old-page")).send().await.unwrap();
    assert_eq!(moved.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(location(&moved), "/new-page.html");

    let logout = client.get(site.url("/logout")).send().await.unwrap();
    assert_eq!(logout.status(), StatusCode::FOUND);
    assert_eq!(location(&logout), "/.auth/logout");

    let about = client.get(site.url("/ABOUT")).send().await.unwrap();
    assert_eq!(about.status(), StatusCode::OK);
    assert_eq!(about.headers()["x-route"], "about");
    assert!(about.text().await.unwrap().contains("about-page"));

    let secret = client.get(site.url("/secret.txt")).send().await.unwrap();
    assert_eq!(secret.status(), StatusCode::NOT_FOUND);
    let body = secret.text().await.unwrap();
    assert!(!body.contains("top secret"));
    assert!(body.contains("custom-404-page"), "the 404 override applies");

    let teapot = client.get(site.url("/teapot")).send().await.unwrap();
    assert_eq!(teapot.status(), StatusCode::IM_A_TEAPOT);
    assert!(teapot.text().await.unwrap().contains("about-page"));

    let logo = client
        .get(site.url("/images/logo.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(logo.status(), StatusCode::OK);
    assert_eq!(logo.headers()["cache-control"], "public, max-age=3600");
    assert_eq!(logo.headers()[CONTENT_TYPE], "image/svg+xml");
    assert_eq!(logo.headers()["x-frame-options"], "DENY");
}

#[tokio::test]
async fn unauthorized_requests_get_the_401_override_and_wrong_roles_get_403() {
    let site = Site::start().await;
    let client = site.browser();
    for path in ["/admin/", "/api/echo", "/api"] {
        let response = client.get(site.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND, "{path}");
        assert_eq!(
            location(&response),
            "/.auth/login/github?post_login_redirect_uri=.referrer",
            "{path}"
        );
    }
    // The /api/* rule lists methods; OPTIONS falls through to the API unchecked.
    let options = client
        .request(reqwest::Method::OPTIONS, site.url("/api/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), StatusCode::OK);

    site.sign_in(&client, "bob", "").await;
    for path in ["/admin/", "/api/admin/echo"] {
        let response = client.get(site.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let admin = site.browser();
    site.sign_in(&admin, "root", "admin").await;
    let page = admin.get(site.url("/admin/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("admin-page"));
    json_of(admin.get(site.url("/api/admin/echo")).send().await.unwrap()).await;
}

#[tokio::test]
async fn login_form_is_self_contained_and_keeps_the_redirect() {
    let site = Site::start().await;
    let client = site.browser();
    for path in [
        "/login",
        "/.auth/login/github?post_login_redirect_uri=/chats",
        "/.auth/login/aad",
    ] {
        let response = client.get(site.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = response.text().await.unwrap();
        assert!(html.contains("<form method=\"post\""), "{path}");
        for name in [
            "userDetails",
            "userId",
            "userRoles",
            "post_login_redirect_uri",
        ] {
            assert!(
                html.contains(&format!("name=\"{name}\"")),
                "{path}: field {name}"
            );
        }
        for external in [
            "http:", "https:", "//", "<script", "@import", "url(", "style=",
        ] {
            assert!(!html.contains(external), "{path}: must not load {external}");
        }
        // Only its own stylesheet (a file, as a strict `style-src 'self'` allows) and no icon fetch.
        let links: Vec<&str> = html
            .match_indices("<link")
            .map(|(i, _)| &html[i..])
            .collect();
        assert_eq!(links.len(), 2, "{path}");
        assert!(html.contains(r#"<link rel="stylesheet" href="/.auth/login.css">"#));
        assert!(html.contains(r#"<link rel="icon" href="data:,">"#));
    }
    let css = client
        .get(site.url("/.auth/login.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let css = css.text().await.unwrap();
    assert!(css.contains("main {") && !css.contains("url(") && !css.contains("@import"));
    let html = client
        .get(site.url("/.auth/login/github?post_login_redirect_uri=/chats"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("value=\"/chats\""));
    let referred = client
        .get(site.url("/.auth/login/github?post_login_redirect_uri=.referrer"))
        .header("referer", site.url("/leaderboard?tab=7d"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        referred.contains("value=\"/leaderboard?tab=7d\""),
        "{referred}"
    );
}

#[tokio::test]
async fn login_sets_a_signed_cookie_that_me_reads() {
    let site = Site::start().await;
    let client = site.browser();
    let anonymous = site.me(&client).await;
    assert_eq!(anonymous, json!({"clientPrincipal": null}));

    let response = client
        .post(site.url("/.auth/login/github"))
        .form(&[
            ("userDetails", "alice"),
            ("userId", ""),
            ("userRoles", " admin, tester ,"),
            ("post_login_redirect_uri", "/profile"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), "/profile");
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set_cookie.starts_with("StaticWebAppsAuthCookie="),
        "{set_cookie}"
    );
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");

    let me = site.me(&client).await;
    let principal = &me["clientPrincipal"];
    assert_eq!(principal["identityProvider"], "github");
    assert_eq!(principal["userDetails"], "alice");
    assert_eq!(
        principal["userRoles"],
        json!(["anonymous", "authenticated", "admin", "tester"])
    );
    assert_eq!(principal["claims"], json!([]));
    let user_id = principal["userId"].as_str().unwrap().to_owned();
    assert_eq!(user_id.len(), 32);
    assert!(user_id.chars().all(|c| c.is_ascii_hexdigit()));

    // The same name on another browser gets the same id; another name a different one.
    let other = site.browser();
    site.sign_in(&other, "alice", "").await;
    let again = site.me(&other).await;
    assert_eq!(again["clientPrincipal"]["userId"], user_id.as_str());
    site.sign_in(&other, "carol", "").await;
    let carol = site.me(&other).await;
    assert_ne!(carol["clientPrincipal"]["userId"], user_id.as_str());
}

#[tokio::test]
async fn login_rejects_bad_input_open_redirects_and_cross_site_posts() {
    let site = Site::start().await;
    let client = site.browser();
    let bad_inputs = [
        (" ", "", "", "userDetails"),
        ("dave", "ad min", "", "userRoles"),
        ("dave", "", "a b", "userId"),
    ];
    for (name, roles, id, field) in bad_inputs {
        let response = client
            .post(site.url("/.auth/login/github"))
            .form(&[("userDetails", name), ("userRoles", roles), ("userId", id)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{field}");
        assert!(response.text().await.unwrap().contains(field), "{field}");
    }

    let evil = client
        .post(site.url("/.auth/login/github"))
        .form(&[
            ("userDetails", "dave"),
            ("post_login_redirect_uri", "https://evil.example/x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&evil), "/");

    let cross_site = site
        .browser()
        .post(site.url("/.auth/login/github"))
        .header("origin", "http://evil.example")
        .form(&[("userDetails", "mallory")])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn signed_in_api_calls_carry_the_principal_and_spoofed_headers_are_replaced() {
    let site = Site::start().await;
    let client = site.browser();
    site.sign_in(&client, "alice", "tester").await;
    let me = site.me(&client).await;
    let user_id = me["clientPrincipal"]["userId"].as_str().unwrap().to_owned();

    let echoed = json_of(
        client
            .post(site.url("/api/chat?x=1"))
            .header(
                "x-ms-client-principal",
                STANDARD.encode(r#"{"userId":"evil"}"#),
            )
            .header("x-ms-client-principal-id", "evil")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["path"], "/api/chat");
    // Exactly what Static Web Apps sends a linked backend: no -id / -name / -idp headers.
    assert_eq!(
        echoed["msHeaders"],
        json!([
            "x-ms-client-principal",
            "x-ms-original-url",
            "x-ms-request-id"
        ])
    );
    assert_eq!(echoed["id"], Value::Null);
    assert_eq!(echoed["originalUrl"], site.url("/api/chat?x=1"));
    let decoded: Value = serde_json::from_slice(
        &STANDARD
            .decode(echoed["principal"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        decoded,
        json!({
            "identityProvider": "github",
            "userId": user_id,
            "userDetails": "alice",
            "userRoles": ["anonymous", "authenticated", "tester"],
        })
    );
}

#[tokio::test]
async fn anonymous_api_calls_carry_no_principal_headers() {
    let site = Site::start().await;
    let echoed = json_of(
        site.browser()
            .get(site.url("/api/public/echo"))
            .header("x-ms-client-principal-id", "spoofed")
            .header("x-ms-client-principal-name", "spoofed")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(echoed["principal"], Value::Null);
    assert_eq!(echoed["id"], Value::Null);
    assert_eq!(echoed["name"], Value::Null);
    assert_eq!(
        echoed["msHeaders"],
        json!(["x-ms-original-url", "x-ms-request-id"])
    );
}

#[tokio::test]
async fn scripts_may_send_their_own_principal_header_without_a_cookie() {
    let site = Site::start().await;
    let client = site.browser();
    let principal = STANDARD.encode(
        json!({"identityProvider":"github","userId":"u123","userDetails":"script",
               "userRoles":["anonymous","authenticated"]})
        .to_string(),
    );
    let echoed = json_of(
        client
            .get(site.url("/api/echo"))
            .header("x-ms-client-principal", &principal)
            .header("x-ms-client-principal-id", "u123")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(echoed["principal"], principal.as_str());
    // Only the principal itself passes; App Service's -id header never reaches the API.
    assert_eq!(echoed["id"], Value::Null);
    // Its roles are what count: no admin role here.
    let admin = client
        .get(site.url("/api/admin/echo"))
        .header("x-ms-client-principal", &principal)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), StatusCode::FORBIDDEN);
    // Outside /api the header means nothing.
    let page = client
        .get(site.url("/admin/"))
        .header("x-ms-client-principal", &principal)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn forged_or_tampered_cookies_are_ignored() {
    let site = Site::start().await;
    let forged_value = STANDARD.encode(
        json!({"identityProvider":"github","userId":"u1","userDetails":"eve",
               "userRoles":["anonymous","authenticated","admin"],"claims":[]})
        .to_string(),
    );
    let forged = site.browser();
    let me = site
        .me_with_cookie(&format!("StaticWebAppsAuthCookie={forged_value}"))
        .await;
    assert_eq!(me, json!({"clientPrincipal": null}));

    // Take a genuine signed cookie and change one character of the payload.
    let genuine = site.browser();
    let response = genuine
        .post(site.url("/.auth/login/github"))
        .form(&[("userDetails", "eve")])
        .send()
        .await
        .unwrap();
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    let value = set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let mut tampered: Vec<char> = value.chars().collect();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    for cookie in [value.clone(), tampered] {
        let me = site
            .me_with_cookie(&format!("StaticWebAppsAuthCookie={cookie}"))
            .await;
        let expect_valid = cookie == value;
        assert_eq!(me["clientPrincipal"].is_object(), expect_valid, "{cookie}");
    }
    let api = forged
        .get(site.url("/api/echo"))
        .header("cookie", format!("StaticWebAppsAuthCookie={forged_value}"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn logout_clears_the_cookie_and_redirects() {
    let site = Site::start().await;
    let client = site.browser();
    site.sign_in(&client, "alice", "").await;
    let response = client
        .get(site.url("/.auth/logout?post_logout_redirect_uri=/bye"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(location(&response), "/bye");
    let me = site.me(&client).await;
    assert_eq!(me, json!({"clientPrincipal": null}));

    site.sign_in(&client, "alice", "").await;
    let purge = client
        .get(site.url("/.auth/purge/github"))
        .send()
        .await
        .unwrap();
    assert_eq!(purge.status(), StatusCode::FOUND);
    let me = site.me(&client).await;
    assert_eq!(me, json!({"clientPrincipal": null}));
}

#[tokio::test]
async fn encoded_or_doubled_slashes_cannot_dodge_route_rules() {
    let site = Site::start().await;
    let client = site.browser();
    for path in [
        "/%61dmin/",
        "//admin/",
        "/./admin/index.html",
        "/ADMIN/",
        "/admin",
    ] {
        let status_line = raw_get(&site, path).await;
        assert!(
            status_line.starts_with("HTTP/1.1 302"),
            "{path}: {status_line}"
        );
    }
    // reqwest would resolve the dots itself, so this one goes over a raw socket.
    let status_line = raw_get(&site, "/images/%2e%2e/admin/").await;
    assert!(status_line.starts_with("HTTP/1.1 400"), "{status_line}");
    let principal = STANDARD.encode(
        json!({"identityProvider":"github","userId":"u1","userDetails":"s","userRoles":["anonymous","authenticated"]})
            .to_string(),
    );
    let admin = client
        .get(site.url("/api//admin/echo"))
        .header("x-ms-client-principal", principal)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), StatusCode::FORBIDDEN);
    let unknown = client.get(site.url("/.auth/nothing")).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_stable_secret_keeps_users_signed_in_across_restarts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sites/basic");
    let secret = [7u8; 64];
    assert!(SwaOptions::with_secret(&secret[..63]).is_err());
    let mut cookie = None;
    for _ in 0..2 {
        let app =
            swa::router(&root, echo_api(), SwaOptions::with_secret(&secret).unwrap()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let site = Site {
            base: format!("http://{}", listener.local_addr().unwrap()),
        };
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let client = site.browser();
        let value = match &cookie {
            Some(value) => value,
            None => {
                let response = client
                    .post(site.url("/.auth/login/github"))
                    .form(&[("userDetails", "alice")])
                    .send()
                    .await
                    .unwrap();
                let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
                cookie.insert(set_cookie.split(';').next().unwrap().to_owned())
            }
        };
        let me = site.me_with_cookie(value).await;
        assert_eq!(me["clientPrincipal"]["userDetails"], "alice");
    }
}
