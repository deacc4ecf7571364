//! placeholder

pub mod webpubsub;
