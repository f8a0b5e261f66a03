//! `Condition<T>`: asyncio's `Condition`, a [`Lock`] that tasks can give
//! up while they wait to be told that the value changed.
//!
//! The waiting tasks form a [`Waiters`] line, so `notify(n)` wakes the `n`
//! oldest. A waiter joins the line before it releases the lock, so a
//! change made and notified by the next holder cannot slip in between. As in
//! asyncio, a waiter cancelled after it was notified (before it had the
//! lock back) passes the notification on to the next waiter, so a
//! `notify(1)` is not lost to a timeout.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::task::{Context, Poll, Waker};

use super::lock::{Lock, LockGuard};
use super::wait_list::wake_all;
use super::waiters::Waiters;

/// A value behind a lock, with a line of tasks waiting for it to change.
///
/// Not `Clone`: share it with an `Rc`.
///
/// ```
/// use std::rc::Rc;
/// use aio::sync::Condition;
///
/// aio::run(async {
///     let jobs = Rc::new(Condition::new(Vec::new()));
///     let worker = {
///         let jobs = jobs.clone();
///         aio::spawn(async move {
///             let guard = jobs.lock().await;
///             // Gives the lock up while it waits; has it again after.
///             let mut guard = jobs.wait_for(guard, |jobs| !jobs.is_empty()).await;
///             guard.pop()
///         })
///     };
///     aio::yield_now().await; // the worker is waiting now
///     jobs.lock().await.push("job");
///     jobs.notify(1);
///     assert_eq!(worker.await, Ok(Some("job")));
/// });
/// ```
pub struct Condition<T> {
    lock: Lock<T>,
    /// Tasks in `wait`, oldest first; a served entry was notified.
    waiters: RefCell<Waiters<()>>,
}

impl<T> Condition<T> {
    /// A condition whose lock guards `value`, unlocked.
    pub fn new(value: T) -> Self {
        Self {
            lock: Lock::new(value),
            waiters: RefCell::new(Waiters::default()),
        }
    }

    /// Waits for the lock (see [`Lock::lock`]).
    pub async fn lock(&self) -> LockGuard<'_, T> {
        self.lock.lock().await
    }

    /// Takes the lock if it is free (see [`Lock::try_lock`]).
    pub fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        self.lock.try_lock()
    }

    /// Whether a task holds the lock.
    pub fn is_locked(&self) -> bool {
        self.lock.is_locked()
    }

    /// Releases the lock, waits until notified, then takes the lock again
    /// and returns it. Wake-ups can come without a change a task cares
    /// about (another notification, or a change undone before it ran):
    /// check the value after, or use [`wait_for`](Self::wait_for).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a waiter dropped before it was notified leaves the
    /// line; one dropped after passes the notification on.
    ///
    /// # Panics
    ///
    /// If `guard` is the guard of another lock than this condition's.
    pub async fn wait<'a>(&'a self, guard: LockGuard<'a, T>) -> LockGuard<'a, T> {
        assert!(
            self.lock.is_held_by(&guard),
            "Condition::wait: the guard is not of this condition's lock"
        );
        let mut waiter = Waiter::join(&self.waiters);
        drop(guard);
        poll_fn(|cx| waiter.poll(cx)).await;
        let guard = self.lock.lock().await;
        waiter.done = true;
        guard
    }

    /// Waits (as [`wait`](Self::wait), any number of times) until
    /// `predicate` holds for the value; returns the lock, held. Checks
    /// first, so it returns at once if the predicate holds already.
    ///
    /// # Panics
    ///
    /// As [`wait`](Self::wait).
    pub async fn wait_for<'a>(
        &'a self,
        mut guard: LockGuard<'a, T>,
        mut predicate: impl FnMut(&mut T) -> bool,
    ) -> LockGuard<'a, T> {
        while !predicate(&mut guard) {
            guard = self.wait(guard).await;
        }
        guard
    }

    /// Wakes the `n` tasks that have waited longest (fewer if fewer wait).
    /// asyncio requires the lock to be held here; aio does not, but a
    /// change made under the lock and notified after it is what a waiter
    /// can rely on.
    pub fn notify(&self, n: usize) {
        let (_, wakers) = self.waiters.borrow_mut().serve_up_to(n, ());
        wake_all(wakers);
    }

    /// Wakes every waiting task.
    pub fn notify_all(&self) {
        let wakers = self.waiters.borrow_mut().serve_all(());
        wake_all(wakers);
    }

    /// Consumes the condition, returning the value.
    pub fn into_inner(self) -> T {
        self.lock.into_inner()
    }
}

impl<T: Default> Default for Condition<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Condition<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .field("waiting", &self.waiters.borrow().waiting())
            .finish()
    }
}

/// One task's place in the line; its `Drop` is what makes `wait`
/// cancel-safe.
struct Waiter<'a> {
    waiters: &'a RefCell<Waiters<()>>,
    /// Our entry, until we take the notification.
    key: Option<usize>,
    /// Set once `wait` has the lock back, so the notification was used.
    done: bool,
}

impl<'a> Waiter<'a> {
    /// Joins the line. `wait` polls right after, in the same step, and that
    /// poll puts the task's waker in place of this placeholder.
    fn join(waiters: &'a RefCell<Waiters<()>>) -> Self {
        let key = waiters.borrow_mut().push(Waker::noop());
        Waiter {
            waiters,
            key: Some(key),
            done: false,
        }
    }

    fn poll(&mut self, cx: &Context<'_>) -> Poll<()> {
        if self.key.is_none() {
            return Poll::Ready(()); // notified already (polled again)
        }
        match self.waiters.borrow_mut().wait(&mut self.key, cx.waker()) {
            Some(()) => Poll::Ready(()),
            None => Poll::Pending,
        }
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut waiters = self.waiters.borrow_mut();
        let notified = match self.key.take() {
            Some(key) => waiters.remove(key).is_some(),
            None => !self.done,
        };
        if notified {
            // Cancelled with a notification it did not use: pass it on.
            let waker = waiters.serve(()).ok().flatten();
            drop(waiters);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}
