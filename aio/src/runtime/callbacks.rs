//! Plain callbacks: `call_soon`, `call_later` and `yield_now`.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::context;
use super::core::Core;
use super::timer::{Action, TimerId};

/// Cancels a callback scheduled with [`call_soon`] or [`call_later`]
/// (asyncio's `Handle` / `TimerHandle`). Dropping it does not cancel.
pub struct TimerHandle {
    inner: HandleInner,
}

enum HandleInner {
    Soon(Rc<Cell<bool>>),
    Later(Weak<Core>, TimerId),
}

impl TimerHandle {
    /// Makes sure the callback never runs, if it has not run yet.
    pub fn cancel(&self) {
        match &self.inner {
            HandleInner::Soon(flag) => flag.set(true),
            HandleInner::Later(core, id) => {
                if let Some(core) = core.upgrade() {
                    let old = core.timers.borrow_mut().cancel(*id);
                    drop(old); // dropping the closure outside the borrow
                }
            }
        }
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.inner {
            HandleInner::Soon(_) => "TimerHandle(soon)",
            HandleInner::Later(..) => "TimerHandle(later)",
        })
    }
}

/// Runs `f` at the loop's next step. A panic in `f` is reported to the
/// loop's error handler.
///
/// # Panics
///
/// When called outside a running loop.
///
/// ```
/// aio::run(async {
///     let hit = std::rc::Rc::new(std::cell::Cell::new(false));
///     let h = hit.clone();
///     aio::call_soon(move || h.set(true));
///     aio::yield_now().await;
///     assert!(hit.get());
/// });
/// ```
pub fn call_soon(f: impl FnOnce() + 'static) -> TimerHandle {
    let flag = context::current().call_soon(Box::new(f));
    TimerHandle {
        inner: HandleInner::Soon(flag),
    }
}

/// Runs `f` once `delay` has passed.
///
/// # Panics
///
/// When called outside a running loop.
pub fn call_later(delay: Duration, f: impl FnOnce() + 'static) -> TimerHandle {
    let core = context::current();
    let deadline = Instant::now() + delay;
    let id = core
        .timers
        .borrow_mut()
        .insert(deadline, Action::Call(Box::new(f)));
    TimerHandle {
        inner: HandleInner::Later(Rc::downgrade(&core), id),
    }
}

/// Lets every other ready task and callback run once before this task
/// continues (asyncio's `await asyncio.sleep(0)`).
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
#[derive(Debug)]
#[must_use = "yield_now does nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
