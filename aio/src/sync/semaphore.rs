//! `Semaphore`: a count of permits that tasks acquire and give back
//! (asyncio's `Semaphore`), served first come, first served.
//!
//! A permit is an RAII value: dropping a [`SemaphorePermit`] releases it.
//! That is why there is no `BoundedSemaphore`. asyncio's `release()` can be
//! called by anyone, any number of times, so asyncio offers a bounded
//! variant that raises `ValueError` when releases outnumber acquires. Here
//! a permit can be released only by dropping it, once, so a semaphore used
//! through its permits never grows above its starting count. Only an
//! explicit [`Semaphore::add_permits`] (asyncio's bare `release()`) grows it.
//!
//! Fairness: waiters are served in arrival order, and once somebody waits
//! neither [`Semaphore::try_acquire`] nor a later [`Semaphore::acquire`]
//! can take a permit ahead of them. A released permit is handed straight to
//! the oldest waiter, and stays that waiter's until it runs; if it is
//! cancelled first, the permit goes to the next waiter or back to the count.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::wait_list::wake_all;
use super::waiters::Waiters;

/// A count of permits; [`acquire`](Self::acquire) waits while none is left.
///
/// Not `Clone`: share one with an `Rc` (as a `tokio::sync::Semaphore` is
/// shared with an `Arc`), which lets a [`Lock`](super::Lock) or your own
/// struct embed one without a second allocation. Through the `Rc`,
/// [`acquire_owned`](Self::acquire_owned) gives a permit that can move
/// into a task of its own.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use aio::sync::Semaphore;
///
/// aio::run(async {
///     // At most two of the five tasks inside at once.
///     let limit = Rc::new(Semaphore::new(2));
///     let inside = Rc::new(Cell::new(0));
///     let tasks: Vec<_> = (0..5)
///         .map(|_| {
///             let (limit, inside) = (limit.clone(), inside.clone());
///             aio::spawn(async move {
///                 let _permit = limit.acquire().await;
///                 inside.set(inside.get() + 1);
///                 assert!(inside.get() <= 2);
///                 aio::yield_now().await;
///                 inside.set(inside.get() - 1);
///             })
///         })
///         .collect();
///     for task in tasks {
///         task.await.unwrap();
///     }
///     assert_eq!(limit.available_permits(), 2);
/// });
/// ```
pub struct Semaphore {
    state: RefCell<State>,
}

struct State {
    /// Permits nobody holds and nobody has been promised.
    permits: usize,
    /// Tasks waiting for a permit, oldest first; a served entry holds a
    /// permit promised to a waiter that has not run yet.
    waiters: Waiters<()>,
}

/// What [`Semaphore::add_permits`] panics with.
const OVERFLOW: &str = "a semaphore's permits overflowed usize";

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub fn new(permits: usize) -> Self {
        Self {
            state: RefCell::new(State {
                permits,
                waiters: Waiters::default(),
            }),
        }
    }

    /// How many permits can be taken now without waiting.
    pub fn available_permits(&self) -> usize {
        self.state.borrow().permits
    }

    /// Takes a permit if one is free and nobody is waiting for one.
    ///
    /// ```
    /// let sem = aio::sync::Semaphore::new(1);
    /// let permit = sem.try_acquire().expect("one is free");
    /// assert!(sem.try_acquire().is_none());
    /// drop(permit);
    /// assert!(sem.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        let mut state = self.state.borrow_mut();
        // Free permits are handed to waiters as they appear, so a free
        // permit means nobody waits; checking both keeps waiters first
        // even if that ever changed.
        if state.permits > 0 && state.waiters.waiting() == 0 {
            state.permits -= 1;
            Some(SemaphorePermit { semaphore: self })
        } else {
            None
        }
    }

    /// Waits for a permit, behind every task that was already waiting.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a waiter dropped before it gets a permit leaves the
    /// line; one dropped after a permit was handed to it, but before it ran,
    /// passes the permit on to the next waiter (or back to the count).
    pub async fn acquire(&self) -> SemaphorePermit<'_> {
        let mut waiter = Acquire {
            semaphore: self,
            key: None,
        };
        poll_fn(|cx| waiter.poll(cx)).await
    }

    /// [`acquire`](Self::acquire) for a semaphore shared in an `Rc`: the
    /// permit holds the `Rc`, so it can move into a task of its own, as a
    /// server hands each accepted connection's task its permit.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use aio::sync::Semaphore;
    ///
    /// aio::run(async {
    ///     let limit = Rc::new(Semaphore::new(1));
    ///     let permit = limit.clone().acquire_owned().await;
    ///     let task = aio::spawn(async move {
    ///         let _held = permit; // released when this task ends
    ///     });
    ///     assert_eq!(limit.available_permits(), 0);
    ///     task.await.unwrap();
    ///     assert_eq!(limit.available_permits(), 1);
    /// });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As [`acquire`](Self::acquire).
    pub async fn acquire_owned(self: Rc<Self>) -> OwnedSemaphorePermit {
        // No await between taking the permit and handing it to the owned
        // one, so a cancellation cannot fall in between.
        self.acquire().await.forget();
        OwnedSemaphorePermit {
            semaphore: self,
            forgotten: false,
        }
    }

    /// [`try_acquire`](Self::try_acquire) for a semaphore shared in an `Rc`.
    pub fn try_acquire_owned(self: Rc<Self>) -> Option<OwnedSemaphorePermit> {
        self.try_acquire()?.forget();
        Some(OwnedSemaphorePermit {
            semaphore: self,
            forgotten: false,
        })
    }

    /// Adds `n` permits (asyncio's `release()`, `n` times): each goes to
    /// the oldest waiter, or to the count when nobody waits.
    ///
    /// # Panics
    ///
    /// If the count of free permits would overflow `usize`.
    pub fn add_permits(&self, n: usize) {
        let mut state = self.state.borrow_mut();
        let (served, wakers) = state.waiters.serve_up_to(n, ());
        state.permits = state.permits.checked_add(n - served).expect(OVERFLOW);
        drop(state);
        // Outside the borrow: a waker may run code that uses this semaphore.
        wake_all(wakers);
    }

    /// Gives one permit back; [`add_permits`](Self::add_permits)(1)
    /// without its `Vec`, since every dropped permit comes here.
    fn release(&self) {
        let mut state = self.state.borrow_mut();
        let waker = match state.waiters.serve(()) {
            Ok(waker) => waker,
            Err(()) => {
                state.permits = state.permits.checked_add(1).expect(OVERFLOW);
                None
            }
        };
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The waiting side of [`Semaphore::acquire`]; its `Drop` is what makes
/// cancellation safe.
struct Acquire<'a> {
    semaphore: &'a Semaphore,
    /// Our entry in the waiters, once we had to wait.
    key: Option<usize>,
}

impl<'a> Acquire<'a> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        let mut state = self.semaphore.state.borrow_mut();
        // A free permit now (nobody waits ahead), or one handed to us
        // while we waited.
        let free_now = self.key.is_none() && state.permits > 0 && state.waiters.waiting() == 0;
        if free_now {
            state.permits -= 1;
        }
        let granted = free_now || state.waiters.wait(&mut self.key, cx.waker()).is_some();
        if granted {
            Poll::Ready(SemaphorePermit {
                semaphore: self.semaphore,
            })
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        let promised = self.semaphore.state.borrow_mut().waiters.remove(key);
        if promised.is_some() {
            // Handed a permit but cancelled before it ran: pass it on.
            self.semaphore.release();
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Semaphore")
            .field("available_permits", &state.permits)
            .field("waiters", &state.waiters.waiting())
            .finish()
    }
}

/// One permit of a [`Semaphore`]; dropping it gives the permit back.
#[must_use = "dropping a permit releases it at once"]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken for good: the semaphore has one permit less.
    ///
    /// ```
    /// let sem = aio::sync::Semaphore::new(2);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.semaphore.release();
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphorePermit")
    }
}

/// One permit of a semaphore shared in an `Rc` (see
/// [`Semaphore::acquire_owned`]); dropping it gives the permit back.
#[must_use = "dropping a permit releases it at once"]
pub struct OwnedSemaphorePermit {
    semaphore: Rc<Semaphore>,
    /// Set by [`forget`](Self::forget): the drop then releases nothing.
    forgotten: bool,
}

impl OwnedSemaphorePermit {
    /// The semaphore this permit belongs to.
    pub fn semaphore(&self) -> &Rc<Semaphore> {
        &self.semaphore
    }

    /// Keeps the permit taken for good: the semaphore has one permit less.
    pub fn forget(mut self) {
        self.forgotten = true;
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if !self.forgotten {
            self.semaphore.release();
        }
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OwnedSemaphorePermit")
    }
}
