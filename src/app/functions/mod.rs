//! One module per function; each exposes `function()` for the registry.

mod cosmic_users_trigger;
mod get_round;
pub mod round;
mod round_timer;
mod user_created;

use crate::runtime::{FunctionApp, RegistryError};

/// The Web PubSub hub every realtime message goes to.
pub const HUB: &str = "CosmosPark";

/// Registers every function of this module with `app`.
pub fn register(app: FunctionApp) -> Result<FunctionApp, RegistryError> {
    app.register(get_round::function())?
        .register(round_timer::function())?
        .register(cosmic_users_trigger::function())?
        .register(user_created::function())
}
