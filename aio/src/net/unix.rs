//! Unix domain stream sockets.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::task::{ready, Context, Poll};

use super::resolve::context;
use super::stream;
use crate::runtime::reactor::{ready as bits, Direction, PollEvented};

/// A listening Unix socket.
pub struct UnixListener {
    io: PollEvented<mio::net::UnixListener>,
}

impl UnixListener {
    /// Binds to `path` (which must not exist).
    ///
    /// # Errors
    ///
    /// When the socket cannot be bound; the message names the path.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let path = path.as_ref();
        let l = mio::net::UnixListener::bind(path)
            .map_err(|e| context(e, format!("bind {}", path.display())))?;
        Ok(UnixListener {
            io: PollEvented::new(l, bits::READABLE)?,
        })
    }

    /// Accepts a connection.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for one connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        let reg = self.io.registration();
        let (s, addr) = ready!(reg.poll_io(cx, Direction::Read, || self.io.io().accept()))?;
        Poll::Ready(UnixStream::from_mio(s, bits::READABLE | bits::WRITABLE).map(|s| (s, addr)))
    }

    /// The bound address.
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.io().local_addr()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// A Unix stream connection; methods take `&self`, as [`super::TcpStream`].
///
/// `UnixStream` and `&UnixStream` implement the `futures-io` traits and,
/// with the `tokio-io` feature, tokio's `AsyncRead` / `AsyncWrite`.
pub struct UnixStream {
    io: PollEvented<mio::net::UnixStream>,
}

impl UnixStream {
    pub(crate) fn from_mio(s: mio::net::UnixStream, initial: u8) -> io::Result<Self> {
        Ok(UnixStream {
            io: PollEvented::new(s, initial)?,
        })
    }

    /// Connects to the socket at `path`.
    ///
    /// # Errors
    ///
    /// The connect error, naming the path.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let path = path.as_ref();
        let s = mio::net::UnixStream::connect(path)
            .map_err(|e| context(e, format!("connect to {}", path.display())))?;
        let stream = UnixStream::from_mio(s, 0)?;
        poll_fn(|cx| stream.io.registration().poll_ready(cx, Direction::Write)).await;
        if let Some(e) = stream.io.io().take_error()? {
            return Err(context(e, format!("connect to {}", path.display())));
        }
        Ok(stream)
    }

    /// A connected pair, e.g. for tests.
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        let both = bits::READABLE | bits::WRITABLE;
        Ok((
            UnixStream::from_mio(a, both)?,
            UnixStream::from_mio(b, both)?,
        ))
    }

    /// Reads some bytes; `Ok(0)` at EOF.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read(cx, buf)).await
    }

    /// Writes some bytes.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_write(cx, buf)).await
    }

    /// Writes all of `buf`.
    // Not an `async fn`: returning the shared future itself keeps a
    // connection's state one level smaller.
    pub fn write_all<'a>(&'a self, buf: &'a [u8]) -> impl Future<Output = io::Result<()>> + 'a {
        stream::write_all(&self.io, buf)
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
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| self.io.registration().poll_ready(cx, Direction::Read)).await;
        Ok(())
    }

    /// Reads without waiting: `Ok(0)` at EOF, `WouldBlock` when nothing
    /// is ready (then await [`readable`](Self::readable)).
    ///
    /// # Errors
    ///
    /// `WouldBlock`, or the OS's error.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        stream::try_read(&self.io, buf)
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
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| self.io.registration().poll_ready(cx, Direction::Write)).await;
        Ok(())
    }

    /// Writes without waiting; returns how many bytes the kernel took, or
    /// `WouldBlock` when it has no room (then await
    /// [`writable`](Self::writable)).
    ///
    /// # Errors
    ///
    /// `WouldBlock`, or the OS's error (`BrokenPipe` after a reset).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        stream::try_write(&self.io, buf)
    }

    /// Polls a read.
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        stream::poll_read(&self.io, cx, buf)
    }

    /// Polls a write.
    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        stream::poll_write(&self.io, cx, buf)
    }

    /// Polls a vectored write.
    pub fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        stream::poll_write_vectored(&self.io, cx, bufs)
    }

    /// Shuts down one or both directions.
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.io().shutdown(how)
    }

    /// The peer's address.
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.io().peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.io().local_addr()
    }

    pub(crate) fn into_evented(self) -> PollEvented<mio::net::UnixStream> {
        self.io
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}
