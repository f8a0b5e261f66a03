//! `aio::sync::Event`, and `Queue::join`, which waits the same way: every
//! waiter wakes when the flag is set, a dropped wait leaves nothing behind,
//! and (as in asyncio) a waiter woken by `set` returns even if the flag was
//! cleared before it ran.

mod support;

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use aio::sync::{Event, Queue};
use support::{settle, within};

/// A waker that does nothing; its strong count says who still holds it.
struct Counted;

impl Wake for Counted {
    fn wake(self: Arc<Self>) {}
}

/// Polls `fut` once with a fresh [`Counted`] waker, expects it to wait,
/// drops it, and returns how many clones of the waker are still held.
fn clones_left_after_dropping_a_waiting(fut: impl Future<Output = ()>) -> usize {
    let counted = Arc::new(Counted);
    let waker = Waker::from(counted.clone());
    {
        let mut fut = pin!(fut);
        let poll = fut.as_mut().poll(&mut Context::from_waker(&waker));
        assert!(poll.is_pending(), "the future should have had to wait");
    }
    drop(waker);
    Arc::strong_count(&counted) - 1
}

#[test]
fn a_dropped_wait_leaves_no_waker_behind() {
    let event = Event::new();
    for _ in 0..3 {
        assert_eq!(clones_left_after_dropping_a_waiting(event.wait()), 0);
    }
    assert!(format!("{event:?}").contains("waiting: 0"), "{event:?}");
}

#[test]
fn a_dropped_join_leaves_no_waker_behind() {
    let queue = Queue::unbounded();
    queue.put_nowait(1).unwrap();
    assert_eq!(clones_left_after_dropping_a_waiting(queue.join()), 0);
}

#[aio::test]
async fn set_wakes_every_waiter() {
    let event = Event::new();
    let woken = Rc::new(Cell::new(0));
    let waiters: Vec<_> = (0..5)
        .map(|_| {
            let (event, woken) = (event.clone(), woken.clone());
            aio::spawn(async move {
                event.wait().await;
                woken.set(woken.get() + 1);
            })
        })
        .collect();
    settle().await;
    assert_eq!(woken.get(), 0, "nothing set yet");
    event.set();
    for w in waiters {
        within(w).await.unwrap();
    }
    assert_eq!(woken.get(), 5);
    // Set: a new wait returns at once. Cleared: it waits again.
    event.wait().await;
    event.clear();
    assert!(aio::timeout(Duration::ZERO, event.wait()).await.is_err());
}

#[aio::test]
async fn a_waiter_woken_by_set_returns_though_the_flag_was_cleared_since() {
    let event = Event::new();
    let waiter = {
        let event = event.clone();
        aio::spawn(async move { event.wait().await })
    };
    settle().await;
    event.set();
    event.clear();
    within(waiter).await.unwrap();
}

#[aio::test]
async fn waiters_that_timed_out_do_not_pile_up() {
    // A shutdown flag that is never set, waited on with a timeout by one
    // task after another: each must leave the line when it gives up.
    let event = Event::new();
    for _ in 0..100 {
        let event = event.clone();
        let task = aio::spawn(async move {
            let _ = aio::timeout(Duration::ZERO, event.wait()).await;
        });
        within(task).await.unwrap();
    }
    assert!(format!("{event:?}").contains("waiting: 0"), "{event:?}");
}

#[aio::test]
async fn a_joiner_woken_by_the_last_task_done_returns_though_more_was_put() {
    let queue = Queue::unbounded();
    queue.put_nowait(1).unwrap();
    let joiner = {
        let queue = queue.clone();
        aio::spawn(async move { queue.join().await })
    };
    settle().await;
    queue.get_nowait().unwrap();
    queue.task_done().unwrap();
    // Before the joiner runs, the queue has unfinished work again; asyncio's
    // join (an event set and cleared) returns all the same.
    queue.put_nowait(2).unwrap();
    within(joiner).await.unwrap();
}
