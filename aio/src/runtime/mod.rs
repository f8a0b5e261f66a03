//! The event loop (asyncio's `BaseEventLoop`), on `mio`.
//!
//! # Design
//!
//! One loop runs on one thread and owns everything on it: tasks, timers,
//! sockets. State is `Rc`/`RefCell`; no lock or atomic sits on the hot path
//! except the `scheduled` flag of a task's waker, which the `Waker` contract
//! forces to be thread-safe.
//!
//! - [`core`](self) — the loop step (`run_once`): poll I/O, fire timers, run
//!   what was ready when the step began. Only it polls tasks and calls
//!   callbacks.
//! - `task` — `spawn`, `Task<T>`, cancellation, unretrieved-failure reports.
//! - `timer` — the timer heap with lazy cancellation.
//! - `reactor` — mio registrations, cached edge-triggered readiness, the
//!   per-task budget.
//! - `blocking` — the `spawn_blocking` pool, the one cross-thread path.
//! - `group` — `TaskGroup`.
//! - `builder` — `run`, `Runtime`, thread-per-core workers, `Handle`.
//! - `affinity` — pinning workers to CPUs.
//!
//! Invariants: a task's future is polled only by the loop step and only on
//! the loop's thread; a cancelled task's future is dropped by the loop
//! step, never inside `cancel()`; a source's readiness bit is cleared only
//! after an operation returned `WouldBlock` or a short read.

pub(crate) mod affinity;
pub(crate) mod blocking;
pub(crate) mod builder;
pub(crate) mod callbacks;
pub(crate) mod context;
pub(crate) mod core;
pub(crate) mod error;
pub(crate) mod group;
pub(crate) mod reactor;
pub(crate) mod task;
pub(crate) mod timer;
pub(crate) mod waker;

pub use blocking::spawn_blocking;
pub use builder::{run, Builder, Handle, Runtime};
pub use callbacks::{call_later, call_soon, yield_now, TimerHandle, YieldNow};
pub use error::{set_error_handler, ErrorContext};
pub use group::{GroupError, TaskGroup};
pub use reactor::DEFAULT_EVENTS_PER_POLL;
pub use task::{all_tasks, current_task, spawn, Task, TaskError, TaskRef};
