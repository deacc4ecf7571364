//! The `/.auth/*` endpoints: a local sign-in form for any provider, `/.auth/me`, logout and
//! purge. The principal lives in an HttpOnly cookie signed with an HMAC key, so a browser
//! cannot forge or alter it.

use std::collections::HashMap;

use axum::extract::{FromRequest, Query, Request};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::{Form, Json};
use axum_extra::extract::cookie::{Cookie, Key, SameSite, SignedCookieJar};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::config::is_role_name;
use crate::runtime::principal::ClientPrincipal;

/// The cookie Static Web Apps (and its CLI) keeps the principal in.
pub const COOKIE_NAME: &str = "StaticWebAppsAuthCookie";

/// Namespace for user ids derived from a provider and a user name.
const USER_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5c0e_3b1a_7f2d_4e8b_9a61_c4d2_e7f0_1b39);

/// The principal carried by a valid signed cookie, if any.
pub fn principal_from_cookie(headers: &HeaderMap, key: &Key) -> Option<ClientPrincipal> {
    let jar = SignedCookieJar::from_headers(headers, key.clone());
    let cookie = jar.get(COOKIE_NAME)?;
    let bytes = STANDARD.decode(cookie.value()).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Answers a request under `/.auth/`.
pub async fn handle(request: Request, path: &str, key: &Key) -> Response {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(2).collect();
    let method = request.method().clone();
    match (method, segments.as_slice()) {
        (Method::GET, ["me"]) => me(request.headers(), key),
        (Method::GET, ["login.css"]) => login_stylesheet(),
        (Method::GET, ["logout"]) => sign_out(&request, key, "post_logout_redirect_uri"),
        (Method::GET, ["purge", provider]) if is_provider(provider) => {
            sign_out(&request, key, "post_purge_redirect_uri")
        }
        (Method::GET, ["login", provider]) if is_provider(provider) => {
            let target = redirect_target(&request, "post_login_redirect_uri");
            Html(login_page(provider, &target, None)).into_response()
        }
        (Method::POST, ["login", provider]) if is_provider(provider) => {
            let provider = (*provider).to_owned();
            sign_in(request, &provider, key).await
        }
        _ => (StatusCode::NOT_FOUND, "unknown /.auth endpoint").into_response(),
    }
}

fn me(headers: &HeaderMap, key: &Key) -> Response {
    let principal = principal_from_cookie(headers, key).map(|p| p.to_me_json());
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    (no_store, Json(json!({ "clientPrincipal": principal }))).into_response()
}

fn sign_out(request: &Request, key: &Key, redirect_param: &str) -> Response {
    let target = redirect_target(request, redirect_param);
    // The jar must know the request's cookie for `remove` to emit the expiring Set-Cookie.
    let jar = SignedCookieJar::from_headers(request.headers(), key.clone())
        .remove(Cookie::build(COOKIE_NAME).path("/"));
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

async fn sign_in(request: Request, provider: &str, key: &Key) -> Response {
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
    let value = STANDARD.encode(principal.to_me_json().to_string());
    let cookie = Cookie::build((COOKIE_NAME, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax);
    let jar = SignedCookieJar::new(key.clone()).add(cookie);
    (jar, found(&target)).into_response()
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
fn safe_redirect(target: &str, host: Option<&str>) -> String {
    let target = target.trim();
    if target.starts_with('/') && !target.starts_with("//") && !target.contains('\\') {
        return target.to_owned();
    }
    let on_this_host = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
        .and_then(|rest| {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            (Some(authority) == host).then_some(path)
        });
    match on_this_host {
        Some("") => "/".to_owned(),
        Some(path) if !path.starts_with("//") && !path.contains('\\') => path.to_owned(),
        _ => "/".to_owned(),
    }
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
