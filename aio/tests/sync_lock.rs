//! `aio::sync::Lock`: one holder at a time across `await`s, waiters served
//! in arrival order, and cancellation that never leaves the lock stuck.
//!
//! `settle()` (in `support`) lets every ready task run; no test
//! sleeps for ordering.

mod support;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Waker};
use std::time::Duration;

use aio::sync::{Event, Lock};
use aio::Task;
use support::{settle, within};

/// A task that takes the lock, pushes `id` onto the guarded list, and
/// holds the lock until `release` is set.
fn holder(lock: &Rc<Lock<Vec<u32>>>, id: u32, release: &Event) -> Task<()> {
    let (lock, release) = (lock.clone(), release.clone());
    aio::spawn(async move {
        let mut list = lock.lock().await;
        list.push(id);
        release.wait().await;
    })
}

#[aio::test]
async fn the_lock_guards_a_counter_across_tasks_that_yield_while_holding_it() {
    const TASKS: u32 = 10;
    const ROUNDS: u32 = 20;
    let counter = Rc::new(Lock::new(0u32));
    // Tasks inside the critical section right now: never more than one.
    let inside = Rc::new(Cell::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (counter, inside) = (counter.clone(), inside.clone());
            aio::spawn(async move {
                for _ in 0..ROUNDS {
                    let mut n = counter.lock().await;
                    inside.set(inside.get() + 1);
                    assert_eq!(inside.get(), 1, "two holders at once");
                    // A read-modify-write split by an await: without the
                    // lock, other tasks would interleave and lose updates.
                    let seen = *n;
                    aio::yield_now().await;
                    *n = seen + 1;
                    inside.set(inside.get() - 1);
                }
            })
        })
        .collect();
    for task in tasks {
        within(task).await.unwrap();
    }
    assert_eq!(*within(counter.lock()).await, TASKS * ROUNDS);
    assert!(!counter.is_locked());
}

#[aio::test]
async fn try_lock_fails_while_the_lock_is_held() {
    let lock = Lock::new(String::from("value"));
    assert!(!lock.is_locked());
    let guard = lock.lock().await;
    assert!(lock.is_locked());
    assert!(lock.try_lock().is_none());
    assert_eq!(format!("{lock:?}"), r#"Lock { value: <locked> }"#);
    assert_eq!(&*guard, "value");
    drop(guard);
    assert!(!lock.is_locked());
    assert_eq!(format!("{lock:?}"), r#"Lock { value: "value" }"#);
    lock.try_lock().unwrap().push('s');
    assert_eq!(lock.into_inner(), "values");
}

#[test]
fn get_mut_needs_no_locking() {
    let mut lock = Lock::new(1);
    *lock.get_mut() += 1;
    assert_eq!(*lock.try_lock().unwrap(), 2);
    assert_eq!(*Lock::<u8>::default().try_lock().unwrap(), 0);
}

#[aio::test]
async fn lock_waiters_are_served_in_arrival_order() {
    let lock = Rc::new(Lock::new(Vec::new()));
    let held = lock.try_lock().unwrap();
    let release = Event::new();
    release.set(); // each holder lets go at once
    let mut tasks = Vec::new();
    for id in 1..=5 {
        tasks.push(holder(&lock, id, &release));
        settle().await;
    }
    drop(held);
    // Arrives after the unlock, before the first waiter ran: still last.
    assert!(lock.try_lock().is_none(), "the lock is the first waiter's");
    tasks.push(holder(&lock, 6, &release));
    for task in tasks {
        within(task).await.unwrap();
    }
    assert_eq!(*within(lock.lock()).await, [1, 2, 3, 4, 5, 6]);
}

#[aio::test]
async fn a_cancelled_waiter_that_was_handed_the_lock_passes_it_on() {
    let lock = Rc::new(Lock::new(Vec::new()));
    let held = lock.try_lock().unwrap();
    let release = Event::new();
    let cancelled = holder(&lock, 1, &release);
    settle().await;
    let next = holder(&lock, 2, &release);
    settle().await;
    drop(held); // hands the lock to `cancelled`, which never runs again
    cancelled.cancel();
    assert!(within(cancelled).await.unwrap_err().is_cancelled());
    release.set();
    within(next).await.unwrap();
    assert!(!lock.is_locked());
    assert_eq!(*lock.try_lock().unwrap(), [2]);
}

#[test]
fn a_lock_future_dropped_after_being_handed_the_lock_unlocks_it() {
    let lock = Lock::new(());
    let mut cx = Context::from_waker(Waker::noop());
    let held = lock.try_lock().unwrap();
    {
        let mut waiting = pin!(lock.lock());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        drop(held);
        assert!(lock.is_locked(), "handed to the waiter");
    }
    assert!(!lock.is_locked());
}

#[aio::test]
async fn a_holder_cancelled_while_holding_the_lock_unlocks_it() {
    let lock = Rc::new(Lock::new(Vec::new()));
    let never = Event::new();
    let stuck = holder(&lock, 1, &never);
    settle().await;
    assert!(lock.is_locked());
    stuck.cancel();
    assert!(within(stuck).await.unwrap_err().is_cancelled());
    assert!(!lock.is_locked());
    assert_eq!(*within(lock.lock()).await, [1]);
}

#[aio::test]
async fn a_timed_out_lock_leaves_the_line() {
    let lock = Lock::new(RefCell::new(0));
    let held = lock.try_lock().unwrap();
    assert!(aio::timeout(Duration::from_millis(5), lock.lock())
        .await
        .is_err());
    drop(held);
    // Were the dead waiter still in line, the lock would be handed to it.
    assert!(!lock.is_locked());
    assert!(lock.try_lock().is_some());
}
