//! `TaskGroup` (asyncio.TaskGroup): values in spawn order, the first
//! failure wins and cancels the siblings, a panicking child fails the
//! group, and dropping `join` cancels the children.

mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use aio::{GroupError, TaskGroup};
use support::{channel, never, within, Closed, DropFlag};

#[aio::test]
async fn join_returns_values_in_spawn_order_whatever_the_finish_order() {
    let finished = Rc::new(RefCell::new(Vec::new()));
    let group = TaskGroup::<u32, String>::new();
    let mut gates = Vec::new();
    for i in 0..5u32 {
        let (gate, gate_rx) = channel::<()>();
        gates.push(gate);
        let finished = finished.clone();
        group.spawn(async move {
            gate_rx.await.unwrap();
            finished.borrow_mut().push(i);
            Ok(i * 10)
        });
    }
    // Release the children last-first, each a step after the previous.
    aio::spawn(async move {
        while let Some(gate) = gates.pop() {
            gate.send(());
            aio::yield_now().await;
        }
    });
    assert_eq!(within(group.join()).await, Ok(vec![0, 10, 20, 30, 40]));
    assert_eq!(
        *finished.borrow(),
        [4, 3, 2, 1, 0],
        "they finished in reverse"
    );
}

#[aio::test]
async fn an_empty_group_joins_to_no_values() {
    let group = TaskGroup::<(), ()>::new();
    assert_eq!(group.join().await, Ok(vec![]));
}

#[aio::test]
async fn the_first_error_is_returned_and_the_siblings_are_cancelled() {
    let group = TaskGroup::<&str, String>::new();

    // A sibling parked forever: only cancellation can end it.
    let parked = DropFlag::new();
    let guard = parked.guard();
    group.spawn(async move {
        let _guard = guard;
        never().await;
        Ok("parked")
    });

    // The child that fails first.
    let (fail, fail_rx) = channel::<()>();
    group.spawn(async move {
        fail_rx.await.unwrap();
        Err("first".to_string())
    });

    // A sibling that would fail too, later, if it were not cancelled.
    let (later, later_rx) = channel::<()>();
    let later_ran = Rc::new(Cell::new(false));
    let l = later_ran.clone();
    group.spawn(async move {
        later_rx.await.unwrap();
        l.set(true);
        Err("second".to_string())
    });

    // The failure happens before `join` is even polled.
    fail.send(());
    aio::yield_now().await;
    later.send(());
    let outcome = within(group.join()).await;
    assert_eq!(outcome, Err(GroupError::Failed("first".to_string())));
    assert!(parked.dropped(), "the parked sibling's future was dropped");
    assert!(!later_ran.get(), "a cancelled sibling ran past its await");
}

#[aio::test]
async fn a_panicking_child_fails_the_group_and_cancels_the_others() {
    let errors = support::record_errors();
    let group = TaskGroup::<u32, String>::new();
    let parked = DropFlag::new();
    let guard = parked.guard();
    group.spawn(async move {
        let _guard = guard;
        never().await;
        Ok(1)
    });
    group.spawn(async {
        aio::yield_now().await;
        panic!("child boom")
    });
    let outcome = within(group.join()).await;
    assert_eq!(outcome, Err(GroupError::Panicked("child boom".to_string())));
    assert!(parked.dropped());
    // The group retrieved the panic, so it is not "never retrieved".
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
}

#[aio::test]
async fn a_child_spawned_into_a_failed_group_never_runs() {
    let group = TaskGroup::<(), &str>::new();
    let failed = group.spawn(async { Err("no") });
    // Wait until the failure is known, through a second child whose
    // channel closes when the group cancels it.
    let (alive, mut alive_rx) = channel::<()>();
    group.spawn(async move {
        let _alive = alive;
        never().await;
        Ok(())
    });
    assert_eq!(within(alive_rx.recv()).await, Err(Closed));
    assert!(failed.is_finished());

    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let late = group.spawn(async move {
        r.set(true);
        Ok(())
    });
    assert!(late.is_cancel_requested());
    assert_eq!(within(group.join()).await, Err(GroupError::Failed("no")));
    assert!(!ran.get());
}

#[aio::test]
async fn a_child_cancelled_from_outside_makes_join_report_cancelled() {
    let group = TaskGroup::<u32, ()>::new();
    group.spawn(async { Ok(1) });
    let child = group.spawn(never_ok());
    child.cancel();
    assert_eq!(within(group.join()).await, Err(GroupError::Cancelled));
}

async fn never_ok() -> Result<u32, ()> {
    never().await;
    Ok(0)
}

/// Spawns a child into `group` that waits for a gate and then reports on
/// `done`. Returns the gate; `done_rx` sees `Err(Closed)` if the child was
/// cancelled (its future dropped) and `Ok(())` if it ran on.
fn gated_child(group: &TaskGroup<(), ()>, done: support::Sender<()>) -> support::Sender<()> {
    let (gate, gate_rx) = channel::<()>();
    group.spawn(async move {
        gate_rx.await.unwrap();
        done.send(());
        Ok(())
    });
    gate
}

#[aio::test]
async fn dropping_join_after_it_started_cancels_the_children() {
    let group = TaskGroup::<(), ()>::new();
    let (done, mut done_rx) = channel::<()>();
    let gate = gated_child(&group, done);
    let mut join = Box::pin(group.join());
    assert!(support::poll_once(&mut join).await.is_pending());
    drop(join);
    gate.send(()); // a child still running would now report `done`
    assert_eq!(within(done_rx.recv()).await, Err(Closed));
}

/// Regression: `join` was an `async fn`, whose cancel-on-drop guard only
/// existed once the body had started, so dropping an unpolled `join`
/// detached the children and they ran on.
#[aio::test]
async fn dropping_join_before_it_was_polled_cancels_the_children() {
    let group = TaskGroup::<(), ()>::new();
    let (done, mut done_rx) = channel::<()>();
    let gate = gated_child(&group, done);
    drop(group.join());
    gate.send(());
    assert_eq!(within(done_rx.recv()).await, Err(Closed));
}
