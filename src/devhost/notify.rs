//! Wake-ups on writes: the store's commit notifications (the embedded backend has them), so
//! change-feed followers and queue dispatchers react at once instead of on a timer. Backends
//! without notifications give a signal that never fires; the pollers' timers cover them.
//! [`WriteSignal::of_container`] fires only for commits that wrote to one container, so a
//! follower of one container sleeps through writes to every other.

use std::sync::Arc;

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

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.receiver.clone()
    }
}
