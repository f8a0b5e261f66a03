//! `aio::sync::Semaphore`: permits taken and given back through RAII,
//! first-come-first-served waiters that `try_acquire` cannot overtake, and
//! cancellation that never loses a permit.
//!
//! `settle()` (in `support`) lets every ready task run; no test
//! sleeps for ordering.

mod support;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use aio::sync::{Event, Semaphore};
use aio::Task;
use proptest::prelude::*;
use support::{settle, within};

/// A task that acquires a permit, records `id` in `order`, and holds the
/// permit until `release` is set.
fn holder(
    sem: &Rc<Semaphore>,
    id: u32,
    order: &Rc<RefCell<Vec<u32>>>,
    release: &Event,
) -> Task<()> {
    let (sem, order, release) = (sem.clone(), order.clone(), release.clone());
    aio::spawn(async move {
        let _permit = sem.acquire().await;
        order.borrow_mut().push(id);
        release.wait().await;
    })
}

#[aio::test]
async fn acquire_waits_until_a_permit_is_released() {
    let sem = Rc::new(Semaphore::new(1));
    let held = sem.acquire().await;
    assert_eq!(sem.available_permits(), 0);
    let order = Rc::new(RefCell::new(Vec::new()));
    let release = Event::new();
    let waiter = holder(&sem, 1, &order, &release);
    settle().await;
    assert!(order.borrow().is_empty(), "no permit left");
    drop(held);
    settle().await;
    assert_eq!(*order.borrow(), [1]);
    assert_eq!(sem.available_permits(), 0, "the waiter holds it");
    release.set();
    within(waiter).await.unwrap();
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn try_acquire_takes_free_permits_only() {
    let sem = Semaphore::new(2);
    let a = sem.try_acquire().unwrap();
    let b = sem.try_acquire().unwrap();
    assert!(sem.try_acquire().is_none());
    assert_eq!(sem.available_permits(), 0);
    drop(a);
    assert_eq!(sem.available_permits(), 1);
    drop(b);
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn a_forgotten_permit_is_gone_and_add_permits_adds() {
    let sem = Semaphore::new(1);
    sem.try_acquire().unwrap().forget();
    assert_eq!(sem.available_permits(), 0);
    sem.add_permits(3);
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn a_semaphore_of_zero_permits_waits_for_add_permits() {
    let sem = Semaphore::new(0);
    let mut cx = Context::from_waker(Waker::noop());
    let mut acquire = pin!(sem.acquire());
    assert!(acquire.as_mut().poll(&mut cx).is_pending());
    sem.add_permits(1);
    assert!(acquire.as_mut().poll(&mut cx).is_ready());
}

#[aio::test]
async fn add_permits_serves_that_many_waiters() {
    let sem = Rc::new(Semaphore::new(0));
    let order = Rc::new(RefCell::new(Vec::new()));
    let release = Event::new();
    let tasks: Vec<_> = (1..=3)
        .map(|id| holder(&sem, id, &order, &release))
        .collect();
    settle().await;
    sem.add_permits(2);
    settle().await;
    assert_eq!(order.borrow().len(), 2);
    assert_eq!(sem.available_permits(), 0);
    sem.add_permits(2);
    settle().await;
    assert_eq!(order.borrow().len(), 3);
    assert_eq!(sem.available_permits(), 1, "one more than the waiters");
    release.set();
    for task in tasks {
        within(task).await.unwrap();
    }
    assert_eq!(sem.available_permits(), 4);
}

// ------------------------------------------------------------ fairness

#[aio::test]
async fn waiters_are_served_in_arrival_order() {
    let sem = Rc::new(Semaphore::new(1));
    let held = sem.try_acquire().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    // Each releases its permit at once, so the next can go.
    let release = Event::new();
    release.set();
    let mut tasks = Vec::new();
    for id in 1..=5 {
        tasks.push(holder(&sem, id, &order, &release));
        settle().await;
    }
    drop(held);
    for task in tasks {
        within(task).await.unwrap();
    }
    assert_eq!(*order.borrow(), [1, 2, 3, 4, 5]);
}

#[aio::test]
async fn try_acquire_cannot_overtake_a_waiter() {
    let sem = Rc::new(Semaphore::new(1));
    let held = sem.try_acquire().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let release = Event::new();
    let waiter = holder(&sem, 1, &order, &release);
    settle().await;
    // The permit is handed to the waiter, which has not run yet.
    drop(held);
    assert!(sem.try_acquire().is_none(), "the waiter came first");
    assert_eq!(sem.available_permits(), 0);
    release.set();
    within(waiter).await.unwrap();
    assert_eq!(*order.borrow(), [1]);
    assert!(sem.try_acquire().is_some());
}

#[aio::test]
async fn a_new_acquire_cannot_overtake_a_waiter() {
    let sem = Rc::new(Semaphore::new(1));
    let held = sem.try_acquire().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let release = Event::new();
    release.set();
    let first = holder(&sem, 1, &order, &release);
    settle().await;
    drop(held);
    // Spawned after the release, but before `first` ran again.
    let second = holder(&sem, 2, &order, &release);
    within(first).await.unwrap();
    within(second).await.unwrap();
    assert_eq!(*order.borrow(), [1, 2]);
}

// --------------------------------------------------------- cancellation

#[aio::test]
async fn a_cancelled_acquire_that_was_handed_a_permit_passes_it_to_the_next_waiter() {
    let sem = Rc::new(Semaphore::new(1));
    let held = sem.try_acquire().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let release = Event::new();
    let first = holder(&sem, 1, &order, &release);
    settle().await;
    let second = holder(&sem, 2, &order, &release);
    settle().await;
    // The permit goes to `first`, cancelled before it runs again.
    drop(held);
    first.cancel();
    assert!(within(first).await.unwrap_err().is_cancelled());
    settle().await;
    assert_eq!(*order.borrow(), [2]);
    release.set();
    within(second).await.unwrap();
    assert_eq!(sem.available_permits(), 1, "no permit lost");
}

#[aio::test]
async fn a_cancelled_acquire_that_was_handed_a_permit_gives_it_back_when_nobody_waits() {
    let sem = Rc::new(Semaphore::new(1));
    let held = sem.try_acquire().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let release = Event::new();
    let cancelled = holder(&sem, 1, &order, &release);
    settle().await;
    drop(held);
    assert_eq!(sem.available_permits(), 0, "promised to the waiter");
    cancelled.cancel();
    assert!(within(cancelled).await.unwrap_err().is_cancelled());
    assert_eq!(sem.available_permits(), 1);
    assert!(order.borrow().is_empty());
}

/// The future dropped by hand right after the hand-off.
#[test]
fn an_acquire_future_dropped_after_being_handed_a_permit_loses_nothing() {
    let sem = Semaphore::new(1);
    let mut cx = Context::from_waker(Waker::noop());
    let held = sem.try_acquire().unwrap();
    {
        let mut acquire = pin!(sem.acquire());
        assert!(acquire.as_mut().poll(&mut cx).is_pending());
        drop(held);
        assert_eq!(sem.available_permits(), 0);
    }
    assert_eq!(sem.available_permits(), 1);
}

#[aio::test]
async fn a_timed_out_acquire_leaves_the_line() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    assert!(aio::timeout(Duration::from_millis(5), sem.acquire())
        .await
        .is_err());
    drop(held);
    // Were the dead waiter still in line, the permit would be handed to it.
    assert_eq!(sem.available_permits(), 1);
    assert!(sem.try_acquire().is_some());
}

#[test]
fn wakers_are_woken_after_the_semaphore_is_released() {
    thread_local! {
        static WATCHED: RefCell<Option<Rc<Semaphore>>> = const { RefCell::new(None) };
    }
    struct Reenter(AtomicUsize);
    impl Wake for Reenter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
            WATCHED.with(|s| {
                if let Some(s) = &*s.borrow() {
                    let _ = (s.available_permits(), format!("{s:?}"));
                }
            });
        }
    }
    let sem = Rc::new(Semaphore::new(1));
    WATCHED.with(|w| *w.borrow_mut() = Some(sem.clone()));
    let reenter = Arc::new(Reenter(AtomicUsize::new(0)));
    let waker = Waker::from(reenter.clone());
    let mut cx = Context::from_waker(&waker);

    let held = sem.try_acquire().unwrap();
    let mut first = Box::pin(sem.acquire());
    let mut second = Box::pin(sem.acquire());
    let mut third = Box::pin(sem.acquire());
    for f in [&mut first, &mut second, &mut third] {
        assert!(f.as_mut().poll(&mut cx).is_pending());
    }
    drop(held); // wakes `first` (a permit's drop)
    drop(first); // hands its permit on to `second`
    let permit = match second.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(p) => p,
        std::task::Poll::Pending => panic!("second was handed the permit"),
    };
    sem.add_permits(1); // wakes `third` (add_permits)
    assert!(third.as_mut().poll(&mut cx).is_ready());
    drop(permit);
    assert_eq!(reenter.0.load(Ordering::Relaxed), 3);
    WATCHED.with(|w| w.borrow_mut().take());
}

// ------------------------------------------------------------ model test

#[derive(Debug, Clone)]
enum Op {
    TryAcquire,
    /// Drop the permit held by the main future at this index.
    DropHeld(usize),
    SpawnAcquire,
    /// Cancel the spawned task at this index.
    Cancel(usize),
    AddPermit,
    Yield,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::TryAcquire),
        any::<usize>().prop_map(Op::DropHeld),
        Just(Op::SpawnAcquire),
        any::<usize>().prop_map(Op::Cancel),
        Just(Op::AddPermit),
        Just(Op::Yield),
    ]
}

/// Counts a task as holding its permit until it finishes or is cancelled
/// (dropped), like the permit itself.
struct Inside(Rc<Cell<usize>>);

impl Inside {
    fn enter(count: Rc<Cell<usize>>) -> Self {
        count.set(count.get() + 1);
        Inside(count)
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Runs `ops` with real tasks that each hold a permit for one loop step.
async fn run_ops(permits: usize, ops: Vec<Op>) -> Result<(), String> {
    let sem = Rc::new(Semaphore::new(permits));
    let mut total = permits;
    let inside = Rc::new(Cell::new(0usize));
    let mut held = Vec::new();
    let mut tasks: Vec<Task<()>> = Vec::new();
    for op in ops {
        match op {
            Op::TryAcquire => held.extend(sem.try_acquire()),
            Op::DropHeld(i) if !held.is_empty() => drop(held.remove(i % held.len())),
            Op::DropHeld(_) => {}
            Op::SpawnAcquire => {
                let (sem, inside) = (sem.clone(), inside.clone());
                tasks.push(aio::spawn(async move {
                    let _permit = sem.acquire().await;
                    let _inside = Inside::enter(inside);
                    aio::yield_now().await;
                }));
            }
            Op::Cancel(i) if !tasks.is_empty() => tasks.remove(i % tasks.len()).cancel(),
            Op::Cancel(_) => {}
            Op::AddPermit => {
                sem.add_permits(1);
                total += 1;
            }
            Op::Yield => aio::yield_now().await,
        }
        let in_use = held.len() + inside.get() + sem.available_permits();
        if in_use > total {
            return Err(format!("{in_use} permits in use or free out of {total}"));
        }
    }
    held.clear();
    if total == 0 {
        sem.add_permits(1); // or waiting is right
        total = 1;
    }
    // Each task holds its permit for one step, so the line drains in at
    // most a few steps per task.
    for _ in 0..4 * tasks.len() + 8 {
        aio::yield_now().await;
    }
    if let Some(t) = tasks.iter().find(|t| !t.is_finished()) {
        return Err(format!("{t:?} still waits with every permit given back"));
    }
    if sem.available_permits() != total {
        return Err(format!(
            "{} of {total} permits came back",
            sem.available_permits()
        ));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Random acquires, releases and cancellations: at no step are more
    /// permits out than exist, and once everything is released every
    /// waiter has run and every permit is back.
    #[test]
    fn random_operations_lose_no_permit(
        permits in 0usize..3,
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let outcome = aio::run(run_ops(permits, ops));
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }
}

#[test]
fn owned_permits_move_into_tasks_and_bound_how_many_run_at_once() {
    aio::run(async {
        let limit = Rc::new(Semaphore::new(2));
        let inside = Rc::new(Cell::new(0usize));
        let most = Rc::new(Cell::new(0usize));
        let mut tasks = Vec::new();
        for _ in 0..6 {
            // As a server does: take the permit, then hand it to the task.
            let permit = within(limit.clone().acquire_owned()).await;
            let (inside, most) = (inside.clone(), most.clone());
            tasks.push(aio::spawn(async move {
                let _permit = permit;
                inside.set(inside.get() + 1);
                most.set(most.get().max(inside.get()));
                settle().await;
                inside.set(inside.get() - 1);
            }));
        }
        for task in tasks {
            within(task).await.expect("task");
        }
        assert_eq!(most.get(), 2);
        assert_eq!(limit.available_permits(), 2);

        let held = limit.clone().try_acquire_owned().expect("a free permit");
        let _other = limit.clone().try_acquire_owned().expect("a second one");
        assert!(limit.clone().try_acquire_owned().is_none());
        assert!(Rc::ptr_eq(held.semaphore(), &limit));
        held.forget();
        assert_eq!(limit.available_permits(), 0);
    });
    // `forget` gave up the permit, not the semaphore: no `Rc` is leaked.
}

#[test]
fn a_cancelled_acquire_owned_leaves_the_line() {
    aio::run(async {
        let sem = Rc::new(Semaphore::new(0));
        let timed_out = aio::timeout(Duration::from_millis(5), sem.clone().acquire_owned()).await;
        assert!(timed_out.is_err());
        sem.add_permits(1);
        assert_eq!(sem.available_permits(), 1, "the cancelled waiter took it");
        assert_eq!(
            Rc::strong_count(&sem),
            1,
            "the cancelled waiter kept its Rc"
        );
    });
}
