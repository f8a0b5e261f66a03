//! `aio::sync::Queue`: bounded producer/consumer, the `*_nowait` errors,
//! `task_done` / `join`, first-come-first-served waiters, and cancellation
//! that loses no item and leaves no slot reserved.
//!
//! Ordering comes from the loop itself: a task spawned (or woken) before
//! the main future yields runs before the main future resumes, so
//! `settle()` below is "let every ready task run", not a sleep.

mod support;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use aio::sync::{Queue, QueueEmpty, TaskDoneError};
use aio::Task;
use proptest::prelude::*;
use support::{settle, within};

/// A task that gets one item from `queue` and records it in `got`.
fn getter(queue: &Queue<u32>, got: &Rc<RefCell<Vec<u32>>>) -> Task<u32> {
    let (queue, got) = (queue.clone(), got.clone());
    aio::spawn(async move {
        let item = queue.get().await;
        got.borrow_mut().push(item);
        item
    })
}

/// A task that puts `item` into `queue` and records it in `put` once done.
fn putter(queue: &Queue<u32>, item: u32, put: &Rc<RefCell<Vec<u32>>>) -> Task<()> {
    let (queue, put) = (queue.clone(), put.clone());
    aio::spawn(async move {
        queue.put(item).await;
        put.borrow_mut().push(item);
    })
}

// ------------------------------------------------------ producer/consumer

#[aio::test]
async fn put_waits_while_a_bounded_queue_is_full() {
    let queue = Queue::new(2);
    queue.put(1).await;
    queue.put(2).await;
    assert!(queue.is_full());
    let put = Rc::new(RefCell::new(Vec::new()));
    let third = putter(&queue, 3, &put);
    settle().await;
    assert!(
        put.borrow().is_empty(),
        "put must wait while the queue is full"
    );
    assert_eq!(queue.qsize(), 2);

    assert_eq!(within(queue.get()).await, 1);
    within(third).await.unwrap();
    assert_eq!(*put.borrow(), [3]);
    assert_eq!(queue.get_nowait(), Ok(2));
    assert_eq!(queue.get_nowait(), Ok(3));
}

#[aio::test]
async fn producer_and_consumer_pass_every_item_in_order_within_maxsize() {
    const N: u32 = 200;
    let queue = Queue::new(3);
    // Items put and not yet got, seen from both sides: never above maxsize.
    let in_flight = Rc::new(Cell::new(0usize));
    let producer = {
        let (queue, in_flight) = (queue.clone(), in_flight.clone());
        aio::spawn(async move {
            for n in 0..N {
                queue.put(n).await;
                in_flight.set(in_flight.get() + 1);
                assert!(
                    in_flight.get() <= 3,
                    "{} items in a queue of 3",
                    in_flight.get()
                );
                assert!(queue.qsize() <= queue.maxsize());
            }
        })
    };
    let consumer = {
        let (queue, in_flight) = (queue.clone(), in_flight.clone());
        aio::spawn(async move {
            let mut got = Vec::new();
            while got.len() < N as usize {
                got.push(queue.get().await);
                in_flight.set(in_flight.get() - 1);
                // A slow consumer every few items, so the producer fills up.
                if got.len() % 7 == 0 {
                    for _ in 0..5 {
                        aio::yield_now().await;
                    }
                }
            }
            got
        })
    };
    within(producer).await.unwrap();
    assert_eq!(within(consumer).await.unwrap(), (0..N).collect::<Vec<_>>());
    assert!(queue.is_empty());
}

#[aio::test]
async fn many_producers_and_consumers_lose_and_duplicate_nothing() {
    let queue = Queue::new(2);
    let got = Rc::new(RefCell::new(Vec::new()));
    let put = Rc::new(RefCell::new(Vec::new()));
    let consumers: Vec<_> = (0..5)
        .map(|_| {
            let (queue, got) = (queue.clone(), got.clone());
            aio::spawn(async move {
                for _ in 0..20 {
                    let item = queue.get().await;
                    got.borrow_mut().push(item);
                    aio::yield_now().await;
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let (queue, put) = (queue.clone(), put.clone());
            aio::spawn(async move {
                for i in 0..25 {
                    queue.put(p * 100 + i).await;
                    put.borrow_mut().push(p * 100 + i);
                }
            })
        })
        .collect();
    for task in producers {
        within(task).await.unwrap();
    }
    for task in consumers {
        within(task).await.unwrap();
    }
    let (mut got, mut put) = (got.take(), put.take());
    got.sort_unstable();
    put.sort_unstable();
    assert_eq!(got.len(), 100);
    assert_eq!(got, put);
}

// ------------------------------------------------------------- nowait

#[test]
fn put_nowait_on_a_full_queue_gives_the_item_back() {
    let queue = Queue::new(1);
    assert_eq!(queue.maxsize(), 1);
    queue.put_nowait(String::from("first")).unwrap();
    let err = queue.put_nowait(String::from("second")).unwrap_err();
    assert_eq!(err.to_string(), "queue is full");
    assert_eq!(err.into_inner(), "second");
    assert_eq!(queue.len(), 1);
    assert_eq!(queue.get_nowait().as_deref(), Ok("first"));
}

#[test]
fn get_nowait_on_an_empty_queue_is_queue_empty() {
    let queue = Queue::<u8>::new(4);
    assert!(queue.is_empty());
    assert_eq!(queue.get_nowait(), Err(QueueEmpty));
    assert_eq!(QueueEmpty.to_string(), "queue is empty");
}

#[test]
fn an_unbounded_queue_is_never_full() {
    let queue = Queue::unbounded();
    for i in 0..10_000 {
        queue.put_nowait(i).unwrap();
    }
    assert!(!queue.is_full());
    assert_eq!(queue.qsize(), 10_000);
    assert_eq!(queue.maxsize(), 0);
}

// --------------------------------------------------------- task_done/join

#[aio::test]
async fn join_waits_until_every_item_is_marked_done() {
    let queue = Queue::unbounded();
    for i in 0..3 {
        queue.put(i).await;
    }
    let joined = Rc::new(Cell::new(false));
    let joiner = {
        let (queue, joined) = (queue.clone(), joined.clone());
        aio::spawn(async move {
            queue.join().await;
            joined.set(true);
        })
    };
    for _ in 0..3 {
        within(queue.get()).await;
    }
    settle().await;
    assert!(!joined.get(), "every item got, none done yet");
    queue.task_done().unwrap();
    queue.task_done().unwrap();
    settle().await;
    assert!(!joined.get(), "one item still not done");
    queue.task_done().unwrap();
    within(joiner).await.unwrap();
    assert!(joined.get());
}

#[aio::test]
async fn join_returns_at_once_when_nothing_is_pending() {
    let queue = Queue::<u8>::new(1);
    queue.join().await;
    queue.put_nowait(1).unwrap();
    queue.get_nowait().unwrap();
    queue.task_done().unwrap();
    queue.join().await;
}

#[test]
fn task_done_more_often_than_put_is_an_error() {
    let queue = Queue::new(0);
    assert_eq!(queue.task_done(), Err(TaskDoneError));
    queue.put_nowait(()).unwrap();
    assert_eq!(queue.task_done(), Ok(()));
    let err = queue.task_done().unwrap_err();
    assert_eq!(err.to_string(), "task_done() called too many times");
}

// ------------------------------------------------------------ fairness

#[aio::test]
async fn getters_are_served_in_arrival_order() {
    let queue = Queue::unbounded();
    let got = Rc::new(RefCell::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        tasks.push(getter(&queue, &got));
        settle().await; // this one waits before the next arrives
    }
    for item in [10, 20, 30, 40] {
        queue.put_nowait(item).unwrap();
    }
    let results: Vec<_> = {
        let mut out = Vec::new();
        for task in tasks {
            out.push(within(task).await.unwrap());
        }
        out
    };
    assert_eq!(
        results,
        [10, 20, 30, 40],
        "the first getter gets the first item"
    );
}

#[aio::test]
async fn putters_are_served_in_arrival_order() {
    let queue = Queue::new(1);
    queue.put_nowait(0).unwrap();
    let put = Rc::new(RefCell::new(Vec::new()));
    let mut tasks = Vec::new();
    for item in 1..=3 {
        tasks.push(putter(&queue, item, &put));
        settle().await;
    }
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(within(queue.get()).await);
    }
    assert_eq!(got, [0, 1, 2, 3]);
    assert_eq!(*put.borrow(), [1, 2, 3]);
}

#[aio::test]
async fn put_nowait_cannot_take_a_slot_promised_to_a_waiting_put() {
    let queue = Queue::new(1);
    queue.put_nowait(1).unwrap();
    let put = Rc::new(RefCell::new(Vec::new()));
    let waiting = putter(&queue, 2, &put);
    settle().await;
    // Frees the slot and promises it to the waiting put, which has not run.
    assert_eq!(queue.get_nowait(), Ok(1));
    assert!(queue.is_full());
    assert_eq!(queue.put_nowait(3).unwrap_err().into_inner(), 3);
    within(waiting).await.unwrap();
    assert_eq!(queue.get_nowait(), Ok(2));
}

#[aio::test]
async fn get_nowait_cannot_take_an_item_handed_to_a_waiting_get() {
    let queue = Queue::unbounded();
    let got = Rc::new(RefCell::new(Vec::new()));
    let waiting = getter(&queue, &got);
    settle().await;
    queue.put_nowait(7).unwrap();
    assert_eq!(queue.get_nowait(), Err(QueueEmpty), "7 is the waiter's");
    assert!(queue.is_empty());
    assert_eq!(within(waiting).await, Ok(7));
}

// --------------------------------------------------------- cancellation

#[aio::test]
async fn a_cancelled_getter_that_was_handed_an_item_passes_it_to_the_next_getter() {
    let queue = Queue::unbounded();
    let got = Rc::new(RefCell::new(Vec::new()));
    let first = getter(&queue, &got);
    settle().await;
    let second = getter(&queue, &got);
    settle().await;
    // The item goes to `first`, which is woken but cancelled before it
    // runs again: the loop drops its future without polling it.
    queue.put_nowait(42).unwrap();
    first.cancel();
    assert!(within(first).await.unwrap_err().is_cancelled());
    assert_eq!(within(second).await, Ok(42));
    assert_eq!(*got.borrow(), [42]);
}

#[aio::test]
async fn a_cancelled_getter_that_was_handed_an_item_puts_it_back_at_the_front() {
    let queue = Queue::new(2);
    let got = Rc::new(RefCell::new(Vec::new()));
    let cancelled = getter(&queue, &got);
    settle().await;
    queue.put_nowait(1).unwrap(); // handed to the getter
    queue.put_nowait(2).unwrap(); // queued
    assert!(
        queue.is_full(),
        "the handed item still counts toward maxsize"
    );
    cancelled.cancel();
    assert!(within(cancelled).await.unwrap_err().is_cancelled());
    assert_eq!(queue.qsize(), 2);
    assert_eq!(queue.get_nowait(), Ok(1), "the oldest item first");
    assert_eq!(queue.get_nowait(), Ok(2));
    assert!(got.borrow().is_empty());
}

/// The same, with the future dropped by hand right after the hand-off: no
/// loop step in between, so nothing but `Drop` can save the item.
#[test]
fn a_get_future_dropped_after_being_handed_an_item_loses_nothing() {
    let queue = Queue::new(1);
    let mut cx = Context::from_waker(Waker::noop());
    {
        let mut get = pin!(queue.get());
        assert!(get.as_mut().poll(&mut cx).is_pending());
        queue.put_nowait("item").unwrap();
        assert!(queue.is_full());
    }
    assert_eq!(queue.get_nowait(), Ok("item"));
    assert!(!queue.is_full());
}

#[aio::test]
async fn a_cancelled_putter_that_was_promised_a_slot_passes_it_on() {
    let queue = Queue::new(1);
    queue.put_nowait(1).unwrap();
    let put = Rc::new(RefCell::new(Vec::new()));
    let cancelled = putter(&queue, 2, &put);
    settle().await;
    let next = putter(&queue, 3, &put);
    settle().await;
    assert_eq!(queue.get_nowait(), Ok(1)); // the slot is promised to `cancelled`
    cancelled.cancel();
    assert!(within(cancelled).await.unwrap_err().is_cancelled());
    within(next).await.unwrap();
    assert_eq!(*put.borrow(), [3], "the cancelled put did not happen");
    assert_eq!(queue.get_nowait(), Ok(3));
    assert!(queue.is_empty());
}

#[aio::test]
async fn a_cancelled_putter_that_was_promised_a_slot_frees_it_when_nobody_waits() {
    let queue = Queue::new(1);
    queue.put_nowait(1).unwrap();
    let put = Rc::new(RefCell::new(Vec::new()));
    let cancelled = putter(&queue, 2, &put);
    settle().await;
    assert_eq!(queue.get_nowait(), Ok(1));
    assert!(queue.is_full(), "the slot is promised");
    cancelled.cancel();
    assert!(within(cancelled).await.unwrap_err().is_cancelled());
    assert!(!queue.is_full(), "no slot stays reserved");
    queue.put_nowait(4).unwrap();
    assert_eq!(queue.get_nowait(), Ok(4));
}

#[aio::test]
async fn a_timed_out_put_leaves_no_slot_reserved() {
    let queue = Queue::new(1);
    queue.put_nowait(1).unwrap();
    let timed_out = aio::timeout(Duration::from_millis(5), queue.put(2)).await;
    assert!(timed_out.is_err());
    assert_eq!(queue.get_nowait(), Ok(1));
    queue.put_nowait(3).unwrap();
    assert_eq!(queue.get_nowait(), Ok(3), "2 was never put");
    assert_eq!(queue.get_nowait(), Err(QueueEmpty));
}

#[aio::test]
async fn a_timed_out_get_leaves_the_line() {
    let queue = Queue::unbounded();
    let timed_out = aio::timeout(Duration::from_millis(5), queue.get()).await;
    assert!(timed_out.is_err());
    // Were the dead getter still in line, it would be handed this item.
    queue.put_nowait(9).unwrap();
    assert_eq!(queue.get_nowait(), Ok(9));
}

// ------------------------------------------------------------ re-entrancy

thread_local! {
    /// The queue a [`Reenter`] waker inspects when woken.
    static WATCHED: RefCell<Option<Queue<u32>>> = const { RefCell::new(None) };
}

/// A waker that uses the queue as it is woken, as a waker that ran code
/// synchronously would: it panics if the queue is still borrowed then.
struct Reenter(AtomicUsize);

impl Wake for Reenter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
        WATCHED.with(|q| {
            if let Some(q) = &*q.borrow() {
                let _ = (q.qsize(), q.is_full(), format!("{q:?}"));
            }
        });
    }
}

#[test]
fn wakers_are_woken_after_the_queue_is_released() {
    let queue = Queue::new(1);
    WATCHED.with(|w| *w.borrow_mut() = Some(queue.clone()));
    let reenter = Arc::new(Reenter(AtomicUsize::new(0)));
    let waker = Waker::from(reenter.clone());
    let mut cx = Context::from_waker(&waker);

    // A getter woken by put_nowait, then by a cancelled getter's hand-on.
    let mut first = Box::pin(queue.get());
    let mut second = Box::pin(queue.get());
    assert!(first.as_mut().poll(&mut cx).is_pending());
    assert!(second.as_mut().poll(&mut cx).is_pending());
    queue.put_nowait(1).unwrap();
    drop(first);
    assert_eq!(second.as_mut().poll(&mut cx), Poll::Ready(1));

    // A putter woken by get_nowait, and by a cancelled putter's hand-on.
    queue.put_nowait(2).unwrap();
    let mut third = Box::pin(queue.put(3));
    let mut fourth = Box::pin(queue.put(4));
    assert!(third.as_mut().poll(&mut cx).is_pending());
    assert!(fourth.as_mut().poll(&mut cx).is_pending());
    assert_eq!(queue.get_nowait(), Ok(2));
    drop(third);
    assert!(fourth.as_mut().poll(&mut cx).is_ready());
    assert_eq!(queue.get_nowait(), Ok(4));

    // A joiner woken by task_done.
    let mut join = Box::pin(queue.join());
    assert!(join.as_mut().poll(&mut cx).is_pending());
    for _ in 0..3 {
        queue.task_done().unwrap();
    }
    assert!(join.as_mut().poll(&mut cx).is_ready());

    assert_eq!(reenter.0.load(Ordering::Relaxed), 5);
    WATCHED.with(|w| w.borrow_mut().take());
}

// ------------------------------------------------------------ model test

#[derive(Debug, Clone)]
enum Op {
    PutNowait,
    GetNowait,
    SpawnGet,
    SpawnPut,
    /// Cancel the waiting task at this index (modulo their number).
    Cancel(usize),
    Yield,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::PutNowait),
        Just(Op::GetNowait),
        Just(Op::SpawnGet),
        Just(Op::SpawnPut),
        any::<usize>().prop_map(Op::Cancel),
        Just(Op::Yield),
    ]
}

/// Runs `ops` against a queue with real tasks; returns what went wrong.
async fn run_ops(maxsize: usize, ops: Vec<Op>) -> Result<(), String> {
    let queue = Queue::new(maxsize);
    let put = Rc::new(RefCell::new(Vec::new()));
    let got = Rc::new(RefCell::new(Vec::new()));
    let mut next = 0u32;
    let mut getters: Vec<Task<u32>> = Vec::new();
    let mut putters: Vec<Task<()>> = Vec::new();
    for op in ops {
        match op {
            Op::PutNowait => {
                next += 1;
                if queue.put_nowait(next).is_ok() {
                    put.borrow_mut().push(next);
                }
            }
            Op::GetNowait => {
                if let Ok(item) = queue.get_nowait() {
                    got.borrow_mut().push(item);
                }
            }
            Op::SpawnGet => getters.push(getter(&queue, &got)),
            Op::SpawnPut => {
                next += 1;
                putters.push(putter(&queue, next, &put));
            }
            Op::Cancel(i) => {
                let n = getters.len() + putters.len();
                if n > 0 {
                    let i = i % n;
                    if i < getters.len() {
                        getters.remove(i).cancel();
                    } else {
                        putters.remove(i - getters.len()).cancel();
                    }
                }
            }
            Op::Yield => aio::yield_now().await,
        }
        // Put and not yet got: stored, or handed to a getter not yet run.
        let held = put.borrow().len() - got.borrow().len();
        if held > maxsize {
            return Err(format!("{held} items held by a queue of {maxsize}"));
        }
    }
    settle().await;
    // Nobody may be left waiting for what is there.
    if queue.qsize() > 0 && getters.iter().any(|t| !t.is_finished()) {
        return Err(format!("a getter waits beside {} items", queue.qsize()));
    }
    if !queue.is_full() && putters.iter().any(|t| !t.is_finished()) {
        return Err("a putter waits while there is room".into());
    }
    for task in &getters {
        task.cancel();
    }
    for task in &putters {
        task.cancel();
    }
    settle().await;
    while let Ok(item) = queue.get_nowait() {
        got.borrow_mut().push(item);
    }
    let (mut got, mut put) = (got.take(), put.take());
    got.sort_unstable();
    put.sort_unstable();
    if got != put {
        return Err(format!("put {put:?} but got {got:?}"));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Random puts, gets and cancellations of waiting tasks: every item
    /// put is got exactly once, the bound holds at every step, and no
    /// waiter is left waiting for something that is there.
    #[test]
    fn random_operations_lose_nothing_and_respect_maxsize(
        maxsize in 1usize..4,
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let outcome = aio::run(run_ops(maxsize, ops));
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }
}

// ------------------------------------------------- LIFO and priority order

#[aio::test]
async fn a_lifo_queue_hands_out_the_newest_item_first() {
    let queue = Queue::new_lifo(3);
    for x in [1, 2, 3] {
        queue.put(x).await;
    }
    assert!(queue.is_full());
    let got = Rc::new(RefCell::new(Vec::new()));
    for _ in 0..3 {
        within(getter(&queue, &got)).await.unwrap();
    }
    assert_eq!(*got.borrow(), [3, 2, 1]);
}

#[aio::test]
async fn a_priority_queue_hands_out_the_smallest_item_first() {
    let queue = Queue::new_priority(0);
    for x in [5, 1, 4, 2, 3] {
        queue.put_nowait(x).unwrap();
    }
    let got = Rc::new(RefCell::new(Vec::new()));
    for _ in 0..5 {
        within(getter(&queue, &got)).await.unwrap();
    }
    assert_eq!(*got.borrow(), [1, 2, 3, 4, 5]);
}

#[aio::test]
async fn an_item_put_while_a_get_waits_goes_to_it_whatever_the_order() {
    for queue in [Queue::new_lifo(0), Queue::new_priority(0)] {
        let got = Rc::new(RefCell::new(Vec::new()));
        let waiting = getter(&queue, &got);
        settle().await;
        queue.put_nowait(9).unwrap();
        queue.put_nowait(1).unwrap();
        assert_eq!(within(waiting).await, Ok(9), "the waiter had asked first");
        assert_eq!(queue.get_nowait(), Ok(1));
    }
}

#[aio::test]
async fn an_item_a_cancelled_get_was_handed_goes_back_as_the_oldest() {
    // Both items arrive while the getter waits, so 7 is the older: it comes
    // out last from a LIFO queue, and by value (first) from a priority one.
    for (queue, order) in [
        (Queue::new_lifo(0), [5, 7]),
        (Queue::new_priority(0), [5, 7]),
    ] {
        let got = Rc::new(RefCell::new(Vec::new()));
        let cancelled = getter(&queue, &got);
        settle().await;
        queue.put_nowait(7).unwrap(); // handed to the getter
        queue.put_nowait(5).unwrap();
        cancelled.cancel();
        assert!(within(cancelled).await.unwrap_err().is_cancelled());
        assert_eq!([queue.get_nowait(), queue.get_nowait()], order.map(Ok));
        assert!(got.borrow().is_empty());
    }
}
