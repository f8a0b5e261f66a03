//! The reactor: readiness from the OS through `mio` (our `selectors`).
//!
//! Every source is registered once, edge-triggered, for both directions.
//! The readiness the OS reported is cached per source, so a steady-state
//! read or write costs no `epoll_ctl`; it is cleared only when an operation
//! hits `WouldBlock` (or, for stream reads, returns short, which on Linux
//! means the receive queue was drained and the next arrival raises a new
//! edge). Each direction has one waker slot, for the task waiting on it;
//! the waker stays there after the wake-up, ready for that task's next
//! wait.
//! A source may instead carry a [`ReadyHandler`]: the transport layer uses
//! that to run protocol callbacks straight from the loop step, with no task
//! in between.
//!
//! A source's token is the address of its [`IoState`], so dispatching an
//! event is one pointer load: no table lookup, no borrow, no reference
//! count. What makes that sound is one rule: an `IoState` (and a handler)
//! that is let go of is *retired*, kept alive until the next poll begins,
//! because an event already fetched in the current batch may still name
//! it; and a source epoll may still report (its deregistration failed) is
//! kept until the loop ends.

use std::cell::{Cell, RefCell};
use std::io;
use std::ptr::NonNull;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use mio::event::Source;
use mio::{Events, Interest, Poll as MioPoll, Registry, Token};
use slab::Slab;

use super::context;
use super::core::Core;

/// The token of the loop's cross-thread waker.
const WAKER_TOKEN: Token = Token(usize::MAX);

/// The key of a registration epoll refused (a regular file): it is in no
/// table and no event will ever arrive for it.
const ALWAYS_READY_KEY: usize = usize::MAX;

/// Readiness bits, as cached per source.
pub(crate) mod ready {
    pub(crate) const READABLE: u8 = 1;
    pub(crate) const WRITABLE: u8 = 2;
    pub(crate) const READ_CLOSED: u8 = 4;
    pub(crate) const WRITE_CLOSED: u8 = 8;
    pub(crate) const ERROR: u8 = 16;
    /// Any of these lets a read make progress (data, EOF or an error).
    pub(crate) const READ_ANY: u8 = READABLE | READ_CLOSED | ERROR;
    /// Any of these lets a write make progress (room, or an error to report).
    pub(crate) const WRITE_ANY: u8 = WRITABLE | WRITE_CLOSED | ERROR;
}

/// Which way an operation goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    fn mask(self) -> u8 {
        match self {
            Direction::Read => ready::READ_ANY,
            Direction::Write => ready::WRITE_ANY,
        }
    }
}

/// The readiness bits of one event.
#[inline]
fn readiness_bits(event: &mio::event::Event) -> u8 {
    let mut bits = 0;
    if event.is_readable() {
        bits |= ready::READABLE;
    }
    if event.is_writable() {
        bits |= ready::WRITABLE;
    }
    // Write-closed implies read-closed (a hang-up) or an error, so the
    // common event, plain readiness, is decided by these two tests.
    if event.is_read_closed() || event.is_error() {
        bits |= closed_bits(event);
    }
    bits
}

/// The bits of a hang-up or an error.
#[cold]
fn closed_bits(event: &mio::event::Event) -> u8 {
    let mut bits = 0;
    if event.is_read_closed() {
        bits |= ready::READ_CLOSED;
    }
    if event.is_write_closed() {
        bits |= ready::WRITE_CLOSED;
    }
    if event.is_error() {
        bits |= ready::ERROR;
    }
    bits
}

/// Called by the loop when a handler-driven source becomes ready.
pub(crate) trait ReadyHandler {
    /// `readiness` holds the bits of this event (already merged into the
    /// source's cached readiness). `read_buf` is the loop's read buffer,
    /// lent for this call: a transport reads into it and hands the bytes to
    /// its protocol, so a read costs no allocation and no lookup.
    ///
    /// The handler stays alive for the whole call even if it clears itself
    /// (the reactor retires it instead of dropping it).
    fn on_ready(&self, readiness: u8, read_buf: &mut [u8]);

    /// The loop is ending with this source still registered. A handler
    /// and the transport it drives usually hold each other (through the
    /// protocol), so this is where such a cycle must be broken: drop the
    /// protocol, close the socket, call nothing.
    fn loop_closing(&self) {}
}

/// Size of the loop's read buffer. asyncio and uvloop read up to 256 KiB
/// at a time, but a buffer that large is above glibc's `mmap` threshold
/// (128 KiB), and `recv` into such a mapping measured about three times
/// slower in the kernel's copy (500 connections x 16 KiB: 22 against 14 us
/// of server CPU per request); 64 KiB stays on the heap and is still four
/// 16 KiB records per read.
pub(crate) const READ_BUF_SIZE: usize = 64 * 1024;

/// How many readiness events a loop step takes at most (see
/// [`Builder::events_per_poll`](crate::runtime::Builder::events_per_poll)).
///
/// A step first reads every ready connection, then runs the tasks those
/// reads woke. With 1,024 events a step, 500 connections sending 16 KiB
/// each put 8 MiB between a read and its task, so the task (a `readline`
/// scanning the line, the `send` copying it) found its bytes evicted from
/// the cache: at 64, the streams echo's user time per request there fell
/// from about 1.6 to 1.0 µs (medians of five runs).
/// Everything left over stays ready in the kernel for the next step, which
/// polls without blocking. (A stream reader woken by a read of 8 KiB or
/// more runs right after that read instead, before the next event.)
pub const DEFAULT_EVENTS_PER_POLL: usize = 64;

/// The per-source state the loop and the source's owner share.
///
/// `repr(C)`: dispatch reads `readiness` and `dispatch`, a task waiting
/// on the source `readiness` and a waker slot, so those lead.
#[repr(C)]
pub(crate) struct IoState {
    /// Cached readiness bits (see [`ready`]).
    readiness: Cell<u8>,
    /// Always ready (a regular file): readiness is never cleared, since no
    /// event would ever set it again.
    always_ready: bool,
    /// Which slots hold a task that waits now (`READABLE` for `reader`,
    /// `WRITABLE` for `writer`). A woken task's waker stays in its slot,
    /// so that the task waiting again (a socket read in a loop) finds it
    /// there: taking it out for every wake-up cost a clone at each wait
    /// and a drop at each wake, two atomic operations per read.
    waiting: Cell<u8>,
    /// `handler`'s address, ready for dispatch: one load instead of a
    /// borrow and the arithmetic that finds the value inside an `Rc<dyn>`.
    dispatch: Cell<Option<NonNull<dyn ReadyHandler>>>,
    /// The task waiting to read.
    reader: Cell<Option<Waker>>,
    /// The task waiting to write.
    writer: Cell<Option<Waker>>,
    /// Set for sources driven by callbacks instead of tasks.
    handler: Cell<Option<Rc<dyn ReadyHandler>>>,
    /// The key of this source in the reactor's `sources` table.
    key: Cell<usize>,
}

impl IoState {
    /// Wakes the tasks waiting for the directions in `bits`.
    #[inline]
    fn wake(&self, bits: u8) {
        let mut woken = 0;
        if bits & ready::READ_ANY != 0 {
            woken |= ready::READABLE;
        }
        if bits & ready::WRITE_ANY != 0 {
            woken |= ready::WRITABLE;
        }
        let waiting = self.waiting.get();
        woken &= waiting;
        if woken == 0 {
            return;
        }
        // Before the wake-ups: a waker may run anything, even a poll that
        // waits again.
        self.waiting.set(waiting & !woken);
        if woken & ready::READABLE != 0 {
            wake_slot(&self.reader);
        }
        if woken & ready::WRITABLE != 0 {
            wake_slot(&self.writer);
        }
    }

    pub(crate) fn readiness(&self) -> u8 {
        self.readiness.get()
    }

    /// Sets (or clears) the handler; returns the one it replaces.
    fn replace_handler(
        &self,
        handler: Option<Rc<dyn ReadyHandler>>,
    ) -> Option<Rc<dyn ReadyHandler>> {
        self.dispatch
            .set(handler.as_ref().map(|h| NonNull::from(&**h)));
        self.handler.replace(handler)
    }

    /// Forgets read readiness after a short read. Only for sources that
    /// raise edges (not always ready), where a short read proves the
    /// receive queue empty.
    /// Returns the readiness left.
    #[inline]
    pub(crate) fn clear_readable(&self) -> u8 {
        debug_assert!(!self.always_ready);
        let left = self.readiness.get() & !ready::READABLE;
        self.readiness.set(left);
        left
    }

    /// Forgets readiness in `dir` after `WouldBlock` (or a short read).
    #[inline]
    pub(crate) fn clear_ready(&self, dir: Direction) {
        if self.always_ready {
            return;
        }
        let bits = match dir {
            Direction::Read => ready::READABLE,
            Direction::Write => ready::WRITABLE,
        };
        self.readiness.set(self.readiness.get() & !bits);
    }
}

/// Wakes the task in `slot` and leaves its waker there for its next wait
/// (unless the wake-up itself put another there).
#[inline]
fn wake_slot(slot: &Cell<Option<Waker>>) {
    let Some(waker) = slot.take() else { return };
    waker.wake_by_ref();
    let replaced = slot.take();
    slot.set(Some(replaced.unwrap_or(waker)));
}

/// The loop's view of the OS.
pub(crate) struct Reactor {
    poll: RefCell<MioPoll>,
    /// A second handle on the poll, usable while `poll` is borrowed.
    registry: Registry,
    events: RefCell<Events>,
    /// Every source registered with epoll, so the loop can drop their
    /// handlers when it ends. Dispatch never looks here: a token is its
    /// source's address.
    sources: RefCell<Slab<Rc<IoState>>>,
    /// Sources and handlers let go of since the current poll began: an
    /// event of this batch may still name them (see the module docs).
    retired: RefCell<Retired>,
    /// Sources whose deregistration failed, so epoll may still report
    /// them: kept until the loop (and its epoll) ends.
    unreleased: RefCell<Vec<Rc<IoState>>>,
    /// Debug builds: the tokens whose states are alive, checked at every
    /// dispatch so a test breaking the retire rule fails loudly.
    #[cfg(debug_assertions)]
    live: RefCell<std::collections::HashSet<usize>>,
    /// Set when the cross-thread waker fired during the last poll.
    remote_woken: Cell<bool>,
    /// Set by [`Reactor::run_woken_after_this_event`] during a dispatch.
    run_woken: Cell<bool>,
    /// The read buffer lent to handlers (see [`ReadyHandler::on_ready`]).
    read_buf: RefCell<Box<[u8]>>,
}

impl Reactor {
    pub(crate) fn new(events_per_poll: usize) -> io::Result<Self> {
        let poll = MioPoll::new()?;
        let registry = poll.registry().try_clone()?;
        Ok(Reactor {
            poll: RefCell::new(poll),
            registry,
            events: RefCell::new(Events::with_capacity(events_per_poll)),
            sources: RefCell::new(Slab::new()),
            retired: RefCell::new(Retired::default()),
            unreleased: RefCell::new(Vec::new()),
            #[cfg(debug_assertions)]
            live: RefCell::default(),
            remote_woken: Cell::new(false),
            run_woken: Cell::new(false),
            read_buf: RefCell::new(vec![0; READ_BUF_SIZE].into_boxed_slice()),
        })
    }

    pub(crate) fn new_waker(&self) -> io::Result<mio::Waker> {
        mio::Waker::new(&self.registry, WAKER_TOKEN)
    }

    /// True once after the cross-thread waker fired.
    pub(crate) fn take_remote_wakeup(&self) -> bool {
        self.remote_woken.replace(false)
    }

    /// Drops every readiness handler. Handlers and the transports they
    /// drive hold each other; a loop closing with connections still open
    /// breaks those cycles here so their memory and sockets are freed.
    pub(crate) fn clear_handlers(&self) {
        let handlers: Vec<_> = self
            .sources
            .borrow()
            .iter()
            .filter_map(|(_, s)| s.replace_handler(None))
            .collect();
        close_handlers(handlers);
        self.release_retired();
        let unreleased = std::mem::take(&mut *self.unreleased.borrow_mut());
        close_handlers(unreleased.iter().filter_map(|s| s.replace_handler(None)));
    }

    /// Frees what was retired before this poll: no event names it any more.
    #[inline]
    fn release_retired(&self) {
        let taken = {
            let mut retired = self.retired.borrow_mut();
            if retired.sources.is_empty() && retired.handlers.is_empty() {
                return; // the common step: nothing closed
            }
            std::mem::take(&mut *retired)
        };
        #[cfg(debug_assertions)]
        for state in &taken.sources {
            self.live.borrow_mut().remove(&token_of(state).0);
        }
        // Dropped outside the borrow: dropping a handler can close more
        // sources, which retire themselves into the (now empty) list.
        drop(taken);
    }

    /// Keeps `handler` alive until the next poll (see the module docs).
    fn retire_handler(&self, handler: Rc<dyn ReadyHandler>) {
        self.retired.borrow_mut().handlers.push(handler);
    }

    /// Runs `f` with the loop's read buffer (for reads outside event
    /// dispatch, such as a read resumed by a callback). Should the buffer be
    /// lent out already, `f` gets a buffer of its own.
    pub(crate) fn with_read_buf<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        match self.read_buf.try_borrow_mut() {
            Ok(mut buf) => f(&mut buf),
            Err(_) => f(&mut vec![0; READ_BUF_SIZE]),
        }
    }

    /// Asks the loop to run, once the event being dispatched is done,
    /// what it woke, instead of after the whole batch (see `poll`).
    pub(crate) fn run_woken_after_this_event(&self) {
        self.run_woken.set(true);
    }

    /// Waits for events (at most `timeout`; `None` waits until one comes)
    /// and dispatches them.
    ///
    /// `run_woken` runs after an event whose handler asked for it with
    /// [`Reactor::run_woken_after_this_event`]: the task an event woke
    /// then runs before the next event's read evicts what it is about to
    /// work on.
    pub(crate) fn poll(
        &self,
        timeout: Option<Duration>,
        run_woken: &mut dyn FnMut(),
    ) -> io::Result<()> {
        self.release_retired();
        self.run_woken.set(false);
        let mut events = self.events.borrow_mut();
        match self.poll.borrow_mut().poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut read_buf = self.read_buf.borrow_mut();
        let read_buf: &mut [u8] = &mut read_buf;
        for event in events.iter() {
            if event.token() == WAKER_TOKEN {
                self.remote_woken.set(true);
                continue;
            }
            #[cfg(debug_assertions)]
            assert!(
                self.live.borrow().contains(&event.token().0),
                "reactor: event for a released source"
            );
            // SAFETY: every token but the waker's is the address of an
            // `IoState` registered with this reactor (`Registration::new`).
            // That `IoState` is alive: while registered, `sources` holds
            // it; once its `Registration` drops, `retired` holds it until
            // the next poll (so through this whole batch), or `unreleased`
            // until the loop ends if epoll might still report it. Only
            // shared references to it are ever made.
            let state = unsafe { &*(event.token().0 as *const IoState) };
            let bits = readiness_bits(event);
            state.readiness.set(state.readiness.get() | bits);
            match state.dispatch.get() {
                // SAFETY: `dispatch` points into the `Rc` that `handler`
                // holds, so the handler is alive here; and it stays alive
                // through the call: one that is cleared or replaced
                // meanwhile is retired, not dropped (`replace_handler`'s
                // callers), and `retired` is released only at the next
                // poll.
                Some(handler) => unsafe { handler.as_ref() }.on_ready(bits, read_buf),
                None => state.wake(bits),
            }
            if self.run_woken.get() {
                self.run_woken.set(false);
                run_woken();
            }
        }
        Ok(())
    }
}

/// Tells each handler the loop is closing, then drops it.
fn close_handlers(handlers: impl IntoIterator<Item = Rc<dyn ReadyHandler>>) {
    for handler in handlers {
        handler.loop_closing();
    }
}

/// A source's token: its state's address (see `Reactor::poll`). An
/// allocation is never at `usize::MAX`, the waker's token.
fn token_of(state: &Rc<IoState>) -> Token {
    Token(Rc::as_ptr(state) as usize)
}

/// What the reactor keeps alive until the next poll (see the module docs).
#[derive(Default)]
struct Retired {
    sources: Vec<Rc<IoState>>,
    handlers: Vec<Rc<dyn ReadyHandler>>,
}

/// A source registered with the current loop. Deregisters on drop.
pub(crate) struct Registration {
    state: Rc<IoState>,
    /// The loop it is registered with; gone if the loop was closed first.
    core: Weak<Core>,
    /// Whether epoll may still report the source: set until a
    /// deregistration succeeds.
    in_epoll: Cell<bool>,
}

impl Registration {
    /// Registers `source` for both directions, edge-triggered. `initial` is
    /// the readiness to assume before the OS says anything: trying a fresh
    /// accepted socket at once saves a loop step, but a connecting socket
    /// must wait for its first writable edge.
    ///
    /// # Panics
    ///
    /// Outside a running loop.
    pub(crate) fn new(source: &mut impl Source, initial: u8) -> io::Result<Self> {
        let core = context::current();
        let reactor = &core.reactor;
        let state = Rc::new(IoState {
            readiness: Cell::new(initial),
            reader: Cell::new(None),
            writer: Cell::new(None),
            handler: Cell::new(None),
            dispatch: Cell::new(None),
            key: Cell::new(ALWAYS_READY_KEY),
            always_ready: false,
            waiting: Cell::new(0),
        });
        let token = token_of(&state);
        reactor
            .registry
            .register(source, token, Interest::READABLE | Interest::WRITABLE)?;
        #[cfg(debug_assertions)]
        reactor.live.borrow_mut().insert(token.0);
        state
            .key
            .set(reactor.sources.borrow_mut().insert(state.clone()));
        Ok(Registration {
            state,
            core: Rc::downgrade(&core),
            in_epoll: Cell::new(true),
        })
    }

    /// A registration that epoll refused (regular files): always ready,
    /// since reading or writing a file never waits for the network.
    pub(crate) fn always_ready() -> Self {
        Registration {
            state: Rc::new(IoState {
                readiness: Cell::new(ready::READABLE | ready::WRITABLE),
                reader: Cell::new(None),
                writer: Cell::new(None),
                handler: Cell::new(None),
                dispatch: Cell::new(None),
                key: Cell::new(ALWAYS_READY_KEY),
                always_ready: true,
                waiting: Cell::new(0),
            }),
            core: Weak::new(),
            in_epoll: Cell::new(false),
        }
    }

    /// The readiness state itself, for a transport that keeps it at hand.
    pub(crate) fn shared_state(&self) -> Rc<IoState> {
        self.state.clone()
    }

    /// Routes this source's events to `handler` instead of task wakers.
    pub(crate) fn set_handler(&self, handler: Rc<dyn ReadyHandler>) {
        let old = self.state.replace_handler(Some(handler));
        self.retire(old);
    }

    /// Lets go of the handler (breaking the handler → transport →
    /// registration cycle when a transport closes).
    pub(crate) fn clear_handler(&self) {
        let old = self.state.replace_handler(None);
        self.retire(old);
    }

    /// A handler may be running right now (it is clearing itself): the
    /// reactor keeps it until the next poll.
    fn retire(&self, handler: Option<Rc<dyn ReadyHandler>>) {
        let (Some(handler), Some(core)) = (handler, self.core.upgrade()) else {
            return; // no loop: nothing can be running it
        };
        core.reactor.retire_handler(handler);
    }

    /// Ready when the cached readiness allows progress in `dir`; otherwise
    /// remembers the task to wake. Spends the task's budget.
    #[inline]
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<()> {
        if self.state.readiness.get() & dir.mask() != 0 {
            return context::poll_budget(cx);
        }
        let (slot, bit) = match dir {
            Direction::Read => (&self.state.reader, ready::READABLE),
            Direction::Write => (&self.state.writer, ready::WRITABLE),
        };
        let waker = match slot.take() {
            Some(w) if w.will_wake(cx.waker()) => w,
            _ => cx.waker().clone(),
        };
        slot.set(Some(waker));
        self.state.waiting.set(self.state.waiting.get() | bit);
        Poll::Pending
    }

    /// Forgets readiness in `dir` after `WouldBlock` (or a short read).
    pub(crate) fn clear_ready(&self, dir: Direction) {
        self.state.clear_ready(dir);
    }

    /// Whether the cached readiness allows progress in `dir` now.
    pub(crate) fn is_ready(&self, dir: Direction) -> bool {
        self.state.readiness.get() & dir.mask() != 0
    }

    /// Runs `op` when ready in `dir`, retrying after `WouldBlock` once the
    /// OS reports readiness again.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            if self.poll_ready(cx, dir).is_pending() {
                return Poll::Pending;
            }
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_ready(dir),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return Poll::Ready(other),
            }
        }
    }

    /// Deregisters `source` (call before the source is closed).
    pub(crate) fn deregister(&self, source: &mut impl Source) {
        if !self.in_epoll.get() {
            return;
        }
        if let Some(core) = self.core.upgrade() {
            // On failure epoll may go on reporting the source (a duplicate
            // of the fd would keep it registered after the close), so its
            // state must outlive the loop's use of its token: see `drop`.
            if core.reactor.registry.deregister(source).is_ok() {
                self.in_epoll.set(false);
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let Some(core) = self.core.upgrade() else {
            return; // the loop and its epoll are gone: no event can come
        };
        let reactor = &core.reactor;
        let key = self.state.key.get();
        {
            let mut sources = reactor.sources.borrow_mut();
            if sources.get(key).is_some_and(|s| Rc::ptr_eq(s, &self.state)) {
                sources.remove(key);
            }
        }
        let state = self.state.clone();
        if self.in_epoll.get() {
            reactor.unreleased.borrow_mut().push(state);
        } else {
            reactor.retired.borrow_mut().sources.push(state);
        }
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("key", &self.state.key.get())
            .field("readiness", &self.state.readiness.get())
            .finish()
    }
}

/// An owned mio source plus its registration: the building block of every
/// socket type. Deregisters before the source closes.
pub(crate) struct PollEvented<S: Source> {
    source: S,
    registration: Registration,
}

impl<S: Source> PollEvented<S> {
    /// Registers `source`, assuming `initial` readiness (see
    /// [`Registration::new`]).
    pub(crate) fn new(mut source: S, initial: u8) -> io::Result<Self> {
        let registration = Registration::new(&mut source, initial)?;
        Ok(PollEvented {
            source,
            registration,
        })
    }

    pub(crate) fn registration(&self) -> &Registration {
        &self.registration
    }

    /// The source.
    pub(crate) fn io(&self) -> &S {
        &self.source
    }

    /// Registers `source`, or, where epoll refuses it with `EPERM` (a
    /// regular file), wraps it as always ready.
    pub(crate) fn new_or_always_ready(mut source: S, initial: u8) -> io::Result<(Self, bool)> {
        match Registration::new(&mut source, initial) {
            Ok(registration) => Ok((
                PollEvented {
                    source,
                    registration,
                },
                false,
            )),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok((
                PollEvented {
                    source,
                    registration: Registration::always_ready(),
                },
                true,
            )),
            Err(e) => Err(e),
        }
    }
}

impl<S: Source> Drop for PollEvented<S> {
    fn drop(&mut self) {
        // Before the fields drop: the source's fd closes right after.
        self.registration.deregister(&mut self.source);
    }
}

impl<S: Source + std::fmt::Debug> std::fmt::Debug for PollEvented<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollEvented")
            .field("source", &self.source)
            .field("registration", &self.registration)
            .finish()
    }
}
