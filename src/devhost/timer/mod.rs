//! Timer triggers: NCRONTAB schedules, persisted schedule status and the scheduler loop.

pub mod clock;
pub mod scheduler;
pub mod status;

pub use clock::{Clock, SystemClock, TokioClock};
pub use scheduler::{TimerError, TimerFunction, TimerScheduler};
pub use status::{ScheduleStatus, StatusStore, StatusStoreError};
