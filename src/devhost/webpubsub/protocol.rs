//! The Web PubSub client protocol on the wire: subprotocols, frames a client sends, and the
//! frames the hub sends back (`json.webpubsub.azure.v1` and its reliable variant).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::{Value, json};

pub const JSON_SUBPROTOCOL: &str = "json.webpubsub.azure.v1";
pub const RELIABLE_JSON_SUBPROTOCOL: &str = "json.reliable.webpubsub.azure.v1";

/// How a connection talks: a simple WebSocket (no subprotocol: raw payloads, no system frames)
/// or a PubSub client on one of the JSON subprotocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Simple,
    Json,
    ReliableJson,
}

impl Protocol {
    pub fn is_reliable(self) -> bool {
        self == Protocol::ReliableJson
    }
}

/// A message body with its type, as carried by `dataType` + `data`.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    Json(Value),
    Text(String),
    Binary(Vec<u8>),
}

impl Payload {
    fn data_type(&self) -> &'static str {
        match self {
            Payload::Json(_) => "json",
            Payload::Text(_) => "text",
            Payload::Binary(_) => "binary",
        }
    }

    fn data(&self) -> Value {
        match self {
            Payload::Json(v) => v.clone(),
            Payload::Text(s) => Value::String(s.clone()),
            Payload::Binary(b) => Value::String(BASE64.encode(b)),
        }
    }

    /// The bytes a simple WebSocket client receives: JSON as its text, text as is, binary raw.
    pub fn raw(&self) -> RawPayload {
        match self {
            Payload::Json(v) => RawPayload::Text(v.to_string()),
            Payload::Text(s) => RawPayload::Text(s.clone()),
            Payload::Binary(b) => RawPayload::Binary(b.clone()),
        }
    }

    /// Reads the client form: `json` data is any JSON value, `text` a string, `binary` base64.
    fn from_client(data_type: Option<&str>, data: Value) -> Result<Self, String> {
        match data_type.unwrap_or("json").to_ascii_lowercase().as_str() {
            "json" => Ok(Payload::Json(data)),
            "text" => match data {
                Value::String(s) => Ok(Payload::Text(s)),
                _ => Err("`data` must be a string when `dataType` is text".into()),
            },
            "binary" | "protobuf" => match data {
                Value::String(s) => BASE64
                    .decode(s.as_bytes())
                    .map(Payload::Binary)
                    .map_err(|_| "`data` must be base64 when `dataType` is binary".into()),
                _ => Err("`data` must be a base64 string when `dataType` is binary".into()),
            },
            other => Err(format!(
                "`dataType` `{other}` is not one of json, text, binary"
            )),
        }
    }
}

/// What a simple WebSocket client is sent.
#[derive(Debug, Clone, PartialEq)]
pub enum RawPayload {
    Text(String),
    Binary(Vec<u8>),
}

/// A request from a PubSub client.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientFrame {
    JoinGroup {
        group: String,
        ack_id: Option<u64>,
    },
    LeaveGroup {
        group: String,
        ack_id: Option<u64>,
    },
    SendToGroup {
        group: String,
        ack_id: Option<u64>,
        no_echo: bool,
        payload: Payload,
    },
    Event {
        event: String,
        ack_id: Option<u64>,
        payload: Payload,
    },
    SequenceAck {
        sequence_id: u64,
    },
    Ping,
}

/// A client frame that could not be understood; `ack_id` is kept so the client can be told.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct FrameError {
    pub ack_id: Option<u64>,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFrame {
    #[serde(rename = "type")]
    kind: Option<String>,
    group: Option<String>,
    event: Option<String>,
    ack_id: Option<u64>,
    sequence_id: Option<u64>,
    #[serde(default)]
    no_echo: bool,
    data_type: Option<String>,
    #[serde(default)]
    data: Value,
}

impl ClientFrame {
    /// The request's ackId, when it asked for an ack.
    pub fn ack_id(&self) -> Option<u64> {
        match self {
            ClientFrame::JoinGroup { ack_id, .. }
            | ClientFrame::LeaveGroup { ack_id, .. }
            | ClientFrame::SendToGroup { ack_id, .. }
            | ClientFrame::Event { ack_id, .. } => *ack_id,
            ClientFrame::SequenceAck { .. } | ClientFrame::Ping => None,
        }
    }

    pub fn parse(text: &str) -> Result<Self, FrameError> {
        let raw: RawFrame = serde_json::from_str(text).map_err(|e| FrameError {
            ack_id: ack_id_of(text),
            message: format!("frame is not a valid protocol message: {e}"),
        })?;
        let ack_id = raw.ack_id;
        let fail = |message: String| FrameError { ack_id, message };
        let group = |g: Option<String>| match g {
            Some(g) if !g.is_empty() => Ok(g),
            _ => Err(fail("`group` is required".into())),
        };
        match raw.kind.as_deref() {
            Some("joinGroup") => Ok(ClientFrame::JoinGroup {
                group: group(raw.group)?,
                ack_id,
            }),
            Some("leaveGroup") => Ok(ClientFrame::LeaveGroup {
                group: group(raw.group)?,
                ack_id,
            }),
            Some("sendToGroup") => Ok(ClientFrame::SendToGroup {
                group: group(raw.group)?,
                ack_id,
                no_echo: raw.no_echo,
                payload: Payload::from_client(raw.data_type.as_deref(), raw.data).map_err(fail)?,
            }),
            Some("event") => Ok(ClientFrame::Event {
                event: raw
                    .event
                    .filter(|e| !e.is_empty())
                    .ok_or_else(|| fail("`event` is required".into()))?,
                ack_id,
                payload: Payload::from_client(raw.data_type.as_deref(), raw.data).map_err(fail)?,
            }),
            Some("sequenceAck") => Ok(ClientFrame::SequenceAck {
                sequence_id: raw
                    .sequence_id
                    .ok_or_else(|| fail("`sequenceId` is required".into()))?,
            }),
            Some("ping") => Ok(ClientFrame::Ping),
            Some(other) => Err(fail(format!("`type` `{other}` is not supported"))),
            None => Err(fail("`type` is required".into())),
        }
    }
}

fn ack_id_of(text: &str) -> Option<u64> {
    serde_json::from_str::<Value>(text)
        .ok()?
        .get("ackId")?
        .as_u64()
}

/// Where a pushed message came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    Server,
    Group {
        group: String,
        from_user_id: Option<String>,
    },
}

/// Builds the `message` frame; `sequenceId` is spliced in per connection by [`with_sequence_id`].
pub fn message_frame(origin: &Origin, payload: &Payload) -> String {
    let mut frame = json!({"type": "message"});
    match origin {
        Origin::Server => frame["from"] = json!("server"),
        Origin::Group {
            group,
            from_user_id,
        } => {
            frame["from"] = json!("group");
            frame["group"] = json!(group);
            if let Some(user) = from_user_id {
                frame["fromUserId"] = json!(user);
            }
        }
    }
    frame["dataType"] = json!(payload.data_type());
    frame["data"] = payload.data();
    frame.to_string()
}

/// Adds `"sequenceId":n` to a frame built by [`message_frame`] (a JSON object text).
pub fn with_sequence_id(frame: &str, sequence_id: u64) -> String {
    let body = frame.strip_suffix('}').unwrap_or(frame);
    format!("{body},\"sequenceId\":{sequence_id}}}")
}

pub fn connected_frame(
    user_id: Option<&str>,
    connection_id: &str,
    reconnection_token: Option<&str>,
) -> String {
    let mut frame = json!({"type": "system", "event": "connected", "connectionId": connection_id});
    if let Some(user) = user_id {
        frame["userId"] = json!(user);
    }
    if let Some(token) = reconnection_token {
        frame["reconnectionToken"] = json!(token);
    }
    frame.to_string()
}

pub fn disconnected_frame(message: &str) -> String {
    json!({"type": "system", "event": "disconnected", "message": message}).to_string()
}

/// Error names the client understands; `Duplicate` counts as success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckError {
    Forbidden,
    BadRequest,
    Duplicate,
}

pub fn ack_frame(ack_id: u64, result: Result<(), (AckError, &str)>) -> String {
    match result {
        Ok(()) => json!({"type": "ack", "ackId": ack_id, "success": true}).to_string(),
        Err((name, message)) => json!({
            "type": "ack", "ackId": ack_id, "success": false,
            "error": {"name": format!("{name:?}"), "message": message}
        })
        .to_string(),
    }
}

pub fn pong_frame() -> &'static str {
    r#"{"type":"pong"}"#
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_client_frame() {
        assert_eq!(
            ClientFrame::parse(r#"{"type":"joinGroup","group":"g","ackId":1}"#).unwrap(),
            ClientFrame::JoinGroup {
                group: "g".into(),
                ack_id: Some(1)
            }
        );
        assert_eq!(
            ClientFrame::parse(r#"{"type":"sendToGroup","group":"g","dataType":"binary","data":"AQI=","noEcho":true}"#)
                .unwrap(),
            ClientFrame::SendToGroup {
                group: "g".into(),
                ack_id: None,
                no_echo: true,
                payload: Payload::Binary(vec![1, 2])
            }
        );
        assert_eq!(
            ClientFrame::parse(r#"{"type":"sequenceAck","sequenceId":7}"#).unwrap(),
            ClientFrame::SequenceAck { sequence_id: 7 }
        );
        assert_eq!(
            ClientFrame::parse(r#"{"type":"ping"}"#).unwrap(),
            ClientFrame::Ping
        );
    }

    #[test]
    fn bad_frames_name_the_field_and_keep_the_ack_id() {
        let err = ClientFrame::parse(r#"{"type":"joinGroup","ackId":4}"#).unwrap_err();
        assert_eq!(err.ack_id, Some(4));
        assert!(err.message.contains("`group`"), "{}", err.message);
        let err = ClientFrame::parse(
            r#"{"type":"event","event":"e","dataType":"text","data":1,"ackId":5}"#,
        )
        .unwrap_err();
        assert!(err.message.contains("`data`"), "{}", err.message);
    }

    #[test]
    fn sequence_id_is_spliced_into_a_valid_object() {
        let frame = message_frame(&Origin::Server, &Payload::Json(json!({"a": [1]})));
        let v: Value = serde_json::from_str(&with_sequence_id(&frame, 3)).unwrap();
        assert_eq!(
            v,
            json!({"type":"message","from":"server","dataType":"json","data":{"a":[1]},"sequenceId":3})
        );
    }
}
