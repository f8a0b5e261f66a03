//! What every stream socket of this layer (TCP, Unix) does the same way:
//! poll a read or a write through the reactor, wait for readiness, try
//! an operation without waiting, and `write_all`.

use std::future::poll_fn;
use std::io::{self, IoSlice, Read, Write};
use std::task::{Context, Poll};

use mio::event::Source;

use crate::runtime::reactor::{Direction, PollEvented};

/// Polls a read: waits for readiness, then [`try_read`].
pub(crate) fn poll_read<S>(
    io: &PollEvented<S>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>>
where
    S: Source,
    for<'a> &'a S: Read,
{
    io.registration()
        .poll_io(cx, Direction::Read, || try_read(io, buf))
}

/// Polls a write: waits for readiness, then [`try_write`].
pub(crate) fn poll_write<S>(
    io: &PollEvented<S>,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>>
where
    S: Source,
    for<'a> &'a S: Write,
{
    io.registration()
        .poll_io(cx, Direction::Write, || try_write(io, buf))
}

/// Polls a vectored write (`writev`).
pub(crate) fn poll_write_vectored<S>(
    io: &PollEvented<S>,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>>
where
    S: Source,
    for<'a> &'a S: Write,
{
    let reg = io.registration();
    reg.poll_io(cx, Direction::Write, || io.io().write_vectored(bufs))
}

/// One read if the socket is known readable; `WouldBlock` (without a
/// syscall) if not. Clears the readiness that a refused read, or a short
/// one, proves spent: a short read drained the receive queue and the next
/// arrival raises a new edge, so no `EAGAIN` read is needed to learn it.
pub(crate) fn try_read<S>(io: &PollEvented<S>, buf: &mut [u8]) -> io::Result<usize>
where
    S: Source,
    for<'a> &'a S: Read,
{
    let reg = io.registration();
    if !reg.is_ready(Direction::Read) {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    let result = io.io().read(buf);
    let spent = match &result {
        Ok(n) => *n > 0 && *n < buf.len(), // 0 is EOF, not a short read
        Err(e) => e.kind() == io::ErrorKind::WouldBlock,
    };
    if spent {
        reg.clear_ready(Direction::Read);
    }
    result
}

/// One write if the socket is known writable; `WouldBlock` if not. A
/// short write means the send buffer is full.
pub(crate) fn try_write<S>(io: &PollEvented<S>, buf: &[u8]) -> io::Result<usize>
where
    S: Source,
    for<'a> &'a S: Write,
{
    let reg = io.registration();
    if !reg.is_ready(Direction::Write) {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    let result = io.io().write(buf);
    let spent = match &result {
        Ok(n) => *n < buf.len(),
        Err(e) => e.kind() == io::ErrorKind::WouldBlock,
    };
    if spent {
        reg.clear_ready(Direction::Write);
    }
    result
}

/// Writes all of `buf` (asyncio's `sock_sendall`).
pub(crate) async fn write_all<S>(io: &PollEvented<S>, mut buf: &[u8]) -> io::Result<()>
where
    S: Source,
    for<'a> &'a S: Write,
{
    while !buf.is_empty() {
        let n = poll_fn(|cx| poll_write(io, cx, buf)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
    }
    Ok(())
}
