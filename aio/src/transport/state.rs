//! The half of a stream connection that does not depend on its protocol:
//! the descriptor, the state flags, the write buffer and its water marks.
//!
//! Not being generic is the point. `Transport::write` reaches this state
//! with one virtual call and runs the common case — nothing queued, room in
//! the socket — inline in the caller: one flags test, one `send`, no
//! buffer, no `RefCell`. Everything that needs the protocol (flow-control
//! notifications, `connection_lost`) stays in the generic `Conn`, which
//! this module tells when it is due.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::rc::Rc;

use rustix::net::SendFlags;

use super::buffer::WriteBuffer;
use super::recv::{read_append, read_fd};
use super::DEFAULT_HIGH_WATER;
use crate::runtime::reactor::{Direction, IoState};

/// The connection's state bits, kept in one word so the hot paths test
/// them with one load.
pub(crate) mod flag {
    /// `close`, `abort` or a fatal error: no more reads or writes accepted.
    pub(crate) const CLOSING: u8 = 1;
    /// `write_eof` was called; EOF goes out once the buffer is flushed.
    pub(crate) const EOF_REQUESTED: u8 = 2;
    /// `pause_reading` is in effect.
    pub(crate) const READ_PAUSED: u8 = 4;
    /// The peer sent EOF.
    pub(crate) const READ_EOF: u8 = 8;
    /// `connection_lost` has been scheduled.
    pub(crate) const LOST: u8 = 16;
    /// The write buffer holds bytes the kernel has not taken.
    pub(crate) const BUFFERED: u8 = 32;
    /// The descriptor is a pipe, terminal or file (`FdKind::Pipe`): fixed
    /// at creation, kept here so the inline write's one flags test also
    /// picks the syscall.
    pub(crate) const PIPE: u8 = 64;
    /// Reads stop for any of these.
    pub(crate) const NO_READ: u8 = CLOSING | READ_PAUSED | READ_EOF;
    /// A write goes straight to the socket only when none of these is set.
    pub(crate) const NO_DIRECT_WRITE: u8 = CLOSING | EOF_REQUESTED | BUFFERED;
    /// The inline write (a socket's `send`) runs only when none of these
    /// is set.
    pub(crate) const NO_INLINE_WRITE: u8 = NO_DIRECT_WRITE | PIPE;
}

/// How the descriptor is read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FdKind {
    /// A stream socket: `recv`/`send` with `MSG_NOSIGNAL`, so a peer that
    /// reset the connection yields `EPIPE`, never a `SIGPIPE`.
    Socket,
    /// A pipe, terminal or file: plain `read`/`write`.
    Pipe,
}

/// What a write through [`ConnState::write`] leaves for the generic side.
pub(crate) enum Wrote {
    /// Nothing more to do.
    Done,
    /// The buffer crossed a water mark: a flow-control notification is due.
    FlowChanged,
    /// The socket failed: the connection must end with this error.
    Failed(io::Error),
}

/// `writelines` passes this many chunks to `writev` without allocating.
const STACK_SLICES: usize = 16;

/// See the module docs.
///
/// `repr(C)` with the fields every read and write touches first (16
/// bytes: one cache line at any alignment malloc gives); the compiler's
/// order put them after the write buffer, across a line boundary for one
/// allocation in four.
#[repr(C)]
pub(crate) struct ConnState {
    /// The readiness the reactor caches for the descriptor.
    io: Rc<IoState>,
    /// The descriptor, owned by the connection's socket; -1 once that is
    /// closed. Closing always sets [`flag::CLOSING`] first.
    fd: Cell<RawFd>,
    flags: Cell<u8>,
    /// Whether a read shorter than the buffer proves the source drained.
    short_read_drains: bool,
    /// Whether the protocol should be paused (buffer above `high`), and
    /// what it was last told.
    pause: PauseNotice,
    /// High- and low-water marks of `out`.
    high: Cell<usize>,
    low: Cell<usize>,
    /// Bytes the kernel has not taken yet.
    out: RefCell<WriteBuffer>,
}

impl ConnState {
    pub(crate) fn new(fd: RawFd, kind: FdKind, short_read_drains: bool, io: Rc<IoState>) -> Self {
        ConnState {
            fd: Cell::new(fd),
            short_read_drains,
            io,
            flags: Cell::new(if kind == FdKind::Pipe { flag::PIPE } else { 0 }),
            out: RefCell::new(WriteBuffer::default()),
            high: Cell::new(DEFAULT_HIGH_WATER),
            low: Cell::new(DEFAULT_HIGH_WATER / 4),
            pause: PauseNotice::default(),
        }
    }

    #[inline]
    pub(crate) fn has(&self, bits: u8) -> bool {
        self.flags.get() & bits != 0
    }

    #[inline]
    pub(crate) fn set(&self, bits: u8) {
        self.flags.set(self.flags.get() | bits);
    }

    /// Sets `bits` and says whether any of them was set already.
    #[inline]
    pub(crate) fn replace(&self, bits: u8) -> bool {
        let old = self.flags.get();
        self.flags.set(old | bits);
        old & bits != 0
    }

    #[inline]
    pub(crate) fn unset(&self, bits: u8) {
        self.flags.set(self.flags.get() & !bits);
    }

    #[inline]
    pub(crate) fn readiness(&self) -> u8 {
        self.io.readiness()
    }

    #[inline]
    pub(crate) fn clear_ready(&self, dir: Direction) {
        self.io.clear_ready(dir);
    }

    /// After a short read, when [`short_read_drains`](Self::short_read_drains);
    /// returns the readiness left.
    #[inline]
    pub(crate) fn clear_readable(&self) -> u8 {
        self.io.clear_readable()
    }

    pub(crate) fn short_read_drains(&self) -> bool {
        self.short_read_drains
    }

    /// The descriptor is about to close: nothing may use it from now on.
    pub(crate) fn forget_fd(&self) {
        self.set(flag::CLOSING);
        self.fd.set(-1);
    }

    fn fd(&self) -> io::Result<BorrowedFd<'_>> {
        let fd = self.fd.get();
        if fd < 0 {
            return Err(io::ErrorKind::NotConnected.into());
        }
        // SAFETY: `fd` is owned by the connection's socket, which outlives
        // this state's use of it: the connection calls `forget_fd` (setting
        // -1) before it drops the socket, and `fd` is read afresh by every
        // call, so no borrow outlives the descriptor.
        Ok(unsafe { BorrowedFd::borrow_raw(fd) })
    }

    /// The descriptor, for a caller that has just seen [`flag::CLOSING`]
    /// clear with no code of another's run since.
    #[inline]
    fn open_fd(&self) -> BorrowedFd<'_> {
        debug_assert!(!self.has(flag::CLOSING) && self.fd.get() >= 0);
        // SAFETY: CLOSING is clear, so the socket is open: the only ways
        // to close it (`close_socket`, `loop_closing`) call `forget_fd`,
        // which sets CLOSING, first; the connection owning the socket
        // lives as long as this state is reachable (every `Transport`
        // holding the state holds the connection too); and the borrow
        // ends with the caller's syscall.
        unsafe { BorrowedFd::borrow_raw(self.fd.get()) }
    }

    /// Whether the descriptor is a pipe, terminal or file.
    #[inline]
    fn kind(&self) -> FdKind {
        if self.has(flag::PIPE) {
            FdKind::Pipe
        } else {
            FdKind::Socket
        }
    }

    /// One `recv` (or `read`) into `buf`, for a caller that has just seen
    /// [`flag::CLOSING`] clear (see [`open_fd`](Self::open_fd)). `kind` is
    /// this state's kind, passed as the caller's constant so the branch
    /// folds away.
    #[inline]
    pub(crate) fn read_open(&self, kind: FdKind, buf: &mut [u8]) -> io::Result<usize> {
        debug_assert_eq!(kind, self.kind());
        read_fd(self.open_fd(), kind, buf)
    }

    /// One `recv` (or `read`) into `buf`; `NotConnected` once the socket
    /// is closed.
    pub(crate) fn read(&self, kind: FdKind, buf: &mut [u8]) -> io::Result<usize> {
        debug_assert_eq!(kind, self.kind());
        read_fd(self.fd()?, kind, buf)
    }

    /// One read appended to `vec`, with `overflow` (the loop's buffer)
    /// taking what its spare capacity cannot (see `recv::read_append`).
    /// Returns the bytes read and how many could have been.
    #[inline]
    pub(crate) fn read_append(
        &self,
        kind: FdKind,
        vec: &mut Vec<u8>,
        overflow: &mut [u8],
    ) -> io::Result<(usize, usize)> {
        debug_assert_eq!(kind, self.kind());
        read_append(self.fd()?, kind, vec, overflow)
    }

    #[inline]
    fn send(&self, data: &[u8]) -> io::Result<usize> {
        let fd = self.fd()?;
        let result = match self.kind() {
            FdKind::Socket => rustix::net::send(fd, data, SendFlags::NOSIGNAL),
            FdKind::Pipe => rustix::io::write(fd, data),
        };
        Ok(result?)
    }

    /// `Transport::write`: straight to the socket when nothing is queued,
    /// else into the buffer. The common case, a socket with nothing
    /// queued, is inline: one flags test and `send`.
    ///
    /// The cached readiness is not consulted. Every write that found the
    /// socket full left bytes queued (`BUFFERED`, which stops this path)
    /// until a writable edge flushed them, so with nothing queued the
    /// socket has room, or is new and has room, or has failed, and `send`
    /// says which. Not reading the readiness spares the write a load from
    /// the reactor's record, which on a server is a likely cache miss by
    /// the time a task writes.
    #[inline]
    pub(crate) fn write(&self, data: &[u8]) -> Wrote {
        if self.flags.get() & flag::NO_INLINE_WRITE == 0 && !data.is_empty() {
            match rustix::net::send(self.open_fd(), data, SendFlags::NOSIGNAL) {
                Ok(n) if n == data.len() => return Wrote::Done,
                result => return self.write_rest(data, result.map_err(io::Error::from)),
            }
        }
        self.write_other(data)
    }

    /// A write the inline path does not take: a pipe's (straight out when
    /// nothing is queued, by the same reasoning as [`write`](Self::write)),
    /// or one that is queued behind earlier bytes or refused after
    /// `close`/`write_eof`.
    #[inline(never)]
    fn write_other(&self, data: &[u8]) -> Wrote {
        if self.flags.get() & flag::NO_DIRECT_WRITE == 0 && !data.is_empty() {
            match self.send(data) {
                Ok(n) if n == data.len() => return Wrote::Done,
                result => return self.write_rest(data, result),
            }
        }
        self.write_queued(data)
    }

    /// After a direct `send` that did not take everything.
    #[inline(never)]
    fn write_rest(&self, data: &[u8], result: io::Result<usize>) -> Wrote {
        match result {
            Ok(n) => {
                self.io.clear_ready(Direction::Write);
                self.buffer(&data[n..])
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.io.clear_ready(Direction::Write);
                self.buffer(data)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => self.write(data),
            Err(e) => Wrote::Failed(e),
        }
    }

    /// A write that cannot go straight out: queued behind earlier bytes,
    /// waiting for room, or refused after `close`/`write_eof`.
    fn write_queued(&self, data: &[u8]) -> Wrote {
        if data.is_empty() || !self.accepts_writes() {
            return Wrote::Done;
        }
        self.buffer(data)
    }

    /// `writelines`: one `writev` (or `sendmsg`) when nothing is queued,
    /// whatever the cached readiness says, as in [`write`](Self::write).
    pub(crate) fn writelines(&self, chunks: &[&[u8]]) -> Wrote {
        if !self.accepts_writes() {
            return Wrote::Done;
        }
        let mut sent = 0;
        if !self.has(flag::BUFFERED) {
            let total: usize = chunks.iter().map(|c| c.len()).sum();
            // Up to `STACK_SLICES` chunks (the common case) without an
            // allocation; more go through a `Vec`.
            let mut on_stack = [io::IoSlice::new(&[]); STACK_SLICES];
            let heap: Vec<io::IoSlice<'_>>;
            let slices: &[io::IoSlice<'_>] = if chunks.len() <= STACK_SLICES {
                for (slot, chunk) in on_stack.iter_mut().zip(chunks) {
                    *slot = io::IoSlice::new(chunk);
                }
                &on_stack[..chunks.len()]
            } else {
                heap = chunks.iter().map(|c| io::IoSlice::new(c)).collect();
                &heap
            };
            match self.send_vectored(slices) {
                Ok(n) => {
                    sent = n;
                    if n < total {
                        self.io.clear_ready(Direction::Write);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.io.clear_ready(Direction::Write);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Wrote::Failed(e),
            }
        }
        let mut out = self.out.borrow_mut();
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
        if buffered > 0 {
            self.set(flag::BUFFERED);
        }
        self.flow_after(buffered)
    }

    fn send_vectored(&self, slices: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let fd = self.fd()?;
        let result = match self.kind() {
            FdKind::Socket => rustix::net::sendmsg(
                fd,
                slices,
                &mut rustix::net::SendAncillaryBuffer::default(),
                SendFlags::NOSIGNAL,
            ),
            FdKind::Pipe => rustix::io::writev(fd, slices),
        };
        Ok(result?)
    }

    /// Whether writes are still taken (warns once about writes after
    /// `write_eof`, which would be silently lost otherwise).
    pub(crate) fn accepts_writes(&self) -> bool {
        if self.has(flag::EOF_REQUESTED) {
            warn_write_after_eof();
            return false;
        }
        !self.has(flag::CLOSING)
    }

    fn buffer(&self, bytes: &[u8]) -> Wrote {
        let mut out = self.out.borrow_mut();
        out.extend(bytes);
        let buffered = out.len();
        drop(out);
        self.set(flag::BUFFERED);
        self.flow_after(buffered)
    }

    fn flow_after(&self, buffered: usize) -> Wrote {
        if self.update_flow(buffered) {
            Wrote::FlowChanged
        } else {
            Wrote::Done
        }
    }

    /// Writes as much of the buffer as the kernel takes; returns what is
    /// left.
    pub(crate) fn flush(&self) -> io::Result<usize> {
        let mut out = self.out.borrow_mut();
        while !out.is_empty() {
            match self.send(out.as_slice()) {
                Ok(n) => {
                    let short = n < out.len();
                    out.consume(n);
                    if short {
                        self.io.clear_ready(Direction::Write);
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.io.clear_ready(Direction::Write);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let left = out.len();
        if left == 0 {
            self.unset(flag::BUFFERED);
        }
        Ok(left)
    }

    /// Drops whatever is buffered (abort, fatal error).
    pub(crate) fn clear_buffer(&self) {
        self.out.borrow_mut().clear();
        self.unset(flag::BUFFERED);
    }

    pub(crate) fn buffered(&self) -> usize {
        if self.has(flag::BUFFERED) {
            self.out.borrow().len()
        } else {
            0
        }
    }

    /// Records whether the protocol should be paused now that `buffered`
    /// bytes wait; true when that changed, so a notification is due.
    pub(crate) fn update_flow(&self, buffered: usize) -> bool {
        let paused = self.pause.wanted();
        if !paused && buffered > self.high.get() {
            self.pause.want(true);
        } else if paused && buffered <= self.low.get() {
            self.pause.want(false);
        } else {
            return false;
        }
        true
    }

    /// The protocol's pause state, for delivering what is due.
    #[inline]
    pub(crate) fn pause(&self) -> &PauseNotice {
        &self.pause
    }

    pub(crate) fn set_limits(&self, high: usize, low: usize) {
        self.high.set(high);
        self.low.set(low);
    }

    /// The water marks, as `(low, high)` (asyncio's order).
    pub(crate) fn limits(&self) -> (usize, usize) {
        (self.low.get(), self.high.get())
    }
}

/// Whether a protocol should be paused (`pause_writing`) and what it was
/// last told; they differ while a notification is due. The socket
/// transport and the TLS layer both deliver through this, by the same
/// rule: only when the protocol is not being called already.
#[derive(Debug, Default)]
pub(crate) struct PauseNotice {
    want: Cell<bool>,
    told: Cell<bool>,
}

impl PauseNotice {
    /// Whether the protocol should be paused now.
    pub(crate) fn wanted(&self) -> bool {
        self.want.get()
    }

    /// Records what the protocol should be; a notification is due if that
    /// differs from what it was told.
    pub(crate) fn want(&self, paused: bool) {
        self.want.set(paused);
    }

    /// A `pause_writing`/`resume_writing` waits to be delivered.
    #[inline]
    pub(crate) fn due(&self) -> bool {
        self.want.get() != self.told.get()
    }

    /// Delivers what is due with `notify(pause)` while `can_call()` says
    /// the protocol can take a call. A callback may flip the state again
    /// (a `resume_writing` that writes a lot): a few rounds settle it, and
    /// a change still pending is delivered after the protocol's next call.
    pub(crate) fn deliver(&self, can_call: impl Fn() -> bool, mut notify: impl FnMut(bool)) {
        for _ in 0..4 {
            if !self.due() || !can_call() {
                return;
            }
            let pause = self.want.get();
            self.told.set(pause);
            notify(pause);
        }
    }
}

#[cold]
fn warn_write_after_eof() {
    tracing::warn!("transport: write after write_eof ignored");
}
