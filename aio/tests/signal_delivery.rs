//! `aio::signal`: deliveries reach queues, one-shot waiters and handlers on
//! the loop. Every test raises a signal of its own, because a delivery
//! reaches every loop in the process and the tests run in parallel.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use aio::signal::{self, Signal, Signals};

/// Generous: only a failure guard, never reached when the code is right.
const GUARD: Duration = Duration::from_secs(20);

#[aio::test]
async fn a_queue_gets_each_delivery_in_order() {
    let mut signals = Signals::new(&[Signal::Usr1, Signal::Hup]).unwrap();
    Signal::Usr1.raise().unwrap();
    let got = aio::timeout(GUARD, signals.recv()).await.unwrap();
    assert_eq!(got, Some(Signal::Usr1));
    Signal::Hup.raise().unwrap();
    let got = aio::timeout(GUARD, signals.recv()).await.unwrap();
    assert_eq!(got, Some(Signal::Hup));
    assert_eq!(signals.try_recv(), None);
}

#[aio::test]
async fn a_one_shot_waiter_and_a_queue_both_see_one_delivery() {
    let mut queue = Signals::new(&[Signal::Usr2]).unwrap();
    let waiter = aio::spawn(signal::recv(Signal::Usr2));
    // The waiter subscribes on its first poll; a delivery before that is
    // not for it, so raise until it has seen one (the queue paces this).
    aio::timeout(GUARD, async {
        while !waiter.is_finished() {
            Signal::Usr2.raise().unwrap();
            assert_eq!(queue.recv().await, Some(Signal::Usr2));
            aio::yield_now().await;
        }
    })
    .await
    .unwrap();
    waiter.await.unwrap().unwrap();
}

#[aio::test]
async fn a_handler_runs_on_the_loop_per_delivery_until_its_guard_drops() {
    let hits = Rc::new(Cell::new(0));
    let h = hits.clone();
    let guard = signal::add_handler(Signal::Winch, move || h.set(h.get() + 1)).unwrap();
    // A queue on the same signal tells this test when a delivery was
    // dispatched; handlers run as callbacks in the same loop step.
    let mut seen = Signals::new(&[Signal::Winch]).unwrap();
    for expected in 1..=3 {
        Signal::Winch.raise().unwrap();
        aio::timeout(GUARD, seen.recv()).await.unwrap();
        aio::yield_now().await;
        assert_eq!(hits.get(), expected);
    }
    drop(guard);
    Signal::Winch.raise().unwrap();
    aio::timeout(GUARD, seen.recv()).await.unwrap();
    aio::yield_now().await;
    assert_eq!(hits.get(), 3, "a removed handler must not run");
}

#[aio::test]
async fn a_panicking_handler_is_reported_and_the_loop_goes_on() {
    let reports = Rc::new(Cell::new(0));
    let r = reports.clone();
    aio::set_error_handler(move |_| r.set(r.get() + 1));
    let _guard = signal::add_handler(Signal::Quit, || panic!("handler failed")).unwrap();
    let mut seen = Signals::new(&[Signal::Quit]).unwrap();
    Signal::Quit.raise().unwrap();
    aio::timeout(GUARD, seen.recv()).await.unwrap();
    aio::yield_now().await;
    assert_eq!(reports.get(), 1);
}

#[test]
fn each_new_loop_on_a_thread_gets_deliveries() {
    for _ in 0..3 {
        aio::run(async {
            let mut signals = Signals::new(&[Signal::Term]).unwrap();
            Signal::Term.raise().unwrap();
            let got = aio::timeout(GUARD, signals.recv()).await.unwrap();
            assert_eq!(got, Some(Signal::Term));
        });
    }
}

#[test]
fn outside_a_loop_is_an_error_not_a_panic() {
    assert!(Signals::new(&[Signal::Int]).is_err());
}

#[aio::test]
async fn a_handler_removed_before_its_scheduled_call_does_not_run() {
    let late_ran = Rc::new(Cell::new(false));
    let l = late_ran.clone();
    let guard = signal::add_handler(Signal::Int, move || l.set(true)).unwrap();
    let mut seen = Signals::new(&[Signal::Int]).unwrap();
    // A task woken by the delivery runs in the same loop step that
    // scheduled the handler's call, before callbacks run: removing the
    // handler there must win over the call already scheduled.
    let remover = aio::spawn(async move {
        let got = seen.recv().await;
        drop(guard);
        got
    });
    Signal::Int.raise().unwrap();
    let got = aio::timeout(GUARD, remover).await.unwrap().unwrap();
    assert_eq!(got, Some(Signal::Int));
    aio::yield_now().await;
    assert!(!late_ran.get(), "a removed handler ran");
}
