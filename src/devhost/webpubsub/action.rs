//! The `webPubSub` output binding's actions, parsed from the exact JSON a function returns
//! (`{"actionName":"sendToAll","data":"…","dataType":"json"}`, one object or an array).
//! Property names match case-insensitively, as the Azure extension's JSON reader does.

use crate::runtime::protocol::kind;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use super::protocol::Payload;

/// A permission a connection can be granted or lose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    JoinLeaveGroup,
    SendToGroup,
}

impl Permission {
    /// The role claim that carries this permission, for one group or all.
    pub fn role(self, group: Option<&str>) -> String {
        let base = match self {
            Permission::JoinLeaveGroup => "webpubsub.joinLeaveGroup",
            Permission::SendToGroup => "webpubsub.sendToGroup",
        };
        match group {
            Some(g) => format!("{base}.{g}"),
            None => base.to_string(),
        }
    }
}

/// One server-side operation on a hub.
#[derive(Debug, Clone, PartialEq)]
pub enum WebPubSubAction {
    SendToAll {
        payload: Payload,
        excluded: Vec<String>,
    },
    SendToGroup {
        group: String,
        payload: Payload,
        excluded: Vec<String>,
    },
    SendToUser {
        user_id: String,
        payload: Payload,
    },
    SendToConnection {
        connection_id: String,
        payload: Payload,
    },
    AddUserToGroup {
        user_id: String,
        group: String,
    },
    RemoveUserFromGroup {
        user_id: String,
        group: String,
    },
    RemoveUserFromAllGroups {
        user_id: String,
    },
    AddConnectionToGroup {
        connection_id: String,
        group: String,
    },
    RemoveConnectionFromGroup {
        connection_id: String,
        group: String,
    },
    CloseAllConnections {
        excluded: Vec<String>,
        reason: Option<String>,
    },
    CloseClientConnection {
        connection_id: String,
        reason: Option<String>,
    },
    CloseGroupConnections {
        group: String,
        excluded: Vec<String>,
        reason: Option<String>,
    },
    GrantPermission {
        connection_id: String,
        permission: Permission,
        target_name: Option<String>,
    },
    RevokePermission {
        connection_id: String,
        permission: Permission,
        target_name: Option<String>,
    },
}

/// Why an action could not be read. `field` names the JSON property at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("a webPubSub action must be a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("webPubSub action has no `actionName`")]
    MissingActionName,
    #[error("webPubSub `actionName` `{0}` is not a known action")]
    UnknownAction(String),
    #[error("webPubSub action `{action}` needs `{field}`")]
    MissingField {
        action: &'static str,
        field: &'static str,
    },
    #[error("webPubSub action `{action}` has an invalid `{field}`: {reason}")]
    InvalidField {
        action: &'static str,
        field: &'static str,
        reason: String,
    },
    #[error("webPubSub action [{index}]: {source}")]
    AtIndex {
        index: usize,
        #[source]
        source: Box<ActionError>,
    },
}

impl WebPubSubAction {
    /// Reads a binding value: one action, an array of actions, or JSON text holding either.
    pub fn parse_many(value: &Value) -> Result<Vec<Self>, ActionError> {
        match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    Self::parse(item).map_err(|e| ActionError::AtIndex {
                        index,
                        source: Box::new(e),
                    })
                })
                .collect(),
            Value::String(text) => match serde_json::from_str::<Value>(text) {
                Ok(inner @ (Value::Array(_) | Value::Object(_))) => Self::parse_many(&inner),
                _ => Err(ActionError::NotAnObject("a string")),
            },
            other => Self::parse(other).map(|a| vec![a]),
        }
    }

    /// Reads one action object.
    pub fn parse(value: &Value) -> Result<Self, ActionError> {
        let obj = match value {
            Value::Object(obj) => obj,
            other => return Err(ActionError::NotAnObject(kind(other))),
        };
        let fields = Fields(obj);
        let name = match fields.get("actionName") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(ActionError::InvalidField {
                    action: "?",
                    field: "actionName",
                    reason: "must be a string".into(),
                });
            }
            None => return Err(ActionError::MissingActionName),
        };
        let normalised = name.to_ascii_lowercase();
        let normalised = normalised.strip_suffix("action").unwrap_or(&normalised);
        let action = match normalised {
            "sendtoall" => "sendToAll",
            "sendtogroup" => "sendToGroup",
            "sendtouser" => "sendToUser",
            "sendtoconnection" => "sendToConnection",
            "addusertogroup" => "addUserToGroup",
            "removeuserfromgroup" => "removeUserFromGroup",
            "removeuserfromallgroups" => "removeUserFromAllGroups",
            "addconnectiontogroup" => "addConnectionToGroup",
            "removeconnectionfromgroup" => "removeConnectionFromGroup",
            "closeallconnections" => "closeAllConnections",
            "closeclientconnection" => "closeClientConnection",
            "closegroupconnections" => "closeGroupConnections",
            "grantpermission" => "grantPermission",
            "revokepermission" => "revokePermission",
            _ => return Err(ActionError::UnknownAction(name)),
        };
        let f = Reader { fields, action };
        Ok(match action {
            "sendToAll" => Self::SendToAll {
                payload: f.payload()?,
                excluded: f.list("excluded")?,
            },
            "sendToGroup" => Self::SendToGroup {
                group: f.required("group")?,
                payload: f.payload()?,
                excluded: f.list("excluded")?,
            },
            "sendToUser" => Self::SendToUser {
                user_id: f.required("userId")?,
                payload: f.payload()?,
            },
            "sendToConnection" => Self::SendToConnection {
                connection_id: f.required("connectionId")?,
                payload: f.payload()?,
            },
            "addUserToGroup" => Self::AddUserToGroup {
                user_id: f.required("userId")?,
                group: f.required("group")?,
            },
            "removeUserFromGroup" => Self::RemoveUserFromGroup {
                user_id: f.required("userId")?,
                group: f.required("group")?,
            },
            "removeUserFromAllGroups" => Self::RemoveUserFromAllGroups {
                user_id: f.required("userId")?,
            },
            "addConnectionToGroup" => Self::AddConnectionToGroup {
                connection_id: f.required("connectionId")?,
                group: f.required("group")?,
            },
            "removeConnectionFromGroup" => Self::RemoveConnectionFromGroup {
                connection_id: f.required("connectionId")?,
                group: f.required("group")?,
            },
            "closeAllConnections" => Self::CloseAllConnections {
                excluded: f.list("excluded")?,
                reason: f.optional("reason")?,
            },
            "closeClientConnection" => Self::CloseClientConnection {
                connection_id: f.required("connectionId")?,
                reason: f.optional("reason")?,
            },
            "closeGroupConnections" => Self::CloseGroupConnections {
                group: f.required("group")?,
                excluded: f.list("excluded")?,
                reason: f.optional("reason")?,
            },
            "grantPermission" => Self::GrantPermission {
                connection_id: f.required("connectionId")?,
                permission: f.permission()?,
                target_name: f.optional("targetName")?,
            },
            _ => Self::RevokePermission {
                connection_id: f.required("connectionId")?,
                permission: f.permission()?,
                target_name: f.optional("targetName")?,
            },
        })
    }
}

struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    /// Case-insensitive lookup; `null` counts as absent.
    fn get(&self, name: &str) -> Option<&Value> {
        self.0
            .get(name)
            .or_else(|| {
                self.0
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            })
            .filter(|v| !v.is_null())
    }
}

struct Reader<'a> {
    fields: Fields<'a>,
    action: &'static str,
}

impl Reader<'_> {
    fn invalid(&self, field: &'static str, reason: impl Into<String>) -> ActionError {
        ActionError::InvalidField {
            action: self.action,
            field,
            reason: reason.into(),
        }
    }

    fn optional(&self, field: &'static str) -> Result<Option<String>, ActionError> {
        match self.fields.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => {
                Err(self.invalid(field, format!("must be a string, found {}", kind(other))))
            }
        }
    }

    fn required(&self, field: &'static str) -> Result<String, ActionError> {
        match self.optional(field)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(ActionError::MissingField {
                action: self.action,
                field,
            }),
        }
    }

    fn list(&self, field: &'static str) -> Result<Vec<String>, ActionError> {
        match self.fields.get(field) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.invalid(
                        field,
                        format!("items must be strings, found {}", kind(other)),
                    )),
                })
                .collect(),
            Some(other) => Err(self.invalid(
                field,
                format!("must be an array of strings, found {}", kind(other)),
            )),
        }
    }

    fn permission(&self) -> Result<Permission, ActionError> {
        let text = self.required("permission")?;
        let bare = text.to_ascii_lowercase();
        let bare = bare.strip_prefix("webpubsub.").unwrap_or(&bare);
        match bare {
            "joinleavegroup" => Ok(Permission::JoinLeaveGroup),
            "sendtogroup" => Ok(Permission::SendToGroup),
            _ => Err(self.invalid(
                "permission",
                format!("`{text}` is not joinLeaveGroup or sendToGroup"),
            )),
        }
    }

    /// `dataType` json (default text, as in the Azure extension), text or binary; json and text
    /// data should be strings, binary a Node `Buffer` object, a byte array or base64 text.
    fn payload(&self) -> Result<Payload, ActionError> {
        let data_type = self
            .optional("dataType")?
            .unwrap_or_else(|| "text".into())
            .to_ascii_lowercase();
        let data = self.fields.get("data").ok_or(ActionError::MissingField {
            action: self.action,
            field: "data",
        })?;
        match data_type.as_str() {
            "json" => match data {
                Value::String(text) => serde_json::from_str(text)
                    .map(Payload::Json)
                    .map_err(|e| self.invalid("data", format!("is not JSON text: {e}"))),
                other => Ok(Payload::Json(other.clone())),
            },
            "text" => match data {
                Value::String(text) => Ok(Payload::Text(text.clone())),
                other => Ok(Payload::Text(other.to_string())),
            },
            "binary" => self.binary(data).map(Payload::Binary),
            other => {
                Err(self.invalid("dataType", format!("`{other}` is not json, text or binary")))
            }
        }
    }

    fn binary(&self, data: &Value) -> Result<Vec<u8>, ActionError> {
        let bytes = |items: &Vec<Value>| -> Result<Vec<u8>, ActionError> {
            items
                .iter()
                .map(|v| {
                    v.as_u64()
                        .and_then(|n| u8::try_from(n).ok())
                        .ok_or_else(|| self.invalid("data", "bytes must be numbers 0-255"))
                })
                .collect()
        };
        match data {
            Value::String(text) => BASE64
                .decode(text.as_bytes())
                .map_err(|_| self.invalid("data", "binary data as text must be base64")),
            Value::Array(items) => bytes(items),
            Value::Object(obj) => match Fields(obj).get("data") {
                Some(Value::Array(items)) => bytes(items),
                _ => Err(self.invalid(
                    "data",
                    "binary data must be {\"type\":\"Buffer\",\"data\":[…]}",
                )),
            },
            other => Err(self.invalid("data", format!("binary data cannot be {}", kind(other)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_derived_fixture_shapes() {
        let actions = WebPubSubAction::parse_many(&json!([
            {"actionName":"sendToAll","data":"{\"type\":\"leaderboard\"}","dataType":"json"},
            {"actionName":"sendToUser","userId":"u-42","data":"You scored","dataType":"text"},
            {"actionName":"addUserToGroup","userId":"u-42","group":"tile-12"},
            {"actionName":"sendToGroup","group":"tile-12","data":"{}","dataType":"json","excluded":["conn-abc"]}
        ]))
        .unwrap();
        assert_eq!(
            actions[0],
            WebPubSubAction::SendToAll {
                payload: Payload::Json(json!({"type":"leaderboard"})),
                excluded: vec![]
            }
        );
        assert_eq!(
            actions[3],
            WebPubSubAction::SendToGroup {
                group: "tile-12".into(),
                payload: Payload::Json(json!({})),
                excluded: vec!["conn-abc".into()]
            }
        );
    }

    #[test]
    fn action_name_and_fields_are_case_insensitive() {
        let a = WebPubSubAction::parse(
            &json!({"ActionName":"SENDTOCONNECTION","ConnectionId":"c1","Data":"hi"}),
        )
        .unwrap();
        assert_eq!(
            a,
            WebPubSubAction::SendToConnection {
                connection_id: "c1".into(),
                payload: Payload::Text("hi".into())
            }
        );
    }

    #[test]
    fn binary_buffer_and_permissions() {
        let a = WebPubSubAction::parse(&json!({"actionName":"sendToAll","dataType":"binary","data":{"type":"Buffer","data":[1,2,255]}})).unwrap();
        assert_eq!(
            a,
            WebPubSubAction::SendToAll {
                payload: Payload::Binary(vec![1, 2, 255]),
                excluded: vec![]
            }
        );
        let a = WebPubSubAction::parse(&json!({"actionName":"grantPermission","connectionId":"c","permission":"sendToGroup","targetName":"g"})).unwrap();
        assert_eq!(
            a,
            WebPubSubAction::GrantPermission {
                connection_id: "c".into(),
                permission: Permission::SendToGroup,
                target_name: Some("g".into())
            }
        );
    }

    #[test]
    fn errors_name_the_field() {
        let e = WebPubSubAction::parse(&json!({"actionName":"sendToUser","data":"x"})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "webPubSub action `sendToUser` needs `userId`"
        );
        let e = WebPubSubAction::parse(
            &json!({"actionName":"sendToAll","dataType":"json","data":"{oops"}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("`data`"), "{e}");
        let e = WebPubSubAction::parse_many(
            &json!([{"actionName":"sendToAll","data":"x"},{"actionName":"explode"}]),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "webPubSub action [1]: webPubSub `actionName` `explode` is not a known action"
        );
        let e = WebPubSubAction::parse(&json!({"actionName":"closeAllConnections","excluded":[1]}))
            .unwrap_err();
        assert!(e.to_string().contains("`excluded`"), "{e}");
    }

    #[test]
    fn json_text_holding_actions_is_read() {
        let v = json!("[{\"actionName\":\"removeUserFromAllGroups\",\"userId\":\"u\"}]");
        assert_eq!(
            WebPubSubAction::parse_many(&v).unwrap(),
            vec![WebPubSubAction::RemoveUserFromAllGroups {
                user_id: "u".into()
            }]
        );
    }
}
