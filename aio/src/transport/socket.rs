//! The stream transport: a socket (or pipe) driven straight from the loop
//! step, calling its protocol with no task in between.
//!
//! Reads go into one loop-owned buffer that `data_received` borrows, so a
//! read costs no allocation. Writes try the syscall first and buffer only
//! what the kernel did not take. Flow-control notifications that arise
//! while the protocol is already being called (a `write` inside
//! `data_received` crossing the high-water mark) are delivered as soon as
//! that call returns, so the protocol is never re-entered.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::{Rc, Weak};

use super::buffer::WriteBuffer;
use super::io::StreamSocket;
use super::{Protocol, Transport, TransportOps};
use crate::runtime::context;
use crate::runtime::error::{self, ErrorContext};
use crate::runtime::reactor::{ready, Direction, PollEvented, ReadyHandler};

/// asyncio's default high-water mark for a transport's write buffer.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;

/// Size of the loop-owned read buffer (asyncio and uvloop read up to
/// 256 KiB at a time).
const READ_BUF_SIZE: usize = 256 * 1024;

/// Reads per readiness event before other sources get their turn.
const MAX_READS_PER_WAKE: usize = 16;

thread_local! {
    /// The loop's read buffer, lent to one read at a time.
    static READ_BUF: Cell<Option<Box<[u8]>>> = const { Cell::new(None) };
}

fn with_read_buf<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    let mut buf = READ_BUF
        .with(Cell::take)
        .unwrap_or_else(|| vec![0; READ_BUF_SIZE].into_boxed_slice());
    let r = f(&mut buf);
    READ_BUF.with(|b| b.set(Some(buf)));
    r
}

/// One connection: its socket, its protocol, and the transport state.
pub(crate) struct Conn<P, S: StreamSocket> {
    /// For handing out `Transport`s and scheduling callbacks on itself.
    me: Weak<Self>,
    /// The socket; `None` once the connection is lost (socket closed).
    io: RefCell<Option<PollEvented<S>>>,
    /// The protocol; taken after `connection_lost`, which breaks the
    /// protocol → transport → connection cycle.
    protocol: RefCell<Option<P>>,
    /// Bytes the kernel has not taken yet.
    out: RefCell<WriteBuffer>,
    /// High- and low-water marks of `out`.
    high: Cell<usize>,
    low: Cell<usize>,
    /// Whether the protocol should be paused (buffer above `high`), and
    /// what it was last told; they differ while a notification is due.
    want_paused: Cell<bool>,
    told_paused: Cell<bool>,
    /// `pause_reading` is in effect.
    reading_paused: Cell<bool>,
    /// The peer sent EOF.
    read_eof: Cell<bool>,
    /// `close`, `abort` or a fatal error: no more reads or writes accepted.
    closing: Cell<bool>,
    /// `write_eof` was called; EOF goes out once `out` is flushed.
    eof_requested: Cell<bool>,
    /// `connection_lost` has been scheduled.
    lost: Cell<bool>,
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
    let conn = Rc::new_cyclic(|me| Conn {
        me: me.clone(),
        io: RefCell::new(Some(io)),
        protocol: RefCell::new(Some(protocol)),
        out: RefCell::new(WriteBuffer::default()),
        high: Cell::new(DEFAULT_HIGH_WATER),
        low: Cell::new(DEFAULT_HIGH_WATER / 4),
        want_paused: Cell::new(false),
        told_paused: Cell::new(false),
        reading_paused: Cell::new(false),
        read_eof: Cell::new(false),
        closing: Cell::new(false),
        eof_requested: Cell::new(false),
        lost: Cell::new(false),
        on_lost: RefCell::new(on_lost),
    });
    if let Some(io) = conn.io.borrow().as_ref() {
        io.registration().set_handler(Rc::new(Driver(conn.clone())));
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

    fn invoke<R>(&self, f: impl FnOnce(&mut P) -> R) -> Option<R> {
        let mut guard = self.protocol.try_borrow_mut().ok()?;
        let protocol = guard.as_mut()?;
        let result = catch_unwind(AssertUnwindSafe(|| f(protocol)));
        drop(guard);
        match result {
            Ok(r) => Some(r),
            Err(payload) => {
                let msg = error::panic_message(&*payload);
                error::report(ErrorContext::other(
                    "protocol callback panicked",
                    msg.clone(),
                ));
                self.fatal_error(io::Error::other(format!(
                    "protocol callback panicked: {msg}"
                )));
                None
            }
        }
    }

    /// Delivers a due `pause_writing`/`resume_writing`; the common case,
    /// nothing due, is one comparison.
    #[inline]
    fn deliver_flow_control(&self) {
        if self.want_paused.get() != self.told_paused.get() {
            self.deliver_flow_control_slow();
        }
    }

    #[cold]
    fn deliver_flow_control_slow(&self) {
        // A callback may flip the state again (resume_writing that writes a
        // lot); a few rounds settle it, and a pending change is retried
        // after the next call anyway.
        for _ in 0..4 {
            let want = self.want_paused.get();
            if want == self.told_paused.get() || self.protocol.try_borrow_mut().is_err() {
                return;
            }
            self.told_paused.set(want);
            self.invoke(|p| {
                if want {
                    p.pause_writing();
                } else {
                    p.resume_writing();
                }
            });
        }
    }

    fn update_flow_control(&self, buffered: usize) {
        let paused = self.want_paused.get();
        if !paused && buffered > self.high.get() {
            self.want_paused.set(true);
        } else if paused && buffered <= self.low.get() {
            self.want_paused.set(false);
        } else {
            return;
        }
        self.deliver_flow_control();
    }

    /// Ends the connection with `error`: nothing more is read or written,
    /// and `connection_lost(Some(error))` follows.
    fn fatal_error(&self, error: io::Error) {
        tracing::debug!("transport: fatal error: {error}");
        self.closing.set(true);
        self.out.borrow_mut().clear();
        self.schedule_lost(Some(error));
    }

    /// Queues `connection_lost` for the loop's next step (never inline, so
    /// it cannot run inside another callback of the same protocol).
    fn schedule_lost(&self, error: Option<io::Error>) {
        if self.lost.replace(true) {
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
        if catch_unwind(AssertUnwindSafe(|| drop(protocol))).is_err() {
            tracing::error!("a protocol's destructor panicked");
        }
        if let Some(io) = self.io.borrow_mut().take() {
            io.registration().clear_handler();
            drop(io); // closes the socket
        }
        let on_lost = self.on_lost.borrow_mut().take();
        if let Some(f) = on_lost {
            f();
        }
    }

    #[inline]
    fn read_ready(&self) {
        for _ in 0..MAX_READS_PER_WAKE {
            if self.closing.get() || self.reading_paused.get() || self.read_eof.get() {
                return;
            }
            match self.read_once() {
                ReadStep::More => {}
                ReadStep::Drained => return,
            }
        }
        // Still readable after a full turn: come back next step, after the
        // other sources had theirs.
        self.schedule_read();
    }

    fn schedule_read(&self) {
        let Some(me) = self.me.upgrade() else { return };
        context::with_current(|core| core.call_soon(Box::new(move || me.read_ready())));
    }

    #[inline]
    fn read_once(&self) -> ReadStep {
        let io_ref = self.io.borrow();
        let Some(io) = io_ref.as_ref() else {
            return ReadStep::Drained;
        };
        // Into the protocol's own buffer (BufferedProtocol), or the loop's.
        let result = if P::BUFFERED {
            let mut result = None;
            self.invoke(|p| {
                if let Some(buf) = p.get_buffer(READ_BUF_SIZE).filter(|b| !b.is_empty()) {
                    let len = buf.len();
                    let r = io.io().read(buf);
                    if let Ok(n @ 1..) = r {
                        p.buffer_updated(n);
                    }
                    result = Some(r.map(|n| (n, len)));
                }
            });
            match result {
                Some(r) => r,
                None => return ReadStep::Drained, // protocol gone, panicked or no buffer
            }
        } else {
            with_read_buf(|buf| {
                let r = io.io().read(buf);
                if let Ok(n @ 1..) = r {
                    self.invoke(|p| p.data_received(&buf[..n]));
                }
                r.map(|n| (n, buf.len()))
            })
        };
        let step = match result {
            Ok((0, _)) => {
                self.read_eof.set(true);
                // A read-only pipe has no write side to keep open.
                let writable = io.io().writable();
                drop(io_ref);
                self.deliver_flow_control();
                let keep_open = self.call_protocol(|p| p.eof_received());
                if keep_open != Some(true) || !writable {
                    self.close();
                }
                return ReadStep::Drained;
            }
            Ok((n, len)) if n < len && io.io().short_read_drains() => {
                let reg = io.registration();
                reg.clear_ready(Direction::Read);
                // EOF or an error may have come with the data; their edge
                // is spent, so read on to see them.
                if reg.state().readiness() & ready::READ_ANY != 0 {
                    ReadStep::More
                } else {
                    ReadStep::Drained
                }
            }
            Ok(_) => ReadStep::More,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                io.registration().clear_ready(Direction::Read);
                ReadStep::Drained
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => ReadStep::More,
            Err(e) => {
                drop(io_ref);
                self.fatal_error(e);
                return ReadStep::Drained;
            }
        };
        drop(io_ref);
        self.deliver_flow_control();
        step
    }

    fn clear_ready(&self, dir: Direction) {
        if let Some(io) = self.io.borrow().as_ref() {
            io.registration().clear_ready(dir);
        }
    }

    fn readiness(&self) -> u8 {
        self.io
            .borrow()
            .as_ref()
            .map_or(0, |io| io.registration().state().readiness())
    }

    fn write_ready(&self) {
        if self.lost.get() {
            return;
        }
        let flushed = {
            let mut out = self.out.borrow_mut();
            if !out.is_empty() {
                match self.flush(&mut out) {
                    Ok(()) => {}
                    Err(e) => {
                        drop(out);
                        self.fatal_error(e);
                        return;
                    }
                }
            }
            out.len()
        };
        self.update_flow_control(flushed);
        if flushed == 0 {
            self.after_flush();
        }
    }

    /// Writes as much of `out` as the kernel takes.
    fn flush(&self, out: &mut WriteBuffer) -> io::Result<()> {
        let io_ref = self.io.borrow();
        let Some(io) = io_ref.as_ref() else {
            return Ok(());
        };
        while !out.is_empty() {
            match io.io().write(out.as_slice()) {
                Ok(n) => {
                    let short = n < out.len();
                    out.consume(n);
                    if short {
                        io.registration().clear_ready(Direction::Write);
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    io.registration().clear_ready(Direction::Write);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The buffer is empty: finish a pending close or EOF.
    fn after_flush(&self) {
        if self.closing.get() {
            self.schedule_lost(None);
        } else if self.eof_requested.get() {
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

    /// Whether a write may be tried now, straight to the socket.
    fn can_try_write(&self) -> bool {
        self.readiness() & ready::WRITE_ANY != 0
    }

    #[inline]
    fn accepts_writes(&self) -> bool {
        if self.eof_requested.get() {
            warn_write_after_eof();
            return false;
        }
        !self.closing.get()
    }
}

/// The reactor's handle on a connection. A protocol usually keeps its
/// `Transport`, so the protocol and the connection hold each other; the
/// reactor drops this handler when the connection is lost (the protocol is
/// already gone then) and, for connections still open, when the loop ends
/// (`Reactor::clear_handlers`). That second case must break the cycle
/// here: before this wrapper existed, a connection left open when
/// `aio::run` returned kept its socket open, so the peer never saw EOF
/// (and a pipe's borrowed flags were never restored).
struct Driver<P: Protocol, S: StreamSocket>(Rc<Conn<P, S>>);

impl<P: Protocol, S: StreamSocket> ReadyHandler for Driver<P, S> {
    fn on_ready(self: Rc<Self>, readiness: u8) {
        self.0.ready(readiness);
    }
}

impl<P: Protocol, S: StreamSocket> Drop for Driver<P, S> {
    fn drop(&mut self) {
        let conn = &self.0;
        // After connection_lost the protocol was taken (and `io` is
        // borrowed by the code clearing this handler): nothing to do.
        let protocol = match conn.protocol.try_borrow_mut() {
            Ok(mut p) => p.take(),
            Err(_) => None,
        };
        let Some(protocol) = protocol else { return };
        // The loop is ending with the connection open. As in asyncio, no
        // callback runs from a closing loop: the protocol is dropped and
        // the socket closed, and later commands do nothing.
        conn.closing.set(true);
        conn.lost.set(true);
        if catch_unwind(AssertUnwindSafe(|| drop(protocol))).is_err() {
            tracing::error!("a protocol's destructor panicked");
        }
        let io = conn.io.try_borrow_mut().ok().and_then(|mut io| io.take());
        drop(io); // closes the socket
    }
}

#[cold]
fn warn_write_after_eof() {
    tracing::warn!("transport: write after write_eof ignored");
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
    fn ready(&self, readiness: u8) {
        if readiness & ready::READ_ANY != 0 {
            self.read_ready();
        }
        // Most events carry "writable" too; with nothing buffered there is
        // nothing to do (a pending close or EOF went out when the buffer
        // emptied).
        if readiness & ready::WRITE_ANY != 0 && !self.out.borrow().is_empty() {
            self.write_ready();
        }
    }
}

impl<P: Protocol, S: StreamSocket> TransportOps for Conn<P, S> {
    fn write(&self, data: &[u8]) {
        if data.is_empty() || !self.accepts_writes() {
            return;
        }
        let mut out = self.out.borrow_mut();
        if out.is_empty() {
            // Nothing queued: try the socket first, buffer only the rest.
            let io_ref = self.io.borrow();
            let Some(io) = io_ref.as_ref() else { return };
            let reg = io.registration();
            if reg.state().readiness() & ready::WRITE_ANY != 0 {
                let result = loop {
                    match io.io().write(data) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        other => break other,
                    }
                };
                match result {
                    Ok(n) if n == data.len() => return,
                    Ok(n) => {
                        reg.clear_ready(Direction::Write);
                        out.extend(&data[n..]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        reg.clear_ready(Direction::Write);
                        out.extend(data);
                    }
                    Err(e) => {
                        drop(io_ref);
                        drop(out);
                        self.fatal_error(e);
                        return;
                    }
                }
            } else {
                out.extend(data);
            }
        } else {
            out.extend(data);
        }
        let buffered = out.len();
        drop(out);
        self.update_flow_control(buffered);
    }

    fn writelines(&self, chunks: &[&[u8]]) {
        if !self.accepts_writes() {
            return;
        }
        let mut out = self.out.borrow_mut();
        let mut sent = 0;
        if out.is_empty() && self.can_try_write() {
            let slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
            let result = match self.io.borrow().as_ref() {
                Some(io) => io.io().write_vectored(&slices),
                None => return,
            };
            let total: usize = chunks.iter().map(|c| c.len()).sum();
            match result {
                Ok(n) => {
                    sent = n;
                    if n < total {
                        self.clear_ready(Direction::Write);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.clear_ready(Direction::Write)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    drop(out);
                    self.fatal_error(e);
                    return;
                }
            }
        }
        for chunk in chunks {
            if sent >= chunk.len() {
                sent -= chunk.len();
                continue;
            }
            out.extend(&chunk[sent..]);
            sent = 0;
        }
        let buffered = out.len();
        drop(out);
        self.update_flow_control(buffered);
    }

    fn write_eof(&self) {
        if self.closing.get() || self.eof_requested.replace(true) {
            return;
        }
        if self.out.borrow().is_empty() {
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
        if self.closing.replace(true) {
            return;
        }
        if self.out.borrow().is_empty() {
            self.schedule_lost(None);
        }
    }

    fn abort(&self) {
        self.closing.set(true);
        self.out.borrow_mut().clear();
        self.schedule_lost(None);
    }

    fn is_closing(&self) -> bool {
        self.closing.get()
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
        self.reading_paused.set(true);
    }

    fn resume_reading(&self) {
        if !self.reading_paused.replace(false) {
            return;
        }
        // Edge-triggered: the data that arrived while paused raised its
        // edge already, so read now rather than wait for another.
        if self.readiness() & ready::READ_ANY != 0 {
            self.schedule_read();
        }
    }

    fn is_reading(&self) -> bool {
        !self.reading_paused.get() && !self.closing.get() && !self.read_eof.get()
    }

    fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) {
        let (high, low) = super::water_marks(high, low);
        self.high.set(high);
        self.low.set(low);
        let buffered = self.out.borrow().len();
        self.update_flow_control(buffered);
    }

    fn write_buffer_limits(&self) -> (usize, usize) {
        (self.low.get(), self.high.get())
    }

    fn write_buffer_size(&self) -> usize {
        self.out.borrow().len()
    }
}

impl<P, S: StreamSocket> fmt::Debug for Conn<P, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("closing", &self.closing.get())
            .field("buffered", &self.out.borrow().len())
            .finish()
    }
}
