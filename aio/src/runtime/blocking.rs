//! The blocking pool: `spawn_blocking`, asyncio's `run_in_executor` with the
//! default executor. A bounded set of threads runs closures that would
//! block the loop (name resolution, file I/O, SQLite); each result wakes the
//! loop through the task's waker, which crosses threads via `mio::Waker`.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use super::context;
use super::task::{spawn, Task};

type Job = Box<dyn FnOnce() + Send>;

/// How long an idle pool thread waits for work before it exits.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

struct PoolState {
    jobs: VecDeque<Job>,
    /// Threads alive.
    threads: usize,
    /// Threads waiting for a job.
    idle: usize,
    /// Set when the loop closes: idle threads exit, queued jobs still run.
    shutdown: bool,
}

/// A bounded thread pool, one per loop.
pub(crate) struct BlockingPool {
    state: Mutex<PoolState>,
    work: Condvar,
    max_threads: usize,
}

fn lock(m: &Mutex<PoolState>) -> MutexGuard<'_, PoolState> {
    // Jobs run outside the lock and their panics are caught, so a poisoned
    // lock can only come from a bug in this file; the state stays usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl BlockingPool {
    /// asyncio's default executor uses min(32, cpus + 4) threads; blocking
    /// jobs here include long stdin reads, so allow a few more.
    pub(crate) const DEFAULT_MAX_THREADS: usize = 64;

    pub(crate) fn new(max_threads: usize) -> Self {
        BlockingPool {
            state: Mutex::new(PoolState {
                jobs: VecDeque::new(),
                threads: 0,
                idle: 0,
                shutdown: false,
            }),
            work: Condvar::new(),
            max_threads: max_threads.max(1),
        }
    }

    fn submit(self: &Arc<Self>, job: Job) {
        let mut state = lock(&self.state);
        state.jobs.push_back(job);
        // An idle thread takes one queued job; count the jobs already
        // waiting for one, or a burst of submissions would all queue
        // behind the same idle thread.
        if state.idle >= state.jobs.len() {
            self.work.notify_one();
            return;
        }
        if state.threads >= self.max_threads {
            return; // queued until a thread frees up
        }
        state.threads += 1;
        drop(state);
        let pool = self.clone();
        let spawned = thread::Builder::new()
            .name("aio-blocking".into())
            .spawn(move || pool.worker());
        if let Err(e) = spawned {
            tracing::error!("cannot start a blocking-pool thread: {e}");
            lock(&self.state).threads -= 1;
        }
    }

    fn worker(&self) {
        let mut state = lock(&self.state);
        loop {
            if let Some(job) = state.jobs.pop_front() {
                drop(state);
                job();
                state = lock(&self.state);
                continue;
            }
            if state.shutdown {
                break;
            }
            state.idle += 1;
            let (next, timeout) = self
                .work
                .wait_timeout(state, IDLE_TIMEOUT)
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            state.idle -= 1;
            if timeout.timed_out() && state.jobs.is_empty() {
                break;
            }
        }
        state.threads -= 1;
    }

    /// Lets idle threads exit; jobs already queued still run.
    pub(crate) fn shutdown(&self) {
        lock(&self.state).shutdown = true;
        self.work.notify_all();
    }
}

/// Where a blocking job leaves its result for the task awaiting it.
struct Slot<T> {
    inner: Mutex<(Option<thread::Result<T>>, Option<Waker>)>,
}

struct Wait<T> {
    slot: Arc<Slot<T>>,
}

impl<T> Future for Wait<T> {
    type Output = thread::Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.slot.inner.lock().unwrap_or_else(|e| e.into_inner());
        match inner.0.take() {
            Some(result) => Poll::Ready(result),
            None => {
                inner.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Runs a blocking closure on the loop's thread pool and returns a task
/// for its result (asyncio's `loop.run_in_executor(None, f)`). Other tasks
/// keep running meanwhile.
///
/// Cancelling the task discards the result; the closure itself runs to the
/// end, since a thread cannot be interrupted. A panic in the closure makes
/// the task fail with `TaskError::Panicked`.
///
/// # Panics
///
/// When called outside a running loop.
///
/// ```
/// aio::run(async {
///     let sum = aio::spawn_blocking(|| (1..=10u64).sum::<u64>()).await;
///     assert_eq!(sum, Ok(55));
/// });
/// ```
pub fn spawn_blocking<F, T>(f: F) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let pool = context::current().blocking_pool();
    let slot = Arc::new(Slot {
        inner: Mutex::new((None, None)),
    });
    let job_slot = slot.clone();
    pool.submit(Box::new(move || {
        let result = catch_unwind(AssertUnwindSafe(f));
        let mut inner = job_slot.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.0 = Some(result);
        let waker = inner.1.take();
        drop(inner);
        if let Some(w) = waker {
            w.wake();
        }
    }));
    spawn(async move {
        match (Wait { slot }).await {
            Ok(value) => value,
            Err(payload) => resume_unwind(payload),
        }
    })
}
