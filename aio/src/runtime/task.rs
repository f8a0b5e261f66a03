//! Tasks: `aio::spawn` (asyncio's `create_task`) and the `Task<T>` handle.
//!
//! A task's future lives in the loop's task table; the handle shares only a
//! small completion cell with it. Cancelling a task drops its future on the
//! loop at the next step (Rust's form of raising `CancelledError` at the
//! next `await`). A task that panicked and whose result nobody can retrieve
//! any more is reported to the loop's error handler at that moment.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::context;
use super::error::ErrorContext;
use super::waker::TaskWaker;

/// Why a task produced no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// The task was cancelled before it finished (`asyncio.CancelledError`).
    #[error("task was cancelled")]
    Cancelled,
    /// The task's future panicked; the message is the panic's payload.
    #[error("task panicked: {0}")]
    Panicked(String),
}

impl TaskError {
    /// True when the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled)
    }

    /// True when the task panicked.
    pub fn is_panicked(&self) -> bool {
        matches!(self, TaskError::Panicked(_))
    }
}

/// What the loop and every handle know about one task, whatever its type.
pub(crate) struct TaskMeta {
    /// Unique for the life of the process, shown in reports.
    pub(crate) id: u64,
    /// A person-readable name (asyncio's `Task.get_name()`).
    /// Set by `set_name`; until then the name is `Task-{id}`, made only
    /// when asked for, so spawning allocates no string. A `Cell` of a
    /// `Box<str>` (16 bytes, not a `RefCell<String>`'s 32) keeps this
    /// record in a smaller allocation: one per connection on a server.
    pub(crate) name: Cell<Option<Box<str>>>,
    /// Set once the task has a result, so a stale key is never scheduled.
    pub(crate) finished: Cell<bool>,
    /// The task's waker, typed: its `cancelled` flag is the task's, and
    /// its `key` the task's slot in the loop's task table. (No copy of the
    /// key here: without it this record is 40 bytes, an allocation of the
    /// next size class down, and there is one per connection on a server.)
    pub(crate) task_waker: Arc<TaskWaker>,
}

impl TaskMeta {
    /// True once `cancel` was called on the task.
    pub(crate) fn cancel_requested(&self) -> bool {
        self.task_waker.cancelled.load(Ordering::Relaxed)
    }
}

/// Where a task's outcome goes; typed by the task's output.
pub(crate) struct JoinState<T> {
    meta: Rc<TaskMeta>,
    result: RefCell<Option<Result<T, TaskError>>>,
    /// The task awaiting this one's result, if any.
    waiter: RefCell<Option<Waker>>,
    /// False once the `Task<T>` handle is dropped: after that a failure can
    /// no longer be observed and must be reported.
    handle_alive: Cell<bool>,
    /// True once the handle handed out the result.
    taken: Cell<bool>,
}

/// The type-erased side of [`JoinState`] the loop uses to finish a task
/// that did not complete normally.
pub(crate) trait Completion {
    fn fail(&self, error: TaskError);
}

impl TaskMeta {
    pub(crate) fn name(&self) -> String {
        let name = self.name.take();
        let shown = match &name {
            Some(name) => name.to_string(),
            None => format!("Task-{}", self.id),
        };
        self.name.set(name);
        shown
    }
}

impl<T> JoinState<T> {
    fn set(&self, result: Result<T, TaskError>) {
        self.meta.finished.set(true);
        let report = match &result {
            Err(TaskError::Panicked(msg)) if !self.handle_alive.get() => Some(msg.clone()),
            _ => None,
        };
        *self.result.borrow_mut() = Some(result);
        if let Some(msg) = report {
            report_unretrieved(&self.meta, &msg);
        }
        let waiter = self.waiter.borrow_mut().take();
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

impl<T> Completion for JoinState<T> {
    fn fail(&self, error: TaskError) {
        self.set(Err(error));
    }
}

/// The completion of a detached task (see [`spawn_detached`]) is its
/// metadata: nobody can retrieve its failure, so a panic is reported at
/// once. (The loop marks every task finished when it drops the task's
/// slot, so a detached task needs no wrapper future and no record of its
/// own for that: one allocation less per connection on a server.)
impl Completion for TaskMeta {
    fn fail(&self, error: TaskError) {
        if let TaskError::Panicked(msg) = error {
            report_unretrieved(self, &msg);
        }
    }
}

fn report_unretrieved(meta: &TaskMeta, msg: &str) {
    let ctx = ErrorContext::task_failed(meta.id, meta.name(), msg.to_owned());
    super::error::report(ctx);
}

/// A handle to a spawned task; awaiting it gives the task's result.
///
/// Dropping a `Task` **detaches** it: the task keeps running and its value
/// is discarded (asyncio keeps a task alive the same way once the loop holds
/// it). Use [`Task::cancel`] to stop it. If a detached task panics, or a
/// task panics and its handle is then dropped without being awaited, the
/// panic is reported once to the loop's error handler (asyncio's "Task
/// exception was never retrieved", but at a predictable moment).
///
/// ```
/// aio::run(async {
///     let task = aio::spawn(async { 6 * 7 });
///     assert_eq!(task.await, Ok(42));
/// });
/// ```
pub struct Task<T> {
    state: Rc<JoinState<T>>,
}

impl<T> Task<T> {
    /// Requests cancellation: the task's future is dropped at the loop's next
    /// step and awaiting the handle gives `Err(TaskError::Cancelled)`.
    /// Cancelling a finished task does nothing.
    pub fn cancel(&self) {
        TaskRef::from_meta(self.state.meta.clone()).cancel();
    }

    /// True once the task has a result (value, cancellation or panic).
    pub fn is_finished(&self) -> bool {
        self.state.meta.finished.get()
    }

    /// The task's name (by default `Task-N`).
    pub fn name(&self) -> String {
        self.state.meta.name()
    }

    /// Renames the task; the name appears in error reports.
    pub fn set_name(&self, name: impl Into<String>) {
        self.state.meta.name.set(Some(name.into().into_boxed_str()));
    }

    /// A type-erased reference to the task, for cancelling it from elsewhere.
    pub fn task_ref(&self) -> TaskRef {
        TaskRef::from_meta(self.state.meta.clone())
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let state = &self.state;
        if let Some(result) = state.result.borrow_mut().take() {
            state.taken.set(true);
            return Poll::Ready(result);
        }
        assert!(
            !state.taken.get(),
            "a Task was polled after it returned its result"
        );
        let mut waiter = state.waiter.borrow_mut();
        match waiter.as_ref() {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *waiter = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.state.handle_alive.set(false);
        let unretrieved = match &*self.state.result.borrow() {
            Some(Err(TaskError::Panicked(msg))) => Some(msg.clone()),
            _ => None,
        };
        if let Some(msg) = unretrieved {
            report_unretrieved(&self.state.meta, &msg);
        }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.state.meta.id)
            .field("name", &self.state.meta.name())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// A type-erased reference to a task: what [`all_tasks`] and
/// [`current_task`] return. It can name and cancel the task but not take
/// its result.
#[derive(Clone)]
pub struct TaskRef {
    meta: Rc<TaskMeta>,
}

impl TaskRef {
    pub(crate) fn from_meta(meta: Rc<TaskMeta>) -> Self {
        TaskRef { meta }
    }

    /// The task's id, unique in this process.
    pub fn id(&self) -> u64 {
        self.meta.id
    }

    /// The task's name.
    pub fn name(&self) -> String {
        self.meta.name()
    }

    /// True once the task has finished.
    pub fn is_finished(&self) -> bool {
        self.meta.finished.get()
    }

    /// True once `cancel` was called on it.
    pub fn is_cancel_requested(&self) -> bool {
        self.meta.cancel_requested()
    }

    /// Requests cancellation, as [`Task::cancel`].
    pub fn cancel(&self) {
        if self.meta.finished.get() || self.meta.cancel_requested() {
            return;
        }
        self.meta
            .task_waker
            .cancelled
            .store(true, Ordering::Relaxed);
        context::with_current(|core| core.schedule_cancel(self.meta.task_waker.key, self.meta.id));
    }
}

impl PartialEq for TaskRef {
    fn eq(&self, other: &Self) -> bool {
        self.meta.id == other.meta.id
    }
}

impl fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRef")
            .field("id", &self.meta.id)
            .field("name", &self.meta.name())
            .finish()
    }
}

/// Spawns a future as a task on the current loop (asyncio's `create_task`).
/// The future need not be `Send`; it starts running at the loop's next step.
///
/// # Panics
///
/// When called outside a running loop.
///
/// ```
/// aio::run(async {
///     let shared = std::rc::Rc::new(std::cell::Cell::new(0));
///     let s = shared.clone();
///     aio::spawn(async move { s.set(1) }).await.unwrap();
///     assert_eq!(shared.get(), 1);
/// });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let core = context::current();
    core.spawn_with(|meta| {
        let state = Rc::new(JoinState {
            meta,
            result: RefCell::new(None),
            waiter: RefCell::new(None),
            handle_alive: Cell::new(true),
            taken: Cell::new(false),
        });
        let spawned = Spawned {
            future,
            sink: state.clone(),
        };
        (spawned, state.clone(), Task { state })
    })
}

pin_project_lite::pin_project! {
    /// A spawned future and where its output goes. A named future rather
    /// than `async move { sink.set(future.await) }`, which would store the
    /// future twice (rustc keeps a captured future and the awaited one in
    /// separate fields), doubling every task's memory.
    struct Spawned<F: Future> {
        #[pin]
        future: F,
        sink: Rc<JoinState<F::Output>>,
    }
}

impl<F: Future> Future for Spawned<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        match this.future.poll(cx) {
            Poll::Ready(value) => {
                this.sink.set(Ok(value));
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Spawns a task whose result nobody will await, as `drop(spawn(f))`
/// does, but lighter: no result cell, and the future is boxed as it is
/// (beside its waker).
/// (Wrapping it in `async move { future.await; ... }` would store it
/// twice, since rustc keeps a captured future and the awaited one in
/// separate fields.) A server runs one such task per connection, so this
/// is memory per connection. A panic is reported to the loop's error
/// handler, as for a detached [`Task`].
///
/// # Panics
///
/// When called outside a running loop.
#[track_caller]
pub(crate) fn spawn_detached<F>(future: F)
where
    F: Future<Output = ()> + 'static,
{
    let core = context::current();
    core.spawn_with(|meta| (future, meta, ()));
}

/// Every task of the current loop that has not finished (asyncio's
/// `all_tasks`), in no particular order.
///
/// # Panics
///
/// When called outside a running loop.
pub fn all_tasks() -> Vec<TaskRef> {
    context::current().all_tasks()
}

/// The task being polled right now, or `None` in the main future passed to
/// `aio::run` (and outside a loop).
pub fn current_task() -> Option<TaskRef> {
    context::with_current(|core| core.current_task()).flatten()
}
