//! Unix signals on the event loop: asyncio's `loop.add_signal_handler`.
//!
//! # Design
//!
//! Each loop has at most one signal driver, made the first time something
//! on that loop asks for a signal and kept for the loop's life. The driver
//! owns a `signal-hook` self-pipe (the signal handler writes a byte to it,
//! which is async-signal-safe) registered with the loop's reactor like any
//! socket. When the pipe turns readable the loop drains it, reads which
//! signals arrived, and hands each one to every subscriber that asked for
//! it: a [`Signals`] queue wakes its task, a handler from [`add_handler`]
//! is scheduled with `call_soon`, so user code only ever runs from the
//! loop's step.
//!
//! Deliveries of the same signal that arrive before the loop looks are
//! merged into one, as the OS merges standard signals; a queue holds each
//! signal at most once for the same reason, so it stays bounded.
//!
//! # Hooking is for good
//!
//! Asking for a signal installs a process-wide handler that **replaces the
//! signal's default action** for the rest of the process: once
//! [`ctrl_c`] has been called, Ctrl-C no longer kills the program, even
//! after the future is dropped. A delivery nobody on the loop is waiting
//! for at that moment is dropped. A program that hooks `SIGINT` should
//! therefore keep listening and exit on its own, and by convention exit at
//! once on a second Ctrl-C (see the example on [`Signals`]).
//!
//! Every loop in the process that listens for a signal sees every delivery
//! of it, so each worker of `Runtime::run_workers` can shut itself down.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ffi::c_int;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use mio::event::Source;
use mio::{Interest, Registry, Token};
use signal_hook::consts::signal as sig;
use slab::Slab;

use crate::runtime::context;
use crate::runtime::core::Core;
use crate::runtime::reactor::{PollEvented, ReadyHandler};

/// A Unix signal a program may want to handle.
///
/// Signals whose default action cannot or should not be replaced
/// (`SIGKILL`, `SIGSTOP`, `SIGSEGV`, ...) are deliberately absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// `SIGINT`: Ctrl-C in the terminal.
    Int,
    /// `SIGTERM`: the polite "please stop" of `kill` and service managers.
    Term,
    /// `SIGHUP`: the terminal went away; daemons often reload on it.
    Hup,
    /// `SIGQUIT`: Ctrl-\ in the terminal.
    Quit,
    /// `SIGUSR1`: meaning defined by the program.
    Usr1,
    /// `SIGUSR2`: meaning defined by the program.
    Usr2,
    /// `SIGWINCH`: the terminal window changed size.
    Winch,
}

impl Signal {
    /// Every signal this module knows, in declaration order.
    pub const ALL: [Signal; 7] = [
        Signal::Int,
        Signal::Term,
        Signal::Hup,
        Signal::Quit,
        Signal::Usr1,
        Signal::Usr2,
        Signal::Winch,
    ];

    /// The OS's number for the signal (`2` for `SIGINT` on Linux).
    pub fn number(self) -> i32 {
        match self {
            Signal::Int => sig::SIGINT,
            Signal::Term => sig::SIGTERM,
            Signal::Hup => sig::SIGHUP,
            Signal::Quit => sig::SIGQUIT,
            Signal::Usr1 => sig::SIGUSR1,
            Signal::Usr2 => sig::SIGUSR2,
            Signal::Winch => sig::SIGWINCH,
        }
    }

    /// The signal with OS number `number`, if this module knows it.
    pub fn from_number(number: i32) -> Option<Signal> {
        Signal::ALL.into_iter().find(|s| s.number() == number)
    }

    /// The conventional name, e.g. `"SIGINT"` (also what `Display` prints).
    pub fn name(self) -> &'static str {
        match self {
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
            Signal::Hup => "SIGHUP",
            Signal::Quit => "SIGQUIT",
            Signal::Usr1 => "SIGUSR1",
            Signal::Usr2 => "SIGUSR2",
            Signal::Winch => "SIGWINCH",
        }
    }

    /// Sends the signal to this process (`raise(3)`; Python's
    /// `signal.raise_signal`). Handy in tests and examples.
    ///
    /// Raising a signal nobody hooked runs its default action: for most of
    /// these signals that ends the process.
    ///
    /// # Errors
    ///
    /// The OS's error; in practice `raise` does not fail for these signals.
    pub fn raise(self) -> io::Result<()> {
        signal_hook::low_level::raise(self.number())
    }

    /// This signal's bit in a subscriber's mask.
    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Waits for the next `SIGINT` (Ctrl-C) delivered after the first poll.
///
/// The first call hooks `SIGINT` for good: from then on Ctrl-C no longer
/// kills the process (see the [module docs](self)).
///
/// ```no_run
/// # aio::run(async {
/// let server = aio::spawn(async { /* serve ... */ });
/// aio::signal::ctrl_c().await?;
/// eprintln!("Ctrl-C: stopping");
/// server.cancel();
/// # Ok::<(), std::io::Error>(()) }).unwrap();
/// ```
///
/// # Errors
///
/// As [`Signals::new`].
///
/// # Cancel safety
///
/// Cancel-safe, but a `SIGINT` delivered while no future of this kind is
/// waiting is not remembered. Keep one [`Signals`] alive to miss nothing.
pub async fn ctrl_c() -> io::Result<()> {
    recv(Signal::Int).await
}

/// Waits for the next delivery of `signal` after the first poll.
///
/// ```
/// use aio::signal::Signal;
/// # aio::run(async {
/// let waiter = aio::spawn(aio::signal::recv(Signal::Usr1));
/// aio::yield_now().await; // let the waiter hook the signal
/// Signal::Usr1.raise()?;
/// waiter.await.unwrap()?;
/// # Ok::<(), std::io::Error>(()) }).unwrap();
/// ```
///
/// # Errors
///
/// As [`Signals::new`].
///
/// # Cancel safety
///
/// As [`ctrl_c`].
pub async fn recv(signal: Signal) -> io::Result<()> {
    let mut signals = Signals::new(&[signal])?;
    match signals.recv().await {
        Some(_) => Ok(()),
        None => Err(loop_closed()),
    }
}

/// Calls `f` on the loop for every delivery of `signal` (asyncio's
/// `loop.add_signal_handler`), until the returned guard is dropped (its
/// `remove_signal_handler`).
///
/// `f` runs as a `call_soon` callback, never inside the OS signal
/// handler, so it may do anything loop code may: spawn, cancel, print. A
/// panic in `f` goes to the loop's error handler. Several handlers for the
/// same signal all run, once each per delivery.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use aio::signal::Signal;
/// # aio::run(async {
/// let hits = Rc::new(Cell::new(0));
/// let h = hits.clone();
/// let guard = aio::signal::add_handler(Signal::Usr2, move || h.set(h.get() + 1))?;
/// Signal::Usr2.raise()?;
/// while hits.get() == 0 {
///     aio::yield_now().await;
/// }
/// drop(guard); // no more calls from here on
/// # Ok::<(), std::io::Error>(()) }).unwrap();
/// ```
///
/// # Errors
///
/// As [`Signals::new`].
pub fn add_handler(signal: Signal, f: impl Fn() + 'static) -> io::Result<SignalHandlerGuard> {
    let driver = Driver::current()?;
    driver.hook(signal.bit())?;
    let handler = Rc::new(Handler {
        f: Box::new(f),
        removed: Cell::new(false),
    });
    let key = driver.subscribers.borrow_mut().insert(Subscriber {
        mask: signal.bit(),
        sink: Sink::Handler(handler.clone()),
    });
    Ok(SignalHandlerGuard {
        driver,
        key,
        handler,
        signal,
    })
}

/// Keeps a handler from [`add_handler`] installed; dropping it removes the
/// handler. The signal stays hooked (see the [module docs](self)).
#[must_use = "dropping the guard removes the signal handler at once"]
pub struct SignalHandlerGuard {
    /// The loop's driver, which holds the handler.
    driver: Rc<Driver>,
    /// The handler's slot in the driver's subscribers.
    key: usize,
    /// The handler, to mark it removed: a call already scheduled when the
    /// guard drops must not run.
    handler: Rc<Handler>,
    /// For `Debug`.
    signal: Signal,
}

impl Drop for SignalHandlerGuard {
    fn drop(&mut self) {
        self.handler.removed.set(true);
        self.driver.unsubscribe(self.key);
    }
}

impl fmt::Debug for SignalHandlerGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalHandlerGuard")
            .field("signal", &self.signal)
            .finish()
    }
}

/// A queue of deliveries of some signals, from the moment it is created.
///
/// A signal delivered several times before [`Signals::recv`] takes it is
/// reported once, as the OS itself merges standard signals.
///
/// The graceful-shutdown shape of seed 001, with a forced exit on a second
/// Ctrl-C:
///
/// ```no_run
/// use std::time::Duration;
/// use aio::signal::{Signal, Signals};
/// # aio::run(async {
/// let mut signals = Signals::new(&[Signal::Int, Signal::Term])?;
/// let server = aio::spawn(async { /* serve ... */ });
/// if let Some(signal) = signals.recv().await {
///     eprintln!("{signal}: finishing what is running");
/// }
/// let deadline = aio::sleep(Duration::from_secs(2));
/// let second = async {
///     while signals.recv().await != Some(Signal::Int) {}
/// };
/// // ... wait for the work, the deadline, or `second` (then exit at once).
/// # drop((server, deadline, second));
/// # Ok::<(), std::io::Error>(()) }).unwrap();
/// ```
pub struct Signals {
    /// The loop's driver, which fills this queue.
    driver: Rc<Driver>,
    /// This queue's slot in the driver's subscribers.
    key: usize,
    /// The signals asked for, as a mask.
    mask: u8,
}

impl Signals {
    /// Starts listening for `signals` on the current loop.
    ///
    /// # Errors
    ///
    /// When called outside a running loop, when the self-pipe cannot be
    /// created or registered, or when the OS refuses to install the
    /// handler.
    pub fn new(signals: &[Signal]) -> io::Result<Signals> {
        let mask = signals.iter().fold(0, |m, s| m | s.bit());
        let driver = Driver::current()?;
        driver.hook(mask)?;
        let key = driver.subscribers.borrow_mut().insert(Subscriber {
            mask,
            sink: Sink::Queue {
                pending: VecDeque::new(),
                waker: None,
            },
        });
        Ok(Signals { driver, key, mask })
    }

    /// Waits for the next signal; `None` once the loop that created this
    /// queue has closed (it can never be woken again).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a delivery stays queued if the future is dropped.
    pub async fn recv(&mut self) -> Option<Signal> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next signal, as [`Signals::recv`].
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Signal>> {
        if self.driver.core.strong_count() == 0 {
            return Poll::Ready(None);
        }
        let mut subscribers = self.driver.subscribers.borrow_mut();
        let Some(Subscriber {
            sink: Sink::Queue { pending, waker },
            ..
        }) = subscribers.get_mut(self.key)
        else {
            return Poll::Ready(None);
        };
        if let Some(signal) = pending.pop_front() {
            return Poll::Ready(Some(signal));
        }
        match waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Takes a signal that already arrived, without waiting.
    pub fn try_recv(&mut self) -> Option<Signal> {
        let mut subscribers = self.driver.subscribers.borrow_mut();
        match subscribers.get_mut(self.key) {
            Some(Subscriber {
                sink: Sink::Queue { pending, .. },
                ..
            }) => pending.pop_front(),
            _ => None,
        }
    }
}

impl futures_core::Stream for Signals {
    type Item = Signal;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Signal>> {
        self.get_mut().poll_recv(cx)
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        self.driver.unsubscribe(self.key);
    }
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<Signal> = Signal::ALL
            .into_iter()
            .filter(|s| self.mask & s.bit() != 0)
            .collect();
        f.debug_struct("Signals").field("signals", &names).finish()
    }
}

fn loop_closed() -> io::Error {
    io::Error::other("the aio loop that was listening for the signal has closed")
}

/// Who gets a delivery.
struct Subscriber {
    /// The signals wanted, one bit each (see `Signal::bit`).
    mask: u8,
    /// Where a delivery goes.
    sink: Sink,
}

/// Where a subscriber's deliveries go.
enum Sink {
    /// A [`Signals`] queue and the task waiting on it.
    Queue {
        /// Arrived, not yet taken; each signal at most once.
        pending: VecDeque<Signal>,
        /// The task in `recv`, if any.
        waker: Option<Waker>,
    },
    /// An [`add_handler`] callback.
    Handler(Rc<Handler>),
}

/// A callback from [`add_handler`].
struct Handler {
    /// The user's function.
    f: Box<dyn Fn()>,
    /// Set when its guard drops.
    removed: Cell<bool>,
}

/// `signal_hook_mio`'s self-pipe as a mio source. The `RefCell` is there
/// because draining the pipe takes `&mut`, while the reactor's
/// `PollEvented` only lends the source out by `&`.
struct Pipe(RefCell<signal_hook_mio::v1_0::Signals>);

impl Source for Pipe {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.0.get_mut().register(registry, token, interest)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.0.get_mut().reregister(registry, token, interest)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.0.get_mut().deregister(registry)
    }
}

/// One loop's signal machinery.
struct Driver {
    /// The self-pipe, registered with the loop's reactor.
    pipe: PollEvented<Pipe>,
    /// The loop it belongs to, to tell loops apart and to notice its end.
    core: Weak<Core>,
    /// The signals hooked so far, one bit each.
    hooked: Cell<u8>,
    /// Queues and handlers; a slab so each can unsubscribe by key.
    subscribers: RefCell<Slab<Subscriber>>,
}

thread_local! {
    /// The driver of the loop on this thread (or of the last one: it is
    /// replaced when a new loop first asks for a signal).
    static DRIVER: RefCell<Option<Rc<Driver>>> = const { RefCell::new(None) };
}

impl Driver {
    /// The current loop's driver, made on first use.
    fn current() -> io::Result<Rc<Driver>> {
        let core = context::try_current().ok_or_else(|| {
            io::Error::other("aio::signal must be used from inside a running aio loop")
        })?;
        let existing = DRIVER.with(|d| d.borrow().clone());
        if let Some(driver) = existing {
            if std::ptr::eq(driver.core.as_ptr(), Rc::as_ptr(&core)) {
                return Ok(driver);
            }
        }
        let pipe = signal_hook_mio::v1_0::Signals::new(std::iter::empty::<c_int>())?;
        let pipe = PollEvented::new(Pipe(RefCell::new(pipe)), 0)?;
        let driver = Rc::new(Driver {
            pipe,
            core: Rc::downgrade(&core),
            hooked: Cell::new(0),
            subscribers: RefCell::new(Slab::new()),
        });
        let dispatch = Rc::new(Dispatch(Rc::downgrade(&driver)));
        driver.pipe.registration().set_handler(dispatch);
        // The previous loop's driver (if any) is dropped outside the borrow;
        // dropping it unhooks its pipe.
        let old = DRIVER.with(|d| d.borrow_mut().replace(driver.clone()));
        drop(old);
        Ok(driver)
    }

    /// Makes sure every signal in `mask` writes to this driver's pipe.
    fn hook(&self, mask: u8) -> io::Result<()> {
        for signal in Signal::ALL {
            if mask & signal.bit() != 0 && self.hooked.get() & signal.bit() == 0 {
                self.pipe.io().0.borrow().add_signal(signal.number())?;
                self.hooked.set(self.hooked.get() | signal.bit());
            }
        }
        Ok(())
    }

    fn unsubscribe(&self, key: usize) {
        // The removed value (maybe a closure owning other subscribers) is
        // dropped after the borrow ends.
        let removed = self.subscribers.borrow_mut().try_remove(key);
        drop(removed);
    }

    /// Drains the pipe and hands what arrived to the subscribers.
    fn dispatch(&self) {
        let arrived: Vec<Signal> = self
            .pipe
            .io()
            .0
            .borrow_mut()
            .pending()
            .filter_map(Signal::from_number)
            .collect();
        if arrived.is_empty() {
            return; // a spurious wake-up, e.g. the pipe's first writable edge
        }
        let mut wakers = Vec::new();
        let mut handlers = Vec::new();
        {
            let mut subscribers = self.subscribers.borrow_mut();
            for signal in arrived {
                tracing::debug!("received {signal}");
                for (_, sub) in subscribers.iter_mut() {
                    if sub.mask & signal.bit() == 0 {
                        continue;
                    }
                    match &mut sub.sink {
                        Sink::Queue { pending, waker } => {
                            if !pending.contains(&signal) {
                                pending.push_back(signal);
                            }
                            wakers.extend(waker.take());
                        }
                        Sink::Handler(f) => handlers.push(f.clone()),
                    }
                }
            }
        }
        wakers.into_iter().for_each(Waker::wake);
        for handler in handlers {
            crate::runtime::call_soon(move || {
                if !handler.removed.get() {
                    (handler.f)();
                }
            });
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.pipe.registration().clear_handler();
    }
}

/// The reactor's way in: holds the driver weakly so the registration's
/// handler slot does not keep the driver alive in a cycle.
struct Dispatch(Weak<Driver>);

impl ReadyHandler for Dispatch {
    fn on_ready(&self, _readiness: u8, _read_buf: &mut [u8]) {
        if let Some(driver) = self.0.upgrade() {
            driver.dispatch();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Signal;

    #[test]
    fn numbers_round_trip() {
        for s in Signal::ALL {
            assert_eq!(Signal::from_number(s.number()), Some(s));
        }
        assert_eq!(Signal::from_number(9), None); // SIGKILL is not offered
        assert_eq!(Signal::Int.to_string(), "SIGINT");
    }
}
