//! The CosmosPark game rules as plain Rust: documents, parsed values, identity rules, rounds,
//! tasks, scoring, chats, leaderboard, realtime payloads, event names, geocoding and seed data.
//!
//! Nothing here knows about HTTP, the Functions host or a database: functions take typed
//! values and return typed values (documents to write, messages to send, decisions).

pub mod auth;
pub mod commands;
pub mod documents;
pub mod event_kind;
pub mod geocode;
pub mod ids;
pub mod leaderboard;
pub mod realtime;
pub mod round;
pub mod scoring;
pub mod seed;
pub mod tasks;
pub mod values;
