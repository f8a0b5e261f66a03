//! What every stream socket of this layer (TCP, Unix) does the same way:
//! poll a read or a write through the reactor, wait for readiness, try
//! an operation without waiting, and `write_all`.

use std::future::poll_fn;
use std::io::{self, IoSlice, Read, Write};
use std::task::{Context, Poll};

use mio::event::Source;

use crate::runtime::reactor::{Direction, PollEvented};

/// Polls a read. A short read drained the receive queue, and the next
/// arrival raises a new edge, so readiness is cleared at once instead of
/// after an `EAGAIN` read that would only say so.
pub(crate) fn poll_read<S>(
    io: &PollEvented<S>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>>
where
    S: Source,
    for<'a> &'a S: Read,
{
    let reg = io.registration();
    let res = reg.poll_io(cx, Direction::Read, || io.io().read(buf));
    if let Poll::Ready(Ok(n)) = res {
        if n > 0 && n < buf.len() {
            reg.clear_ready(Direction::Read);
        }
    }
    res
}

/// Polls a write; a short write means the send buffer is full.
pub(crate) fn poll_write<S>(
    io: &PollEvented<S>,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>>
where
    S: Source,
    for<'a> &'a S: Write,
{
    let reg = io.registration();
    let res = reg.poll_io(cx, Direction::Write, || io.io().write(buf));
    if let Poll::Ready(Ok(n)) = res {
        if n < buf.len() {
            reg.clear_ready(Direction::Write);
        }
    }
    res
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
/// syscall) if not. Clears the readiness a short or refused read proves
/// spent, so the next `ready` waits for a new edge.
pub(crate) fn try_read<S>(io: &PollEvented<S>, buf: &mut [u8]) -> io::Result<usize>
where
    S: Source,
    for<'a> &'a S: Read,
{
    let reg = io.registration();
    if !reg.is_ready(Direction::Read) {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    match io.io().read(buf) {
        Ok(n) => {
            if n > 0 && n < buf.len() {
                reg.clear_ready(Direction::Read);
            }
            Ok(n)
        }
        Err(e) => {
            if e.kind() == io::ErrorKind::WouldBlock {
                reg.clear_ready(Direction::Read);
            }
            Err(e)
        }
    }
}

/// One write if the socket is known writable; `WouldBlock` if not.
pub(crate) fn try_write<S>(io: &PollEvented<S>, buf: &[u8]) -> io::Result<usize>
where
    S: Source,
    for<'a> &'a S: Write,
{
    let reg = io.registration();
    if !reg.is_ready(Direction::Write) {
        return Err(io::ErrorKind::WouldBlock.into());
    }
    match io.io().write(buf) {
        Ok(n) => {
            if n < buf.len() {
                reg.clear_ready(Direction::Write);
            }
            Ok(n)
        }
        Err(e) => {
            if e.kind() == io::ErrorKind::WouldBlock {
                reg.clear_ready(Direction::Write);
            }
            Err(e)
        }
    }
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
