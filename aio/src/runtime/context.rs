//! The thread's current loop: how `aio::spawn` and friends find the loop
//! they run on without a handle being passed around (asyncio's
//! `get_running_loop`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::core::Core;

thread_local! {
    /// The loop running on this thread, set for the duration of `run`.
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
    /// The cooperative budget of the task being polled (see [`poll_budget`]).
    static BUDGET: Cell<u32> = const { Cell::new(u32::MAX) };
}

/// How many I/O operations one task poll may complete before it is made to
/// yield, so one busy socket cannot starve the others.
pub(crate) const TASK_BUDGET: u32 = 128;

/// Makes `core` the current loop until the guard is dropped.
pub(crate) fn enter(core: Rc<Core>) -> EnterGuard {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        assert!(
            c.is_none(),
            "aio::run cannot be called from inside a running loop (use aio::spawn instead)"
        );
        *c = Some(core);
    });
    EnterGuard { _private: () }
}

/// Clears the current loop when dropped, even on panic.
pub(crate) struct EnterGuard {
    _private: (),
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let core = CURRENT.with(|c| c.borrow_mut().take());
        drop(core);
    }
}

/// The current loop, if this thread is running one.
pub(crate) fn try_current() -> Option<Rc<Core>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// The current loop.
///
/// # Panics
///
/// Outside a running loop: calling `aio::spawn` there is a programming error,
/// as `asyncio.create_task` without a running loop is.
#[track_caller]
pub(crate) fn current() -> Rc<Core> {
    match try_current() {
        Some(core) => core,
        None => panic!("this aio function must be called from inside a running loop (aio::run)"),
    }
}

/// Runs `f` with the current loop if this thread runs one.
pub(crate) fn with_current<R>(f: impl FnOnce(&Rc<Core>) -> R) -> Option<R> {
    CURRENT
        .try_with(|c| c.borrow().as_ref().map(f))
        .ok()
        .flatten()
}

/// See [`Core::run_woken_after_this_event`]; nothing outside a loop.
/// Out of line, so that the read path it is called from (only after a
/// large read) does not save more registers for every small one.
#[inline(never)]
pub(crate) fn run_woken_after_this_event() {
    with_current(|core| core.run_woken_after_this_event());
}

/// Gives the task about to be polled a fresh budget.
pub(crate) fn reset_budget() {
    BUDGET.with(|b| b.set(TASK_BUDGET));
}

/// Spends one unit of the current task's budget; when it is spent the task
/// is rescheduled and the operation reports `Pending`.
pub(crate) fn poll_budget(cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
    BUDGET.with(|b| {
        let left = b.get();
        if left == 0 {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        } else {
            b.set(left - 1);
            std::task::Poll::Ready(())
        }
    })
}
