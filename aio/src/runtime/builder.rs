//! Starting loops: `aio::run` for one loop on this thread, and
//! `Runtime::builder().workers(n)` for thread-per-core servers (one
//! independent loop per thread; servers bind with `SO_REUSEPORT` so the
//! kernel spreads connections between them).

use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::rc::Rc;
use std::thread;

use super::affinity;
use super::context;
use super::core::Core;
use super::reactor::DEFAULT_EVENTS_PER_POLL;
use super::task::{spawn, Task};

/// Runs `future` on a fresh event loop until it completes, then cancels
/// every task still running and closes the loop (asyncio's `run`).
///
/// # Panics
///
/// When called inside a running loop, when the OS refuses to create the
/// loop's epoll instance ([`Runtime::try_block_on`] returns that as an
/// error instead), or when `future` itself panics.
///
/// ```
/// let answer = aio::run(async { 42 });
/// assert_eq!(answer, 42);
/// ```
pub fn run<F: Future>(future: F) -> F::Output {
    match Runtime::new() {
        Ok(rt) => rt.block_on(future),
        Err(e) => panic!("aio::run: cannot create the event loop: {e}"),
    }
}

/// A way to start loops, with settings.
#[derive(Debug, Clone)]
pub struct Builder {
    workers: usize,
    events_per_poll: usize,
    pin_workers: bool,
}

impl Builder {
    /// How many loops (threads) [`Runtime::run_workers`] starts. Default 1.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// The most readiness events one loop step takes from the OS before it
    /// runs the tasks they woke. Default [`DEFAULT_EVENTS_PER_POLL`].
    ///
    /// Smaller steps keep the bytes a step reads for its tasks in the CPU's
    /// cache until the tasks use them; larger ones make fewer `epoll_wait`
    /// calls when thousands of connections are ready at once.
    ///
    /// ```
    /// let rt = aio::Runtime::builder().events_per_poll(256).build()?;
    /// assert_eq!(rt.try_block_on(async { 1 + 1 })?, 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn events_per_poll(mut self, n: usize) -> Self {
        self.events_per_poll = n.max(1);
        self
    }

    /// Pins each worker of [`Runtime::run_workers`] to one CPU: worker `i`
    /// to the `i`-th of the CPUs the calling thread may run on when the
    /// workers start (the process's mask, unless that thread was narrowed),
    /// going round them when there are more workers than CPUs.
    /// Default off, as the OS's scheduler knows best when other busy
    /// processes share the machine.
    ///
    /// A pinned loop keeps its sockets' buffers and its tasks in one core's
    /// caches, and two busy loops never share a core while another idles.
    /// The mask is the one `taskset` or a container's cpuset set, so
    /// pinning stays inside what the user allowed. Worker 0
    /// runs on the calling thread, which gets its own mask back when
    /// `run_workers` returns. A worker the OS refuses to pin runs unpinned,
    /// with a `tracing` warning saying why.
    ///
    /// ```
    /// let rt = aio::Runtime::builder().workers(2).pin_workers(true).build()?;
    /// let cpus = rt.run_workers(|_| async { rustix::thread::sched_getaffinity(None) });
    /// for cpu_set in cpus {
    ///     assert_eq!(cpu_set.expect("worker ran").expect("mask").count(), 1);
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pin_workers(mut self, pin: bool) -> Self {
        self.pin_workers = pin;
        self
    }

    /// Builds the runtime.
    ///
    /// # Errors
    ///
    /// Never today; kept fallible for settings that touch the OS.
    pub fn build(self) -> io::Result<Runtime> {
        Ok(Runtime {
            workers: self.workers,
            events_per_poll: self.events_per_poll,
            pin_workers: self.pin_workers,
        })
    }
}

/// Starts event loops.
#[derive(Debug, Clone)]
pub struct Runtime {
    workers: usize,
    events_per_poll: usize,
    pin_workers: bool,
}

impl Runtime {
    /// A runtime with one worker.
    ///
    /// # Errors
    ///
    /// Kept for symmetry with [`Builder::build`].
    pub fn new() -> io::Result<Runtime> {
        Builder::default().build()
    }

    /// Settings for a runtime.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The number of workers.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Runs `future` on a fresh loop on this thread (see [`run`]).
    ///
    /// # Panics
    ///
    /// As [`run`]; [`try_block_on`](Self::try_block_on) returns the OS's
    /// refusal instead.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self.try_block_on(future) {
            Ok(output) => output,
            Err(e) => panic!("aio: {e}"),
        }
    }

    /// Runs `future` on a fresh loop on this thread, or says why the loop
    /// could not be made.
    ///
    /// ```
    /// let rt = aio::Runtime::new()?;
    /// assert_eq!(rt.try_block_on(async { 7 })?, 7);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The OS refused the loop's epoll instance or its waker (out of file
    /// descriptors, say), worded "cannot create the event loop: ...".
    ///
    /// # Panics
    ///
    /// Inside a running loop, or when `future` panics.
    pub fn try_block_on<F: Future>(&self, future: F) -> io::Result<F::Output> {
        match Core::new(self.events_per_poll) {
            Ok(core) => Ok(core.block_on(future)),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("cannot create the event loop: {e}"),
            )),
        }
    }

    /// Runs `make(i)` on its own loop in each of `workers` threads (worker 0
    /// on this thread) and returns every worker's output, in worker order.
    /// A worker that panicked, or whose loop the OS refused, yields
    /// `Err(message)`.
    pub fn run_workers<M, F>(&self, make: M) -> Vec<Result<F::Output, String>>
    where
        M: Fn(usize) -> F + Send + Sync + 'static,
        F: Future,
        F::Output: Send + 'static,
    {
        let make = std::sync::Arc::new(make);
        let cpus = std::sync::Arc::new(self.cpus_to_pin());
        let mut threads = Vec::new();
        for i in 1..self.workers {
            let make = make.clone();
            let this = self.clone();
            let cpus = cpus.clone();
            let spawned = thread::Builder::new()
                .name(format!("aio-worker-{i}"))
                .spawn(move || {
                    // The thread ends with its loop: nothing to restore.
                    let _ = pin(i, cpus.as_deref());
                    this.try_block_on(make(i)).map_err(|e| e.to_string())
                });
            threads.push(spawned);
        }
        let before = pin(0, cpus.as_deref());
        let first =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.try_block_on(make(0))));
        if let Some(mask) = before {
            if let Err(e) = affinity::restore(&mask) {
                tracing::warn!("aio: cannot give the calling thread its CPU mask back: {e}");
            }
        }
        let mut out = vec![flatten(first)];
        for t in threads {
            out.push(match t {
                Ok(handle) => flatten(handle.join()),
                Err(e) => Err(format!("cannot start a worker thread: {e}")),
            });
        }
        out
    }

    /// The CPUs the workers go round when pinning is on and the OS tells
    /// which CPUs this process may use.
    fn cpus_to_pin(&self) -> Option<Vec<usize>> {
        if !self.pin_workers {
            return None;
        }
        match affinity::allowed_cpus() {
            Ok(cpus) => Some(cpus),
            Err(e) => {
                tracing::warn!(
                    "aio: workers run unpinned: cannot read this process's CPU mask: {e}"
                );
                None
            }
        }
    }
}

/// Pins the calling thread for worker `index` when `cpus` is given, and
/// returns its mask from before.
fn pin(index: usize, cpus: Option<&[usize]>) -> Option<affinity::CpuMask> {
    let cpu = affinity::cpu_for(index, cpus?)?;
    match affinity::pin_current(cpu) {
        Ok(before) => Some(before),
        Err(e) => {
            tracing::warn!("aio: worker {index} runs unpinned: cannot pin it to CPU {cpu}: {e}");
            None
        }
    }
}

/// One worker's outcome: its output, its loop's refusal, or its panic.
fn flatten<T>(
    joined: Result<Result<T, impl fmt::Display>, Box<dyn std::any::Any + Send>>,
) -> Result<T, String> {
    match joined {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(e)) => Err(e.to_string()),
        Err(panic) => Err(super::error::panic_message(&*panic)),
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            workers: 1,
            events_per_poll: DEFAULT_EVENTS_PER_POLL,
            pin_workers: false,
        }
    }
}

/// A handle on the running loop. It is `!Send`: a loop and everything on
/// it belong to one thread, which the compiler checks.
///
/// ```compile_fail
/// aio::run(async {
///     let handle = aio::Handle::current();
///     std::thread::spawn(move || drop(handle)); // error: `Rc` cannot be sent
/// });
/// ```
#[derive(Clone)]
pub struct Handle {
    core: Rc<Core>,
    _not_send: PhantomData<Rc<()>>,
}

impl Handle {
    /// The loop running on this thread.
    ///
    /// # Panics
    ///
    /// Outside a running loop.
    pub fn current() -> Handle {
        Handle {
            core: context::current(),
            _not_send: PhantomData,
        }
    }

    /// Like [`Handle::current`], but `None` outside a loop.
    pub fn try_current() -> Option<Handle> {
        context::try_current().map(|core| Handle {
            core,
            _not_send: PhantomData,
        })
    }

    /// Spawns a task on this loop (it must be the running one).
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        spawn(future)
    }

    /// The number of tasks alive on this loop.
    pub fn task_count(&self) -> usize {
        self.core.all_tasks().len()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}
