//! Wall-clock time for the scheduler, injectable so tests can run on paused tokio time.

use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;

/// The current UTC time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that starts at a given UTC time and advances with tokio's clock, so that
/// `#[tokio::test(start_paused = true)]` drives it deterministically.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: DateTime<Utc>,
    start: Instant,
}

impl TokioClock {
    pub fn starting_at(origin: DateTime<Utc>) -> Self {
        Self {
            origin,
            start: Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = TimeDelta::from_std(self.start.elapsed()).unwrap_or(TimeDelta::MAX);
        self.origin
            .checked_add_signed(elapsed)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}
