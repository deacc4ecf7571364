//! Typed triggers: each kind turns `Data.<binding>` (and its Metadata) into a typed value;
//! plus the typed input bindings read alongside them.

mod cosmos;
mod event_grid;
mod event_hubs;
pub mod facts;
mod http;
mod inputs;
mod timer;

pub use cosmos::CosmosDocuments;
pub use event_grid::{CloudEvent, EventGridEvent, EventGridSchemaEvent};
pub use event_hubs::{EventHubBatch, EventHubEvent, PartitionContext};
pub use http::HttpRequestData;
pub use inputs::WebPubSubConnectionInfo;
pub use timer::{ScheduleStatus, TimerInfo};

use super::protocol::{InvocationRequest, ProtocolError};

/// A trigger payload that can be read from an invocation envelope.
pub trait Trigger: Sized + Send + 'static {
    /// The function.json `type` of the binding this trigger reads.
    const BINDING_TYPE: &'static str;

    /// Reads the trigger from `Data.<binding>` and the envelope's Metadata.
    fn from_invocation(binding: &str, request: &InvocationRequest) -> Result<Self, ProtocolError>;
}
