//! Request bodies → commands. Accepts the original frontend's bodies (§9.4) and simpler new
//! ones; ids that say who is acting are only *claims*, to be checked against the principal
//! with [`crate::app::domain::auth::authorize`]. Errors name the JSON path of the bad field.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::auth::Principal;
use super::documents::{CosmosUser, LedgerEntry, LedgerTask, LedgerUser, UserAddress};
use super::geocode::ReverseGeocode;
use super::values::{Coordinates, DisplayName, MessageContent, UserId, ValueError};

const MESSAGE_NAMESPACE: Uuid = Uuid::from_u128(0x0d3a_9f61_27c4_4e85_b1a2_6c7d_e8f9_0a1b);

/// POST /api/user: create or update my profile.
#[derive(Debug, Clone, PartialEq)]
pub struct UpsertProfile {
    /// `id` from the body, if any; must be the caller.
    pub claimed_id: Option<UserId>,
    pub name: Option<DisplayName>,
    pub position: Coordinates,
}

impl UpsertProfile {
    /// Accepts `{"name"?, "position": {latitude, longitude}}`, `{"latitude", "longitude"}` or the
    /// original `{"id", "name", "address": {"position": {…}}, …}` (other fields are ignored:
    /// the address is computed by the server).
    pub fn parse(body: &Value) -> Result<Self, ValueError> {
        require_object(body)?;
        let claimed_id = opt_str(body, "id")?
            .map(|s| UserId::parse(s).map_err(|e| e.for_field("id")))
            .transpose()?;
        let name = opt_str(body, "name")?.map(DisplayName::parse).transpose()?;
        let position = if let Some(p) = body.get("position") {
            coordinates(p, "position")?
        } else if let Some(p) = body.get("address").and_then(|a| a.get("position")) {
            coordinates(p, "address.position")?
        } else if body.get("latitude").is_some() || body.get("longitude").is_some() {
            coordinates(body, "")?
        } else {
            return Err(ValueError::Empty { field: "position" });
        };
        Ok(Self {
            claimed_id,
            name,
            position,
        })
    }

    /// The profile to store for `principal`: name from the body, else the stored profile, else
    /// the provider's user name; `createdAt` kept from `existing`.
    pub fn into_user(
        self,
        principal: &Principal,
        geocode: Option<&ReverseGeocode>,
        existing: Option<&CosmosUser>,
        now: DateTime<Utc>,
    ) -> CosmosUser {
        let name = self
            .name
            .or_else(|| existing.map(|u| u.name.clone()))
            .or_else(|| DisplayName::parse(&principal.user_details).ok())
            .unwrap_or_else(|| fallback_name(&principal.user_id));
        let address = UserAddress::new(self.position, geocode);
        let user = CosmosUser::for_principal(principal, name, Some(address), now);
        match existing {
            Some(old) => old.updated_from(user),
            None => user,
        }
    }
}

/// POST /api/chat: send a message.
#[derive(Debug, Clone, PartialEq)]
pub struct SendMessage {
    /// `message.senderId` / `senderId` from the body, if any; must be the caller.
    pub claimed_sender: Option<UserId>,
    pub to_user_id: UserId,
    pub content: MessageContent,
    /// Client-chosen id for retries (`id` or `messageId`), making the send idempotent.
    pub client_message_id: Option<String>,
}

impl SendMessage {
    /// Accepts `{"toUserId", "content", "id"?}` or the original
    /// `{"chat": {"id"}, "userDetails": [{"id", "toUser": {"id", "name"}}, …],
    ///   "message": {"senderId", "content"}}` (its chat id and names are ignored: the chat id
    /// is derived from the pair and names come from the profiles).
    pub fn parse(body: &Value) -> Result<Self, ValueError> {
        require_object(body)?;
        let client_message_id = match opt_str(body, "messageId")? {
            Some(id) => Some(client_id(id, "messageId")?),
            None => opt_str(body, "id")?
                .map(|id| client_id(id, "id"))
                .transpose()?,
        };
        if let Some(message) = body.get("message") {
            let claimed_sender = opt_str(message, "senderId")
                .map_err(|e| e.for_field("message.senderId"))?
                .map(|s| UserId::parse(s).map_err(|e| e.for_field("message.senderId")))
                .transpose()?;
            let content = req_str(message, "content", "message.content")?;
            let to = original_recipient(body, claimed_sender.as_ref())?;
            return Ok(Self {
                claimed_sender,
                to_user_id: to,
                content: MessageContent::parse(content)
                    .map_err(|e| e.for_field("message.content"))?,
                client_message_id,
            });
        }
        let claimed_sender = opt_str(body, "senderId")?
            .map(|s| UserId::parse(s).map_err(|e| e.for_field("senderId")))
            .transpose()?;
        let to = req_str(body, "toUserId", "toUserId")?;
        Ok(Self {
            claimed_sender,
            to_user_id: UserId::parse(to).map_err(|e| e.for_field("toUserId"))?,
            content: MessageContent::parse(req_str(body, "content", "content")?)?,
            client_message_id,
        })
    }

    /// The stored message id: derived from the client's id when given (a retried send writes
    /// the same document), else a fresh random id.
    pub fn message_id(&self, sender: &UserId) -> String {
        match &self.client_message_id {
            Some(client) => {
                Uuid::new_v5(&MESSAGE_NAMESPACE, format!("{sender}|{client}").as_bytes())
            }
            None => Uuid::new_v4(),
        }
        .simple()
        .to_string()
    }
}

/// POST /api/leaderboard (admin): a manual ledger entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminScore {
    pub entry_key: Option<String>,
    pub user_id: UserId,
    pub user_name: DisplayName,
    pub score: i64,
}

impl AdminScore {
    /// Accepts the original `{"id"?, "user": {"id", "name"}, "score", "task"?}`.
    pub fn parse(body: &Value) -> Result<Self, ValueError> {
        let user = body
            .get("user")
            .ok_or(ValueError::Empty { field: "user" })?;
        let score = body
            .get("score")
            .ok_or(ValueError::Empty { field: "score" })?;
        let score = score.as_i64().ok_or_else(|| ValueError::NotANumber {
            field: "score",
            value: score.to_string(),
        })?;
        const LIMIT: i64 = 1_000_000;
        if !(-LIMIT..=LIMIT).contains(&score) {
            return Err(ValueError::OutOfRange {
                field: "score",
                min: -LIMIT as f64,
                max: LIMIT as f64,
                value: score as f64,
            });
        }
        Ok(Self {
            entry_key: opt_str(body, "id")?
                .map(|id| client_id(id, "id"))
                .transpose()?,
            user_id: UserId::parse(req_str(user, "id", "user.id")?)
                .map_err(|e| e.for_field("user.id"))?,
            user_name: DisplayName::parse(req_str(user, "name", "user.name")?)
                .map_err(|e| e.for_field("user.name"))?,
            score,
        })
    }

    /// The ledger entry, id `admin-<key>` (idempotent when the admin gives an id).
    pub fn into_entry(self, now: DateTime<Utc>) -> LedgerEntry {
        let key = self
            .entry_key
            .unwrap_or_else(|| Uuid::new_v4().simple().to_string());
        LedgerEntry {
            id: format!("admin-{key}"),
            user: LedgerUser {
                id: self.user_id,
                name: self.user_name,
            },
            task: LedgerTask { id: String::new() },
            score: self.score,
            awarded_at: Some(now),
            round_id: None,
            ts: None,
        }
    }
}

/// The recipient in the original body: the `toUser` of the sender's `userDetails` entry (or of
/// the first entry when the body names no sender).
fn original_recipient(body: &Value, sender: Option<&UserId>) -> Result<UserId, ValueError> {
    let field = "userDetails";
    let details = body
        .get(field)
        .and_then(Value::as_array)
        .ok_or(ValueError::Empty { field })?;
    let view = details
        .iter()
        .find(|d| match sender {
            Some(s) => d.get("id").and_then(Value::as_str) == Some(s.as_str()),
            None => true,
        })
        .ok_or(ValueError::Malformed {
            field,
            expected: "an entry whose id is message.senderId",
            value: Value::Array(details.clone()).to_string(),
        })?;
    let to = view
        .get("toUser")
        .and_then(|t| t.get("id"))
        .and_then(Value::as_str)
        .ok_or(ValueError::Empty {
            field: "userDetails.toUser.id",
        })?;
    UserId::parse(to).map_err(|e| e.for_field("userDetails.toUser.id"))
}

/// Latitude and longitude from an object, as numbers or numeric strings; errors name
/// `<prefix>.latitude` / `<prefix>.longitude` (or the bare names for an empty prefix).
fn coordinates(v: &Value, prefix: &'static str) -> Result<Coordinates, ValueError> {
    let (lat_field, lon_field) = match prefix {
        "position" => ("position.latitude", "position.longitude"),
        "address.position" => ("address.position.latitude", "address.position.longitude"),
        _ => ("latitude", "longitude"),
    };
    if !v.is_object() {
        return Err(ValueError::Malformed {
            field: if prefix.is_empty() {
                "position"
            } else {
                prefix
            },
            expected: "an object with latitude and longitude",
            value: v.to_string(),
        });
    }
    let latitude = coordinate(v.get("latitude"), lat_field)?;
    let longitude = coordinate(v.get("longitude"), lon_field)?;
    Coordinates::new(latitude, longitude).map_err(|e| match e.field() {
        "latitude" => e.for_field(lat_field),
        _ => e.for_field(lon_field),
    })
}

fn coordinate(v: Option<&Value>, field: &'static str) -> Result<f64, ValueError> {
    match v {
        None | Some(Value::Null) => Err(ValueError::Empty { field }),
        Some(Value::Number(n)) => n.as_f64().ok_or_else(|| ValueError::NotANumber {
            field,
            value: n.to_string(),
        }),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| ValueError::NotANumber {
            field,
            value: s.clone(),
        }),
        Some(other) => Err(ValueError::NotANumber {
            field,
            value: other.to_string(),
        }),
    }
}

fn require_object(body: &Value) -> Result<(), ValueError> {
    if body.is_object() {
        Ok(())
    } else {
        Err(ValueError::Malformed {
            field: "body",
            expected: "a JSON object",
            value: body.to_string().chars().take(100).collect(),
        })
    }
}

fn opt_str<'a>(v: &'a Value, key: &'static str) -> Result<Option<&'a str>, ValueError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ValueError::Malformed {
            field: key,
            expected: "a string",
            value: other.to_string(),
        }),
    }
}

fn req_str<'a>(v: &'a Value, key: &'static str, path: &'static str) -> Result<&'a str, ValueError> {
    opt_str(v, key)
        .map_err(|e| e.for_field(path))?
        .ok_or(ValueError::Empty { field: path })
}

fn client_id(raw: &str, field: &'static str) -> Result<String, ValueError> {
    // Same rules as user ids: usable inside derived document ids.
    UserId::parse(raw)
        .map(|id| id.as_str().to_owned())
        .map_err(|e| e.for_field(field))
}

fn fallback_name(id: &UserId) -> DisplayName {
    let short: String = id.as_str().chars().take(8).collect();
    DisplayName::parse(&format!("Player {short}"))
        .unwrap_or_else(|_| unreachable!("a user id prefix is printable ASCII"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn principal(details: &str) -> Principal {
        Principal::signed_in("a1b2c3d4", "github", details, vec!["authenticated".into()])
            .unwrap()
            .unwrap()
    }

    #[test]
    fn profile_from_the_original_body() {
        let body = json!({
            "identityProvider": "github", "id": "a1b2c3d4", "name": "octocat",
            "roles": ["anonymous", "authenticated"],
            "address": {"name": "x", "country": {"code": "IN"}, "position": {"latitude": 12.97, "longitude": 77.6}}
        });
        let cmd = UpsertProfile::parse(&body).unwrap();
        assert_eq!(cmd.claimed_id.as_ref().unwrap().as_str(), "a1b2c3d4");
        assert_eq!(cmd.position, Coordinates::new(12.97, 77.6).unwrap());
        let now = DateTime::from_timestamp(100, 0).unwrap();
        let user = cmd.into_user(&principal("octocat"), None, None, now);
        assert_eq!(user.name.as_str(), "octocat");
        assert_eq!(user.id.as_str(), "a1b2c3d4");
        assert_eq!(user.created_at, now);
    }

    #[test]
    fn profile_new_shapes_and_name_fallbacks() {
        let cmd = UpsertProfile::parse(&json!({"latitude": "1.5", "longitude": 2})).unwrap();
        assert_eq!(cmd.name, None);
        let later = DateTime::from_timestamp(200, 0).unwrap();
        let user = cmd.clone().into_user(&principal(""), None, None, later);
        assert_eq!(user.name.as_str(), "Player a1b2c3d4");
        let renamed = UpsertProfile::parse(
            &json!({"name": " Ann ", "position": {"latitude": 1, "longitude": 2}}),
        )
        .unwrap()
        .into_user(
            &principal("x"),
            None,
            Some(&user),
            DateTime::from_timestamp(300, 0).unwrap(),
        );
        assert_eq!(renamed.name.as_str(), "Ann");
        assert_eq!(renamed.created_at, later);
        let kept = cmd.into_user(&principal("x"), None, Some(&renamed), later);
        assert_eq!(kept.name.as_str(), "Ann");
    }

    #[test]
    fn profile_errors_name_fields() {
        let field = |body: Value| UpsertProfile::parse(&body).unwrap_err().field();
        assert_eq!(field(json!({})), "position");
        assert_eq!(field(json!("text")), "body");
        assert_eq!(
            field(json!({"position": {"latitude": 91, "longitude": 0}})),
            "position.latitude"
        );
        assert_eq!(
            field(json!({"position": {"latitude": 1}})),
            "position.longitude"
        );
        assert_eq!(
            field(json!({"address": {"position": {"latitude": 1, "longitude": "east"}}})),
            "address.position.longitude"
        );
        assert_eq!(field(json!({"latitude": 1, "longitude": 200})), "longitude");
        assert_eq!(field(json!({"position": "12,77"})), "position");
        assert_eq!(
            field(json!({"position": {"latitude": [1], "longitude": 2}})),
            "position.latitude"
        );
        assert_eq!(
            field(json!({"name": 5, "latitude": 1, "longitude": 2})),
            "name"
        );
        assert_eq!(
            field(json!({"name": "", "latitude": 1, "longitude": 2})),
            "name"
        );
        assert_eq!(
            field(json!({"id": "a/b", "latitude": 1, "longitude": 2})),
            "id"
        );
    }

    #[test]
    fn message_from_the_original_body() {
        let body = json!({
            "chat": {"id": "5d41402abc4b2a76b9719d911017c592"},
            "userDetails": [
                {"id": "me", "toUser": {"id": "you", "name": "You"}},
                {"toUser": {"id": "me", "name": "Me"}, "id": "you"}
            ],
            "message": {"senderId": "me", "content": " Hi-CosmosPark "}
        });
        let cmd = SendMessage::parse(&body).unwrap();
        assert_eq!(cmd.claimed_sender.as_ref().unwrap().as_str(), "me");
        assert_eq!(cmd.to_user_id.as_str(), "you");
        assert_eq!(cmd.content.as_str(), "Hi-CosmosPark");
        assert_eq!(cmd.client_message_id, None);
        let me = UserId::parse("me").unwrap();
        assert_ne!(
            cmd.message_id(&me),
            cmd.message_id(&me),
            "no client id: fresh ids"
        );
    }

    #[test]
    fn message_new_shape_is_idempotent_with_a_client_id() {
        let body = json!({"toUserId": "you", "content": "hello", "id": "c-1"});
        let cmd = SendMessage::parse(&body).unwrap();
        let me = UserId::parse("me").unwrap();
        assert_eq!(cmd.message_id(&me), cmd.message_id(&me));
        assert_eq!(cmd.message_id(&me).len(), 32);
        assert_ne!(
            cmd.message_id(&me),
            cmd.message_id(&UserId::parse("them").unwrap())
        );
    }

    #[test]
    fn message_errors_name_fields() {
        let field = |body: Value| SendMessage::parse(&body).unwrap_err().field();
        assert_eq!(field(json!({"content": "x"})), "toUserId");
        assert_eq!(field(json!(["x"])), "body");
        assert_eq!(
            field(json!({"toUserId": "you", "content": "x", "messageId": "a b"})),
            "messageId"
        );
        assert_eq!(field(json!({"toUserId": "you"})), "content");
        assert_eq!(
            field(json!({"toUserId": "you", "content": "   "})),
            "content"
        );
        assert_eq!(
            field(json!({"toUserId": "you", "content": "x".repeat(1001)})),
            "content"
        );
        assert_eq!(
            field(json!({"message": {"senderId": "me"}, "userDetails": []})),
            "message.content"
        );
        assert_eq!(
            field(json!({"message": {"senderId": "me", "content": "x"}})),
            "userDetails"
        );
        assert_eq!(
            field(json!({"message": {"senderId": "me", "content": "x"},
                         "userDetails": [{"id": "other", "toUser": {"id": "you"}}]})),
            "userDetails"
        );
        assert_eq!(
            field(json!({"message": {"senderId": 7, "content": "x"}})),
            "message.senderId"
        );
    }

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z0-9 ./-]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            let keys = prop_oneof![
                Just("id".to_owned()),
                Just("name".to_owned()),
                Just("position".to_owned()),
                Just("latitude".to_owned()),
                Just("longitude".to_owned()),
                Just("message".to_owned()),
                Just("content".to_owned()),
                Just("senderId".to_owned()),
                Just("toUserId".to_owned()),
                Just("userDetails".to_owned()),
                Just("toUser".to_owned()),
                Just("user".to_owned()),
                Just("score".to_owned()),
                "[a-z]{1,6}",
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(keys, inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(body in arb_json()) {
            // Every outcome is a value or an error that names a field.
            if let Err(e) = UpsertProfile::parse(&body) { proptest::prop_assert!(!e.field().is_empty()); }
            if let Err(e) = SendMessage::parse(&body) { proptest::prop_assert!(!e.field().is_empty()); }
            if let Err(e) = AdminScore::parse(&body) { proptest::prop_assert!(!e.field().is_empty()); }
        }
    }

    #[test]
    fn admin_score() {
        let body = json!({"id": "bonus-1", "user": {"id": "me", "name": "Me"}, "score": 10, "task": {"id": ""}});
        let entry = AdminScore::parse(&body)
            .unwrap()
            .into_entry(DateTime::from_timestamp(5, 0).unwrap());
        assert_eq!(entry.id, "admin-bonus-1");
        assert_eq!(entry.score, 10);
        let field = |body: Value| AdminScore::parse(&body).unwrap_err().field();
        assert_eq!(field(json!({"score": 1})), "user");
        assert_eq!(field(json!({"user": {"id": "me", "name": "Me"}})), "score");
        assert_eq!(
            field(json!({"user": {"id": "me", "name": "Me"}, "score": "5"})),
            "score"
        );
        assert_eq!(
            field(json!({"user": {"id": "me", "name": "Me"}, "score": 1e9})),
            "score"
        );
        assert_eq!(
            field(json!({"user": {"name": "Me"}, "score": 1})),
            "user.id"
        );
    }
}
