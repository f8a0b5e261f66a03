//! The event loop itself: asyncio's `BaseEventLoop._run_once`, on mio.
//!
//! One step: wait for I/O (not at all if work is ready, else until the
//! next timer), wake what became ready, fire due timers, then run the tasks
//! and callbacks that were ready when the step began. Only this step polls
//! tasks and calls callbacks; everything else enqueues, so nothing re-enters
//! and no `RefCell` is borrowed twice.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use slab::Slab;

use super::blocking::BlockingPool;
use super::context;
use super::error::{self, ErrorContext, ErrorHandler};
use super::reactor::Reactor;
use super::task::{Completion, TaskError, TaskMeta, TaskRef};
use super::timer::Timers;
use super::waker::{Shared, TaskWaker};

/// The key of the main future (the one passed to `run`) in the ready queue.
const MAIN_KEY: usize = usize::MAX;

/// How many tasks one step runs before it looks at I/O and timers again,
/// when tasks keep waking each other.
const MAX_TASKS_PER_STEP: usize = 256;

/// What a task is made of: its future, its completion sink, and a handle.
pub(crate) type SpawnParts<F, H> = (F, Rc<dyn Completion>, H);

pin_project_lite::pin_project! {
    /// What the loop polls: a task's future with the waker it is polled
    /// with, in one allocation. A poll then touches this and the task's
    /// slot and `TaskWaker`, not also its `TaskMeta`: on a server every
    /// record a round trip touches is a likely cache miss.
    struct TaskCell<F> {
        waker: Waker,
        #[pin]
        future: F,
    }
}

/// A [`TaskCell`] of any future type.
trait PollTask {
    fn poll_task(self: Pin<&mut Self>) -> Poll<()>;
}

impl<F: Future<Output = ()>> PollTask for TaskCell<F> {
    #[inline]
    fn poll_task(self: Pin<&mut Self>) -> Poll<()> {
        let this = self.project();
        this.future.poll(&mut Context::from_waker(this.waker))
    }
}

/// A task's future, as the table holds it.
type BoxedTask = Pin<Box<dyn PollTask>>;

/// A `call_soon` callback and the flag its handle sets to cancel it.
type Callback = (Rc<Cell<bool>>, Box<dyn FnOnce()>);

/// A task as the loop holds it.
struct TaskSlot {
    /// `None` while the task is being polled, so the table is not borrowed
    /// across the poll.
    future: Option<BoxedTask>,
    /// The task's waker, typed: the loop clears its `queued` flag and
    /// reads its `cancelled` flag at every poll. The same `Arc` as
    /// `meta.task_waker`, kept here too so that a poll does not load the
    /// `TaskMeta`.
    task_waker: Arc<TaskWaker>,
    /// Id, name and whether it finished, shared with handles.
    meta: Rc<TaskMeta>,
    /// Where a panic or cancellation is recorded.
    completion: Rc<dyn Completion>,
}

impl Drop for TaskSlot {
    /// However the task ended (finished, cancelled, panicked, or dropped
    /// with the loop), it is finished once its slot is gone; a stale key
    /// is then never scheduled.
    fn drop(&mut self) {
        self.meta.finished.set(true);
    }
}

/// One event loop. Held in an `Rc`: it never leaves its thread.
pub(crate) struct Core {
    /// The thread-safe half, shared with wakers.
    shared: Arc<Shared>,
    /// Every live task.
    tasks: RefCell<Slab<TaskSlot>>,
    /// Keys of tasks to poll, in wake order.
    ready: RefCell<VecDeque<usize>>,
    /// `call_soon` callbacks, with their cancelled flags.
    callbacks: RefCell<VecDeque<Callback>>,
    /// Timers: sleeps, timeouts and `call_later`.
    pub(crate) timers: RefCell<Timers>,
    /// Readiness from the OS.
    pub(crate) reactor: Reactor,
    /// Where unobservable failures go.
    error_handler: RefCell<ErrorHandler>,
    /// The task being polled, for `current_task`.
    current: Cell<Option<usize>>,
    /// The `spawn_blocking` pool, started on first use.
    blocking: RefCell<Option<Arc<BlockingPool>>>,
    /// Reused buffer for tasks woken from other threads.
    remote_scratch: RefCell<Vec<Arc<TaskWaker>>>,
    /// The ready queue's length before a large read's wake-up, while the
    /// event that read is being dispatched (see
    /// [`Core::run_woken_after_this_event`]).
    woken_mark: Cell<Option<usize>>,
}

impl Drop for Core {
    /// Also when `block_on` unwinds: a task woken from another thread
    /// after this would sit in the queue forever, holding the loop's
    /// shared half (and its eventfd) alive through its own waker.
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// Task ids are unique across every loop of the process.
static NEXT_TASK_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Core {
    /// A loop whose steps take at most `events_per_poll` events.
    pub(crate) fn new(events_per_poll: usize) -> io::Result<Rc<Self>> {
        let reactor = Reactor::new(events_per_poll)?;
        let waker = reactor.new_waker()?;
        Ok(Rc::new(Core {
            shared: Arc::new(Shared::new(waker)),
            tasks: RefCell::new(Slab::new()),
            ready: RefCell::new(VecDeque::new()),
            callbacks: RefCell::new(VecDeque::new()),
            timers: RefCell::new(Timers::new()),
            reactor,
            error_handler: RefCell::new(error::default_handler()),
            current: Cell::new(None),
            blocking: RefCell::new(None),
            remote_scratch: RefCell::new(Vec::new()),
            woken_mark: Cell::new(None),
        }))
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn push_ready(&self, key: usize) {
        self.ready.borrow_mut().push_back(key);
    }

    /// Called during an event's dispatch, before a wake-up: the task that
    /// wake-up queues runs as soon as the event is done, before the rest
    /// of the batch. For a reader that just received a large chunk: run
    /// after the batch, its task found the bytes evicted from the cache by
    /// the other events' reads, and scanned and sent them from further
    /// away (see `streams::state::receive`).
    pub(crate) fn run_woken_after_this_event(&self) {
        if self.woken_mark.get().is_none() {
            self.woken_mark.set(Some(self.ready.borrow().len()));
            self.reactor.run_woken_after_this_event();
        }
    }

    /// After such an event: runs the task it woke, if it woke exactly one
    /// (and not the main future, which only the step polls). Out of line:
    /// small reads never come here.
    #[inline(never)]
    fn run_task_woken_by_event(&self) {
        let Some(mark) = self.woken_mark.take() else {
            return;
        };
        let key = {
            let mut ready = self.ready.borrow_mut();
            if ready.len() == mark + 1 && ready.back() != Some(&MAIN_KEY) {
                ready.pop_back()
            } else {
                None
            }
        };
        if let Some(key) = key {
            self.run_task(key);
        }
    }

    pub(crate) fn error_handler(&self) -> ErrorHandler {
        self.error_handler.borrow().clone()
    }

    pub(crate) fn set_error_handler(&self, handler: ErrorHandler) {
        *self.error_handler.borrow_mut() = handler;
    }

    /// Adds a task and schedules its first poll. `build` gets the task's
    /// metadata and returns its future, where its failure is recorded, and
    /// the handle `spawn_with` passes back.
    pub(crate) fn spawn_with<F, H>(&self, build: impl FnOnce(Rc<TaskMeta>) -> SpawnParts<F, H>) -> H
    where
        F: Future<Output = ()> + 'static,
    {
        let id = NEXT_TASK_ID.fetch_add(1, Ordering::Relaxed);
        let key = self.tasks.borrow().vacant_key();
        let task_waker = Arc::new(TaskWaker::new(key, self.shared.clone()));
        let meta = Rc::new(TaskMeta {
            id,
            name: Cell::new(None),
            finished: Cell::new(false),
            task_waker: task_waker.clone(),
        });
        let (future, completion, handle) = build(meta.clone());
        let cell = TaskCell {
            waker: Waker::from(task_waker.clone()),
            future,
        };
        let inserted = self.tasks.borrow_mut().insert(TaskSlot {
            future: Some(Box::pin(cell)),
            task_waker,
            meta,
            completion,
        });
        debug_assert_eq!(inserted, key);
        self.tasks.borrow()[key].task_waker.schedule_local(self);
        handle
    }

    /// Queues a cancelled task so the loop drops it at its next step.
    pub(crate) fn schedule_cancel(&self, key: usize, id: u64) {
        let tasks = self.tasks.borrow();
        if let Some(slot) = tasks.get(key) {
            if slot.meta.id == id {
                let waker = slot.task_waker.clone();
                drop(tasks);
                waker.wake_by_ref();
            }
        }
    }

    pub(crate) fn all_tasks(&self) -> Vec<TaskRef> {
        self.tasks
            .borrow()
            .iter()
            .filter(|(_, slot)| !slot.meta.finished.get())
            .map(|(_, slot)| TaskRef::from_meta(slot.meta.clone()))
            .collect()
    }

    pub(crate) fn current_task(&self) -> Option<TaskRef> {
        let key = self.current.get()?;
        let tasks = self.tasks.borrow();
        tasks
            .get(key)
            .map(|slot| TaskRef::from_meta(slot.meta.clone()))
    }

    pub(crate) fn call_soon(&self, f: Box<dyn FnOnce()>) -> Rc<Cell<bool>> {
        let cancelled = Rc::new(Cell::new(false));
        self.callbacks
            .borrow_mut()
            .push_back((cancelled.clone(), f));
        cancelled
    }

    pub(crate) fn blocking_pool(&self) -> Arc<BlockingPool> {
        self.blocking
            .borrow_mut()
            .get_or_insert_with(|| Arc::new(BlockingPool::new(BlockingPool::DEFAULT_MAX_THREADS)))
            .clone()
    }

    /// Runs `future` to completion on this loop, then cancels every task
    /// still alive (asyncio's `run`).
    pub(crate) fn block_on<F: Future>(self: &Rc<Self>, future: F) -> F::Output {
        let _enter = context::enter(self.clone());
        // Never cancelled: `run` ends with it.
        let main_waker = Arc::new(TaskWaker::new(MAIN_KEY, self.shared.clone()));
        let waker = Waker::from(main_waker.clone());
        let mut output = None;
        {
            // Pinned in this block so it is dropped before `shutdown`, while
            // the loop still exists for what it owns (sockets, timers).
            let mut future = std::pin::pin!(future);
            // Polled in wake order like any task, so the main future sees
            // the world as a spawned task would.
            let mut poll_main = || {
                main_waker.mark_polled();
                context::reset_budget();
                let mut cx = Context::from_waker(&waker);
                match future.as_mut().poll(&mut cx) {
                    Poll::Ready(out) => {
                        output = Some(out);
                        true
                    }
                    Poll::Pending => false,
                }
            };
            // The first poll goes through the ready queue too: polled before
            // the first step, the main future would resume from a
            // `yield_now` ahead of the callbacks it queued before yielding.
            main_waker.schedule_local(self);
            let mut done = false;
            while !done {
                done = self.run_once(&mut poll_main);
            }
        }
        let Some(output) = output else {
            unreachable!("the loop only stops once the main future is ready")
        };
        self.shutdown();
        output
    }

    /// One step of the loop. `poll_main` polls the main future when it is
    /// woken and says whether it finished; so does the return value.
    fn run_once(&self, poll_main: &mut dyn FnMut() -> bool) -> bool {
        let work_pending = !self.ready.borrow().is_empty() || !self.callbacks.borrow().is_empty();
        let timeout = if work_pending {
            Some(Duration::ZERO)
        } else {
            self.timers
                .borrow_mut()
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()))
        };
        self.woken_mark.set(None);
        if let Err(e) = self
            .reactor
            .poll(timeout, &mut || self.run_task_woken_by_event())
        {
            // epoll_wait only fails on EINTR (handled by mio) or on a bug;
            // a short pause keeps a persistent failure from spinning.
            tracing::error!("event loop: waiting for I/O failed: {e}");
            std::thread::sleep(Duration::from_millis(10));
        }
        if self.reactor.take_remote_wakeup() {
            let mut scratch = self.remote_scratch.borrow_mut();
            self.shared.drain_remote(&mut scratch);
            for task in scratch.drain(..) {
                task.schedule_local(self);
            }
        }
        self.fire_timers();

        let mut main_done = false;
        let n = self.ready.borrow().len().min(MAX_TASKS_PER_STEP);
        for _ in 0..n {
            let Some(key) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            if key == MAIN_KEY {
                // A duplicate wake must not poll a finished future.
                if !main_done {
                    main_done = poll_main();
                }
            } else {
                self.run_task(key);
            }
        }
        let n = self.callbacks.borrow().len();
        for _ in 0..n {
            let Some((cancelled, f)) = self.callbacks.borrow_mut().pop_front() else {
                break;
            };
            if !cancelled.get() {
                self.run_callback(f);
            }
        }
        main_done
    }

    fn fire_timers(&self) {
        if self.timers.borrow().is_empty() {
            return; // spares a clock read per step on a busy server
        }
        let now = Instant::now();
        loop {
            let action = self.timers.borrow_mut().pop_expired(now);
            match action {
                None => break,
                Some(super::timer::Fired::Wake(w)) => w.wake(),
                Some(super::timer::Fired::Call(f)) => self.run_callback(f),
            }
        }
    }

    /// Runs a callback, reporting a panic instead of unwinding the loop.
    pub(crate) fn run_callback(&self, f: Box<dyn FnOnce()>) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
            let msg = error::panic_message(&*payload);
            error::report(ErrorContext::other("callback panicked", msg));
        }
    }

    // Always inlined: called from two places now, the compiler left it out
    // of line, and the step's loop paid a call and a prologue per poll
    // (25 instructions per round trip of the streams echo).
    #[inline(always)]
    fn run_task(&self, key: usize) {
        let mut tasks = self.tasks.borrow_mut();
        let Some(slot) = tasks.get_mut(key) else {
            return; // a stale wake for a task that already finished
        };
        let Some(mut future) = slot.future.take() else {
            return; // a duplicate wake while the task is being polled
        };
        slot.task_waker.mark_polled();
        let cancelled = slot.task_waker.cancelled.load(Ordering::Relaxed);
        drop(tasks);

        if cancelled {
            self.finish_task(key, future, Some(TaskError::Cancelled));
            return;
        }
        context::reset_budget();
        self.current.set(Some(key));
        let result = catch_unwind(AssertUnwindSafe(|| future.as_mut().poll_task()));
        self.current.set(None);
        match result {
            Ok(Poll::Pending) => {
                if let Some(slot) = self.tasks.borrow_mut().get_mut(key) {
                    slot.future = Some(future);
                }
            }
            Ok(Poll::Ready(())) => self.finish_task(key, future, None),
            Err(payload) => {
                let msg = error::panic_message(&*payload);
                self.finish_task(key, future, Some(TaskError::Panicked(msg)));
            }
        }
    }

    /// Removes a task, dropping its future first so its destructors run
    /// while the task is still "current" for them, then records the outcome.
    fn finish_task(&self, key: usize, future: BoxedTask, error: Option<TaskError>) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(future))) {
            let msg = error::panic_message(&*payload);
            error::report(ErrorContext::other("a task's destructor panicked", msg));
        }
        let slot = self.tasks.borrow_mut().try_remove(key);
        if let (Some(slot), Some(error)) = (slot, error) {
            slot.completion.fail(error);
        }
    }

    /// Drops every task still alive (asyncio's `run` cancels them) and
    /// releases the blocking pool.
    fn shutdown(&self) {
        // Dropping one task may spawn or cancel others; repeat until empty.
        for _ in 0..16 {
            let keys: Vec<usize> = self.tasks.borrow().iter().map(|(k, _)| k).collect();
            if keys.is_empty() {
                break;
            }
            for key in keys {
                let future = self
                    .tasks
                    .borrow_mut()
                    .get_mut(key)
                    .and_then(|s| s.future.take());
                match future {
                    Some(f) => self.finish_task(key, f, Some(TaskError::Cancelled)),
                    None => {
                        self.tasks.borrow_mut().try_remove(key);
                    }
                }
            }
        }
        let callbacks = std::mem::take(&mut *self.callbacks.borrow_mut());
        drop(callbacks);
        // Dropped outside the borrow: a timer's closure may own a `Sleep`,
        // whose destructor borrows the timers again.
        let timers = std::mem::replace(&mut *self.timers.borrow_mut(), Timers::new());
        drop(timers);
        self.reactor.clear_handlers();
        if let Some(pool) = self.blocking.borrow_mut().take() {
            pool.shutdown();
        }
    }
}
