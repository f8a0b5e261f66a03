//! `aio::sync::Condition`: `wait` gives the lock up and takes it back,
//! `notify(n)` wakes the `n` oldest waiters, `wait_for` re-checks its
//! predicate, and cancellation neither leaves a waiter in the line nor
//! loses a notification.
//!
//! As in the queue tests, `settle()` lets every ready task run; it is not a
//! sleep.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use aio::sync::{Condition, Lock};
use aio::Task;
use support::{settle, within};

/// A task that waits once on `cond` and records `id` when woken.
fn waiter(cond: &Rc<Condition<u32>>, id: u32, woken: &Rc<RefCell<Vec<u32>>>) -> Task<()> {
    let (cond, woken) = (cond.clone(), woken.clone());
    aio::spawn(async move {
        let guard = cond.lock().await;
        let _guard = cond.wait(guard).await;
        woken.borrow_mut().push(id);
    })
}

/// A condition with two waiters in line, `first` (id 1) then `second`
/// (id 2), and where they record being woken.
async fn two_waiters() -> (
    Rc<Condition<u32>>,
    Rc<RefCell<Vec<u32>>>,
    Task<()>,
    Task<()>,
) {
    let cond = Rc::new(Condition::new(0));
    let woken = Rc::new(RefCell::new(Vec::new()));
    let first = waiter(&cond, 1, &woken);
    settle().await;
    let second = waiter(&cond, 2, &woken);
    settle().await;
    (cond, woken, first, second)
}

#[aio::test]
async fn wait_releases_the_lock_and_has_it_again_when_it_returns() {
    let cond = Rc::new(Condition::new(0));
    let woken = Rc::new(RefCell::new(Vec::new()));
    let task = waiter(&cond, 1, &woken);
    settle().await;
    assert!(!cond.is_locked(), "the waiter gave the lock up");
    let guard = cond.lock().await;
    cond.notify(1);
    settle().await;
    assert!(woken.borrow().is_empty(), "notified, but the lock is ours");
    drop(guard);
    within(task).await.unwrap();
    assert_eq!(*woken.borrow(), [1]);
    assert!(!cond.is_locked());
}

#[aio::test]
async fn notify_wakes_the_oldest_waiters_and_notify_all_the_rest() {
    let cond = Rc::new(Condition::new(0));
    let woken = Rc::new(RefCell::new(Vec::new()));
    let mut tasks = Vec::new();
    for id in 0..5 {
        tasks.push(waiter(&cond, id, &woken));
        settle().await;
    }
    cond.notify(2);
    settle().await;
    assert_eq!(*woken.borrow(), [0, 1]);
    cond.notify(0);
    settle().await;
    assert_eq!(woken.borrow().len(), 2, "notify(0) wakes nobody");
    cond.notify_all();
    for task in tasks {
        within(task).await.unwrap();
    }
    assert_eq!(*woken.borrow(), [0, 1, 2, 3, 4]);
    cond.notify(3); // nobody waits: nothing happens
    assert!(format!("{cond:?}").contains("waiting: 0"), "{cond:?}");
}

#[aio::test]
async fn wait_for_returns_once_the_predicate_holds() {
    let cond = Rc::new(Condition::new(0u32));
    let consumer = {
        let cond = cond.clone();
        aio::spawn(async move {
            let guard = cond.lock().await;
            let guard = cond.wait_for(guard, |n| *n >= 3).await;
            *guard
        })
    };
    for _ in 0..3 {
        settle().await;
        *cond.lock().await += 1;
        cond.notify_all();
    }
    assert_eq!(within(consumer).await, Ok(3));
    // Already true: no wait at all.
    let guard = cond.lock().await;
    assert_eq!(*cond.wait_for(guard, |n| *n == 3).await, 3);
}

#[aio::test]
async fn a_cancelled_waiter_leaves_the_line() {
    let (cond, woken, first, second) = two_waiters().await;
    first.cancel();
    assert!(within(first).await.unwrap_err().is_cancelled());
    cond.notify(1);
    within(second).await.unwrap();
    assert_eq!(*woken.borrow(), [2]);
}

#[aio::test]
async fn a_waiter_cancelled_after_it_was_notified_passes_the_notification_on() {
    let (cond, woken, first, second) = two_waiters().await;
    cond.notify(1);
    first.cancel(); // dropped before it runs again
    assert!(within(first).await.unwrap_err().is_cancelled());
    within(second).await.unwrap();
    assert_eq!(*woken.borrow(), [2]);
}

#[aio::test]
async fn a_waiter_cancelled_while_taking_the_lock_back_passes_the_notification_on() {
    let (cond, woken, first, second) = two_waiters().await;
    let guard = cond.lock().await;
    cond.notify(1);
    settle().await; // `first` is notified and now waits for the lock
    first.cancel();
    assert!(within(first).await.unwrap_err().is_cancelled());
    drop(guard);
    within(second).await.unwrap();
    assert_eq!(*woken.borrow(), [2]);
}

#[aio::test]
async fn a_timed_out_wait_gives_the_lock_back_to_nobody_and_leaves_no_waiter() {
    let cond = Condition::new(0);
    let guard = cond.lock().await;
    let timed_out = aio::timeout(Duration::ZERO, cond.wait(guard)).await;
    assert!(timed_out.is_err());
    assert!(!cond.is_locked(), "the guard went with the dropped wait");
    assert!(format!("{cond:?}").contains("waiting: 0"), "{cond:?}");
}

#[test]
#[should_panic(expected = "not of this condition's lock")]
fn waiting_with_another_locks_guard_panics() {
    aio::run(async {
        let cond = Condition::new(0);
        let other = Lock::new(0);
        let guard = other.lock().await;
        let _ = cond.wait(guard).await;
    });
}
