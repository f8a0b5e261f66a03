//! Timers and callbacks: deadline order, cancellation, `sleep` disarming on
//! drop, `timeout` dropping its inner future, `interval`, `call_soon` order.
//!
//! Sleeps here are the thing under test. Assertions are about order, plus
//! lower bounds ("not before its deadline"), never upper bounds on time.

mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use support::{channel, never, poll_once, within, DropFlag, PollCount};

const MS: Duration = Duration::from_millis(1);

// ------------------------------------------------------------ ordering

#[aio::test]
async fn call_later_fires_in_deadline_order_not_arming_order() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let (done, done_rx) = channel::<()>();
    // Delays are taken from one base instant, so the deadlines are
    // `base + ms` give or take the few nanoseconds a call takes.
    let base = Instant::now() + 5 * MS;
    // (label, ms after base), armed out of deadline order.
    let plan = [("d30", 30), ("a0", 0), ("c20", 20), ("b10", 10)];
    let mut handles = Vec::new();
    for (label, ms) in plan {
        let log = log.clone();
        let done = done.clone();
        let delay = (base + ms * MS).saturating_duration_since(Instant::now());
        handles.push(aio::call_later(delay, move || {
            log.borrow_mut().push((label, Instant::now()));
            if label == "d30" {
                done.send(());
            }
        }));
    }
    drop(done);
    within(done_rx).await.unwrap();

    let log = log.borrow();
    let labels: Vec<_> = log.iter().map(|(l, _)| *l).collect();
    assert_eq!(labels, ["a0", "b10", "c20", "d30"]);
    for (label, at) in log.iter() {
        let ms = plan.iter().find(|(l, _)| l == label).unwrap().1;
        assert!(*at >= base + ms * MS, "{label} fired before its deadline");
    }
}

#[aio::test]
async fn sleeping_tasks_wake_in_deadline_order() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let base = Instant::now();
    let mut tasks = Vec::new();
    for ms in [30u32, 10, 20, 2, 0] {
        let log = log.clone();
        tasks.push(aio::spawn(async move {
            aio::sleep_until(base + ms * MS).await;
            assert!(
                Instant::now() >= base + ms * MS,
                "the {ms} ms sleep woke before its deadline"
            );
            log.borrow_mut().push(ms);
        }));
    }
    for t in tasks {
        within(t).await.unwrap();
    }
    assert_eq!(*log.borrow(), [0, 2, 10, 20, 30]);
}

#[aio::test]
async fn sleep_until_a_past_instant_is_ready_and_a_huge_sleep_does_not_overflow() {
    let past = Instant::now();
    let polls = Rc::new(Cell::new(0));
    // Completes on its first poll: no timer, no extra loop step.
    PollCount::new(polls.clone(), aio::sleep_until(past)).await;
    assert_eq!(polls.get(), 1);
    // `Instant::now() + Duration::MAX` would overflow; it must mean "forever".
    let forever = aio::timeout(5 * MS, aio::sleep(Duration::MAX)).await;
    assert!(forever.is_err());
}

// -------------------------------------------------------- cancellation

#[aio::test]
async fn a_cancelled_call_later_never_fires() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let (done, done_rx) = channel::<()>();
    let l = log.clone();
    let cancelled = aio::call_later(5 * MS, move || l.borrow_mut().push("cancelled"));
    let l = log.clone();
    // Armed later with a later deadline: when it fires, an uncancelled
    // earlier timer would already have fired.
    let _kept = aio::call_later(20 * MS, move || {
        l.borrow_mut().push("kept");
        done.send(());
    });
    cancelled.cancel();
    cancelled.cancel(); // twice is harmless
    within(done_rx).await.unwrap();
    assert_eq!(*log.borrow(), ["kept"]);
}

#[aio::test]
async fn dropping_a_timer_handle_does_not_cancel_and_cancel_after_firing_is_harmless() {
    let (fired, fired_rx) = channel::<u32>();
    let f = fired.clone();
    drop(aio::call_later(MS, move || f.send(1)));
    assert_eq!(within(fired_rx).await, Ok(1));

    let (fired, mut fired_rx) = channel::<u32>();
    let handle = aio::call_later(Duration::ZERO, move || fired.send(2));
    assert_eq!(within(fired_rx.recv()).await, Ok(2));
    handle.cancel();
    // The callback is gone (it ran and was dropped), so the channel closes.
    assert_eq!(fired_rx.recv().await, Err(support::Closed));
}

#[aio::test]
async fn a_sleep_dropped_before_its_deadline_never_wakes_its_task() {
    let polls = Rc::new(Cell::new(0));
    let (go, go_rx) = channel::<()>();
    let task = aio::spawn(PollCount::new(polls.clone(), async move {
        let mut early = Box::pin(aio::sleep(5 * MS));
        assert!(poll_once(&mut early).await.is_pending()); // timer armed
        drop(early);
        // Park with no timer of our own: any further poll before `go` is
        // a wake-up from the dropped sleep.
        go_rx.await.unwrap();
    }));
    // Timers fire in deadline order, so when this later one wakes us the
    // dropped one would already have woken the task.
    aio::sleep(30 * MS).await;
    assert_eq!(polls.get(), 1, "a dropped sleep woke its task");
    go.send(());
    within(task).await.unwrap();
    assert_eq!(polls.get(), 2);
}

#[aio::test]
async fn a_timeout_that_completed_in_time_never_wakes_its_task_later() {
    let polls = Rc::new(Cell::new(0));
    let parked_after = Rc::new(Cell::new(0));
    let (go, go_rx) = channel::<()>();
    let (p, parked) = (polls.clone(), parked_after.clone());
    let task = aio::spawn(PollCount::new(polls.clone(), async move {
        // Pending once, so the timeout arms its timer before the value comes.
        let value = async {
            aio::yield_now().await;
            3
        };
        assert_eq!(aio::timeout(5 * MS, value).await, Ok(3));
        parked.set(p.get());
        go_rx.await.unwrap();
    }));
    aio::sleep(30 * MS).await;
    assert_eq!(parked_after.get(), 2, "the timeout took two polls");
    assert_eq!(polls.get(), 2, "a finished timeout's timer woke its task");
    go.send(());
    within(task).await.unwrap();
}

#[aio::test]
async fn a_sleep_first_polled_by_one_task_wakes_the_task_that_finishes_it() {
    let (hand_over, mut handed) = channel::<std::pin::Pin<Box<aio::time::Sleep>>>();
    let first = aio::spawn(async move {
        let mut sleep = Box::pin(aio::sleep(10 * MS));
        assert!(poll_once(&mut sleep).await.is_pending()); // armed with our waker
        hand_over.send(sleep);
        // Stay alive (so no new task reuses this one's slot and waker):
        // a wake-up that still went to this task would be lost.
        never().await;
    });
    let sleep = handed.recv().await.unwrap();
    let second = aio::spawn(async move {
        sleep.await;
        "woken"
    });
    assert_eq!(within(second).await, Ok("woken"));
    first.cancel();
}

// ------------------------------------------------------------- timeout

#[aio::test]
async fn timeout_drops_the_inner_future_when_time_runs_out() {
    let flag = DropFlag::new();
    let guard = flag.guard();
    let finished = Rc::new(Cell::new(false));
    let f = finished.clone();
    let start = Instant::now();
    let result = aio::timeout(20 * MS, async move {
        let _guard = guard;
        never().await;
        f.set(true);
    })
    .await;
    assert!(result.is_err());
    assert!(start.elapsed() >= 20 * MS, "elapsed before its deadline");
    assert!(
        flag.dropped(),
        "the inner future must be dropped (cancelled), not left running"
    );
    assert!(!finished.get());
    let err = std::io::Error::from(result.unwrap_err());
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
}

#[aio::test]
async fn timeout_returns_the_value_when_the_future_wins() {
    let (v, v_rx) = channel::<u32>();
    aio::call_soon(move || v.send(9));
    assert_eq!(aio::timeout(Duration::from_secs(30), v_rx).await, Ok(Ok(9)));
}

// ------------------------------------------------------------ interval

#[aio::test]
async fn interval_ticks_at_once_then_every_period() {
    let period = 5 * MS;
    let created = Instant::now();
    let mut every = aio::time::interval(period);
    assert_eq!(every.period(), period);
    let first = every.tick().await;
    assert!(
        first >= created && first <= Instant::now(),
        "first tick at once"
    );
    let mut prev = first;
    for _ in 0..4 {
        let at = every.tick().await;
        assert!(at >= prev + period, "ticks are a period apart");
        assert!(Instant::now() >= at, "a tick came before its time");
        prev = at;
    }
}

#[aio::test]
async fn interval_skips_missed_ticks_instead_of_bunching_them() {
    let period = 10 * MS;
    let mut every = aio::time::interval(period);
    every.tick().await;
    // Stall the loop thread for several periods (a stand-in for a busy
    // loop, not synchronisation): the next ticks are missed.
    std::thread::sleep(4 * period);
    let stall_end = Instant::now();
    let late = every.tick().await;
    assert!(late < stall_end, "the overdue tick fires at once");
    let next = every.tick().await;
    assert!(
        next >= stall_end + period,
        "missed ticks must be skipped: next tick at {:?} after the stall",
        next.saturating_duration_since(stall_end)
    );
}

// ----------------------------------------------------------- call_soon

#[aio::test]
async fn call_soon_runs_in_fifo_order_on_a_later_step() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let (done, done_rx) = channel::<()>();
    let mut handles = Vec::new();
    for i in 0..10 {
        let log = log.clone();
        let done = done.clone();
        handles.push(aio::call_soon(move || {
            log.borrow_mut().push(i);
            if i == 0 {
                // Queued behind everything already queued.
                let log = log.clone();
                aio::call_soon(move || {
                    log.borrow_mut().push(100);
                    done.send(());
                });
            }
        }));
    }
    drop(done);
    handles[5].cancel();
    assert!(
        log.borrow().is_empty(),
        "call_soon never runs synchronously"
    );
    within(done_rx).await.unwrap();
    assert_eq!(*log.borrow(), [0, 1, 2, 3, 4, 6, 7, 8, 9, 100]);
}

#[aio::test]
async fn a_callback_scheduled_by_a_callback_waits_for_the_next_step() {
    // asyncio's rule: what a step schedules runs in a later step, so a
    // callback that keeps rescheduling itself cannot starve tasks or I/O.
    let log = Rc::new(RefCell::new(Vec::new()));
    let (wake, wake_rx) = channel::<()>();
    let l = log.clone();
    let task = aio::spawn(async move {
        wake_rx.await.unwrap();
        l.borrow_mut().push("task");
    });
    aio::yield_now().await; // the task is parked on its channel now
    let l = log.clone();
    aio::call_soon(move || {
        l.borrow_mut().push("first");
        wake.send(()); // the task is ready before `second` is scheduled
        let l = l.clone();
        aio::call_soon(move || l.borrow_mut().push("second"));
    });
    within(task).await.unwrap();
    aio::yield_now().await;
    assert_eq!(*log.borrow(), ["first", "task", "second"]);
}

/// Regression: the main future's first poll ran before the first loop
/// step, so on resuming from `yield_now` it was polled again ahead of the
/// callbacks it had queued (the `call_soon` doctest failed).
#[aio::test]
async fn yield_now_lets_the_callbacks_queued_before_it_run_even_on_the_first_poll() {
    for round in 0..2 {
        let hit = Rc::new(Cell::new(false));
        let h = hit.clone();
        aio::call_soon(move || h.set(true));
        aio::yield_now().await;
        assert!(hit.get(), "round {round}: the callback had not run");
    }
    let in_task = aio::spawn(async {
        let hit = Rc::new(Cell::new(false));
        let h = hit.clone();
        aio::call_soon(move || h.set(true));
        aio::yield_now().await;
        hit.get()
    });
    assert_eq!(in_task.await, Ok(true));
}

#[aio::test]
async fn yield_now_lets_every_other_ready_task_run_first() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let other = aio::spawn(async move { l.borrow_mut().push("other") });
    aio::yield_now().await;
    log.borrow_mut().push("main");
    other.await.unwrap();
    assert_eq!(*log.borrow(), ["other", "main"]);
}

#[aio::test]
async fn a_panicking_timer_callback_is_reported_and_later_timers_still_fire() {
    let errors = support::record_errors();
    let (done, done_rx) = channel::<()>();
    aio::call_later(MS, || panic!("timer boom"));
    aio::call_later(10 * MS, move || done.send(()));
    within(done_rx).await.unwrap();
    let errors = errors.borrow();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].error, "timer boom");
}
