//! Wakers of the tasks waiting for one condition.

use std::task::Waker;

/// The tasks waiting on something; one entry per task.
#[derive(Debug, Default)]
pub(crate) struct WaitList {
    wakers: Vec<Waker>,
}

impl WaitList {
    /// Remembers the task behind `waker` (once, however often it polls).
    pub(crate) fn register(&mut self, waker: &Waker) {
        if !self.wakers.iter().any(|w| w.will_wake(waker)) {
            self.wakers.push(waker.clone());
        }
    }

    /// Takes every waiting waker, to wake outside any borrow.
    pub(crate) fn take(&mut self) -> Vec<Waker> {
        std::mem::take(&mut self.wakers)
    }
}

/// Wakes every waker of a list taken with [`WaitList::take`].
pub(crate) fn wake_all(wakers: Vec<Waker>) {
    for w in wakers {
        w.wake();
    }
}
