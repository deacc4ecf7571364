//! Web PubSub output actions (`webPubSub` binding).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Every `actionName` the Web PubSub extension accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum WebPubSubActionName {
    SendToAll,
    SendToGroup,
    SendToUser,
    SendToConnection,
    AddUserToGroup,
    RemoveUserFromGroup,
    RemoveUserFromAllGroups,
    AddConnectionToGroup,
    RemoveConnectionFromGroup,
    CloseAllConnections,
    CloseClientConnection,
    CloseGroupConnections,
    GrantPermission,
    RevokePermission,
}

impl WebPubSubActionName {
    pub const ALL: [Self; 14] = [
        Self::SendToAll,
        Self::SendToGroup,
        Self::SendToUser,
        Self::SendToConnection,
        Self::AddUserToGroup,
        Self::RemoveUserFromGroup,
        Self::RemoveUserFromAllGroups,
        Self::AddConnectionToGroup,
        Self::RemoveConnectionFromGroup,
        Self::CloseAllConnections,
        Self::CloseClientConnection,
        Self::CloseGroupConnections,
        Self::GrantPermission,
        Self::RevokePermission,
    ];

    /// The wire name, e.g. `sendToAll`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendToAll => "sendToAll",
            Self::SendToGroup => "sendToGroup",
            Self::SendToUser => "sendToUser",
            Self::SendToConnection => "sendToConnection",
            Self::AddUserToGroup => "addUserToGroup",
            Self::RemoveUserFromGroup => "removeUserFromGroup",
            Self::RemoveUserFromAllGroups => "removeUserFromAllGroups",
            Self::AddConnectionToGroup => "addConnectionToGroup",
            Self::RemoveConnectionFromGroup => "removeConnectionFromGroup",
            Self::CloseAllConnections => "closeAllConnections",
            Self::CloseClientConnection => "closeClientConnection",
            Self::CloseGroupConnections => "closeGroupConnections",
            Self::GrantPermission => "grantPermission",
            Self::RevokePermission => "revokePermission",
        }
    }
}

impl<'de> Deserialize<'de> for WebPubSubActionName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::ALL
            .into_iter()
            .find(|name| name.as_str().eq_ignore_ascii_case(&text))
            .ok_or_else(|| {
                serde::de::Error::custom(format!("unknown Web PubSub actionName `{text}`"))
            })
    }
}

/// How `data` is to be read by clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum WebPubSubDataType {
    Json,
    Text,
    Binary,
}

impl<'de> Deserialize<'de> for WebPubSubDataType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "text" => Ok(Self::Text),
            "binary" => Ok(Self::Binary),
            _ => Err(serde::de::Error::custom(format!(
                "unknown Web PubSub dataType `{text}`"
            ))),
        }
    }
}

/// One Web PubSub action. For `json`/`text` the `data` is a string, as the extension requires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebPubSubAction {
    pub action_name: WebPubSubActionName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<WebPubSubDataType>,
}

impl WebPubSubAction {
    /// An action with only its name set.
    pub fn new(action_name: WebPubSubActionName) -> Self {
        Self {
            action_name,
            user_id: None,
            group: None,
            connection_id: None,
            excluded: Vec::new(),
            reason: None,
            permission: None,
            target_name: None,
            data: None,
            data_type: None,
        }
    }

    /// Sets `data` to `payload` serialised as JSON text, `dataType` json. Inside a traced
    /// invocation an object payload also carries the W3C `traceparent` of the invocation (no
    /// Web PubSub message format has a place for trace context; clients ignore the member).
    pub fn with_json<T: Serialize>(mut self, payload: &T) -> Result<Self, serde_json::Error> {
        let text = match crate::runtime::telemetry::current_traceparent() {
            Some(traceparent) => {
                let mut value = serde_json::to_value(payload)?;
                if let Value::Object(object) = &mut value {
                    object.insert(
                        crate::runtime::telemetry::trace_context::TRACEPARENT_MEMBER.to_owned(),
                        Value::String(traceparent),
                    );
                }
                value.to_string()
            }
            None => serde_json::to_string(payload)?,
        };
        self.data = Some(Value::String(text));
        self.data_type = Some(WebPubSubDataType::Json);
        Ok(self)
    }

    /// Sets `data` to plain text, `dataType` text.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.data = Some(Value::String(text.into()));
        self.data_type = Some(WebPubSubDataType::Text);
        self
    }

    pub fn send_to_all_json<T: Serialize>(payload: &T) -> Result<Self, serde_json::Error> {
        Self::new(WebPubSubActionName::SendToAll).with_json(payload)
    }

    pub fn send_to_user_json<T: Serialize>(
        user_id: &str,
        payload: &T,
    ) -> Result<Self, serde_json::Error> {
        let mut action = Self::new(WebPubSubActionName::SendToUser);
        action.user_id = Some(user_id.to_owned());
        action.with_json(payload)
    }

    pub fn send_to_group_json<T: Serialize>(
        group: &str,
        payload: &T,
    ) -> Result<Self, serde_json::Error> {
        let mut action = Self::new(WebPubSubActionName::SendToGroup);
        action.group = Some(group.to_owned());
        action.with_json(payload)
    }

    pub fn add_user_to_group(user_id: &str, group: &str) -> Self {
        let mut action = Self::new(WebPubSubActionName::AddUserToGroup);
        action.user_id = Some(user_id.to_owned());
        action.group = Some(group.to_owned());
        action
    }

    pub fn remove_user_from_group(user_id: &str, group: &str) -> Self {
        let mut action = Self::new(WebPubSubActionName::RemoveUserFromGroup);
        action.user_id = Some(user_id.to_owned());
        action.group = Some(group.to_owned());
        action
    }
}
