//! `Barrier`: asyncio's `Barrier` (Python 3.11), where a set number of
//! tasks wait for each other before any goes on.
//!
//! The tasks of one round stand in a [`Waiters`] line. The last to arrive
//! serves them all and starts the next round at once, so a task that
//! arrives while the released ones have not run yet counts toward the next
//! round (asyncio makes it wait for the others to leave first; the outcome
//! is the same). A task cancelled while it waits leaves the round, which
//! then needs one more arrival, as in asyncio.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::task::{Context, Poll, Waker};

use super::wait_list::wake_all;
use super::waiters::Waiters;

/// A meeting point for `parties` tasks: each [`wait`](Self::wait)s until
/// all of them have arrived, then all go on together. It can be used again
/// for the next round.
///
/// Not `Clone`: share it with an `Rc`.
///
/// ```
/// use std::rc::Rc;
/// use aio::sync::Barrier;
///
/// aio::run(async {
///     let barrier = Rc::new(Barrier::new(3));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let barrier = barrier.clone();
///             aio::spawn(async move { barrier.wait().await })
///         })
///         .collect();
///     let mut indexes = Vec::new();
///     for task in tasks {
///         indexes.push(task.await.unwrap().unwrap());
///     }
///     indexes.sort();
///     assert_eq!(indexes, [0, 1, 2]); // one each, in order of arrival
/// });
/// ```
pub struct Barrier {
    state: RefCell<State>,
}

struct State {
    parties: usize,
    /// Tasks waiting in this round.
    arrived: usize,
    /// Set by `abort` until `reset`.
    broken: bool,
    /// This round's waiting tasks; a served entry says how its wait ends.
    waiters: Waiters<Result<(), BrokenBarrierError>>,
}

impl State {
    /// Ends the round: every waiting task gets `outcome`.
    fn release(&mut self, outcome: Result<(), BrokenBarrierError>) -> Vec<Waker> {
        self.arrived = 0;
        self.waiters.serve_all(outcome)
    }
}

impl Barrier {
    /// A barrier for `parties` tasks.
    ///
    /// # Panics
    ///
    /// If `parties` is 0 (asyncio raises `ValueError`).
    pub fn new(parties: usize) -> Self {
        assert!(parties > 0, "a barrier needs at least one party");
        Self {
            state: RefCell::new(State {
                parties,
                arrived: 0,
                broken: false,
                waiters: Waiters::default(),
            }),
        }
    }

    /// Waits until `parties` tasks are waiting, then returns this task's
    /// place among them: 0 for the first to arrive, `parties - 1` for the
    /// last, which does not wait at all.
    ///
    /// # Errors
    ///
    /// [`BrokenBarrierError`] if the barrier is broken by
    /// [`abort`](Self::abort), or is [`reset`](Self::reset) while this task
    /// waits.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a task dropped while it waits leaves the round.
    pub async fn wait(&self) -> Result<usize, BrokenBarrierError> {
        let (index, key) = {
            let mut state = self.state.borrow_mut();
            if state.broken {
                return Err(BrokenBarrierError);
            }
            let index = state.arrived;
            state.arrived += 1;
            if state.arrived == state.parties {
                let wakers = state.release(Ok(()));
                drop(state);
                wake_all(wakers);
                return Ok(index);
            }
            (index, state.waiters.push(Waker::noop()))
        };
        let mut waiter = Waiter {
            state: &self.state,
            key: Some(key),
        };
        poll_fn(|cx| waiter.poll(cx)).await.map(|()| index)
    }

    /// Breaks the barrier: every waiting task and every later `wait` gets
    /// [`BrokenBarrierError`], until [`reset`](Self::reset).
    pub fn abort(&self) {
        self.send_away(true);
    }

    /// Empties the barrier: tasks waiting now get [`BrokenBarrierError`],
    /// and a broken barrier can be used again.
    pub fn reset(&self) {
        self.send_away(false);
    }

    /// Ends the round with [`BrokenBarrierError`] for those waiting, and
    /// leaves the barrier `broken` or not.
    fn send_away(&self, broken: bool) {
        let mut state = self.state.borrow_mut();
        state.broken = broken;
        let wakers = state.release(Err(BrokenBarrierError));
        drop(state);
        wake_all(wakers);
    }

    /// How many tasks must arrive for a round to end.
    pub fn parties(&self) -> usize {
        self.state.borrow().parties
    }

    /// How many tasks wait in the current round.
    pub fn n_waiting(&self) -> usize {
        self.state.borrow().arrived
    }

    /// Whether [`abort`](Self::abort) broke the barrier.
    pub fn is_broken(&self) -> bool {
        self.state.borrow().broken
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Barrier")
            .field("parties", &state.parties)
            .field("waiting", &state.arrived)
            .field("broken", &state.broken)
            .finish()
    }
}

/// A task waiting in its round; its `Drop` takes it out if it leaves
/// early.
struct Waiter<'a> {
    state: &'a RefCell<State>,
    key: Option<usize>,
}

impl Waiter<'_> {
    fn poll(&mut self, cx: &Context<'_>) -> Poll<Result<(), BrokenBarrierError>> {
        let mut state = self.state.borrow_mut();
        match state.waiters.wait(&mut self.key, cx.waker()) {
            Some(outcome) => Poll::Ready(outcome),
            None => Poll::Pending,
        }
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut state = self.state.borrow_mut();
        if state.waiters.remove(key).is_none() {
            // Still waiting: this round now needs one more arrival.
            state.arrived -= 1;
        }
    }
}

/// The error of [`Barrier::wait`] on a barrier aborted, or reset while
/// the task waited (asyncio's `BrokenBarrierError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the barrier is broken")]
pub struct BrokenBarrierError;
