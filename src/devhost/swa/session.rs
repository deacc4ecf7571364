//! Sign-in sessions of the emulated `/.auth`: the principal travels in an HMAC-signed cookie
//! together with a random session id and an expiry ([`SESSION_TTL`], the 8 hours Static Web
//! Apps gives a session); logout adds the id to a revocation list (kept in a file when one is
//! given, so a restart does not bring a logged-out cookie back).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, Key, SameSite, SignedCookieJar};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::runtime::principal::ClientPrincipal;

/// The cookie Static Web Apps (and its CLI) keeps the principal in.
pub const COOKIE_NAME: &str = "StaticWebAppsAuthCookie";

/// How long a sign-in lasts: Static Web Apps expires sessions after 8 hours.
pub const SESSION_TTL_SECONDS: i64 = 8 * 60 * 60;

/// Seconds since the Unix epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What the signed cookie holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SessionCookie {
    #[serde(flatten)]
    principal: ClientPrincipal,
    /// Random session id; logout revokes it.
    sid: String,
    /// Expiry, seconds since the epoch.
    exp: i64,
}

/// Issues, reads and revokes sessions.
#[derive(Clone)]
pub struct Sessions {
    key: Key,
    clock: Clock,
    revoked: Arc<Mutex<HashMap<String, i64>>>,
    file: Option<PathBuf>,
}

impl Sessions {
    /// Sessions signed with `key`; revocations persist in `file` when given.
    pub fn new(key: Key, file: Option<PathBuf>) -> Self {
        let revoked = file
            .as_ref()
            .and_then(|path| std::fs::read(path).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Self {
            key,
            clock: Arc::new(|| chrono::Utc::now().timestamp()),
            revoked: Arc::new(Mutex::new(revoked)),
            file,
        }
    }

    /// The same sessions read with another clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The signed cookie for a new session of `principal`.
    pub fn issue(&self, principal: ClientPrincipal) -> SignedCookieJar {
        let session = SessionCookie {
            principal,
            // 122 random bits from the OS generator.
            sid: uuid::Uuid::new_v4().simple().to_string(),
            exp: (self.clock)() + SESSION_TTL_SECONDS,
        };
        let value = STANDARD.encode(serde_json::to_vec(&session).unwrap_or_default());
        let cookie = Cookie::build((COOKIE_NAME, value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .max_age(time::Duration::seconds(SESSION_TTL_SECONDS));
        SignedCookieJar::new(self.key.clone()).add(cookie)
    }

    /// The principal of a valid, unexpired, unrevoked session cookie, if any.
    pub fn principal(&self, headers: &HeaderMap) -> Option<ClientPrincipal> {
        let session = self.session(headers)?;
        Some(session.principal)
    }

    fn session(&self, headers: &HeaderMap) -> Option<SessionCookie> {
        let jar = SignedCookieJar::from_headers(headers, self.key.clone());
        let cookie = jar.get(COOKIE_NAME)?;
        let bytes = STANDARD.decode(cookie.value()).ok()?;
        let session: SessionCookie = serde_json::from_slice(&bytes).ok()?;
        let now = (self.clock)();
        if session.exp <= now || session.exp > now + SESSION_TTL_SECONDS {
            return None;
        }
        let revoked = self.revoked.lock().ok()?.contains_key(&session.sid);
        (!revoked).then_some(session)
    }

    /// Ends the session the request carries (if any) and answers the expiring cookie.
    pub fn revoke(&self, headers: &HeaderMap) -> SignedCookieJar {
        if let Some(session) = self.session(headers) {
            let now = (self.clock)();
            if let Ok(mut revoked) = self.revoked.lock() {
                revoked.retain(|_, exp| *exp > now);
                revoked.insert(session.sid, session.exp);
                self.persist(&revoked);
            }
        }
        // The jar must know the request's cookie for `remove` to emit the expiring Set-Cookie.
        SignedCookieJar::from_headers(headers, self.key.clone())
            .remove(Cookie::build(COOKIE_NAME).path("/"))
    }

    fn persist(&self, revoked: &HashMap<String, i64>) {
        let Some(path) = &self.file else { return };
        let written = serde_json::to_vec(revoked)
            .map_err(std::io::Error::other)
            .and_then(|bytes| super::super::private_file::write(path, &bytes));
        if let Err(error) = written {
            tracing::warn!(%error, path = %path.display(), "cannot save the session revocation list");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    fn principal() -> ClientPrincipal {
        ClientPrincipal {
            identity_provider: "github".into(),
            user_id: "u1".into(),
            user_details: "octo".into(),
            user_roles: vec!["anonymous".into(), "authenticated".into()],
        }
    }

    fn request_headers(jar: SignedCookieJar) -> HeaderMap {
        use axum::response::IntoResponse;
        let response = jar.into_response();
        let mut headers = HeaderMap::new();
        for set in response.headers().get_all("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            headers.append("cookie", pair.parse().unwrap());
        }
        headers
    }

    #[test]
    fn sessions_expire_after_eight_hours() {
        let now = Arc::new(AtomicI64::new(1_000_000));
        let clock_now = Arc::clone(&now);
        let sessions = Sessions::new(Key::generate(), None)
            .with_clock(Arc::new(move || clock_now.load(Ordering::SeqCst)));
        let headers = request_headers(sessions.issue(principal()));
        assert_eq!(sessions.principal(&headers), Some(principal()));
        now.store(1_000_000 + SESSION_TTL_SECONDS - 1, Ordering::SeqCst);
        assert!(sessions.principal(&headers).is_some());
        now.store(1_000_000 + SESSION_TTL_SECONDS, Ordering::SeqCst);
        assert_eq!(sessions.principal(&headers), None);
    }

    #[test]
    fn logout_revokes_the_cookie_even_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("revoked.json");
        let key = Key::generate();
        let sessions = Sessions::new(key.clone(), Some(file.clone()));
        let headers = request_headers(sessions.issue(principal()));
        let other = request_headers(sessions.issue(principal()));
        assert!(sessions.principal(&headers).is_some());
        let _expiring = sessions.revoke(&headers);
        assert_eq!(sessions.principal(&headers), None, "replayed after logout");
        assert!(sessions.principal(&other).is_some(), "other sessions stay");
        let restarted = Sessions::new(key, Some(file));
        assert_eq!(restarted.principal(&headers), None);
        assert!(restarted.principal(&other).is_some());
    }

    #[test]
    fn cookies_without_an_expiry_are_refused() {
        let key = Key::generate();
        let sessions = Sessions::new(key.clone(), None);
        let legacy = STANDARD.encode(serde_json::to_vec(&principal()).unwrap());
        let jar = SignedCookieJar::new(key).add(Cookie::new(COOKIE_NAME, legacy));
        assert_eq!(sessions.principal(&request_headers(jar)), None);
    }
}
