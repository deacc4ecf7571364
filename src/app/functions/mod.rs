//! The CosmosPark functions, by area; each `Function` has its `functions/<Name>/function.json`.
//!
//! - [`api`]: what HTTP functions share (caller, JSON errors, bounded bodies).
//! - [`users`], [`chats`], [`tasks`], [`maps`], [`pubsub`], [`get_round`]: the HTTP API.
//! - [`relays`]: change feed → Event Grid. [`subscribers`]: Event Grid → store and Web PubSub.
//! - [`round_timer`]: the hourly round start. [`health`]: `GET /api/health`.

pub mod api;
pub mod chats;
pub mod get_round;
pub mod health;
pub mod maps;
pub mod pubsub;
pub mod relays;
pub mod round_timer;
pub mod subscribers;
pub mod tasks;
pub mod users;

use crate::app::AppServices;
use crate::runtime::{FunctionApp, RegistryError};

/// The Web PubSub hub every realtime message goes to.
pub const HUB: &str = crate::app::domain::realtime::HUB;

/// Every function of the app, sharing `services`.
pub fn all(services: &AppServices) -> Vec<crate::runtime::Function> {
    let mut functions = vec![
        users::create_user(services),
        users::get_user_by_id(services),
        users::get_all_users(services),
        users::get_all_users_by_country_code(services),
        chats::create_chat(services),
        chats::get_all_chats_by_user_id(services),
        chats::get_all_messages_by_chat_id(services),
        chats::mark_chat_read(services),
        chats::send_typing(services),
        tasks::get_all_tasks_by_user_id(services),
        tasks::complete_task(services),
        tasks::create_task(services),
        tasks::create_score(services),
        maps::get_token(services),
        maps::lookup_address(services),
        pubsub::get_connection_details(services),
        get_round::function(services),
        health::function(services),
        round_timer::function(),
        subscribers::user_created(),
        subscribers::user_chats_create(services),
        subscribers::message_sent_push(),
        subscribers::task_greeting_validator(services),
        subscribers::user_chats_push(),
        subscribers::task_completed_award(services),
    ];
    functions.extend(
        relays::RELAYS
            .iter()
            .filter_map(|(name, container)| relays::relay(services, name, container)),
    );
    functions
}

/// Registers every function with `app`.
pub fn register(app: FunctionApp, services: &AppServices) -> Result<FunctionApp, RegistryError> {
    all(services)
        .into_iter()
        .try_fold(app, |app, function| app.register(function))
}
