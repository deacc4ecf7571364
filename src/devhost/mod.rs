//! The local platform: emulates the Functions host, Static Web Apps and every binding.

pub mod retry;
pub mod swa;
pub mod timer;
pub mod webpubsub;
