//! `spawn_blocking`: jobs run off the loop, the loop keeps running tasks
//! meanwhile, results wake an idle loop, and a panic in a job is a
//! `TaskError::Panicked`.
//!
//! Every proof is a handshake between a blocking job and loop tasks: if a
//! job ran on the loop thread (or the loop stopped while it ran), the
//! handshake could not complete and the job would return its "timed out"
//! value after 30 s instead of the value the test expects.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use aio::TaskError;
use support::within;

const PATIENCE: Duration = Duration::from_secs(30);

#[aio::test]
async fn a_blocking_result_arrives_while_loop_tasks_keep_running() {
    let (release, release_rx) = mpsc::channel::<u32>();
    let (started, started_rx) = mpsc::channel::<()>();
    let job = aio::spawn_blocking(move || {
        started.send(()).unwrap();
        // Blocks this pool thread until a loop task releases it.
        release_rx.recv_timeout(PATIENCE).map(|steps| steps * 10)
    });

    // A loop task that makes progress step by step (yields and a timer),
    // only after the job is known to be blocked, and then releases it.
    let steps = Rc::new(Cell::new(0));
    let s = steps.clone();
    let releaser = aio::spawn(async move {
        // Waiting for "started" without blocking the loop: ask the pool.
        aio::spawn_blocking(move || started_rx.recv_timeout(PATIENCE))
            .await
            .unwrap()
            .expect("the job never started");
        for _ in 0..5 {
            s.set(s.get() + 1);
            aio::yield_now().await;
        }
        aio::sleep(Duration::from_millis(1)).await;
        s.set(s.get() + 1);
        release.send(s.get()).unwrap();
    });

    // The loop is idle now except for the pool: the result must wake it.
    let result = within(job).await;
    assert_eq!(result, Ok(Ok(60)), "the job timed out: the loop was stuck");
    assert_eq!(steps.get(), 6);
    releaser.await.unwrap();
}

#[aio::test]
async fn blocking_jobs_run_in_parallel_on_the_pool() {
    // Four jobs that can only finish together: a pool that ran them one at
    // a time (or on the loop thread) would never get past the barrier.
    const JOBS: usize = 4;
    let barrier = Arc::new(Barrier::new(JOBS));
    let tasks: Vec<_> = (0..JOBS)
        .map(|i| {
            let barrier = barrier.clone();
            aio::spawn_blocking(move || {
                barrier.wait();
                i * i
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(within(t).await.unwrap());
    }
    assert_eq!(results, [0, 1, 4, 9]);
}

#[aio::test]
async fn a_panic_in_a_blocking_job_gives_task_error_panicked() {
    let failed = aio::spawn_blocking(|| -> u32 { panic!("disk on fire") });
    let outcome = within(failed).await;
    assert_eq!(outcome, Err(TaskError::Panicked("disk on fire".into())));
    // The pool survives a panicking job.
    assert_eq!(within(aio::spawn_blocking(|| 5)).await, Ok(5));
}

#[aio::test]
async fn a_cancelled_blocking_task_discards_its_result_but_the_job_runs_to_the_end() {
    let (release, release_rx) = mpsc::channel::<()>();
    let (finished, finished_rx) = mpsc::channel::<&'static str>();
    let job = aio::spawn_blocking(move || {
        let got = release_rx.recv_timeout(PATIENCE);
        finished
            .send(if got.is_ok() { "ran" } else { "timed out" })
            .unwrap();
        1
    });
    job.cancel();
    assert_eq!(job.await, Err(TaskError::Cancelled));
    release.send(()).unwrap();
    let end = aio::spawn_blocking(move || finished_rx.recv_timeout(PATIENCE));
    assert_eq!(within(end).await, Ok(Ok("ran")));
}

#[aio::test]
async fn a_job_that_waits_on_a_loop_timer_proves_timers_fire_during_the_job() {
    let (tick, tick_rx) = mpsc::channel::<()>();
    let job = aio::spawn_blocking(move || match tick_rx.recv_timeout(PATIENCE) {
        Ok(()) => "timer fired",
        Err(RecvTimeoutError::Timeout) => "loop stalled",
        Err(RecvTimeoutError::Disconnected) => "sender dropped",
    });
    aio::call_later(Duration::from_millis(2), move || tick.send(()).unwrap());
    assert_eq!(within(job).await, Ok("timer fired"));
}

#[aio::test]
async fn a_burst_of_jobs_does_not_queue_behind_one_idle_thread() {
    // Leave one pool thread idle, then submit jobs that can only finish
    // together. The pool once counted that single idle thread for every job
    // of the burst and started no new thread, so they waited in line.
    within(aio::spawn_blocking(|| ())).await.unwrap();
    const JOBS: usize = 3;
    let barrier = Arc::new(Barrier::new(JOBS));
    let tasks: Vec<_> = (0..JOBS)
        .map(|_| {
            let barrier = barrier.clone();
            aio::spawn_blocking(move || {
                barrier.wait();
            })
        })
        .collect();
    for t in tasks {
        within(t).await.unwrap();
    }
}
