//! Single-loop synchronisation, after asyncio's `asyncio.locks` and
//! `asyncio.queues`: [`Event`], [`Lock`], [`Condition`], [`Semaphore`],
//! [`Barrier`], [`Queue`] (FIFO, LIFO or priority), and a [`oneshot`]
//! channel (the Rust form of an `asyncio.Future` that one side completes
//! and the other awaits). None can be shared between threads (none is
//! `Sync`): they connect tasks and protocol callbacks of one loop, without
//! locks or atomics.
//!
//! Invariants every type here keeps:
//!
//! - **Nothing is lost to cancellation.** Dropping a future at any `await`
//!   is how aio cancels a task (and how [`timeout`](crate::timeout) works),
//!   so each waiting future owns an entry that its `Drop` removes. An item
//!   or permit already handed to a waiter that is dropped before it runs is
//!   passed on to the next waiter, or put back.
//! - **First come, first served.** [`Queue`] and [`Semaphore`] (and so
//!   [`Lock`]) serve waiters in arrival order; a `*_nowait` / `try_*` call
//!   cannot take what a waiter has been promised.
//! - **No waker is woken while state is borrowed.** A waker may run code
//!   that touches the same primitive, so wakers are collected under the
//!   `RefCell` borrow and woken after it ends.
//!
//! One wait structure serves them all: `Waiters`, a FIFO in which each
//! waiting future owns an entry. The queue and the semaphore serve one
//! waiter at a time with a value (an item, a permit), a condition's
//! `notify(n)` the `n` oldest; an event being set and a queue being joined
//! serve every waiter at once (`WaitAll`).
//! `WaitList`, a plain list of wakers that re-check their condition when
//! woken, is for the transport and streams layers: a connection's or a
//! server's own events empty it often, and it ends with its owner.

mod barrier;
mod condition;
mod event;
mod lock;
pub mod oneshot;
mod queue;
mod queue_order;
mod semaphore;
mod wait_all;
mod wait_list;
mod waiters;

pub use barrier::{Barrier, BrokenBarrierError};
pub use condition::Condition;
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use queue::{Queue, QueueEmpty, QueueFull, TaskDoneError};
pub use semaphore::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};
pub(crate) use wait_list::{wake_all, WaitList};
