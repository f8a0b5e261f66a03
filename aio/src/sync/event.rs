//! `Event`: a flag tasks can wait for (asyncio's `Event`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;

use super::{wake_all, WaitList};

/// A flag that tasks wait on until it is set. Clones share the flag.
///
/// ```
/// aio::run(async {
///     let ready = aio::sync::Event::new();
///     let r = ready.clone();
///     let waiter = aio::spawn(async move { r.wait().await; "woken" });
///     ready.set();
///     assert_eq!(waiter.await, Ok("woken"));
/// });
/// ```
#[derive(Clone, Default)]
pub struct Event {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Inner {
    set: Cell<bool>,
    waiters: RefCell<WaitList>,
}

impl Event {
    /// A new, unset event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        self.inner.set.set(true);
        let wakers = self.inner.waiters.borrow_mut().take();
        wake_all(wakers);
    }

    /// Clears the flag; later `wait`s block again.
    pub fn clear(&self) {
        self.inner.set.set(false);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.inner.set.get()
    }

    /// Waits until the flag is set (at once if it already is).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe.
    pub async fn wait(&self) {
        poll_fn(|cx| {
            if self.inner.set.get() {
                Poll::Ready(())
            } else {
                self.inner.waiters.borrow_mut().register(cx.waker());
                Poll::Pending
            }
        })
        .await;
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}
