//! Timer triggers.
