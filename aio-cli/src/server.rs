//! The harness every `aio` server shares (seed 001's final listing, grown
//! up): bind, announce, serve, and shut down gracefully.
//!
//! - Prints exactly one line to stdout, `listening on IP:PORT`, once every
//!   worker is listening; logs go to stderr.
//! - On SIGINT or SIGTERM it stops accepting (the listener closes), gives
//!   the open connections up to the grace period, returns as soon as they
//!   have all finished, and cuts the rest when the grace ends. A second
//!   SIGINT exits at once, with status 130.
//! - With several workers, each runs this on its own loop and thread,
//!   bound to the same port with `SO_REUSEPORT`; with port 0 the first
//!   bind picks the port. Every worker sees every signal and drains its
//!   own connections.
//!
//! An app brings its server in one of two shapes, both driven by the same
//! worker code through the [`Serving`] trait:
//!
//! - [`serve`]: a connection handler, an `async` function of the accepted
//!   [`TcpStream`]. The harness accepts in a loop and runs each connection
//!   as its own task (the socket layer). An accept error never ends the
//!   server: `ECONNABORTED` and friends are retried at once; running out
//!   of descriptors or memory pauses accepting for [`ACCEPT_PAUSE`],
//!   logged once per burst, so the loop never spins. Dropping the
//!   handler's future must close the connection: that is how the grace
//!   period cuts it.
//! - [`serve_server`]: a function that builds an
//!   [`aio::transport::Server`] (with `create_server_with` or
//!   `start_server_with`) on the [`Listen`] address it is given. The
//!   server accepts in its own readiness callback, with no task per
//!   accept; the harness closes it, waits for `wait_closed` during the
//!   grace, and then aborts the connections left.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt::Display;
use std::future::{poll_fn, Future};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::pin::pin;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use aio::net::{accept_error_kind, AcceptErrorKind, BindOptions, TcpListener, TcpStream};
use aio::signal::{Signal, Signals};
use aio::tls::TlsAcceptor;
use aio::transport::Server;
use aio::{Task, TaskRef};

use crate::cli::{ServeArgs, TlsServerArgs};

/// How long accepting pauses after `EMFILE`, `ENFILE`, `ENOBUFS` or
/// `ENOMEM` (asyncio pauses a whole second; connections that arrive
/// meanwhile wait in the backlog).
pub(crate) const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// How long a worker waits for the others to bind before giving up.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The exit status of a forced exit (a second SIGINT): 128 + SIGINT, as a
/// shell reports a process killed by Ctrl-C.
const FORCED_EXIT: i32 = 130;

/// The exit status of a usage error (clap's).
const USAGE_ERROR: u8 = 2;

/// What the harness needs to know about a server.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The app's name, for messages (`aio echo: ...`).
    pub(crate) app: &'static str,
    /// Host to bind (resolved off the loop).
    pub(crate) host: String,
    /// Port to bind; 0 lets the kernel pick.
    pub(crate) port: u16,
    /// Loops (threads) serving the port.
    pub(crate) workers: usize,
    /// How long open connections may go on after a stop signal.
    pub(crate) grace: Duration,
}

impl Config {
    /// The configuration of `app` from its command-line options.
    pub(crate) fn new(app: &'static str, serve: &ServeArgs, workers: usize) -> Config {
        Config {
            app,
            host: serve.host.clone(),
            port: serve.port,
            workers,
            grace: serve.grace,
        }
    }
}

/// Where one worker's server binds: worker 0 gets the configured host and
/// port, the others the address worker 0 bound, so they share its port.
#[derive(Debug, Clone)]
pub(crate) struct Listen {
    /// Host name or IP address.
    pub(crate) host: String,
    /// Port; 0 only for worker 0.
    pub(crate) port: u16,
    /// Socket options (`SO_REUSEPORT` when there are several workers).
    pub(crate) bind: BindOptions,
}

/// Runs a server on the socket layer until a stop signal and returns the
/// process's exit status. `make_handler(worker)` runs once on each
/// worker's thread and returns that worker's connection handler, so
/// handlers may hold `Rc` state.
pub(crate) fn serve<M, H, F>(config: Config, make_handler: M) -> ExitCode
where
    M: Fn(usize) -> H + Send + Sync + 'static,
    H: Fn(TcpStream, SocketAddr) -> F + 'static,
    F: Future<Output = ()> + 'static,
{
    run(config, move |worker| {
        let handler = make_handler(worker);
        move |listen: Listen| async move {
            let listener = TcpListener::bind_host(&listen.host, listen.port, &listen.bind).await?;
            Acceptor::start(listener, handler)
        }
    })
}

/// Runs a transport-layer server until a stop signal and returns the
/// process's exit status. `make(worker, listen)` runs on each worker's
/// thread and builds that worker's server on `listen`.
pub(crate) fn serve_server<M, F>(config: Config, make: M) -> ExitCode
where
    M: Fn(usize, Listen) -> F + Send + Sync + 'static,
    F: Future<Output = io::Result<Server>> + 'static,
{
    let make = Arc::new(make);
    run(config, move |worker| {
        let make = make.clone();
        move |listen| make(worker, listen)
    })
}

/// The TLS settings of `--tls-cert`/`--tls-key`, loaded once before any
/// worker starts (every worker shares them). `Ok(None)` without TLS; a
/// file that cannot be used is a usage error, reported here.
pub(crate) fn tls_acceptor(
    app: &str,
    tls: &TlsServerArgs,
) -> Result<Option<TlsAcceptor>, ExitCode> {
    let (Some(cert), Some(key)) = (&tls.tls_cert, &tls.tls_key) else {
        return Ok(None);
    };
    match TlsAcceptor::from_pem_files(cert, key) {
        Ok(acceptor) => Ok(Some(acceptor)),
        Err(e) => {
            eprintln!("aio {app}: {e}");
            Err(ExitCode::from(USAGE_ERROR))
        }
    }
}

/// A peer going away abruptly is routine; anything else is worth a line.
/// Either way it ends that connection only.
pub(crate) fn log_connection_error(peer: impl Display, e: &io::Error) {
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
            tracing::debug!("{peer}: connection reset by peer ({e})");
        }
        _ => tracing::info!("{peer}: connection error: {e}"),
    }
}

/// Starts the workers: `open_for(worker)` gives each the function that
/// opens its server on a [`Listen`] address.
fn run<M, O, F, S>(config: Config, open_for: M) -> ExitCode
where
    M: Fn(usize) -> O + Send + Sync + 'static,
    O: FnOnce(Listen) -> F,
    F: Future<Output = io::Result<S>>,
    S: Serving,
{
    let runtime = match aio::Runtime::builder().workers(config.workers).build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aio {}: cannot start the event loop: {e}", config.app);
            return ExitCode::FAILURE;
        }
    };
    let startup = Arc::new(Startup::default());
    let app = config.app;
    let results = runtime.run_workers(move |worker| {
        run_worker(worker, config.clone(), startup.clone(), open_for(worker))
    });
    let mut status = ExitCode::SUCCESS;
    for (worker, result) in results.into_iter().enumerate() {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(message)) => {
                eprintln!("aio {app}: {message}");
                status = ExitCode::FAILURE;
            }
            Err(panic) => {
                eprintln!("aio {app}: worker {worker} panicked: {panic}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}

/// A server as the harness drives it: either shape of app server.
trait Serving {
    /// The address to announce.
    fn local_addr(&self) -> io::Result<SocketAddr>;

    /// Stops accepting; the listening socket is closed once this returns.
    async fn stop_accepting(&mut self);

    /// Connections still open.
    fn open_connections(&self) -> usize;

    /// Resolves once every connection has ended (after `stop_accepting`).
    async fn all_finished(&self);

    /// Cuts every connection still open and waits until they are gone.
    async fn cut(&self);
}

/// One worker: bind, wait for the others, serve until a signal, drain.
/// `Err` carries a message for the user; a worker that stops because
/// another one failed returns `Ok`.
async fn run_worker<O, F, S>(
    worker: usize,
    config: Config,
    startup: Arc<Startup>,
    open: O,
) -> Result<(), String>
where
    O: FnOnce(Listen) -> F,
    F: Future<Output = io::Result<S>>,
    S: Serving,
{
    // Hooked first, so a signal during start-up is not lost.
    let mut signals = Signals::new(&[Signal::Int, Signal::Term])
        .map_err(|e| format!("cannot listen for signals: {e}"))?;
    let Some((mut server, addr)) = bind(worker, &config, &startup, open).await? else {
        return Ok(());
    };
    if !startup.clone().wait_all_bound(config.workers).await {
        // Another worker failed and says why.
        server.stop_accepting().await;
        server.cut().await;
        return Ok(());
    }
    if worker == 0 {
        announce(addr);
    }

    let signal = signals.recv().await;
    server.stop_accepting().await;
    let what = signal.map_or_else(|| "the loop closing".to_owned(), |s| s.to_string());
    tracing::info!(
        worker,
        "{what} received: no longer accepting; {} open connection(s) get up to {:?} to finish",
        server.open_connections(),
        config.grace
    );
    drain(worker, &server, &mut signals, config.grace).await;
    Ok(())
}

/// Opens this worker's server: worker 0 on the configured host and port,
/// the others on the address it got. `Ok(None)`: another worker failed
/// first.
async fn bind<O, F, S>(
    worker: usize,
    config: &Config,
    startup: &Arc<Startup>,
    open: O,
) -> Result<Option<(S, SocketAddr)>, String>
where
    O: FnOnce(Listen) -> F,
    F: Future<Output = io::Result<S>>,
    S: Serving,
{
    let bind = BindOptions {
        // Only shared when there are workers to share with: on a lone
        // server SO_REUSEPORT would let a second server bind the same port
        // silently instead of failing with "address in use".
        reuse_port: config.workers > 1,
        ..BindOptions::default()
    };
    let listen = if worker == 0 {
        Listen {
            host: config.host.clone(),
            port: config.port,
            bind,
        }
    } else {
        let Some(addr) = startup.clone().first_addr().await else {
            return Ok(None);
        };
        Listen {
            host: addr.ip().to_string(),
            port: addr.port(),
            bind,
        }
    };
    match open(listen)
        .await
        .and_then(|s| s.local_addr().map(|a| (s, a)))
    {
        Ok((server, addr)) => {
            startup.bound(addr);
            Ok(Some((server, addr)))
        }
        Err(e) => {
            startup.fail();
            Err(format!(
                "cannot listen on {}:{}: {e}",
                config.host, config.port
            ))
        }
    }
}

/// Prints the one line of stdout.
fn announce(addr: SocketAddr) {
    let mut out = io::stdout().lock();
    if let Err(e) = writeln!(out, "listening on {addr}").and_then(|()| out.flush()) {
        tracing::error!("cannot write to stdout: {e}");
    }
    tracing::info!("listening on {addr}");
}

/// How draining ended.
enum Drained {
    /// Every connection finished on its own.
    Finished,
    /// The grace period ran out first.
    GraceOver,
}

/// Waits for the connections to finish, the grace period to end, or a
/// second SIGINT (which exits the process at once).
async fn drain<S: Serving>(worker: usize, server: &S, signals: &mut Signals, grace: Duration) {
    let mut deadline = pin!(aio::sleep(grace));
    let mut finished = pin!(server.all_finished());
    let outcome = poll_fn(|cx| {
        if finished.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Drained::Finished);
        }
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Drained::GraceOver);
        }
        while let Poll::Ready(Some(signal)) = signals.poll_recv(cx) {
            if signal == Signal::Int {
                tracing::warn!(worker, "second {signal}: exiting now");
                std::process::exit(FORCED_EXIT);
            }
            tracing::info!(worker, "{signal} ignored: already shutting down");
        }
        Poll::Pending
    })
    .await;
    match outcome {
        Drained::Finished => tracing::info!(worker, "all connections finished"),
        Drained::GraceOver => {
            tracing::info!(
                worker,
                "grace period over: closing {} connection(s)",
                server.open_connections()
            );
            server.cut().await;
        }
    }
}

/// The transport layer's own server: it accepts in a readiness callback
/// and tracks its connections itself.
impl Serving for Server {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.local_addrs()
            .first()
            .copied()
            .ok_or_else(|| io::Error::other("the server has no listening address"))
    }

    async fn stop_accepting(&mut self) {
        self.close();
    }

    fn open_connections(&self) -> usize {
        self.connection_count()
    }

    async fn all_finished(&self) {
        self.wait_closed().await;
    }

    async fn cut(&self) {
        self.abort_clients();
        // Aborted connections report `connection_lost` at the loop's next
        // step; only then are they gone.
        self.wait_closed().await;
    }
}

/// A socket-layer server: an accept loop task and a task per connection.
struct Acceptor {
    /// The listening address.
    addr: SocketAddr,
    /// The accept loop; `None` once stopped.
    task: Option<Task<()>>,
    /// The connection tasks.
    tracker: Rc<Tracker>,
}

impl Acceptor {
    /// Starts accepting on `listener`, running `handler` for each
    /// connection.
    fn start<H, F>(listener: TcpListener, handler: H) -> io::Result<Acceptor>
    where
        H: Fn(TcpStream, SocketAddr) -> F + 'static,
        F: Future<Output = ()> + 'static,
    {
        let addr = listener.local_addr()?;
        let tracker = Rc::new(Tracker::default());
        let task = aio::spawn(accept_loop(listener, handler, tracker.clone()));
        task.set_name(format!("accept {addr}"));
        Ok(Acceptor {
            addr,
            task: Some(task),
            tracker,
        })
    }
}

impl Serving for Acceptor {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }

    async fn stop_accepting(&mut self) {
        if let Some(task) = self.task.take() {
            task.cancel();
            let _ = task.await; // the listener is closed once this returns
        }
    }

    fn open_connections(&self) -> usize {
        self.tracker.len()
    }

    async fn all_finished(&self) {
        poll_fn(|cx| {
            if self.tracker.is_empty() {
                return Poll::Ready(());
            }
            self.tracker.set_waker(cx.waker());
            Poll::Pending
        })
        .await;
    }

    async fn cut(&self) {
        self.tracker.cancel_all();
        // Cancelled tasks are dropped, closing their sockets, at the
        // loop's next step.
        self.all_finished().await;
    }
}

/// Accepts until cancelled, a task per connection.
async fn accept_loop<H, F>(listener: TcpListener, handler: H, tracker: Rc<Tracker>)
where
    H: Fn(TcpStream, SocketAddr) -> F + 'static,
    F: Future<Output = ()> + 'static,
{
    let handler = Rc::new(handler);
    // Set while accept keeps failing, so a burst is logged once.
    let mut failing = false;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                failing = false;
                tracing::debug!("connection from {peer}");
                let handler = handler.clone();
                tracker.spawn(peer, move || handler(stream, peer));
            }
            Err(e) if accept_error_kind(&e) == AcceptErrorKind::Transient => {
                tracing::debug!("accept: {e} (retrying)");
            }
            Err(e) => {
                if !failing {
                    let kind = if accept_error_kind(&e) == AcceptErrorKind::OutOfResources {
                        "out of resources"
                    } else {
                        "unexpected error"
                    };
                    tracing::warn!(
                        "accept: {e} ({kind}); pausing accepts for {ACCEPT_PAUSE:?} while this lasts"
                    );
                    failing = true;
                }
                aio::sleep(ACCEPT_PAUSE).await;
            }
        }
    }
}

/// The connections of one worker, so shutdown can wait for them and cut
/// them.
#[derive(Default)]
struct Tracker {
    /// Live connection tasks, by an id of the tracker's own.
    tasks: RefCell<HashMap<u64, TaskRef>>,
    /// The next id.
    next_id: Cell<u64>,
    /// The drain waiting for the set to shrink.
    waker: RefCell<Option<Waker>>,
}

impl Tracker {
    /// Runs the future `make` returns as a task that leaves the set when it
    /// ends, however it ends (finished, cancelled or panicked).
    ///
    /// The future is made inside the task: one passed in would be stored
    /// twice in the task's state (as the value captured and as the value
    /// awaited), doubling every idle connection's cost.
    fn spawn<F: Future<Output = ()> + 'static>(
        self: &Rc<Self>,
        peer: SocketAddr,
        make: impl FnOnce() -> F + 'static,
    ) {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let guard = Leave {
            tracker: self.clone(),
            id,
        };
        let task = aio::spawn(async move {
            let _leave = guard;
            make().await;
        });
        task.set_name(format!("connection {peer}"));
        self.tasks.borrow_mut().insert(id, task.task_ref());
        // Dropping the handle detaches the task; the tracker's `TaskRef`
        // can still cancel it.
    }

    fn len(&self) -> usize {
        self.tasks.borrow().len()
    }

    fn is_empty(&self) -> bool {
        self.tasks.borrow().is_empty()
    }

    fn set_waker(&self, waker: &Waker) {
        let mut slot = self.waker.borrow_mut();
        match slot.as_ref() {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    fn cancel_all(&self) {
        let tasks: Vec<TaskRef> = self.tasks.borrow().values().cloned().collect();
        for task in tasks {
            task.cancel();
        }
    }
}

/// Removes a connection from its tracker when its future is dropped.
struct Leave {
    /// The set to leave.
    tracker: Rc<Tracker>,
    /// This connection's id in it.
    id: u64,
}

impl Drop for Leave {
    fn drop(&mut self) {
        let removed = self.tracker.tasks.borrow_mut().remove(&self.id);
        drop(removed);
        let waker = self.tracker.waker.borrow_mut().take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Start-up shared by the workers: the port worker 0 got, and how many
/// have bound (a barrier that a failure opens for everyone).
#[derive(Default)]
struct Startup {
    /// What the workers have done so far.
    state: Mutex<StartState>,
    /// Signalled on every change of `state`.
    changed: Condvar,
}

#[derive(Default)]
struct StartState {
    /// The address worker 0 bound.
    addr: Option<SocketAddr>,
    /// Workers listening so far.
    bound: usize,
    /// Set when any worker could not bind.
    failed: bool,
}

impl Startup {
    fn bound(&self, addr: SocketAddr) {
        let mut state = self.lock();
        state.addr.get_or_insert(addr);
        state.bound += 1;
        self.changed.notify_all();
    }

    fn fail(&self) {
        self.lock().failed = true;
        self.changed.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StartState> {
        // A poisoned lock only means another worker panicked while holding
        // it; the state itself is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits, off the loop, until `ready` holds or a worker failed; returns
    /// the state's view then, or `None` after a failure or a time-out.
    async fn wait_for<R: Send + 'static>(
        self: Arc<Self>,
        ready: impl Fn(&StartState) -> Option<R> + Send + 'static,
    ) -> Option<R> {
        let waited = aio::spawn_blocking(move || {
            let state = self.lock();
            let (state, _) = self
                .changed
                .wait_timeout_while(state, STARTUP_TIMEOUT, |s| !s.failed && ready(s).is_none())
                .unwrap_or_else(|p| p.into_inner());
            if state.failed {
                None
            } else {
                ready(&state)
            }
        })
        .await;
        waited.ok().flatten()
    }

    /// The address worker 0 bound, once it has.
    async fn first_addr(self: Arc<Self>) -> Option<SocketAddr> {
        self.wait_for(|s| s.addr).await
    }

    /// True once all `workers` are listening; false if one failed.
    async fn wait_all_bound(self: Arc<Self>, workers: usize) -> bool {
        if workers <= 1 {
            return true;
        }
        self.wait_for(move |s| (s.bound >= workers).then_some(()))
            .await
            .is_some()
    }
}
