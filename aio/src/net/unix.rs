//! Unix domain stream sockets.

use std::fmt;
use std::future::poll_fn;
use std::io;
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

    stream::byte_stream_methods!();

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
