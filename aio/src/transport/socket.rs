//! The stream transport: a socket (or pipe) driven straight from the loop
//! step, calling its protocol with no task in between.
//!
//! Reads go into one loop-owned buffer that `data_received` borrows, so a
//! read costs no allocation. Writes try the syscall first and buffer only
//! what the kernel did not take. Flow-control notifications that arise
//! while the protocol is already being called (a `write` inside
//! `data_received` crossing the high-water mark) are delivered as soon as
//! that call returns, so the protocol is never re-entered.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};

use super::guard;
use super::io::StreamSocket;
use super::state::{flag, ConnState, Wrote};
use super::{Protocol, Transport, TransportOps};
use crate::runtime::context;
use crate::runtime::reactor::{ready, Direction, PollEvented, ReadyHandler};

/// asyncio's default high-water mark for a transport's write buffer.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;

/// Reads per readiness event before other sources get their turn.
const MAX_READS_PER_WAKE: usize = 16;

/// One connection: its socket, its protocol, and the transport state.
///
/// `repr(C)` with `state` and `protocol` first: a read touches only those,
/// and this order keeps them side by side at the front of the allocation
/// (the compiler's order put `me` and `io` between them).
#[repr(C)]
pub(crate) struct Conn<P, S: StreamSocket> {
    /// Flags, write buffer and descriptor: everything the write path needs
    /// (shared with every `Transport` of this connection).
    state: Rc<ConnState>,
    /// The protocol; taken after `connection_lost`, which breaks the
    /// protocol → transport → connection cycle.
    protocol: RefCell<Option<P>>,
    /// For handing out `Transport`s and scheduling callbacks on itself.
    me: Weak<Self>,
    /// The socket; `None` once the connection is lost (socket closed).
    /// Reads and writes go through `state`'s copy of the descriptor, so
    /// the hot paths never borrow this.
    io: RefCell<Option<PollEvented<S>>>,
    /// Run after `connection_lost` (a server forgets the connection).
    on_lost: RefCell<Option<Box<dyn FnOnce()>>>,
}

/// Registers `socket`, wraps it in a transport for `protocol` and calls
/// `connection_made`. With `read_now` the first read is tried at the next
/// step instead of waiting for a readiness event (for sources that never
/// raise one, such as regular files).
pub(crate) fn start<P: Protocol, S: StreamSocket>(
    io: PollEvented<S>,
    protocol: P,
    read_now: bool,
    on_lost: Option<Box<dyn FnOnce()>>,
) -> io::Result<(Transport, Rc<Conn<P, S>>)> {
    let state = Rc::new(ConnState::new(
        io.io().as_raw_fd(),
        S::KIND,
        io.io().short_read_drains(),
        io.registration().shared_state(),
    ));
    let conn = Rc::new_cyclic(|me| Conn {
        state,
        me: me.clone(),
        io: RefCell::new(Some(io)),
        protocol: RefCell::new(Some(protocol)),
        on_lost: RefCell::new(on_lost),
    });
    if let Some(io) = conn.io.borrow().as_ref() {
        io.registration().set_handler(conn.clone());
    }
    let transport = Transport::new(conn.clone());
    conn.call_protocol(|p| p.connection_made(&transport));
    if read_now {
        conn.schedule_read();
    }
    Ok((transport, conn))
}

impl<P: Protocol, S: StreamSocket> Conn<P, S> {
    /// Runs `f` on the protocol if it is still there and not busy.
    pub(crate) fn with_protocol<R>(&self, f: impl FnOnce(&mut P) -> R) -> Option<R> {
        let r = {
            let mut guard = self.protocol.try_borrow_mut().ok()?;
            guard.as_mut().map(f)
        };
        // A write inside `f` may have crossed a water mark while the
        // protocol was borrowed; nothing else would deliver that (the
        // notification could even be lost if the buffer drained first).
        self.deliver_flow_control();
        r
    }

    /// Calls the protocol, containing a panic, then delivers any
    /// flow-control notification that arose meanwhile. `None` if the
    /// protocol is gone, busy (a re-entrant call) or panicked.
    fn call_protocol<R>(&self, f: impl FnOnce(&mut P) -> R) -> Option<R> {
        let r = self.invoke(f);
        self.deliver_flow_control();
        r
    }

    #[inline]
    fn invoke<R>(&self, f: impl FnOnce(&mut P) -> R) -> Option<R> {
        match guard::call(&self.protocol, "protocol callback", f) {
            Ok(r) => r,
            Err(e) => {
                self.fatal_error(e);
                None
            }
        }
    }

    /// Delivers a due `pause_writing`/`resume_writing`; the common case,
    /// nothing due, is one comparison.
    #[inline]
    fn deliver_flow_control(&self) {
        if self.state.pause().due() {
            self.deliver_flow_control_slow();
        }
    }

    #[cold]
    fn deliver_flow_control_slow(&self) {
        self.state.pause().deliver(
            || self.protocol.try_borrow_mut().is_ok(),
            |pause| {
                self.invoke(|p| {
                    if pause {
                        p.pause_writing();
                    } else {
                        p.resume_writing();
                    }
                });
            },
        );
    }

    /// What `Transport::write` left to do.
    fn after_write(&self, wrote: Wrote) {
        match wrote {
            Wrote::Done => {}
            Wrote::FlowChanged => self.deliver_flow_control(),
            Wrote::Failed(e) => self.fatal_error(e),
        }
    }

    /// Ends the connection with `error`: nothing more is read or written,
    /// and `connection_lost(Some(error))` follows.
    fn fatal_error(&self, error: io::Error) {
        tracing::debug!("transport: fatal error: {error}");
        self.state.set(flag::CLOSING);
        self.state.clear_buffer();
        self.schedule_lost(Some(error));
    }

    /// Queues `connection_lost` for the loop's next step (never inline, so
    /// it cannot run inside another callback of the same protocol).
    fn schedule_lost(&self, error: Option<io::Error>) {
        if self.state.replace(flag::LOST) {
            return;
        }
        let Some(me) = self.me.upgrade() else { return };
        context::with_current(|core| {
            core.call_soon(Box::new(move || me.connection_lost_now(error)));
        });
    }

    fn connection_lost_now(&self, error: Option<io::Error>) {
        self.invoke(|p| p.connection_lost(error));
        let protocol = self
            .protocol
            .try_borrow_mut()
            .ok()
            .and_then(|mut p| p.take());
        guard::drop_protocol(protocol, "a protocol");
        self.close_socket();
        let on_lost = self.on_lost.borrow_mut().take();
        if let Some(f) = on_lost {
            f();
        }
    }

    /// Closes the socket; the state forgets its descriptor first.
    fn close_socket(&self) {
        self.state.forget_fd();
        let io = self.io.try_borrow_mut().ok().and_then(|mut io| io.take());
        if let Some(io) = io {
            io.registration().clear_handler();
            drop(io); // closes the socket
        }
    }

    /// Reads until the socket is drained (or the per-wake budget is spent),
    /// handing each chunk to the protocol.
    #[inline]
    fn read_ready(&self, buf: &mut [u8]) {
        for _ in 0..MAX_READS_PER_WAKE {
            if self.state.has(flag::NO_READ) {
                return;
            }
            if let ReadStep::Drained = self.read_once(buf) {
                return;
            }
        }
        // Still readable after a full turn: come back next step, after the
        // other sources had theirs.
        self.schedule_read();
    }

    fn schedule_read(&self) {
        let Some(me) = self.me.upgrade() else { return };
        context::with_current(|core| {
            core.call_soon(Box::new(move || {
                // Through `on_ready`, so the read path has one call site
                // and is inlined there.
                context::with_current(|core| {
                    core.reactor
                        .with_read_buf(|buf| me.on_ready(ready::READABLE, buf))
                });
            }))
        });
    }

    #[inline]
    fn read_once(&self, buf: &mut [u8]) -> ReadStep {
        // Into the protocol's own buffer (BufferedProtocol), onto its own
        // vector (the streams layer), or into the loop's.
        let result = if P::BUFFERED {
            match self.read_buffered() {
                Some(r) => r,
                None => return ReadStep::Drained, // protocol gone, panicked or no buffer
            }
        } else if P::APPENDS {
            let read = |vec: &mut Vec<u8>| self.state.read_append(S::KIND, vec, buf);
            match self.invoke(|p| p.append_received(read)).flatten() {
                Some(r) => r,
                None => return ReadStep::Drained, // protocol gone or panicked
            }
        } else {
            // `read_ready` saw CLOSING clear just now.
            let r = self.state.read_open(S::KIND, buf);
            if let Ok(n @ 1..) = r {
                self.invoke(|p| p.data_received(&buf[..n]));
            }
            r.map(|n| (n, buf.len()))
        };
        let step = match result {
            Ok((n, len)) if n < len && n > 0 && self.state.short_read_drains() => {
                // EOF or an error may have come with the data; their edge
                // is spent, so read on to see them.
                if self.state.clear_readable() & ready::READ_ANY != 0 {
                    ReadStep::More
                } else {
                    ReadStep::Drained
                }
            }
            Ok((0, _)) => {
                self.eof();
                return ReadStep::Drained;
            }
            Ok(_) => ReadStep::More,
            Err(e) => return self.read_error(e),
        };
        self.deliver_flow_control();
        step
    }

    fn read_buffered(&self) -> Option<io::Result<(usize, usize)>> {
        let mut result = None;
        self.invoke(|p| {
            if let Some(buf) = p
                .get_buffer(crate::runtime::reactor::READ_BUF_SIZE)
                .filter(|b| !b.is_empty())
            {
                let len = buf.len();
                let r = self.state.read(S::KIND, buf);
                if let Ok(n @ 1..) = r {
                    p.buffer_updated(n);
                }
                result = Some(r.map(|n| (n, len)));
            }
        });
        result
    }

    #[cold]
    fn read_error(&self, e: io::Error) -> ReadStep {
        match e.kind() {
            io::ErrorKind::WouldBlock => {
                self.state.clear_ready(Direction::Read);
                self.deliver_flow_control();
                ReadStep::Drained
            }
            io::ErrorKind::Interrupted => ReadStep::More,
            _ => {
                self.fatal_error(e);
                ReadStep::Drained
            }
        }
    }

    /// The peer sent EOF.
    #[cold]
    fn eof(&self) {
        self.state.set(flag::READ_EOF);
        // A read-only pipe has no write side to keep open.
        let writable = self
            .io
            .borrow()
            .as_ref()
            .is_some_and(|io| io.io().writable());
        self.deliver_flow_control();
        let keep_open = self.call_protocol(|p| p.eof_received());
        if keep_open != Some(true) || !writable {
            self.close();
        }
    }

    /// Out of line: only a connection with bytes queued gets here, and
    /// inlined into `ready` it spread the read path over more cache lines.
    #[inline(never)]
    fn write_ready(&self) {
        if self.state.has(flag::LOST) {
            return;
        }
        let left = match self.state.flush() {
            Ok(left) => left,
            Err(e) => {
                self.fatal_error(e);
                return;
            }
        };
        if self.state.update_flow(left) {
            self.deliver_flow_control();
        }
        if left == 0 {
            self.after_flush();
        }
    }

    /// The buffer is empty: finish a pending close or EOF.
    fn after_flush(&self) {
        if self.state.has(flag::CLOSING) {
            self.schedule_lost(None);
        } else if self.state.has(flag::EOF_REQUESTED) {
            self.send_eof();
        }
    }

    fn send_eof(&self) {
        let result = match self.io.borrow().as_ref() {
            Some(io) => io.io().shutdown_write(),
            None => Ok(()),
        };
        if let Err(e) = result {
            if e.kind() != io::ErrorKind::NotConnected {
                self.fatal_error(e);
            }
        }
    }
}

/// The reactor calls the connection directly. A protocol usually keeps its
/// `Transport`, so the protocol and the connection hold each other; that
/// cycle ends with `connection_lost` (which takes the protocol) or, for a
/// connection still open when the loop ends, with `loop_closing`: before
/// that hook (then a wrapper's destructor) existed, a connection left open
/// when `aio::run` returned kept its socket open, so the peer never saw
/// EOF (and a pipe's borrowed flags were never restored).
impl<P: Protocol, S: StreamSocket> ReadyHandler for Conn<P, S> {
    #[inline]
    fn on_ready(&self, readiness: u8, read_buf: &mut [u8]) {
        self.ready(readiness, read_buf);
    }

    fn loop_closing(&self) {
        // After connection_lost the protocol was taken: nothing to do.
        let protocol = match self.protocol.try_borrow_mut() {
            Ok(mut p) => p.take(),
            Err(_) => None,
        };
        let Some(protocol) = protocol else { return };
        // As in asyncio, no callback runs from a closing loop: the
        // protocol is dropped and the socket closed, and later commands do
        // nothing.
        self.state.set(flag::CLOSING | flag::LOST);
        guard::drop_protocol(protocol, "a protocol");
        self.state.forget_fd();
        let io = self.io.try_borrow_mut().ok().and_then(|mut io| io.take());
        drop(io); // closes the socket
    }
}

enum ReadStep {
    /// The read filled the buffer; there may be more.
    More,
    /// Nothing more to read now (or the connection is ending).
    Drained,
}

impl<P: Protocol, S: StreamSocket> Conn<P, S> {
    /// The socket became ready: read, and flush what is waiting.
    #[inline]
    fn ready(&self, readiness: u8, read_buf: &mut [u8]) {
        if readiness & ready::READ_ANY != 0 {
            self.read_ready(read_buf);
        }
        // Most events carry "writable" too; with nothing buffered there is
        // nothing to do (a pending close or EOF went out when the buffer
        // emptied).
        if readiness & ready::WRITE_ANY != 0 && self.state.has(flag::BUFFERED) {
            self.write_ready();
        }
    }
}

impl<P: Protocol, S: StreamSocket> TransportOps for Conn<P, S> {
    fn state(&self) -> Option<Rc<ConnState>> {
        Some(self.state.clone())
    }

    fn after_write(&self, wrote: Wrote) {
        Conn::after_write(self, wrote);
    }

    fn write(&self, data: &[u8]) {
        let wrote = self.state.write(data);
        self.after_write(wrote);
    }

    fn writelines(&self, chunks: &[&[u8]]) {
        let wrote = self.state.writelines(chunks);
        self.after_write(wrote);
    }

    fn write_eof(&self) {
        if self.state.has(flag::CLOSING) || self.state.replace(flag::EOF_REQUESTED) {
            return;
        }
        if !self.state.has(flag::BUFFERED) {
            self.send_eof();
        }
    }

    fn can_write_eof(&self) -> bool {
        self.io
            .borrow()
            .as_ref()
            .is_some_and(|io| io.io().can_write_eof())
    }

    fn close(&self) {
        if self.state.replace(flag::CLOSING) {
            return;
        }
        if !self.state.has(flag::BUFFERED) {
            self.schedule_lost(None);
        }
    }

    fn abort(&self) {
        self.state.set(flag::CLOSING);
        self.state.clear_buffer();
        self.schedule_lost(None);
    }

    fn is_closing(&self) -> bool {
        self.state.has(flag::CLOSING)
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        self.io.borrow().as_ref().and_then(|io| io.io().peer_addr())
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.io
            .borrow()
            .as_ref()
            .and_then(|io| io.io().local_addr())
    }

    fn pause_reading(&self) {
        self.state.set(flag::READ_PAUSED);
    }

    fn resume_reading(&self) {
        if !self.state.has(flag::READ_PAUSED) {
            return;
        }
        self.state.unset(flag::READ_PAUSED);
        // Edge-triggered: the data that arrived while paused raised its
        // edge already, so read now rather than wait for another.
        if self.state.readiness() & ready::READ_ANY != 0 {
            self.schedule_read();
        }
    }

    fn is_reading(&self) -> bool {
        !self.state.has(flag::NO_READ)
    }

    fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) {
        let (high, low) = super::water_marks(high, low);
        self.state.set_limits(high, low);
        if self.state.update_flow(self.state.buffered()) {
            self.deliver_flow_control();
        }
    }

    fn write_buffer_limits(&self) -> (usize, usize) {
        self.state.limits()
    }

    fn write_buffer_size(&self) -> usize {
        self.state.buffered()
    }
}

impl<P, S: StreamSocket> fmt::Debug for Conn<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("closing", &self.state.has(flag::CLOSING))
            .field("buffered", &self.state.buffered())
            .finish()
    }
}
