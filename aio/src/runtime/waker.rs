//! Task wakers. A waker is the one part of a task that may cross threads
//! (the `Waker` contract demands `Send + Sync`), so it holds only the task's
//! key and the loop's thread-safe half. Woken on the loop's own thread it
//! pushes the key onto the ready queue directly; woken from another thread
//! (a blocking-pool job, a foreign channel) it goes through a mutex-guarded
//! queue and the loop's `mio::Waker`, the loop's only cross-thread path.
//!
//! The two paths keep separate "already queued" flags. With one flag, set
//! by a swap in every waker and cleared by the loop with a plain store
//! before each poll, a wake from another thread can be lost: the loop's
//! store can still sit in its store buffer while the poll reads the
//! waker's data (not there yet), and the waker's swap, finding the flag
//! still set, queues nothing. The cross-thread flag is therefore cleared
//! by a swap once the task has left the cross-thread queue: of two swaps,
//! one sees the other. The local flag is touched only by the loop's own
//! thread, so a wake there is a plain load and store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Wake;

use super::context;
use super::core::Core;

/// The half of a loop that other threads may touch.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Tasks woken from other threads, drained by the loop.
    remote: Mutex<RemoteQueue>,
    /// True while a wake-up of the loop is already on its way.
    remote_pending: AtomicBool,
    /// Interrupts the loop's `epoll_wait`.
    waker: mio::Waker,
}

/// Wakes from other threads, waiting for the loop.
#[derive(Debug, Default)]
struct RemoteQueue {
    wakers: Vec<Arc<TaskWaker>>,
    /// The loop has ended: nothing drains the queue any more. A waker
    /// queued then would keep this `Shared` alive through its own `Arc`
    /// (and with it the loop's eventfd) for good.
    closed: bool,
}

impl Shared {
    pub(crate) fn new(waker: mio::Waker) -> Self {
        Shared {
            remote: Mutex::new(RemoteQueue::default()),
            remote_pending: AtomicBool::new(false),
            waker,
        }
    }

    fn queue(&self) -> MutexGuard<'_, RemoteQueue> {
        // A poisoned lock only means another waker panicked mid-push; the
        // queue itself is still valid.
        self.remote.lock().unwrap_or_else(|e| e.into_inner())
    }

    // Out of line: the common wake is on the loop's own thread, and
    // inlining this (a mutex, a syscall) made that path save every
    // register.
    #[cold]
    #[inline(never)]
    fn schedule_remote(&self, task: &Arc<TaskWaker>) {
        // Acquire-release, and a swap in `drain_remote` too: a wake that
        // finds the flag set relies on the loop's later swap seeing what
        // the waking thread wrote before it.
        if task.queued_remote.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut q = self.queue();
        if q.closed {
            return;
        }
        q.wakers.push(task.clone());
        drop(q);
        if !self.remote_pending.swap(true, Ordering::AcqRel) {
            if let Err(e) = self.waker.wake() {
                tracing::error!("cannot wake the event loop: {e}");
            }
        }
    }

    /// Moves the tasks woken from other threads into `out`, and lets their
    /// next cross-thread wake queue them again.
    pub(crate) fn drain_remote(&self, out: &mut Vec<Arc<TaskWaker>>) {
        self.remote_pending.store(false, Ordering::Release);
        out.append(&mut self.queue().wakers);
        for task in out.iter() {
            task.queued_remote.swap(false, Ordering::AcqRel);
        }
    }

    /// The loop has ended: later cross-thread wakes are dropped.
    pub(crate) fn close(&self) {
        let mut q = self.queue();
        q.closed = true;
        let wakers = std::mem::take(&mut q.wakers);
        drop(q);
        // Dropped outside the lock: the last `Arc` of a waker may be here.
        drop(wakers);
    }
}

/// The waker of one task.
#[derive(Debug)]
pub(crate) struct TaskWaker {
    /// The task's slot in the loop's task table.
    pub(crate) key: usize,
    /// True while the task sits in the ready queue, so a burst of wakes
    /// queues it once. Only the loop's own thread reads or writes it,
    /// hence relaxed loads and stores; atomic only because a waker must
    /// be `Sync`.
    queued: AtomicBool,
    /// True while the task sits in the queue of cross-thread wakes.
    queued_remote: AtomicBool,
    /// Set by `cancel()`; the loop drops the future when it sees it. Here
    /// rather than in `TaskMeta` because the loop touches this record at
    /// every poll anyway (for `queued`). Only the loop's thread sets or
    /// reads it; it is atomic because a waker must be `Sync`.
    pub(crate) cancelled: AtomicBool,
    /// The loop the task belongs to.
    pub(crate) shared: Arc<Shared>,
}

impl TaskWaker {
    /// The waker of the task in slot `key` of the loop `shared`, not queued.
    pub(crate) fn new(key: usize, shared: Arc<Shared>) -> Self {
        TaskWaker {
            key,
            queued: AtomicBool::new(false),
            queued_remote: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
            shared,
        }
    }

    /// Queues the task on `core`, its own loop, unless it is queued
    /// already. Only on that loop's thread.
    #[inline]
    pub(crate) fn schedule_local(&self, core: &Core) {
        if !self.queued.load(Ordering::Relaxed) {
            self.queued.store(true, Ordering::Relaxed);
            core.push_ready(self.key);
        }
    }

    /// The loop is about to poll the task: a wake from now on must queue
    /// it again. Only on the loop's thread.
    #[inline]
    pub(crate) fn mark_polled(&self) {
        self.queued.store(false, Ordering::Relaxed);
    }
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let local = context::with_current(|core| {
            if Arc::ptr_eq(core.shared(), &self.shared) {
                self.schedule_local(core);
                true
            } else {
                false
            }
        });
        if local != Some(true) {
            self.shared.schedule_remote(self);
        }
    }
}
