//! `UserCreated` — a user upsert event becomes a `UserCreatedEvent` broadcast on Web PubSub.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cosmic_users_trigger::USER_UPSERTED;
use crate::runtime::outputs::{Outputs, WebPubSubAction, WebPubSubActions};
use crate::runtime::triggers::EventGridEvent;
use crate::runtime::{Context, Function, FunctionError};

/// The original system's event type, accepted as an alias.
pub const LEGACY_USER_CREATED: &str = "CosmosDb.CosmicUsers.Created";

#[derive(Debug, Default, Deserialize)]
struct Position {
    #[serde(default)]
    latitude: Value,
    #[serde(default)]
    longitude: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Country {
    sub_division: Option<String>,
    secondary_sub_division: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Address {
    #[serde(default)]
    country: Option<Country>,
    #[serde(default)]
    position: Option<Position>,
}

#[derive(Debug, Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    address: Option<Address>,
}

/// What clients receive, with the original field names.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UserCreatedEvent {
    pub latitude: Value,
    pub longitude: Value,
    pub user_id: String,
    pub user_name: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

pub fn function() -> Function {
    Function::trigger("UserCreated", "event", user_created).output::<WebPubSubActions>("actions")
}

async fn user_created(event: EventGridEvent, _context: Context) -> Result<Outputs, FunctionError> {
    if event.event_type() != USER_UPSERTED && event.event_type() != LEGACY_USER_CREATED {
        tracing::info!(
            event_type = event.event_type(),
            id = event.id(),
            "ignored an event of another type"
        );
        return Ok(Outputs::new());
    }
    let user: User = match event.data_as() {
        Ok(user) => user,
        Err(error) => {
            // Redelivery cannot fix a malformed document: acknowledge and log.
            tracing::warn!(id = event.id(), %error, "user event without a usable user document");
            return Ok(Outputs::new());
        }
    };
    let address = user.address.unwrap_or_default();
    let position = address.position.unwrap_or_default();
    let country = address.country.unwrap_or_default();
    let payload = UserCreatedEvent {
        latitude: position.latitude,
        longitude: position.longitude,
        user_id: user.id,
        user_name: user.name,
        city: country.secondary_sub_division,
        state: country.sub_division,
        kind: "UserCreatedEvent",
    };
    let action = WebPubSubAction::send_to_all_json(&payload)?;
    Ok(Outputs::new().set("actions", WebPubSubActions(vec![action])))
}
