//! `aio::sync::Barrier`: a round ends when `parties` tasks wait, each gets
//! its place in arrival order, the barrier is reusable, and `abort`,
//! `reset` and cancellation behave as asyncio's.
//!
//! `settle()` lets every ready task run; it is not a sleep.

mod support;

use std::cell::RefCell;
use std::rc::Rc;

use aio::sync::{Barrier, BrokenBarrierError};
use aio::Task;
use support::{settle, within};

/// A task that waits at `barrier` once and records its outcome.
fn party(
    barrier: &Rc<Barrier>,
    log: &Rc<RefCell<Vec<Result<usize, BrokenBarrierError>>>>,
) -> Task<()> {
    let (barrier, log) = (barrier.clone(), log.clone());
    aio::spawn(async move {
        let outcome = barrier.wait().await;
        log.borrow_mut().push(outcome);
    })
}

#[aio::test]
async fn nobody_goes_on_until_every_party_has_arrived() {
    let barrier = Rc::new(Barrier::new(3));
    let log = Rc::new(RefCell::new(Vec::new()));
    let first = party(&barrier, &log);
    let second = party(&barrier, &log);
    settle().await;
    assert!(log.borrow().is_empty(), "two of three are waiting");
    assert_eq!(barrier.n_waiting(), 2);
    // The last to arrive does not wait, and gets the last place.
    assert_eq!(barrier.wait().await, Ok(2));
    within(first).await.unwrap();
    within(second).await.unwrap();
    assert_eq!(*log.borrow(), [Ok(0), Ok(1)]);
    assert_eq!(barrier.n_waiting(), 0);
}

#[aio::test]
async fn the_barrier_serves_round_after_round() {
    let barrier = Rc::new(Barrier::new(2));
    let log = Rc::new(RefCell::new(Vec::new()));
    for round in 0..3 {
        let waiting = party(&barrier, &log);
        settle().await;
        assert_eq!(barrier.wait().await, Ok(1), "round {round}");
        within(waiting).await.unwrap();
    }
    assert_eq!(*log.borrow(), [Ok(0), Ok(0), Ok(0)]);
}

#[aio::test]
async fn a_party_of_one_never_waits() {
    let barrier = Barrier::new(1);
    assert_eq!(barrier.wait().await, Ok(0));
    assert_eq!(barrier.wait().await, Ok(0));
}

#[aio::test]
async fn abort_breaks_the_waiting_and_every_later_wait_until_reset() {
    let barrier = Rc::new(Barrier::new(3));
    let log = Rc::new(RefCell::new(Vec::new()));
    let waiting = party(&barrier, &log);
    settle().await;
    barrier.abort();
    within(waiting).await.unwrap();
    assert_eq!(*log.borrow(), [Err(BrokenBarrierError)]);
    assert!(barrier.is_broken());
    assert_eq!(barrier.wait().await, Err(BrokenBarrierError));
    barrier.reset();
    assert!(!barrier.is_broken());
    assert_eq!(barrier.n_waiting(), 0);
}

#[aio::test]
async fn reset_sends_the_waiting_away_and_starts_an_empty_round() {
    let barrier = Rc::new(Barrier::new(2));
    let log = Rc::new(RefCell::new(Vec::new()));
    let waiting = party(&barrier, &log);
    settle().await;
    barrier.reset();
    within(waiting).await.unwrap();
    assert_eq!(*log.borrow(), [Err(BrokenBarrierError)]);
    // A fresh round: one arrival is not enough, two are.
    let next = party(&barrier, &log);
    settle().await;
    assert_eq!(barrier.n_waiting(), 1);
    assert_eq!(barrier.wait().await, Ok(1));
    within(next).await.unwrap();
    assert_eq!(log.borrow()[1], Ok(0));
}

#[aio::test]
async fn a_cancelled_party_leaves_the_round() {
    let barrier = Rc::new(Barrier::new(2));
    let log = Rc::new(RefCell::new(Vec::new()));
    let cancelled = party(&barrier, &log);
    settle().await;
    cancelled.cancel();
    assert!(within(cancelled).await.unwrap_err().is_cancelled());
    assert_eq!(barrier.n_waiting(), 0, "the round needs two again");
    let waiting = party(&barrier, &log);
    settle().await;
    assert!(log.borrow().is_empty(), "one arrival is not enough");
    assert_eq!(barrier.wait().await, Ok(1));
    within(waiting).await.unwrap();
    assert_eq!(*log.borrow(), [Ok(0)]);
}

#[aio::test]
async fn a_party_cancelled_after_the_round_ended_takes_nothing_from_the_next() {
    let barrier = Rc::new(Barrier::new(2));
    let log = Rc::new(RefCell::new(Vec::new()));
    let released = party(&barrier, &log);
    settle().await;
    assert_eq!(barrier.wait().await, Ok(1)); // ends the round
    released.cancel(); // dropped before it ran again
    assert!(within(released).await.unwrap_err().is_cancelled());
    assert_eq!(barrier.n_waiting(), 0);
    let next = party(&barrier, &log);
    settle().await;
    assert_eq!(barrier.n_waiting(), 1);
    assert_eq!(barrier.wait().await, Ok(1));
    within(next).await.unwrap();
}

#[test]
#[should_panic(expected = "at least one party")]
fn a_barrier_for_nobody_is_refused() {
    let _ = Barrier::new(0);
}
