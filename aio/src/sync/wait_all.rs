//! `WaitAll`: one future waiting for a condition that wakes all its
//! waiters at once (an [`Event`](super::Event) being set, a
//! [`Queue`](super::Queue) being joined).
//!
//! Each waiting future owns an entry in a [`Waiters<()>`](Waiters), so a
//! future dropped while it waits (cancelled, or timed out by
//! [`timeout`](crate::timeout)) takes its waker out at once. A plain list of
//! wakers would keep it until the next wake-up, which for a shutdown event
//! that is never set means one waker per connection ever served.
//!
//! A future that was served is ready even if the condition no longer
//! holds by the time it runs, as in asyncio: `set()` then `clear()` wakes
//! every task that was waiting.

use std::cell::RefCell;
use std::task::{Context, Poll};

use super::waiters::Waiters;

/// See the module docs. `S` is the state behind the `RefCell`, and
/// `waiters` finds the condition's line in it.
pub(crate) struct WaitAll<'a, S> {
    cell: &'a RefCell<S>,
    waiters: fn(&mut S) -> &mut Waiters<()>,
    /// Our entry, once we had to wait.
    key: Option<usize>,
}

impl<'a, S> WaitAll<'a, S> {
    pub(crate) fn new(cell: &'a RefCell<S>, waiters: fn(&mut S) -> &mut Waiters<()>) -> Self {
        WaitAll {
            cell,
            waiters,
            key: None,
        }
    }

    /// Ready when `holds` says the condition holds at the first poll, or
    /// once [`Waiters::serve_all`] served this future; else it waits in
    /// line.
    pub(crate) fn poll(&mut self, cx: &Context<'_>, holds: impl FnOnce(&S) -> bool) -> Poll<()> {
        let mut state = self.cell.borrow_mut();
        if self.key.is_none() && holds(&state) {
            return Poll::Ready(());
        }
        match (self.waiters)(&mut state).wait(&mut self.key, cx.waker()) {
            Some(()) => Poll::Ready(()),
            None => Poll::Pending,
        }
    }
}

impl<S> Drop for WaitAll<'_, S> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // Nothing to pass on: every waiter was served alike.
            (self.waiters)(&mut self.cell.borrow_mut()).remove(key);
        }
    }
}
