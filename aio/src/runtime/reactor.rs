//! The reactor: readiness from the OS through `mio` (our `selectors`).
//!
//! Every source is registered once, edge-triggered, for both directions.
//! The readiness the OS reported is cached per source, so a steady-state
//! read or write costs no `epoll_ctl`; it is cleared only when an operation
//! hits `WouldBlock` (or, for stream reads, returns short, which on Linux
//! means the receive queue was drained and the next arrival raises a new
//! edge). Each direction has one waker slot, for the task waiting on it.
//! A source may instead carry a [`ReadyHandler`]: the transport layer uses
//! that to run protocol callbacks straight from the loop step, with no task
//! in between.

use std::cell::{Cell, RefCell};
use std::io;
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
fn readiness_bits(event: &mio::event::Event) -> u8 {
    let mut bits = 0;
    if event.is_readable() {
        bits |= ready::READABLE;
    }
    if event.is_writable() {
        bits |= ready::WRITABLE;
    }
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
    fn on_ready(self: Rc<Self>, readiness: u8, read_buf: &mut [u8]);
}

/// Size of the loop's read buffer (asyncio and uvloop read up to 256 KiB at
/// a time). Only the pages a read touches cost memory.
pub(crate) const READ_BUF_SIZE: usize = 256 * 1024;

/// The per-source state the loop and the source's owner share.
pub(crate) struct IoState {
    /// Cached readiness bits (see [`ready`]).
    readiness: Cell<u8>,
    /// The task waiting to read.
    reader: RefCell<Option<Waker>>,
    /// The task waiting to write.
    writer: RefCell<Option<Waker>>,
    /// Set for sources driven by callbacks instead of tasks.
    handler: RefCell<Option<Rc<dyn ReadyHandler>>>,
    /// Always ready (a regular file): readiness is never cleared, since no
    /// event would ever set it again.
    always_ready: bool,
}

impl IoState {
    /// Wakes the tasks waiting for the directions in `bits`.
    fn wake(&self, bits: u8) {
        if bits & ready::READ_ANY != 0 {
            let waker = self.reader.borrow_mut().take();
            if let Some(w) = waker {
                w.wake();
            }
        }
        if bits & ready::WRITE_ANY != 0 {
            let waker = self.writer.borrow_mut().take();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    pub(crate) fn readiness(&self) -> u8 {
        self.readiness.get()
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

/// The loop's view of the OS.
pub(crate) struct Reactor {
    poll: RefCell<MioPoll>,
    /// A second handle on the poll, usable while `poll` is borrowed.
    registry: Registry,
    events: RefCell<Events>,
    sources: RefCell<Slab<Rc<IoState>>>,
    /// Set when the cross-thread waker fired during the last poll.
    remote_woken: Cell<bool>,
    /// The read buffer lent to handlers (see [`ReadyHandler::on_ready`]).
    read_buf: RefCell<Box<[u8]>>,
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Self> {
        let poll = MioPoll::new()?;
        let registry = poll.registry().try_clone()?;
        Ok(Reactor {
            poll: RefCell::new(poll),
            registry,
            events: RefCell::new(Events::with_capacity(1024)),
            sources: RefCell::new(Slab::new()),
            remote_woken: Cell::new(false),
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
            .filter_map(|(_, s)| s.handler.borrow_mut().take())
            .collect();
        drop(handlers);
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

    /// Waits for events (at most `timeout`; `None` waits until one comes)
    /// and dispatches them.
    pub(crate) fn poll(&self, timeout: Option<Duration>) -> io::Result<()> {
        let mut events = self.events.borrow_mut();
        match self.poll.borrow_mut().poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut read_buf = self.read_buf.borrow_mut();
        for event in events.iter() {
            if event.token() == WAKER_TOKEN {
                self.remote_woken.set(true);
                continue;
            }
            let bits = readiness_bits(event);
            // The table is borrowed only for the lookup: a handler may
            // register or drop sources (accept, close). A token freed and
            // reused within one batch only costs the new source a spurious
            // attempt, which ends in `WouldBlock`.
            let handler = {
                let sources = self.sources.borrow();
                let Some(state) = sources.get(event.token().0) else {
                    continue; // deregistered while the event was in flight
                };
                state.readiness.set(state.readiness.get() | bits);
                let handler = state.handler.borrow().clone();
                if handler.is_none() {
                    state.wake(bits);
                }
                handler
            };
            if let Some(h) = handler {
                h.on_ready(bits, &mut read_buf);
            }
        }
        Ok(())
    }
}

/// A source registered with the current loop. Deregisters on drop.
pub(crate) struct Registration {
    key: usize,
    state: Rc<IoState>,
    /// The loop it is registered with; gone if the loop was closed first.
    core: Weak<Core>,
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
            reader: RefCell::new(None),
            writer: RefCell::new(None),
            handler: RefCell::new(None),
            always_ready: false,
        });
        let key = reactor.sources.borrow_mut().insert(state.clone());
        if let Err(e) =
            reactor
                .registry
                .register(source, Token(key), Interest::READABLE | Interest::WRITABLE)
        {
            reactor.sources.borrow_mut().remove(key);
            return Err(e);
        }
        Ok(Registration {
            key,
            state,
            core: Rc::downgrade(&core),
        })
    }

    /// A registration that epoll refused (regular files): always ready,
    /// since reading or writing a file never waits for the network.
    pub(crate) fn always_ready() -> Self {
        Registration {
            key: ALWAYS_READY_KEY,
            state: Rc::new(IoState {
                readiness: Cell::new(ready::READABLE | ready::WRITABLE),
                reader: RefCell::new(None),
                writer: RefCell::new(None),
                handler: RefCell::new(None),
                always_ready: true,
            }),
            core: Weak::new(),
        }
    }

    /// The readiness state itself, for a transport that keeps it at hand.
    pub(crate) fn shared_state(&self) -> Rc<IoState> {
        self.state.clone()
    }

    /// Routes this source's events to `handler` instead of task wakers.
    pub(crate) fn set_handler(&self, handler: Rc<dyn ReadyHandler>) {
        *self.state.handler.borrow_mut() = Some(handler);
    }

    /// Drops the handler (breaking the handler → transport → registration
    /// cycle when a transport closes).
    pub(crate) fn clear_handler(&self) {
        let old = self.state.handler.borrow_mut().take();
        drop(old);
    }

    /// Ready when the cached readiness allows progress in `dir`; otherwise
    /// remembers the task to wake. Spends the task's budget.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<()> {
        if self.state.readiness.get() & dir.mask() != 0 {
            return context::poll_budget(cx);
        }
        let slot = match dir {
            Direction::Read => &self.state.reader,
            Direction::Write => &self.state.writer,
        };
        let mut slot = slot.borrow_mut();
        match slot.as_ref() {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Forgets readiness in `dir` after `WouldBlock` (or a short read).
    pub(crate) fn clear_ready(&self, dir: Direction) {
        self.state.clear_ready(dir);
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
        if let Some(core) = self.core.upgrade() {
            // The fd is about to close, which removes it from epoll anyway;
            // an error here changes nothing.
            let _ = core.reactor.registry.deregister(source);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(core) = self.core.upgrade() {
            let mut sources = core.reactor.sources.borrow_mut();
            if sources
                .get(self.key)
                .is_some_and(|s| Rc::ptr_eq(s, &self.state))
            {
                sources.remove(self.key);
            }
        }
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("token", &self.key)
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
