//! Wake-ups on writes: the store's commit notifications (the embedded backend has them), so
//! change-feed followers react at once and sleep otherwise. [`WriteSignal::of_container`] fires
//! only for commits that wrote to one container, so a follower of one container sleeps through
//! writes to every other. Backends without notifications give a signal that never fires
//! ([`WriteSignal::fires`] is false); only then do followers poll, at the host's interval.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::store::Store;

/// Receivers see the value change after any committed write.
#[derive(Clone)]
pub struct WriteSignal {
    receiver: watch::Receiver<u64>,
    /// Keeps a silent channel open when the store has no notifications.
    _silent: Option<Arc<watch::Sender<u64>>>,
}

impl WriteSignal {
    /// Fires after any committed write.
    pub fn of(store: &Store) -> Self {
        Self::from_receiver(store.commit_notifications())
    }

    /// Fires after commits that wrote to `container` only.
    pub fn of_container(store: &Store, container: &str) -> Self {
        Self::from_receiver(store.container_notifications(container))
    }

    fn from_receiver(receiver: Option<watch::Receiver<u64>>) -> Self {
        match receiver {
            Some(receiver) => Self {
                receiver,
                _silent: None,
            },
            None => {
                let (sender, receiver) = watch::channel(0);
                Self {
                    receiver,
                    _silent: Some(Arc::new(sender)),
                }
            }
        }
    }

    /// Whether the store notifies at all; when not, a reader must poll.
    pub fn fires(&self) -> bool {
        self._silent.is_none()
    }

    /// How many notifying commits happened since the store opened (0 when it cannot tell).
    pub fn count(&self) -> u64 {
        *self.receiver.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.receiver.clone()
    }
}

/// Sleeps for `wait`, or forever when there is nothing to wait for: the other branches of a
/// `select!` (a notification, cancellation) end the wait.
pub async fn sleep_or_never(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}
