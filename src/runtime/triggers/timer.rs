//! The timer trigger payload.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Trigger;
use crate::runtime::protocol::decode::{from_value_lenient, serde_lenient};
use crate::runtime::protocol::{InvocationRequest, ProtocolError};

/// `ScheduleStatus`, null for unmonitored schedules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleStatus {
    #[serde(
        rename = "Last",
        default,
        deserialize_with = "serde_lenient::opt_timestamp"
    )]
    pub last: Option<DateTime<Utc>>,
    #[serde(
        rename = "Next",
        default,
        deserialize_with = "serde_lenient::opt_timestamp"
    )]
    pub next: Option<DateTime<Utc>>,
    #[serde(
        rename = "LastUpdated",
        default,
        deserialize_with = "serde_lenient::opt_timestamp"
    )]
    pub last_updated: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Schedule {
    #[serde(
        rename = "AdjustForDST",
        default,
        deserialize_with = "serde_lenient::bool_or_false"
    )]
    adjust_for_dst: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct RawTimer {
    #[serde(rename = "Schedule", default)]
    schedule: Option<Schedule>,
    #[serde(rename = "ScheduleStatus", default)]
    schedule_status: Option<ScheduleStatus>,
    #[serde(
        rename = "IsPastDue",
        default,
        deserialize_with = "serde_lenient::bool_or_false"
    )]
    is_past_due: bool,
}

/// One timer firing.
#[derive(Debug, Clone, PartialEq)]
pub struct TimerInfo {
    pub adjust_for_dst: bool,
    pub schedule_status: Option<ScheduleStatus>,
    pub is_past_due: bool,
}

impl Trigger for TimerInfo {
    const BINDING_TYPE: &'static str = "timerTrigger";

    fn from_invocation(binding: &str, request: &InvocationRequest) -> Result<Self, ProtocolError> {
        let raw: RawTimer = from_value_lenient(request.data_value(binding)?)
            .map_err(|error| ProtocolError::malformed(format!("Data.{binding}"), error))?;
        Ok(Self {
            adjust_for_dst: raw.schedule.unwrap_or_default().adjust_for_dst,
            schedule_status: raw.schedule_status,
            is_past_due: raw.is_past_due,
        })
    }
}
