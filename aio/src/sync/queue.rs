//! `Queue`: asyncio's `Queue`, `LifoQueue` and `PriorityQueue` for the
//! tasks of one loop.
//!
//! Producers [`put`](Queue::put) items, consumers [`get`](Queue::get)
//! them: in the order they were put ([`Queue::new`]), newest first
//! ([`Queue::new_lifo`]) or smallest first ([`Queue::new_priority`]). With
//! a `maxsize`, `put` waits while the queue is full, which is how a fast
//! producer is held back. As in asyncio,
//! [`task_done`](Queue::task_done) and [`join`](Queue::join) let a producer
//! wait until every item put has been processed.
//!
//! Python 3.13's `shutdown()` is not provided.
//!
//! # How waiters are served
//!
//! Waiting `get`s and `put`s each stand in a line, served in arrival order
//! (asyncio's own `Queue` lets a `put_nowait` slip in ahead of a woken
//! `put`; this one does not). An item put while a `get` waits is handed
//! straight to the oldest waiting `get`; a slot freed while a `put` waits is
//! promised to the oldest waiting `put`. Until the waiter runs, that item or
//! slot is its own: [`get_nowait`](Queue::get_nowait) and
//! [`put_nowait`](Queue::put_nowait) cannot take it, and [`qsize`](Queue::qsize)
//! and [`is_full`](Queue::is_full) describe what they *can* take. If the
//! waiter is cancelled first, the item goes to the next `get` (or back into
//! the queue, as its oldest item) and the slot to the next `put` (or back to
//! the queue's free room): nothing is lost, nothing stays reserved.
//!
//! `maxsize` bounds the items stored, handed to a `get` and promised to a
//! `put` together, so a queue never holds more than `maxsize` items.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::queue_order::Items;
use super::wait_all::WaitAll;
use super::wait_list::wake_all;
use super::waiters::Waiters;

/// A queue shared by the tasks of one loop, FIFO unless made with
/// [`new_lifo`](Self::new_lifo) or [`new_priority`](Self::new_priority).
/// Clones share the queue.
///
/// ```
/// use aio::sync::Queue;
///
/// aio::run(async {
///     let queue = Queue::new(2); // put waits while 2 items are queued
///     let q = queue.clone();
///     let consumer = aio::spawn(async move {
///         let mut total = 0;
///         loop {
///             let n: u32 = q.get().await;
///             total += n;
///             q.task_done().unwrap();
///             if n == 0 {
///                 return total;
///             }
///         }
///     });
///     for n in [5, 4, 3, 2, 1, 0] {
///         queue.put(n).await;
///     }
///     queue.join().await; // every item got and marked done
///     assert_eq!(consumer.await, Ok(15));
/// });
/// ```
pub struct Queue<T> {
    inner: Rc<RefCell<State<T>>>,
}

struct State<T> {
    /// Items put and not yet handed to a `get`, in the queue's order.
    items: Items<T>,
    /// The bound asked for; 0 means none.
    maxsize: usize,
    /// Waiting `get`s; a served entry holds the item handed to it.
    getters: Waiters<T>,
    /// Waiting `put`s; a served entry stands for a slot promised to it.
    putters: Waiters<()>,
    /// Items put and not yet marked done (asyncio's `_unfinished_tasks`).
    unfinished: usize,
    /// Tasks in `join`, all woken when `unfinished` reaches zero.
    joiners: Waiters<()>,
}

impl<T> State<T> {
    /// Items stored, handed to a `get` and promised to a `put`: what
    /// `maxsize` bounds.
    fn occupied(&self) -> usize {
        self.items.len() + self.getters.served() + self.putters.served()
    }

    /// Whether an item can be put now without overtaking a waiting `put`.
    /// (A `put` waits only while the queue is full, so the second test is
    /// implied by the first; it is spelled out because fairness rests on it.)
    fn has_room(&self) -> bool {
        let full = self.maxsize != 0 && self.occupied() >= self.maxsize;
        !full && self.putters.waiting() == 0
    }

    /// Adds an item into a free slot.
    fn push(&mut self, item: T) -> Option<Waker> {
        self.unfinished += 1;
        match self.getters.serve(item) {
            Ok(waker) => waker,
            Err(item) => {
                self.items.push(item);
                None
            }
        }
    }

    /// Takes back an item a cancelled `get` was handed: the next `get`
    /// gets it, or it goes back where the queue's oldest item goes (see
    /// `Items::put_back`). Its slot stays occupied, so the bound holds.
    fn restore(&mut self, item: T) -> Option<Waker> {
        match self.getters.serve(item) {
            Ok(waker) => waker,
            Err(item) => {
                self.items.put_back(item);
                None
            }
        }
    }

    /// An item left the queue: promise its slot to the oldest `put`.
    fn free_slot(&mut self) -> Option<Waker> {
        self.putters.serve(()).ok().flatten()
    }
}

/// Wakes what a state change produced, once the borrow is released: a
/// waker may run code that uses the queue.
fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

impl<T> Queue<T> {
    /// A FIFO queue that holds at most `maxsize` items, or any number when
    /// `maxsize` is 0 (as in asyncio).
    pub fn new(maxsize: usize) -> Self {
        Self::with_items(maxsize, Items::fifo())
    }

    /// A LIFO queue (asyncio's `LifoQueue`): `get` takes the item put
    /// last. `maxsize` as in [`new`](Self::new).
    ///
    /// ```
    /// let stack = aio::sync::Queue::new_lifo(0);
    /// for x in [1, 2, 3] {
    ///     stack.put_nowait(x).unwrap();
    /// }
    /// assert_eq!(stack.get_nowait(), Ok(3));
    /// ```
    pub fn new_lifo(maxsize: usize) -> Self {
        Self::with_items(maxsize, Items::lifo())
    }

    /// A priority queue (asyncio's `PriorityQueue`): `get` takes the
    /// smallest item. Equal items come out in no set order, as from
    /// asyncio's heap; put `(priority, sequence, item)` tuples to keep
    /// them in order. `maxsize` as in [`new`](Self::new).
    ///
    /// ```
    /// let jobs = aio::sync::Queue::new_priority(0);
    /// jobs.put_nowait((2, "later")).unwrap();
    /// jobs.put_nowait((1, "first")).unwrap();
    /// assert_eq!(jobs.get_nowait(), Ok((1, "first")));
    /// ```
    pub fn new_priority(maxsize: usize) -> Self
    where
        T: Ord,
    {
        Self::with_items(maxsize, Items::priority())
    }

    fn with_items(maxsize: usize, items: Items<T>) -> Self {
        Self {
            inner: Rc::new(RefCell::new(State {
                items,
                maxsize,
                getters: Waiters::default(),
                putters: Waiters::default(),
                unfinished: 0,
                joiners: Waiters::default(),
            })),
        }
    }

    /// A FIFO queue without a bound: `put` never waits.
    pub fn unbounded() -> Self {
        Self::new(0)
    }

    /// The bound given to [`new`](Self::new); 0 for none.
    pub fn maxsize(&self) -> usize {
        self.inner.borrow().maxsize
    }

    /// How many items [`get_nowait`](Self::get_nowait) could take now
    /// (asyncio's `qsize()`). Items already handed to a waiting `get` are
    /// not counted: they are on their way out.
    pub fn qsize(&self) -> usize {
        self.inner.borrow().items.len()
    }

    /// The same as [`qsize`](Self::qsize).
    pub fn len(&self) -> usize {
        self.qsize()
    }

    /// Whether [`get_nowait`](Self::get_nowait) would fail now.
    pub fn is_empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether [`put_nowait`](Self::put_nowait) would fail now. This can be
    /// true with fewer than `maxsize` items queued, while a slot is
    /// promised to a `put` that has not run yet or an item is on its way to
    /// a `get`. Never true without a bound.
    pub fn is_full(&self) -> bool {
        !self.inner.borrow().has_room()
    }

    /// Puts an item, waiting while the queue is full, behind every `put`
    /// that was already waiting.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped before it completes, the item was not put
    /// (it is dropped with the future), and a slot that had been promised
    /// to it goes to the next waiting `put`.
    pub async fn put(&self, item: T) {
        let mut putter = Put {
            state: &self.inner,
            key: None,
            item: Some(item),
        };
        poll_fn(|cx| putter.poll(cx)).await;
    }

    /// Puts an item if there is room now.
    ///
    /// # Errors
    ///
    /// [`QueueFull`], holding the item, when the queue is full or `put`s
    /// are waiting for room.
    ///
    /// ```
    /// let queue = aio::sync::Queue::new(1);
    /// queue.put_nowait("a").unwrap();
    /// let full = queue.put_nowait("b").unwrap_err();
    /// assert_eq!(full.into_inner(), "b");
    /// ```
    pub fn put_nowait(&self, item: T) -> Result<(), QueueFull<T>> {
        let mut state = self.inner.borrow_mut();
        if !state.has_room() {
            return Err(QueueFull(item));
        }
        let waker = state.push(item);
        drop(state);
        wake(waker);
        Ok(())
    }

    /// Takes the next item (the oldest, the newest or the smallest, by the
    /// queue's order), waiting until there is one, behind every `get` that
    /// was already waiting.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: no item is lost. An item handed to a `get` that is
    /// dropped before it runs goes to the next waiting `get`, or back into
    /// the queue as its oldest item.
    pub async fn get(&self) -> T {
        let mut getter = Get {
            state: &self.inner,
            key: None,
        };
        poll_fn(|cx| getter.poll(cx)).await
    }

    /// Takes the next item if there is one now.
    ///
    /// # Errors
    ///
    /// [`QueueEmpty`] when no item is queued (or the queued ones are
    /// already handed to waiting `get`s).
    ///
    /// ```
    /// let queue = aio::sync::Queue::unbounded();
    /// queue.put_nowait(1).unwrap();
    /// assert_eq!(queue.get_nowait(), Ok(1));
    /// assert!(queue.get_nowait().is_err());
    /// ```
    pub fn get_nowait(&self) -> Result<T, QueueEmpty> {
        let mut state = self.inner.borrow_mut();
        let item = state.items.pop().ok_or(QueueEmpty)?;
        let waker = state.free_slot();
        drop(state);
        wake(waker);
        Ok(item)
    }

    /// Marks one item got earlier as processed (asyncio's `task_done()`);
    /// when every item put has been, [`join`](Self::join) returns.
    ///
    /// # Errors
    ///
    /// [`TaskDoneError`] when called more often than items were put (where
    /// asyncio raises `ValueError`); the count is left at zero.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut state = self.inner.borrow_mut();
        if state.unfinished == 0 {
            return Err(TaskDoneError);
        }
        state.unfinished -= 1;
        let wakers = if state.unfinished == 0 {
            state.joiners.serve_all(())
        } else {
            Vec::new()
        };
        drop(state);
        wake_all(wakers);
        Ok(())
    }

    /// Waits until every item put has been marked done with
    /// [`task_done`](Self::task_done) (at once if none is pending). A
    /// `join` woken by the last `task_done` returns even if more items were
    /// put before it ran, as in asyncio.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped `join` leaves nothing behind.
    pub async fn join(&self) {
        let mut joiner = WaitAll::new(&self.inner, |state| &mut state.joiners);
        poll_fn(|cx| joiner.poll(cx, |state| state.unfinished == 0)).await;
    }
}

/// The waiting side of [`Queue::put`]; its `Drop` is what makes
/// cancellation safe.
struct Put<'a, T> {
    state: &'a RefCell<State<T>>,
    /// Our entry among the putters, once we had to wait.
    key: Option<usize>,
    /// The item, until it is put.
    item: Option<T>,
}

impl<T> Put<'_, T> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.borrow_mut();
        // Room now, or a slot promised while we waited: taking the promise
        // frees the slot we then fill, so no net change.
        let room = (self.key.is_none() && state.has_room())
            || state.putters.wait(&mut self.key, cx.waker()).is_some();
        if !room {
            return Poll::Pending;
        }
        let waker = self.item.take().and_then(|item| state.push(item));
        drop(state);
        wake(waker);
        Poll::Ready(())
    }
}

impl<T> Drop for Put<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        let mut state = self.state.borrow_mut();
        if state.putters.remove(key).is_some() {
            // Promised a slot but cancelled before it ran: pass it on.
            let waker = state.free_slot();
            drop(state);
            wake(waker);
        }
        // The unput item, if any, is dropped after this, outside the borrow.
    }
}

/// The waiting side of [`Queue::get`]; its `Drop` is what makes
/// cancellation safe.
struct Get<'a, T> {
    state: &'a RefCell<State<T>>,
    /// Our entry among the getters, once we had to wait.
    key: Option<usize>,
}

impl<T> Get<'_, T> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<T> {
        let mut state = self.state.borrow_mut();
        let now = if self.key.is_none() {
            state.items.pop()
        } else {
            None
        };
        let Some(item) = now.or_else(|| state.getters.wait(&mut self.key, cx.waker())) else {
            return Poll::Pending;
        };
        let waker = state.free_slot();
        drop(state);
        wake(waker);
        Poll::Ready(item)
    }
}

impl<T> Drop for Get<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        let mut state = self.state.borrow_mut();
        if let Some(item) = state.getters.remove(key) {
            // Handed an item but cancelled before it ran: pass it on.
            let waker = state.restore(item);
            drop(state);
            wake(waker);
        }
    }
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for Queue<T> {
    /// An unbounded queue.
    fn default() -> Self {
        Self::unbounded()
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.borrow();
        f.debug_struct("Queue")
            .field("maxsize", &state.maxsize)
            .field("qsize", &state.items.len())
            .field("getters", &state.getters.waiting())
            .field("putters", &state.putters.waiting())
            .field("unfinished", &state.unfinished)
            .finish()
    }
}

/// The error of [`Queue::put_nowait`] on a full queue (asyncio's
/// `QueueFull`); it gives the item back.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("queue is full")]
pub struct QueueFull<T>(pub T);

impl<T> QueueFull<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Not `T: Debug`, so `put_nowait(x).unwrap()` works for any item.
impl<T> fmt::Debug for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueueFull(..)")
    }
}

/// The error of [`Queue::get_nowait`] on an empty queue (asyncio's
/// `QueueEmpty`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("queue is empty")]
pub struct QueueEmpty;

/// The error of [`Queue::task_done`] called more often than items were put
/// (asyncio's `ValueError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("task_done() called too many times")]
pub struct TaskDoneError;
