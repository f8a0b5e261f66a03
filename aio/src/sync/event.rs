//! `Event`: a flag tasks can wait for (asyncio's `Event`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{poll_fn, Future};
use std::rc::Rc;

use super::wait_all::WaitAll;
use super::waiters::Waiters;
use super::wake_all;

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
    waiters: RefCell<Waiters<()>>,
}

impl Event {
    /// A new, unset event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        self.inner.set.set(true);
        let wakers = self.inner.waiters.borrow_mut().serve_all(());
        wake_all(wakers);
    }

    /// Clears the flag; later `wait`s block again. A task that was waiting
    /// when the flag was set still wakes (as in asyncio).
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
    /// Cancel-safe: a dropped `wait` leaves nothing behind.
    pub fn wait(&self) -> impl Future<Output = ()> + '_ {
        let mut waiter = WaitAll::new(&self.inner.waiters, |w| w);
        poll_fn(move |cx| waiter.poll(cx, |_| self.inner.set.get()))
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .field("waiting", &self.inner.waiters.borrow().waiting())
            .finish()
    }
}
