//! Task wakers. A waker is the one part of a task that may cross threads
//! (the `Waker` contract demands `Send + Sync`), so it holds only the task's
//! key and the loop's thread-safe half. Woken on the loop's own thread it
//! pushes the key onto the ready queue directly; woken from another thread
//! (a blocking-pool job, a foreign channel) it goes through a mutex-guarded
//! queue and the loop's `mio::Waker`, the loop's only cross-thread path.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Wake;

use super::context;

/// The half of a loop that other threads may touch.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Task keys woken from other threads, drained by the loop.
    remote: Mutex<Vec<usize>>,
    /// True while a wake-up of the loop is already on its way.
    remote_pending: AtomicBool,
    /// Interrupts the loop's `epoll_wait`.
    waker: mio::Waker,
}

impl Shared {
    pub(crate) fn new(waker: mio::Waker) -> Self {
        Shared {
            remote: Mutex::new(Vec::new()),
            remote_pending: AtomicBool::new(false),
            waker,
        }
    }

    // Out of line: the common wake is on the loop's own thread, and
    // inlining this (a mutex, a syscall) made that path save every
    // register.
    #[cold]
    #[inline(never)]
    fn schedule_remote(&self, key: usize) {
        // A poisoned lock only means another waker panicked mid-push; the
        // vector itself is still valid.
        let mut q = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        q.push(key);
        drop(q);
        if !self.remote_pending.swap(true, Ordering::AcqRel) {
            if let Err(e) = self.waker.wake() {
                tracing::error!("cannot wake the event loop: {e}");
            }
        }
    }

    /// Moves the keys woken from other threads into `out`.
    pub(crate) fn drain_remote(&self, out: &mut Vec<usize>) {
        self.remote_pending.store(false, Ordering::Release);
        let mut q = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        out.append(&mut q);
    }
}

/// The waker of one task.
#[derive(Debug)]
pub(crate) struct TaskWaker {
    /// The task's slot in the loop's task table.
    pub(crate) key: usize,
    /// True while the task sits in the ready queue, so a burst of wakes
    /// queues it once.
    pub(crate) scheduled: AtomicBool,
    /// Set by `cancel()`; the loop drops the future when it sees it. Here
    /// rather than in `TaskMeta` because the loop touches this record at
    /// every poll anyway (for `scheduled`). Only the loop's thread sets
    /// or reads it; it is atomic because a waker must be `Sync`.
    pub(crate) cancelled: AtomicBool,
    /// The loop the task belongs to.
    pub(crate) shared: Arc<Shared>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return;
        }
        let local = context::with_current(|core| {
            if Arc::ptr_eq(core.shared(), &self.shared) {
                core.push_ready(self.key);
                true
            } else {
                false
            }
        });
        if local != Some(true) {
            self.shared.schedule_remote(self.key);
        }
    }
}
