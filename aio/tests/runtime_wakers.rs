//! Task wakers: a burst of wakes queues a task once, from the loop's own
//! thread and from another, and a wake that comes in while the task is
//! being polled is not lost. The two paths keep separate flags (see
//! `runtime::waker`), so each is tested on its own.
//!
//! Each test counts the polls of a task that never finishes: a finished
//! task ignores late wakes, so it could not show a duplicate.

use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::mpsc;
use std::task::{Poll, Waker};

/// A task that counts its polls and hands out its waker on the first.
fn counting_task(polls: Rc<Cell<u32>>, waker_out: mpsc::Sender<Waker>) -> aio::Task<()> {
    aio::spawn(poll_fn(move |cx| {
        polls.set(polls.get() + 1);
        if polls.get() == 1 {
            waker_out.send(cx.waker().clone()).unwrap();
        }
        Poll::<()>::Pending
    }))
}

/// Enough loop steps for every queued task to have been polled (and for
/// a cross-thread wake-up to have been drained): each step polls what was
/// queued before it began.
async fn let_the_loop_run() {
    for _ in 0..4 {
        aio::yield_now().await;
    }
}

/// A counting task, its poll count and its waker, once it has been polled
/// and waits.
async fn polled_once() -> (aio::Task<()>, Rc<Cell<u32>>, Waker) {
    let polls = Rc::new(Cell::new(0));
    let (tx, rx) = mpsc::channel();
    let task = counting_task(polls.clone(), tx);
    let_the_loop_run().await;
    let waker = rx.try_recv().expect("the task's first poll sent its waker");
    (task, polls, waker)
}

#[aio::test]
async fn a_thousand_wakes_on_the_loop_thread_poll_the_task_once() {
    let (task, polls, waker) = polled_once().await;

    for _ in 0..1000 {
        waker.wake_by_ref();
    }
    let_the_loop_run().await;
    assert_eq!(polls.get(), 2);

    // And once polled, the next wake queues it again.
    waker.wake_by_ref();
    let_the_loop_run().await;
    assert_eq!(polls.get(), 3);
    task.cancel();
}

#[aio::test]
async fn a_thousand_wakes_from_another_thread_poll_the_task_once() {
    let (task, polls, waker) = polled_once().await;

    // The loop thread blocks in `join` while the other thread wakes, so
    // every wake lands before the loop drains a single one.
    let w = waker.clone();
    std::thread::spawn(move || {
        for _ in 0..1000 {
            w.wake_by_ref();
        }
    })
    .join()
    .unwrap();
    // The loop's eventfd was written: its next `epoll_wait` returns at
    // once, so these steps drain the queue and poll the task.
    let_the_loop_run().await;
    assert_eq!(polls.get(), 2);

    // Drained, the task's flag is clear: another wake from that thread
    // queues it again.
    let w = waker.clone();
    std::thread::spawn(move || w.wake()).join().unwrap();
    let_the_loop_run().await;
    assert_eq!(polls.get(), 3);
    task.cancel();
}

#[test]
fn a_wake_from_another_thread_after_the_loop_ended_is_dropped() {
    let (tx, rx) = mpsc::channel();
    aio::run(async move {
        let task = counting_task(Rc::new(Cell::new(0)), tx);
        let_the_loop_run().await;
        task.cancel();
    });
    let waker = rx.try_recv().expect("the task's first poll sent its waker");
    // Nothing drains the loop's queue any more: the wake must neither
    // panic nor block.
    std::thread::spawn(move || waker.wake()).join().unwrap();
}
