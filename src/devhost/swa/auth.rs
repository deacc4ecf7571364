//! The `/.auth/*` endpoints: a local sign-in form for any provider, `/.auth/me`, logout and
//! purge. The principal lives in an HttpOnly cookie signed with an HMAC key, so a browser
//! cannot forge or alter it; sessions expire and logout revokes them ([`super::session`]).
//! Redirect targets stay on the site ([`safe_redirect`]).

use std::collections::HashMap;

use axum::extract::{FromRequest, Query, Request};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::config::is_role_name;
use crate::runtime::principal::ClientPrincipal;

use super::session::Sessions;

/// The cookie Static Web Apps (and its CLI) keeps the principal in.
pub const COOKIE_NAME: &str = "StaticWebAppsAuthCookie";

/// Namespace for user ids derived from a provider and a user name.
const USER_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5c0e_3b1a_7f2d_4e8b_9a61_c4d2_e7f0_1b39);

/// Answers a request under `/.auth/`.
pub async fn handle(request: Request, path: &str, sessions: &Sessions) -> Response {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
    let method = request.method().clone();
    match (method, segments.as_slice()) {
        (Method::GET, ["me"]) => me(request.headers(), sessions),
        (Method::GET, ["login.css"]) => login_stylesheet(),
        (Method::GET, ["logout"]) => sign_out(&request, sessions, "post_logout_redirect_uri"),
        (Method::GET, ["purge", provider]) if is_provider(provider) => {
            sign_out(&request, sessions, "post_purge_redirect_uri")
        }
        (Method::GET, ["login", provider]) if is_provider(provider) => {
            let target = redirect_target(&request, "post_login_redirect_uri");
            Html(login_page(provider, &target, None)).into_response()
        }
        (Method::POST, ["login", provider]) if is_provider(provider) => {
            let provider = (*provider).to_owned();
            sign_in(request, &provider, sessions).await
        }
        _ => (StatusCode::NOT_FOUND, "unknown /.auth endpoint").into_response(),
    }
}

fn me(headers: &HeaderMap, sessions: &Sessions) -> Response {
    let principal = sessions.principal(headers).map(|p| p.to_me_json());
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    (no_store, Json(json!({ "clientPrincipal": principal }))).into_response()
}

fn sign_out(request: &Request, sessions: &Sessions, redirect_param: &str) -> Response {
    let target = redirect_target(request, redirect_param);
    let jar = sessions.revoke(request.headers());
    (jar, found(&target)).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default, rename = "userDetails")]
    user_details: String,
    #[serde(default, rename = "userId")]
    user_id: String,
    #[serde(default, rename = "userRoles")]
    user_roles: String,
    #[serde(default)]
    post_login_redirect_uri: String,
}

async fn sign_in(request: Request, provider: &str, sessions: &Sessions) -> Response {
    if !same_origin(request.headers()) {
        return (StatusCode::FORBIDDEN, "sign-in must come from this site").into_response();
    }
    let host = host(request.headers()).map(str::to_owned);
    let Form(form) = match Form::<LoginForm>::from_request(request, &()).await {
        Ok(form) => form,
        Err(rejection) => return rejection.into_response(),
    };
    let target = safe_redirect(&form.post_login_redirect_uri, host.as_deref());
    let principal = match principal_from_form(provider, &form) {
        Ok(principal) => principal,
        Err(message) => {
            let page = login_page(provider, &target, Some(&message));
            return (StatusCode::BAD_REQUEST, Html(page)).into_response();
        }
    };
    (sessions.issue(principal), found(&target)).into_response()
}

fn principal_from_form(provider: &str, form: &LoginForm) -> Result<ClientPrincipal, String> {
    let name = form.user_details.trim();
    if name.is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err("userDetails: enter a user name (1-256 characters)".to_owned());
    }
    let id = form.user_id.trim();
    let user_id = if id.is_empty() {
        Uuid::new_v5(&USER_ID_NAMESPACE, format!("{provider}/{name}").as_bytes())
            .simple()
            .to_string()
    } else if id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
    {
        id.to_owned()
    } else {
        return Err("userId: use 1-128 letters, digits, '-', '_', '.' or '@'".to_owned());
    };
    let mut roles = vec!["anonymous".to_owned(), "authenticated".to_owned()];
    for role in form
        .user_roles
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        if !is_role_name(role) {
            return Err(format!(
                "userRoles: {role:?} is not a role name (letters, digits, '-' and '_')"
            ));
        }
        if !roles.iter().any(|r| r.eq_ignore_ascii_case(role)) {
            roles.push(role.to_owned());
        }
    }
    Ok(ClientPrincipal {
        identity_provider: provider.to_owned(),
        user_id,
        user_details: name.to_owned(),
        user_roles: roles,
    })
}

fn is_provider(provider: &str) -> bool {
    !provider.is_empty()
        && provider.len() <= 32
        && provider
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Where to send the browser after sign-in or sign-out: the named query parameter
/// (`.referrer` meaning the Referer header), kept on this site.
fn redirect_target(request: &Request, param: &str) -> String {
    let query: HashMap<String, String> = Query::try_from_uri(request.uri())
        .map(|Query(q)| q)
        .unwrap_or_default();
    let host = host(request.headers());
    match query.get(param).map(String::as_str) {
        Some(".referrer") => {
            let referer = request
                .headers()
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("/");
            safe_redirect(referer, host)
        }
        Some(target) => safe_redirect(target, host),
        None => "/".to_owned(),
    }
}

/// A local path, or an absolute URL on this host reduced to its path; anything else is `/`.
///
/// The target is resolved the way a browser resolves a `Location` value (the WHATWG URL parser
/// of the `url` crate: leading/trailing C0 controls and spaces stripped, tabs and newlines
/// removed anywhere, `\` read as `/` for http(s), dot segments applied), so forms such as
/// `/\evil.example`, `/\t/evil.example` or `http:\\evil.example` cannot leave the site. The answer
/// is the resolved path, query and fragment, never starting with `//` or `/\`, in visible ASCII.
pub fn safe_redirect(target: &str, host: Option<&str>) -> String {
    let base = host
        .and_then(|host| url::Url::parse(&format!("http://{host}/")).ok())
        .filter(|base| base.path() == "/" && base.username().is_empty())
        .or_else(|| url::Url::parse("http://localhost/").ok());
    let Some(base) = base else {
        return "/".to_owned();
    };
    let Ok(resolved) = base.join(target) else {
        return "/".to_owned();
    };
    let same_site = matches!(resolved.scheme(), "http" | "https")
        && resolved.host_str() == base.host_str()
        && resolved.port() == base.port()
        && resolved.username().is_empty()
        && resolved.password().is_none();
    if !same_site {
        return "/".to_owned();
    }
    let mut local = resolved.path().to_owned();
    if let Some(query) = resolved.query() {
        local.push('?');
        local.push_str(query);
    }
    if let Some(fragment) = resolved.fragment() {
        local.push('#');
        local.push_str(fragment);
    }
    let bytes = local.as_bytes();
    let scheme_relative = bytes.get(1).is_some_and(|b| matches!(b, b'/' | b'\\'));
    let visible = bytes.iter().all(|b| b.is_ascii_graphic() && *b != b'\\');
    if !local.starts_with('/') || scheme_relative || !visible {
        return "/".to_owned();
    }
    local
}

fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|v| v.to_str().ok())
}

/// A form post from another site is refused (login CSRF); browsers send `Origin` on posts.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    authority.is_some() && authority == host(headers)
}

fn found(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
}

/// The sign-in page's stylesheet: a file of its own, so a strict `style-src 'self'` allows it.
const LOGIN_CSS: &str = include_str!("login.css");

fn login_stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        LOGIN_CSS,
    )
        .into_response()
}

/// The local sign-in form; styled by [`LOGIN_CSS`], with no inline style or script.
fn login_page(provider: &str, redirect: &str, error: Option<&str>) -> String {
    let provider = escape(provider);
    let redirect = escape(redirect);
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in with {provider} (local)</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/.auth/login.css">
</head>
<body>
<header>Static Web Apps · local sign-in</header>
<main>
<h1>Sign in with {provider} (local emulation)</h1>
<p>This is the local Static Web Apps sign-in. Nothing leaves this machine.</p>
{error}
<form method="post" action="/.auth/login/{provider}">
<label for="userDetails">User name</label>
<input id="userDetails" name="userDetails" required autofocus>
<label for="userId">User id</label>
<input id="userId" name="userId" placeholder="derived from the user name">
<label for="userRoles">Roles</label>
<input id="userRoles" name="userRoles" placeholder="admin, tester">
<small>Comma separated; anonymous and authenticated are added.</small>
<input type="hidden" name="post_login_redirect_uri" value="{redirect}">
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>
"#
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::safe_redirect;
    use proptest::prelude::*;

    const HOST: &str = "localhost:4280";

    /// What a browser does with the answer as a `Location`: resolve it against the site.
    fn lands_on_this_site(location: &str) -> bool {
        let base = url::Url::parse(&format!("http://{HOST}/")).unwrap();
        base.join(location)
            .is_ok_and(|u| u.host_str() == Some("localhost") && u.port() == Some(4280))
    }

    fn assert_local(target: &str) {
        let location = safe_redirect(target, Some(HOST));
        let bytes = location.as_bytes();
        assert!(location.starts_with('/'), "{target:?} -> {location:?}");
        assert!(
            !matches!(bytes.get(1), Some(b'/' | b'\\')),
            "{target:?} -> {location:?}"
        );
        assert!(
            bytes.iter().all(|b| b.is_ascii_graphic() && *b != b'\\'),
            "{target:?} -> {location:?}"
        );
        assert!(lands_on_this_site(&location), "{target:?} -> {location:?}");
    }

    #[test]
    fn known_escapes_fall_back_to_the_root() {
        for target in [
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "\\/evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            " //evil.example",
            "\u{0}//evil.example",
            "\u{1f}/\\evil.example",
            "http://evil.example/",
            "https:evil.example",
            "http:\\\\evil.example",
            "HTTP://evil.example",
            "javascript:alert(1)",
            "data:text/html,hi",
            "//localhost:4280@evil.example",
            "http://localhost:4280@evil.example/",
            "/x/..//evil.example",
            "/./\\evil.example",
        ] {
            assert_eq!(safe_redirect(target, Some(HOST)), "/", "{target:?}");
        }
    }

    #[test]
    fn local_paths_are_kept() {
        assert_eq!(
            safe_redirect("/game?tab=chats#top", Some(HOST)),
            "/game?tab=chats#top"
        );
        assert_eq!(safe_redirect("http://localhost:4280/me", Some(HOST)), "/me");
        assert_eq!(
            safe_redirect("https://localhost:4280/me", Some(HOST)),
            "/me"
        );
        assert_eq!(
            safe_redirect("/%2F%2Fevil.example", Some(HOST)),
            "/%2F%2Fevil.example"
        );
        assert_eq!(safe_redirect("", Some(HOST)), "/");
    }

    fn hostile() -> impl Strategy<Value = String> {
        let slash = prop_oneof![
            Just("/"),
            Just("\\"),
            Just("%2F"),
            Just("%5C"),
            Just("%2f"),
            Just("%252F")
        ];
        let noise = prop_oneof![
            Just(""),
            Just("\t"),
            Just("\n"),
            Just("\r"),
            Just(" "),
            Just("\u{0}"),
            Just("\u{1f}"),
            Just("\u{7f}"),
            Just("\u{a0}"),
            Just("\u{2028}")
        ];
        let scheme = prop_oneof![
            Just(""),
            Just("http:"),
            Just("https:"),
            Just("HTTP:"),
            Just("javascript:"),
            Just("ftp:")
        ];
        let host = prop_oneof![
            Just("evil.example"),
            Just("localhost:4280@evil.example"),
            Just("localhost:4281"),
            Just("127.0.0.1"),
            Just("[::1]"),
            Just(".."),
            Just("")
        ];
        (
            scheme,
            proptest::collection::vec((noise.clone(), slash), 0..4),
            noise,
            host,
            "[a-z/\\\\?#.]{0,6}",
        )
            .prop_map(|(scheme, parts, noise, host, tail)| {
                let mut target = scheme.to_owned();
                for (noise, slash) in parts {
                    target.push_str(noise);
                    target.push_str(slash);
                }
                target.push_str(noise);
                target.push_str(host);
                target.push_str(&tail);
                target
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn hostile_targets_never_leave_the_site(target in hostile()) {
            assert_local(&target);
            let decoded = percent_encoding::percent_decode_str(&target).decode_utf8_lossy().into_owned();
            assert_local(&decoded);
        }

        #[test]
        fn arbitrary_targets_never_leave_the_site(target in any::<String>()) {
            assert_local(&target);
        }
    }
}
