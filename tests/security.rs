//! Security, from outside, both ways the app runs: `serve` under the host (envelopes) and
//! `cosmospark dev` (Static Web Apps emulation in front):
//!
//! - the authorization matrix: every HTTP function of `functions/` × {anonymous,
//!   anonymous-role-only principal, other user, owner, admin}, expected statuses from the one
//!   table in `domain::auth` (a function without a row fails);
//! - the chat membership oracle;
//! - cross-site requests, content types, body size, JSON depth and UTF-8 on every
//!   state-changing route;
//! - `HEAD` on public routes; the `/_devhost` tools; sessions, logout and redirects.

mod support;

use cosmospark::app::domain::auth::{Access, CallerClass, Route};
use serde_json::{Value, json};
use support::security::{
    Answer, Call, Dev, HOST, HttpFunction, Serve, World, body_for, call_for, http_functions,
    principal, window,
};

/// Either app.
trait Front {
    async fn send(&self, call: &Call) -> Answer;
    /// Lets the event pipeline catch up (both: until the platform is idle).
    async fn settle(&self);
    /// What an unauthenticated API call answers: 401, or the sign-in redirect SWA sends.
    const UNAUTHORIZED: u16;
}

impl Front for Serve {
    async fn send(&self, call: &Call) -> Answer {
        Serve::send(self, call).await
    }

    async fn settle(&self) {
        self.game.settle().await;
    }

    const UNAUTHORIZED: u16 = 401;
}

impl Front for Dev {
    async fn send(&self, call: &Call) -> Answer {
        Dev::send(self, call).await
    }

    async fn settle(&self) {
        self.running.idle().await;
    }

    const UNAUTHORIZED: u16 = 302;
}

fn user(id: &str) -> String {
    principal(id, &["anonymous", "authenticated"])
}

fn admin(id: &str) -> String {
    principal(id, &["anonymous", "authenticated", "admin"])
}

fn caller_of(class: CallerClass) -> Option<String> {
    match class {
        CallerClass::Anonymous => None,
        CallerClass::AnonymousRoleOnly => Some(principal("me", &["anonymous"])),
        CallerClass::OtherUser => Some(user("you")),
        CallerClass::Owner => Some(user("me")),
        CallerClass::Admin => Some(admin("boss")),
    }
}

async fn sign_up(app: &impl Front, id: &str, latitude: f64, longitude: f64) {
    let body = json!({"name": id, "position": {"latitude": latitude, "longitude": longitude}});
    let answer = app
        .send(
            &Call::new("CreateUser", "POST", "/api/user")
                .json(&body.to_string())
                .by(Some(&user(id))),
        )
        .await;
    assert_eq!(answer.status, 200, "sign up {id}: {answer:?}");
}

/// `me` and `you` with a chat, and `me`'s tasks for the round.
async fn world(app: &impl Front) -> World {
    sign_up(app, "me", 12.97, 77.59).await;
    sign_up(app, "you", 48.85, 2.35).await;
    let sent = app
        .send(
            &Call::new("CreateChat", "POST", "/api/chat")
                .json(&json!({"toUserId": "you", "content": "hello"}).to_string())
                .by(Some(&user("me"))),
        )
        .await;
    assert_eq!(sent.status, 200, "{sent:?}");
    app.settle().await;
    let (start, end) = window();
    let tasks = app
        .send(
            &Call::new(
                "GetAllTasksByUserId",
                "GET",
                &format!("/api/tasks/users/me/timestamp/{start}/{end}"),
            )
            .by(Some(&user("me"))),
        )
        .await;
    assert_eq!(tasks.status, 200, "{tasks:?}");
    World {
        chat: sent.body["chat"]["id"]
            .as_str()
            .expect("chat id")
            .to_owned(),
        task: tasks.body[0]["id"].as_str().expect("a task").to_owned(),
    }
}

/// What an allowed call of the fixture answers, per caller.
fn allowed_status(function: &str, class: CallerClass) -> u16 {
    match (function, class) {
        // The admin has no chat summary of its own.
        ("MarkChatRead" | "SendTyping", CallerClass::Admin) => 404,
        ("SendTyping", _) => 202,
        ("CommandInsert" | "RebuildReadModel", _) => 202,
        ("GetToken", _) => 503,
        ("QueryGet", _) => 404,
        _ => 200,
    }
}

async fn run_matrix(app: &impl Front, unauthorized: u16) {
    let world = world(app).await;
    let functions = http_functions();
    assert!(
        functions.len() >= 20,
        "the manifest lists the HTTP functions"
    );
    let mut failures = Vec::new();
    for function in &functions {
        let Some(route) = Route::of_function(&function.name) else {
            failures.push(format!("{}: no row in domain::auth::TABLE", function.name));
            continue;
        };
        for class in CallerClass::ALL {
            let expected = match route.policy().expected(class) {
                Access::Allowed => allowed_status(&function.name, class),
                Access::Unauthorized => unauthorized,
                Access::Forbidden => 403,
            };
            let call = call_for(function, &world).by(caller_of(class).as_deref());
            let answer = app.send(&call).await;
            if answer.status != expected {
                failures.push(format!(
                    "{} {class:?}: expected {expected}, got {} {}",
                    function.name, answer.status, answer.body
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn authorization_matrix_under_serve() {
    let serve = Serve::new().await;
    run_matrix(&serve, Serve::UNAUTHORIZED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix_under_dev() {
    let dev = Dev::start().await;
    run_matrix(&dev, Dev::UNAUTHORIZED).await;
    dev.stop().await;
}

#[tokio::test]
async fn a_chat_between_others_reads_like_a_pair_that_never_chatted() {
    let serve = Serve::new().await;
    let world = world(&serve).await;
    sign_up(&serve, "third", 35.68, 139.69).await;
    let never = cosmospark::app::domain::ids::ChatId::for_pair(
        &cosmospark::app::domain::values::UserId::parse("you").unwrap(),
        &cosmospark::app::domain::values::UserId::parse("third").unwrap(),
    )
    .unwrap();
    let read = |chat: String| {
        let serve = &serve;
        async move {
            serve
                .send(
                    &Call::new(
                        "GetAllMessagesByChatId",
                        "GET",
                        &format!("/api/chats/{chat}"),
                    )
                    .by(Some(&user("third"))),
                )
                .await
        }
    };
    let theirs = read(world.chat.clone()).await;
    let nobody = read(never.as_str().to_owned()).await;
    assert_eq!((theirs.status, &theirs.body), (nobody.status, &nobody.body));
    assert_eq!(theirs.body, json!([]));
    let member = serve
        .send(
            &Call::new(
                "GetAllMessagesByChatId",
                "GET",
                &format!("/api/chats/{}", world.chat),
            )
            .by(Some(&user("you"))),
        )
        .await;
    assert_eq!(member.body.as_array().map(Vec::len), Some(1), "{member:?}");
}

/// The state-changing functions of the manifest, with a valid request acting for `me`.
fn state_changing() -> Vec<HttpFunction> {
    http_functions()
        .into_iter()
        .filter(|f| {
            f.methods
                .iter()
                .any(|m| !matches!(m.as_str(), "GET" | "HEAD" | "OPTIONS"))
        })
        .collect()
}

async fn run_edge_checks(app: &impl Front) -> Vec<String> {
    let world = world(app).await;
    let functions = state_changing();
    assert!(functions.len() >= 8, "{functions:?}");
    let me = admin("me");
    let deep = format!("{{\"Data\":{}1{}}}", "[".repeat(126), "]".repeat(126));
    let big = format!("{{\"Data\":\"{}\"}}", "x".repeat(100 * 1024));
    let mut failures = Vec::new();
    for function in &functions {
        let base = call_for(function, &world).by(Some(&me));
        let body = body_for(&function.name).unwrap_or_else(|| "{}".to_owned());
        let cases: Vec<(&str, Call, u16)> = vec![
            (
                "text/plain",
                base.clone().raw("text/plain", body.as_bytes()),
                415,
            ),
            (
                "form",
                base.clone()
                    .raw("application/x-www-form-urlencoded", b"a=1"),
                415,
            ),
            (
                "other origin",
                base.clone()
                    .json(&body)
                    .header("Origin", "http://localhost:8080"),
                403,
            ),
            (
                "null origin",
                base.clone().json(&body).header("Origin", "null"),
                403,
            ),
            (
                "cross-site fetch",
                base.clone()
                    .json(&body)
                    .header("Sec-Fetch-Site", "cross-site"),
                403,
            ),
            ("oversize", base.clone().json(&big), 413),
            ("126 levels", base.clone().json(&deep), 400),
        ];
        for (name, call, expected) in cases {
            let answer = app.send(&call).await;
            if answer.status != expected {
                failures.push(format!(
                    "{} {name}: expected {expected}, got {} {}",
                    function.name, answer.status, answer.body
                ));
            }
        }
        let same_origin = app
            .send(
                &base
                    .clone()
                    .json(&body)
                    .header("Origin", &format!("http://{HOST}"))
                    .header("Sec-Fetch-Site", "same-origin"),
            )
            .await;
        if !(200..300).contains(&same_origin.status) && same_origin.status != 404 {
            failures.push(format!(
                "{} same-origin: got {} {}",
                function.name, same_origin.status, same_origin.body
            ));
        }
    }
    failures
}

#[tokio::test]
async fn state_changing_routes_refuse_cross_site_and_malformed_bodies_under_serve() {
    let serve = Serve::new().await;
    let failures = run_edge_checks(&serve).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_changing_routes_refuse_cross_site_and_malformed_bodies_under_dev() {
    let dev = Dev::start().await;
    let mut failures = run_edge_checks(&dev).await;
    // Invalid UTF-8 is refused, not replaced and stored.
    let latin1 = b"{\"toUserId\":\"you\",\"content\":\"caf\xe9\"}";
    let answer = dev
        .send(
            &Call::new("CreateChat", "POST", "/api/chat")
                .raw("application/json", latin1)
                .by(Some(&user("me"))),
        )
        .await;
    if answer.status != 400 {
        failures.push(format!(
            "latin-1 body: got {} {}",
            answer.status, answer.body
        ));
    }
    dev.stop().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_deeply_nested_command_is_refused_naming_the_field_and_nothing_is_stored() {
    let serve = Serve::new().await;
    let deep = format!("{{\"Data\":{}1{}}}", "[".repeat(126), "]".repeat(126));
    let answer = serve
        .send(
            &Call::new("CommandInsert", "POST", "/api/command/insert")
                .json(&deep)
                .by(Some(&user("me"))),
        )
        .await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert!(
        answer.field().is_some_and(|f| f.starts_with("Data")),
        "{answer:?}"
    );
    let stored = serve.game.all("Commands").await;
    assert!(stored.is_empty(), "{stored:?}");
    let fine = serve
        .send(
            &Call::new("CommandInsert", "POST", "/api/command/insert")
                .json(r#"{"Data":{"a":[[1]]}}"#)
                .by(Some(&user("me"))),
        )
        .await;
    assert_eq!(fine.status, 202, "{fine:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_on_public_routes_is_answered_not_sent_to_sign_in() {
    let dev = Dev::start().await;
    for path in ["/api/round", "/api/leaderboards", "/api/health"] {
        let answer = dev.send(&Call::new("", "HEAD", path)).await;
        assert_eq!(answer.status, 200, "HEAD {path}: {answer:?}");
        let get = dev.send(&Call::new("", "GET", path)).await;
        assert_eq!(get.status, 200, "GET {path}: {get:?}");
    }
    dev.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devhost_tools_need_the_admin_role_and_a_known_host() {
    let dev = Dev::start().await;
    let tools =
        |who: Option<String>| Call::new("", "GET", "/_devhost/deadletters").by(who.as_deref());
    assert_eq!(dev.send(&tools(None)).await.status, 401);
    assert_eq!(dev.send(&tools(Some(user("me")))).await.status, 403);
    assert_eq!(
        dev.send(&tools(Some(principal("me", &["authenticated", "Admin"]))))
            .await
            .status,
        403
    );
    assert_eq!(dev.send(&tools(Some(admin("boss")))).await.status, 200);
    let overwrite = Call::new("", "POST", "/_devhost/containers/CosmicUsers/items")
        .json(r#"{"id":"me","name":"pwned"}"#);
    assert_eq!(dev.send(&overwrite).await.status, 401);
    let read = Call::new("", "GET", "/_devhost/containers/CosmicChats/items/x?pk=x");
    assert_eq!(dev.send(&read).await.status, 401);
    // DNS rebinding: the page's own name arrives as Host.
    for host in [
        "evil.example",
        "evil.example:4280",
        "localhost.evil.example",
    ] {
        let rebound = tools(Some(admin("boss"))).header("Host", host);
        assert_eq!(dev.send(&rebound).await.status, 421, "{host}");
        let api = Call::new("", "GET", "/api/round").header("Host", host);
        assert_eq!(dev.send(&api).await.status, 421, "{host}");
    }
    assert_eq!(
        dev.send(&Call::new("", "GET", "/_devhost/health"))
            .await
            .status,
        200
    );

    // The same sign-in: a session with the admin role opens the tools; logout revokes it.
    let login = Call::new("", "POST", "/.auth/login/github").raw(
        "application/x-www-form-urlencoded",
        b"userDetails=boss&userRoles=admin&post_login_redirect_uri=/",
    );
    let signed_in = dev.send(&login).await;
    assert_eq!(signed_in.status, 302, "{signed_in:?}");
    let set_cookie = signed_in.headers["set-cookie"]
        .as_str()
        .expect("cookie")
        .to_owned();
    assert!(
        set_cookie.to_ascii_lowercase().contains("max-age=28800"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let with_cookie = tools(None).header("Cookie", &cookie);
    assert_eq!(dev.send(&with_cookie).await.status, 200);
    let logout = Call::new("", "GET", "/.auth/logout").header("Cookie", &cookie);
    assert_eq!(dev.send(&logout).await.status, 302);
    assert_eq!(
        dev.send(&with_cookie).await.status,
        401,
        "the cookie is revoked"
    );
    let me = Call::new("", "GET", "/.auth/me").header("Cookie", &cookie);
    assert_eq!(dev.send(&me).await.body["clientPrincipal"], Value::Null);
    dev.stop().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dev = Dev::start().await;
    for name in ["swa-cookie.key", "webpubsub.key"] {
        let mode = std::fs::metadata(dev.data_dir().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{name} is {mode:o}");
    }
    dev.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_redirects_and_directory_redirects_stay_on_the_site() {
    let dev = Dev::start().await;
    for target in [
        "//evil.example",
        "/%09/evil.example",
        "/%5Cevil.example",
        "%2F%2Fevil.example",
        "https:evil.example",
        "/\\evil.example",
    ] {
        let logout = Call::new(
            "",
            "GET",
            &format!(
                "/.auth/logout?post_logout_redirect_uri={}",
                target.replace('\\', "%5C")
            ),
        );
        let answer = dev.send(&logout).await;
        assert_eq!(
            answer.headers["location"],
            json!("/"),
            "{target}: {answer:?}"
        );
        let login = Call::new("", "POST", "/.auth/login/github").raw(
            "application/x-www-form-urlencoded",
            format!(
                "userDetails=x&post_login_redirect_uri={}",
                target.replace('\\', "%5C")
            )
            .as_bytes(),
        );
        let answer = dev.send(&login).await;
        assert_eq!(
            answer.headers["location"],
            json!("/"),
            "{target}: {answer:?}"
        );
    }
    // `web/assets` is a directory: the static site redirects to its trailing-slash form.
    for path in ["//assets", "///assets", "/%5C/assets"] {
        let directory = dev.send(&Call::new("", "GET", path)).await;
        let location = directory.headers["location"].as_str().unwrap_or("/");
        assert!(
            location.starts_with('/')
                && !location.starts_with("//")
                && !location.starts_with("/\\"),
            "{path}: {directory:?}"
        );
    }
    let directory = dev.send(&Call::new("", "GET", "//assets")).await;
    assert!((300..400).contains(&directory.status), "{directory:?}");
    assert_eq!(
        directory.headers["location"],
        json!("/assets/"),
        "{directory:?}"
    );
    dev.stop().await;
}

async fn oversize_failures(app: &impl Front) -> Vec<String> {
    let world = World {
        chat: "c0ffee".to_owned(),
        task: "t0ffee".to_owned(),
    };
    let mut failures = Vec::new();
    for size in [100 * 1024, 3 * 1024 * 1024] {
        let big = format!("{{\"Data\":\"{}\"}}", "x".repeat(size));
        for function in http_functions() {
            let call = call_for(&function, &world).by(Some(&user("me"))).json(&big);
            let answer = app.send(&call).await;
            if answer.status != 413 {
                failures.push(format!(
                    "{} {size} bytes: got {} {}",
                    function.name, answer.status, answer.body
                ));
            }
        }
    }
    failures
}

#[tokio::test]
async fn every_route_answers_413_to_an_oversize_body_under_serve() {
    let failures = oversize_failures(&Serve::new().await).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_413_to_an_oversize_body_under_dev() {
    let dev = Dev::start().await;
    let failures = oversize_failures(&dev).await;
    dev.stop().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
