//! Client access tokens: the HS256 JWTs Azure Web PubSub accepts in `access_token`, the
//! signing key, and the `Endpoint=…;AccessKey=…;` connection string that carries it.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Deserializer, Serialize};

/// Errors about the signing key or the connection string that carries it.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the Web PubSub access key is empty")]
    Empty,
    #[error("Web PubSub connection string has no `{0}` part")]
    MissingPart(&'static str),
    #[error("Web PubSub connection string part `{part}` is invalid: {reason}")]
    InvalidPart { part: &'static str, reason: String },
    #[error("cannot read or write the Web PubSub key file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Why a client access token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("access token is missing (pass `access_token` or an `Authorization: Bearer` header)")]
    Missing,
    #[error("access token is malformed: {0}")]
    Malformed(String),
    #[error("access token signature is invalid")]
    BadSignature,
    #[error("access token has expired")]
    Expired,
    #[error("access token audience `{found}` is not this hub (`{expected}`)")]
    WrongAudience { expected: String, found: String },
    #[error("cannot sign access token: {0}")]
    Signing(String),
}

/// The HMAC key shared by the hub and whoever issues client tokens. Its `Debug` output never
/// shows the secret.
#[derive(Clone)]
pub struct AccessKey(Arc<str>);

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessKey(<redacted>)")
    }
}

impl AccessKey {
    /// A key as written in a connection string: its UTF-8 bytes are the HMAC key (Azure does
    /// not base64-decode it).
    pub fn new(secret: impl Into<String>) -> Result<Self, KeyError> {
        let secret = secret.into();
        if secret.trim().is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self(secret.into()))
    }

    /// A fresh random key (244 random bits, hex).
    pub fn generate() -> Self {
        let a = uuid::Uuid::new_v4().simple().to_string();
        let b = uuid::Uuid::new_v4().simple().to_string();
        Self(format!("{a}{b}").into())
    }

    /// Reads the key stored at `path`, or generates one and stores it there (owner-only
    /// permissions on Unix) so tokens survive a restart of the local platform.
    pub fn load_or_generate(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::new(text.trim()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                write_private(path, key.0.as_bytes()).map_err(io)?;
                Ok(key)
            }
            Err(e) => Err(io(e)),
        }
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The `Endpoint=…;AccessKey=…;Version=1.0;` connection string for this key at `endpoint`
    /// (the local platform hands it to the app, which calls the hub's REST API with it).
    pub fn connection_string(&self, endpoint: &str) -> String {
        format!(
            "Endpoint={};AccessKey={};Version=1.0;",
            endpoint.trim_end_matches('/'),
            self.0
        )
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// A parsed `WebPubSubConnectionString`: `Endpoint=https://…;AccessKey=…;Version=1.0;[Port=…;]`.
#[derive(Debug, Clone)]
pub struct ConnectionString {
    /// The http(s) endpoint, without a trailing slash, with `Port` applied when given.
    pub endpoint: String,
    pub access_key: AccessKey,
}

impl std::str::FromStr for ConnectionString {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (mut endpoint, mut key, mut port) = (None, None, None);
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((name, value)) = part.split_once('=') else {
                continue;
            };
            match name.trim().to_ascii_lowercase().as_str() {
                "endpoint" => endpoint = Some(value.trim()),
                "accesskey" => key = Some(value.trim()),
                "port" => port = Some(value.trim()),
                _ => {}
            }
        }
        let endpoint = endpoint.ok_or(KeyError::MissingPart("Endpoint"))?;
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(KeyError::InvalidPart {
                part: "Endpoint",
                reason: "must start with http:// or https://".into(),
            });
        }
        let mut endpoint = endpoint.trim_end_matches('/').to_string();
        if let Some(port) = port {
            let port: u16 = port.parse().map_err(|_| KeyError::InvalidPart {
                part: "Port",
                reason: format!("`{port}` is not a port number"),
            })?;
            endpoint = format!("{endpoint}:{port}");
        }
        let key = key.ok_or(KeyError::MissingPart("AccessKey"))?;
        Ok(Self {
            endpoint,
            access_key: AccessKey::new(key).map_err(|_| KeyError::InvalidPart {
                part: "AccessKey",
                reason: "is empty".into(),
            })?,
        })
    }
}

/// Who a verified token says the client is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub user_id: Option<String>,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    role: Vec<String>,
    #[serde(
        rename = "webpubsub.group",
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    groups: Vec<String>,
    #[serde(default)]
    iat: u64,
    exp: u64,
    aud: String,
}

/// Token issuers write a single-valued claim either as a string or as a one-element array.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

/// Signs a client access token for `audience` (the http(s) hub URL `<endpoint>/client/hubs/<hub>`).
pub fn sign(
    key: &AccessKey,
    audience: &str,
    identity: &ClientIdentity,
    ttl: Duration,
) -> Result<String, TokenError> {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = Claims {
        sub: identity.user_id.clone(),
        role: identity.roles.clone(),
        groups: identity.groups.clone(),
        iat: now,
        exp: now.saturating_add(ttl.as_secs().max(1)),
        aud: audience.to_string(),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key.bytes()),
    )
    .map_err(|e| TokenError::Signing(e.to_string()))
}

/// Verifies signature, expiry (unless `check_expiry` is false, as for a connection being
/// recovered) and audience. Audiences compare without regard to ASCII case or a trailing slash,
/// and either scheme is accepted for the same host, as tokens are minted for the http(s) URL.
pub fn verify(
    key: &AccessKey,
    audience: &str,
    token: &str,
    check_expiry: bool,
) -> Result<ClientIdentity, TokenError> {
    let claims = decode(key, token, check_expiry)?;
    if !same_audience(&claims.aud, audience) {
        return Err(TokenError::WrongAudience {
            expected: audience.to_string(),
            found: claims.aud,
        });
    }
    Ok(ClientIdentity {
        user_id: claims.sub.filter(|s| !s.is_empty()),
        roles: claims.role,
        groups: claims.groups,
    })
}

/// Re-addresses a client token this hub signed for `from` (an audience, as [`verify`] checks
/// it) to audience `to`, keeping every other claim (identity, issue time, expiry).
pub fn readdress(key: &AccessKey, token: &str, from: &str, to: &str) -> Result<String, TokenError> {
    let mut claims = decode(key, token, true)?;
    if !same_audience(&claims.aud, from) {
        return Err(TokenError::WrongAudience {
            expected: from.to_string(),
            found: claims.aud,
        });
    }
    claims.aud = to.to_string();
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key.bytes()),
    )
    .map_err(|e| TokenError::Signing(e.to_string()))
}

/// The claims of a token signed with `key` (its expiry checked when `check_expiry`).
fn decode(key: &AccessKey, token: &str, check_expiry: bool) -> Result<Claims, TokenError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    validation.validate_exp = check_expiry;
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp"]);
    jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(key.bytes()), &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Malformed(e.to_string()),
        })
}

fn same_audience(found: &str, expected: &str) -> bool {
    fn strip(s: &str) -> &str {
        let s = s.trim_end_matches('/');
        s.strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .unwrap_or(s)
    }
    strip(found).eq_ignore_ascii_case(strip(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUD: &str = "http://127.0.0.1:7071/client/hubs/game";

    fn alice() -> ClientIdentity {
        ClientIdentity {
            user_id: Some("alice".into()),
            roles: vec!["webpubsub.joinLeaveGroup.lobby".into()],
            groups: vec!["lobby".into()],
        }
    }

    #[test]
    fn signed_token_verifies_and_keeps_claims() {
        let key = AccessKey::new("secret").unwrap();
        let token = sign(&key, AUD, &alice(), Duration::from_secs(60)).unwrap();
        assert_eq!(verify(&key, AUD, &token, true).unwrap(), alice());
    }

    #[test]
    fn audience_ignores_scheme_case_and_trailing_slash_but_not_hub() {
        let key = AccessKey::new("secret").unwrap();
        let token = sign(&key, AUD, &alice(), Duration::from_secs(60)).unwrap();
        assert!(
            verify(
                &key,
                "https://127.0.0.1:7071/client/hubs/GAME/",
                &token,
                true
            )
            .is_ok()
        );
        assert!(matches!(
            verify(
                &key,
                "http://127.0.0.1:7071/client/hubs/other",
                &token,
                true
            ),
            Err(TokenError::WrongAudience { .. })
        ));
    }

    #[test]
    fn other_key_is_a_bad_signature() {
        let token = sign(
            &AccessKey::new("one").unwrap(),
            AUD,
            &alice(),
            Duration::from_secs(60),
        )
        .unwrap();
        assert_eq!(
            verify(&AccessKey::new("two").unwrap(), AUD, &token, true),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn single_string_role_claim_is_accepted() {
        let key = AccessKey::new("secret").unwrap();
        let claims = serde_json::json!({
            "aud": AUD, "exp": jsonwebtoken::get_current_timestamp() + 60,
            "role": "webpubsub.sendToGroup", "webpubsub.group": "g"
        });
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        let id = verify(&key, AUD, &token, true).unwrap();
        assert_eq!(id.roles, vec!["webpubsub.sendToGroup"]);
        assert_eq!(id.groups, vec!["g"]);
        assert_eq!(id.user_id, None);
    }

    #[test]
    fn connection_string_parts_are_read_case_insensitively() {
        let cs: ConnectionString =
            "endpoint=https://x.webpubsub.azure.com/;accesskey=abc=;Version=1.0;Port=8080;"
                .parse()
                .unwrap();
        assert_eq!(cs.endpoint, "https://x.webpubsub.azure.com:8080");
        assert_eq!(cs.access_key.bytes(), b"abc=");
        assert!(matches!(
            "Endpoint=https://x;Version=1.0;".parse::<ConnectionString>(),
            Err(KeyError::MissingPart("AccessKey"))
        ));
        assert!(matches!(
            "AccessKey=k".parse::<ConnectionString>(),
            Err(KeyError::MissingPart("Endpoint"))
        ));
    }

    #[test]
    fn generated_key_is_persisted_and_read_back() {
        let dir = std::env::temp_dir().join(format!("wps-key-{}", uuid::Uuid::new_v4()));
        let path = dir.join("nested").join("webpubsub.key");
        let first = AccessKey::load_or_generate(&path).unwrap();
        let second = AccessKey::load_or_generate(&path).unwrap();
        assert_eq!(first.bytes(), second.bytes());
        assert_ne!(first.bytes(), AccessKey::generate().bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn key_debug_is_redacted() {
        let key = AccessKey::new("topsecret").unwrap();
        assert!(!format!("{key:?}").contains("topsecret"));
    }
}
