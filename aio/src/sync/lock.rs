//! `Lock<T>`: asyncio's `Lock`, guarding a value as `tokio::sync::Mutex`
//! does, for the tasks of one loop.
//!
//! A [`Semaphore`] with one permit decides who holds the lock, so waiters
//! are served in arrival order and cancellation loses nothing; a `RefCell`
//! hands out the value. The holder's guard is the permit plus the
//! `RefCell` borrow, so the borrow can never clash: nobody else can reach
//! the value without the one permit.

use std::cell::{RefCell, RefMut};
use std::fmt;
use std::ops::{Deref, DerefMut};

use super::semaphore::{Semaphore, SemaphorePermit};

/// A value that one task at a time may use, across `await`s.
///
/// Unlike a `RefCell`, a task that finds it taken waits (without blocking
/// the loop) instead of panicking, so the holder may `await` while holding
/// it. Not `Clone`: share it with an `Rc`.
///
/// ```
/// use std::rc::Rc;
/// use aio::sync::Lock;
///
/// aio::run(async {
///     let log = Rc::new(Lock::new(Vec::new()));
///     let tasks: Vec<_> = (0..3)
///         .map(|i| {
///             let log = log.clone();
///             aio::spawn(async move {
///                 let mut log = log.lock().await;
///                 log.push(i);
///                 aio::yield_now().await; // others wait meanwhile
///                 log.push(i);
///             })
///         })
///         .collect();
///     for task in tasks {
///         task.await.unwrap();
///     }
///     assert_eq!(*log.lock().await, [0, 0, 1, 1, 2, 2]);
/// });
/// ```
pub struct Lock<T> {
    /// One permit: whoever holds it holds the lock.
    semaphore: Semaphore,
    /// Borrowed mutably by the permit's holder only.
    value: RefCell<T>,
}

impl<T> Lock<T> {
    /// An unlocked lock guarding `value`.
    pub fn new(value: T) -> Self {
        Self {
            semaphore: Semaphore::new(1),
            value: RefCell::new(value),
        }
    }

    /// Waits for the lock, behind every task that was already waiting.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a waiter dropped before it gets the lock leaves the
    /// line, and one dropped just after the lock was handed to it passes
    /// the lock on.
    pub async fn lock(&self) -> LockGuard<'_, T> {
        let permit = self.semaphore.acquire().await;
        self.guard(permit)
    }

    /// Takes the lock if it is free and nobody is waiting for it.
    ///
    /// ```
    /// let lock = aio::sync::Lock::new(0);
    /// let mut guard = lock.try_lock().expect("free");
    /// *guard += 1;
    /// assert!(lock.try_lock().is_none());
    /// drop(guard);
    /// assert_eq!(*lock.try_lock().unwrap(), 1);
    /// ```
    pub fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        let permit = self.semaphore.try_acquire()?;
        Some(self.guard(permit))
    }

    /// Whether a task holds the lock (or it was handed to a waiter that
    /// has not run yet).
    pub fn is_locked(&self) -> bool {
        self.semaphore.available_permits() == 0
    }

    /// The value, through exclusive access: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Consumes the lock, returning the value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    /// Whether `guard` holds this lock (and not another one).
    pub(super) fn is_held_by(&self, guard: &LockGuard<'_, T>) -> bool {
        std::ptr::eq(&*guard.value, self.value.as_ptr())
    }

    fn guard<'a>(&'a self, permit: SemaphorePermit<'a>) -> LockGuard<'a, T> {
        LockGuard {
            // Cannot fail: only a guard borrows the value, and a guard
            // exists only while its one permit is held.
            value: self.value.borrow_mut(),
            _permit: permit,
        }
    }
}

impl<T: Default> Default for Lock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Lock");
        // Only an unlocked value is shown: a held one may be mid-update.
        match self.value.try_borrow() {
            Ok(value) if !self.is_locked() => d.field("value", &*value),
            _ => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// The held lock of a [`Lock`]: derefs to the value; dropping it unlocks.
#[must_use = "dropping the guard unlocks the lock at once"]
pub struct LockGuard<'a, T> {
    /// Declared before the permit so it is dropped first: the borrow ends
    /// before the permit wakes the next holder.
    value: RefMut<'a, T>,
    _permit: SemaphorePermit<'a>,
}

impl<T> Deref for LockGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.value, f)
    }
}
