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

/// The byte-stream methods `TcpStream` and `UnixStream` share, written
/// once: each type has an `io: PollEvented<_>` field of its mio socket, and
/// the bodies delegate to this module's functions. Expanded inside each
/// type's `impl` block, so the methods and their docs are the type's own.
macro_rules! byte_stream_methods {
    () => {
        /// Reads some bytes (asyncio's `sock_recv`); `Ok(0)` means EOF.
        ///
        /// # Cancel safety
        ///
        /// Cancel-safe: no data is lost if the future is dropped.
        pub async fn read(&self, buf: &mut [u8]) -> ::std::io::Result<usize> {
            ::std::future::poll_fn(|cx| self.poll_read(cx, buf)).await
        }

        /// Writes some bytes; returns how many.
        pub async fn write(&self, buf: &[u8]) -> ::std::io::Result<usize> {
            ::std::future::poll_fn(|cx| self.poll_write(cx, buf)).await
        }

        /// Writes all of `buf` (asyncio's `sock_sendall`).
        ///
        /// # Cancel safety
        ///
        /// Not cancel-safe: part of `buf` may have been sent.
        // Not an `async fn`: returning the shared future itself keeps a
        // connection's state one level smaller.
        pub fn write_all<'a>(
            &'a self,
            buf: &'a [u8],
        ) -> impl ::std::future::Future<Output = ::std::io::Result<()>> + 'a {
            $crate::net::stream::write_all(&self.io, buf)
        }

        /// Waits until the socket is readable: data, EOF or an error waits,
        /// so the next [`try_read`](Self::try_read) makes progress (or, after
        /// a spurious wake-up, says `WouldBlock`). Holds no buffer while it
        /// waits, so a server with many idle connections can read them all
        /// into one buffer of its own.
        ///
        /// # Errors
        ///
        /// None today; the `Result` leaves room for a closed loop.
        ///
        /// # Cancel safety
        ///
        /// Cancel-safe.
        pub async fn readable(&self) -> ::std::io::Result<()> {
            ::std::future::poll_fn(|cx| {
                self.io
                    .registration()
                    .poll_ready(cx, $crate::runtime::reactor::Direction::Read)
            })
            .await;
            Ok(())
        }

        /// Reads without waiting: `Ok(0)` at EOF, `WouldBlock` when nothing
        /// is ready (then await [`readable`](Self::readable)).
        ///
        /// # Errors
        ///
        /// `WouldBlock`, or the OS's error.
        pub fn try_read(&self, buf: &mut [u8]) -> ::std::io::Result<usize> {
            $crate::net::stream::try_read(&self.io, buf)
        }

        /// Waits until the socket can take more bytes (or has an error to
        /// report).
        ///
        /// # Errors
        ///
        /// None today; the `Result` leaves room for a closed loop.
        ///
        /// # Cancel safety
        ///
        /// Cancel-safe.
        pub async fn writable(&self) -> ::std::io::Result<()> {
            ::std::future::poll_fn(|cx| {
                self.io
                    .registration()
                    .poll_ready(cx, $crate::runtime::reactor::Direction::Write)
            })
            .await;
            Ok(())
        }

        /// Writes without waiting; returns how many bytes the kernel took, or
        /// `WouldBlock` when it has no room (then await
        /// [`writable`](Self::writable)).
        ///
        /// # Errors
        ///
        /// `WouldBlock`, or the OS's error (`BrokenPipe` after a reset).
        pub fn try_write(&self, buf: &[u8]) -> ::std::io::Result<usize> {
            $crate::net::stream::try_write(&self.io, buf)
        }

        /// Polls a read.
        pub fn poll_read(
            &self,
            cx: &mut ::std::task::Context<'_>,
            buf: &mut [u8],
        ) -> ::std::task::Poll<::std::io::Result<usize>> {
            $crate::net::stream::poll_read(&self.io, cx, buf)
        }

        /// Polls a write.
        pub fn poll_write(
            &self,
            cx: &mut ::std::task::Context<'_>,
            buf: &[u8],
        ) -> ::std::task::Poll<::std::io::Result<usize>> {
            $crate::net::stream::poll_write(&self.io, cx, buf)
        }

        /// Polls a vectored write (`writev`).
        pub fn poll_write_vectored(
            &self,
            cx: &mut ::std::task::Context<'_>,
            bufs: &[::std::io::IoSlice<'_>],
        ) -> ::std::task::Poll<::std::io::Result<usize>> {
            $crate::net::stream::poll_write_vectored(&self.io, cx, bufs)
        }

        /// Shuts down one or both directions; `Shutdown::Write` sends EOF
        /// (half-close) while reading goes on.
        ///
        /// # Errors
        ///
        /// The OS's error (e.g. not connected).
        pub fn shutdown(&self, how: ::std::net::Shutdown) -> ::std::io::Result<()> {
            self.io.io().shutdown(how)
        }
    };
}
pub(crate) use byte_stream_methods;
