//! Tasks: results, cancellation, panic isolation, the "Task exception was
//! never retrieved" report, `all_tasks` / `current_task`, names, and
//! detach-on-drop.

mod support;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;

use aio::TaskError;
use support::{channel, never, record_errors, record_errors_into, Closed, DropFlag};

/// A task body that waits for `go`, then panics with "boom" while still
/// holding `alive` (whose receiver sees `Closed` once the future is gone).
async fn panic_when_released(go: support::Receiver<()>, alive: support::Sender<()>) -> u32 {
    let _alive = alive;
    go.await.expect("the test dropped the release");
    panic!("boom")
}

// ------------------------------------------------------------- results

#[aio::test]
async fn awaiting_a_task_gives_its_value() {
    // The futures are not Send (they hold an Rc): spawn must not need it.
    let shared = Rc::new(Cell::new(40));
    let s = shared.clone();
    let number = aio::spawn(async move {
        s.set(s.get() + 2);
        s.get()
    });
    let text = aio::spawn(async { String::from("hello") });
    assert_eq!(text.await, Ok("hello".to_string()));
    assert_eq!(number.await, Ok(42));
    assert_eq!(shared.get(), 42);
}

#[aio::test]
async fn tasks_run_concurrently_and_can_await_each_other() {
    // A ping-pong that only completes if both tasks make progress in turn.
    let (to_b, mut b_rx) = channel::<u32>();
    let (to_a, mut a_rx) = channel::<u32>();
    let a = aio::spawn(async move {
        let mut seen = Vec::new();
        to_b.send(1);
        for _ in 0..3 {
            let n = a_rx.recv().await.unwrap();
            seen.push(n);
            to_b.send(n + 1);
        }
        seen
    });
    let b = aio::spawn(async move {
        let mut seen = Vec::new();
        for _ in 0..3 {
            let n = b_rx.recv().await.unwrap();
            seen.push(n);
            to_a.send(n * 10);
        }
        seen
    });
    // A task awaiting another task's handle.
    let outer = aio::spawn(async move { b.await.unwrap() });
    assert_eq!(a.await, Ok(vec![10, 110, 1110]));
    assert_eq!(outer.await, Ok(vec![1, 11, 111]));
}

#[aio::test]
async fn is_finished_turns_true_once_the_task_has_a_result() {
    let (go, go_rx) = channel::<()>();
    let (done, mut done_rx) = channel::<()>();
    let task = aio::spawn(async move {
        go_rx.await.unwrap();
        done.send(());
        5
    });
    assert!(!task.is_finished());
    go.send(());
    done_rx.recv().await.unwrap();
    assert!(task.is_finished());
    assert_eq!(task.await, Ok(5));
}

// -------------------------------------------------------------- cancel

#[aio::test]
async fn cancel_drops_a_waiting_task_and_await_gives_cancelled() {
    let flag = DropFlag::new();
    let guard = flag.guard();
    let reached_end = Rc::new(Cell::new(false));
    let r = reached_end.clone();
    let (started, mut started_rx) = channel::<()>();
    let task = aio::spawn(async move {
        let _guard = guard;
        started.send(());
        never().await;
        r.set(true);
    });
    started_rx.recv().await.unwrap();
    assert!(!flag.dropped(), "the task is parked, not dropped");
    task.cancel();
    assert!(
        !flag.dropped(),
        "cancel() must not drop the future itself; the loop step does"
    );
    assert_eq!(task.await, Err(TaskError::Cancelled));
    assert!(flag.dropped(), "a cancelled task's future is dropped");
    assert!(!reached_end.get());
}

#[aio::test]
async fn cancel_before_the_first_poll_never_runs_the_body() {
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let task = aio::spawn(async move { r.set(true) });
    task.cancel();
    let outcome = task.await;
    assert_eq!(outcome, Err(TaskError::Cancelled));
    assert!(outcome.unwrap_err().is_cancelled());
    assert!(!ran.get(), "the body of a task cancelled before it ran");
}

#[aio::test]
async fn cancel_of_a_finished_task_is_a_no_op() {
    let (done, mut done_rx) = channel::<()>();
    let task = aio::spawn(async move {
        done.send(());
        7
    });
    done_rx.recv().await.unwrap();
    assert!(task.is_finished());
    task.cancel();
    assert!(
        !task.task_ref().is_cancel_requested(),
        "a finished task is not marked as cancelling"
    );
    assert_eq!(task.await, Ok(7));
}

#[aio::test]
async fn a_task_ref_cancels_from_another_task_and_wakes_the_awaiter() {
    let target = aio::spawn(never());
    let target_ref = target.task_ref();
    // Someone is awaiting the target when it gets cancelled.
    let waiter = aio::spawn(target);
    let canceller = aio::spawn(async move {
        aio::yield_now().await;
        target_ref.cancel();
        target_ref.cancel(); // twice is harmless
        target_ref.is_cancel_requested()
    });
    assert_eq!(canceller.await, Ok(true));
    assert_eq!(waiter.await, Ok(Err(TaskError::Cancelled)));
}

/// Records, when dropped, whether a loop was still running on the thread.
struct DroppedInsideLoop(Rc<Cell<Option<bool>>>);

impl Drop for DroppedInsideLoop {
    fn drop(&mut self) {
        self.0.set(Some(aio::Handle::try_current().is_some()));
    }
}

#[test]
fn run_cancels_the_tasks_left_when_the_main_future_returns() {
    let dropped = Rc::new(Cell::new(None));
    let guard = DroppedInsideLoop(dropped.clone());
    let d = dropped.clone();
    aio::run(async move {
        drop(aio::spawn(async move {
            let _guard = guard;
            never().await;
        }));
        aio::yield_now().await;
        assert_eq!(d.get(), None, "still running");
    });
    assert_eq!(
        dropped.get(),
        Some(true),
        "aio::run must drop what is left, while its loop is still current"
    );
}

// -------------------------------------------------------------- panics

#[aio::test]
async fn a_panic_is_isolated_the_loop_and_other_tasks_keep_running() {
    let errors = record_errors();
    let (value, value_rx) = channel::<u32>();
    let survivor = aio::spawn(async move { value_rx.await.unwrap() * 2 });

    let bad = aio::spawn(async {
        aio::yield_now().await;
        panic!("task boom");
    });
    let outcome: Result<(), TaskError> = bad.await;
    assert_eq!(outcome, Err(TaskError::Panicked("task boom".into())));
    assert!(outcome.unwrap_err().is_panicked());

    // A panicking callback is reported, and the loop carries on too.
    let (after, after_rx) = channel::<()>();
    aio::call_soon(|| panic!("callback boom"));
    aio::call_soon(move || after.send(()));
    after_rx.await.unwrap();

    value.send(21);
    assert_eq!(survivor.await, Ok(42));
    let errors = errors.borrow();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].error, "callback boom");
    assert_eq!(errors[0].task_id, None);
}

#[test]
fn a_detached_task_that_panics_is_reported_exactly_once() {
    let errors = Rc::new(RefCell::new(Vec::new()));
    let seen = errors.clone();
    let id = aio::run(async move {
        record_errors_into(seen.clone());
        let (go, go_rx) = channel();
        let (alive, mut alive_rx) = channel();
        let task = aio::spawn(panic_when_released(go_rx, alive));
        task.set_name("detached-worker");
        let id = task.task_ref().id();
        drop(task);
        go.send(());
        // The sender it held is gone: the task has failed and been dropped.
        assert_eq!(alive_rx.recv().await, Err(Closed));
        assert_eq!(
            seen.borrow().len(),
            1,
            "reported when it failed, not later: {:?}",
            seen.borrow()
        );
        for _ in 0..5 {
            aio::yield_now().await;
        }
        id
    });
    // Still once after more steps and after the loop shut down.
    let errors = errors.borrow();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].message, "Task exception was never retrieved");
    assert_eq!(errors[0].task_id, Some(id));
    assert_eq!(errors[0].task_name.as_deref(), Some("detached-worker"));
    assert_eq!(errors[0].error, "boom");
}

#[test]
fn a_panicked_task_whose_handle_is_dropped_unawaited_is_reported_once_at_the_drop() {
    let errors = Rc::new(RefCell::new(Vec::new()));
    let seen = errors.clone();
    aio::run(async move {
        record_errors_into(seen.clone());
        let (go, go_rx) = channel();
        let (alive, mut alive_rx) = channel();
        let task = aio::spawn(panic_when_released(go_rx, alive));
        task.set_name("kept-handle");
        go.send(());
        assert_eq!(alive_rx.recv().await, Err(Closed));
        assert!(task.is_finished());
        for _ in 0..5 {
            aio::yield_now().await;
        }
        assert!(
            seen.borrow().is_empty(),
            "the failure is still retrievable through the handle: {:?}",
            seen.borrow()
        );
        drop(task);
        assert_eq!(seen.borrow().len(), 1, "reported at the moment of the drop");
        for _ in 0..5 {
            aio::yield_now().await;
        }
    });
    let errors = errors.borrow();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].task_name.as_deref(), Some("kept-handle"));
    assert_eq!(errors[0].error, "boom");
}

#[test]
fn an_awaited_panic_is_not_reported() {
    let errors = Rc::new(RefCell::new(Vec::new()));
    let seen = errors.clone();
    aio::run(async move {
        record_errors_into(seen);
        let (go, go_rx) = channel();
        let (alive, _alive_rx) = channel();
        let awaited = aio::spawn(panic_when_released(go_rx, alive));
        go.send(());
        assert_eq!(awaited.await, Err(TaskError::Panicked("boom".into())));

        // Control: in the same loop, an unobserved panic *is* reported, so
        // the handler is live and the check below means something.
        let (go, go_rx) = channel();
        let (alive, mut alive_rx) = channel();
        let control = aio::spawn(panic_when_released(go_rx, alive));
        control.set_name("control");
        drop(control);
        go.send(());
        assert_eq!(alive_rx.recv().await, Err(Closed));
    });
    let errors = errors.borrow();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].task_name.as_deref(), Some("control"));
}

#[test]
fn a_cancelled_task_is_not_reported() {
    let errors = Rc::new(RefCell::new(Vec::new()));
    let seen = errors.clone();
    aio::run(async move {
        record_errors_into(seen);
        let cancelled = aio::spawn(never());
        cancelled.cancel();
        assert_eq!(cancelled.await, Err(TaskError::Cancelled));
        let detached = aio::spawn(never());
        detached.cancel();
        drop(detached);
        // Left running: cancelled by aio::run at exit.
        drop(aio::spawn(never()));
        aio::yield_now().await;
    });
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
}

// ------------------------------------------------- introspection, names

#[aio::test]
async fn all_tasks_lists_the_unfinished_tasks() {
    let ids = || -> HashSet<u64> { aio::all_tasks().iter().map(|t| t.id()).collect() };
    assert!(ids().is_empty(), "the main future is not a task");

    let (go, go_rx) = channel::<()>();
    let waiting = aio::spawn(async move { go_rx.await.unwrap() });
    let quick = aio::spawn(async { 1 });
    let (w, q) = (waiting.task_ref().id(), quick.task_ref().id());
    assert_ne!(w, q);
    assert_eq!(ids(), HashSet::from([w, q]));

    assert_eq!(quick.await, Ok(1));
    assert_eq!(ids(), HashSet::from([w]));

    // From inside a task the list includes the caller itself.
    let inside = aio::spawn(async move {
        let me = aio::current_task().unwrap().id();
        (
            me,
            aio::all_tasks()
                .iter()
                .map(|t| t.id())
                .collect::<HashSet<_>>(),
        )
    });
    let (me, seen) = inside.await.unwrap();
    assert_eq!(seen, HashSet::from([w, me]));

    go.send(());
    waiting.await.unwrap();
    assert!(ids().is_empty());
}

#[aio::test]
async fn current_task_is_the_task_being_polled_and_none_in_main() {
    assert!(aio::current_task().is_none());
    let task = aio::spawn(async {
        aio::yield_now().await; // still itself after a suspension
        aio::current_task().map(|t| (t.id(), t.name()))
    });
    task.set_name("me");
    let id = task.task_ref().id();
    assert_eq!(task.await, Ok(Some((id, "me".to_string()))));
    assert!(aio::current_task().is_none());
}

#[aio::test]
async fn tasks_have_default_names_that_can_be_changed() {
    let a = aio::spawn(never());
    let b = aio::spawn(never());
    assert_eq!(a.name(), format!("Task-{}", a.task_ref().id()));
    assert_ne!(a.name(), b.name());
    b.set_name("reader");
    assert_eq!(b.name(), "reader");
    let listed = aio::all_tasks()
        .into_iter()
        .find(|t| *t == b.task_ref())
        .unwrap();
    assert_eq!(listed.name(), "reader", "every reference sees the new name");
    assert!(format!("{b:?}").contains("reader"));
    a.cancel();
    b.cancel();
}

// ------------------------------------------------------ detach on drop

#[aio::test]
async fn dropping_the_handle_detaches_and_the_task_keeps_running() {
    let (go, go_rx) = channel::<u32>();
    let (done, done_rx) = channel::<u32>();
    drop(aio::spawn(async move {
        let n = go_rx.await.unwrap();
        done.send(n + 1);
    }));
    go.send(6);
    // Had the drop cancelled the task, its `done` sender would be gone and
    // this would be `Err(Closed)`.
    assert_eq!(done_rx.await, Ok(7));
}
