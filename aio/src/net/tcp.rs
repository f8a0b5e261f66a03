//! TCP: the `sock_accept` / `sock_recv` / `sock_sendall` layer.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::{ready, Context, Poll};

use socket2::{Domain, Protocol, Socket, Type};

use super::resolve::{context, resolve};
use super::stream;
use crate::runtime::reactor::{ready, Direction, PollEvented};

/// How a listening socket is set up.
#[derive(Debug, Clone)]
pub struct BindOptions {
    /// The accept queue length (`listen(backlog)`); asyncio's default is 100.
    pub backlog: i32,
    /// `SO_REUSEADDR`, so a restarted server can bind at once. Default on.
    pub reuse_address: bool,
    /// `SO_REUSEPORT`, so several loops (workers) can share one port and the
    /// kernel spreads connections between them. Default off.
    pub reuse_port: bool,
}

impl Default for BindOptions {
    fn default() -> Self {
        BindOptions {
            backlog: 1024,
            reuse_address: true,
            reuse_port: false,
        }
    }
}

/// A listening TCP socket.
///
/// ```no_run
/// # async fn serve() -> std::io::Result<()> {
/// let listener = aio::net::TcpListener::bind("127.0.0.1:8000".parse().unwrap())?;
/// loop {
///     let (stream, peer) = listener.accept().await?;
///     aio::spawn(async move {
///         let mut buf = [0; 1024];
///         while let Ok(n @ 1..) = stream.read(&mut buf).await {
///             if stream.write_all(&buf[..n]).await.is_err() {
///                 break;
///             }
///         }
///         println!("{peer} left");
///     });
/// }
/// # }
/// # aio::run(async { serve().await.unwrap() });
/// ```
pub struct TcpListener {
    io: PollEvented<mio::net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` with the default [`BindOptions`].
    ///
    /// # Errors
    ///
    /// When the socket cannot be created or bound; the message names the
    /// address.
    ///
    /// # Panics
    ///
    /// Outside a running loop.
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        Self::bind_with(addr, &BindOptions::default())
    }

    /// Binds to `addr` with `options`.
    ///
    /// # Errors
    ///
    /// As [`TcpListener::bind`].
    pub fn bind_with(addr: SocketAddr, options: &BindOptions) -> io::Result<TcpListener> {
        let listener =
            bind_socket(addr, options).map_err(|e| context(e, format!("bind {addr}")))?;
        Self::from_std(listener)
    }

    /// Resolves `host` (off the loop) and binds to the first address that
    /// works.
    ///
    /// # Errors
    ///
    /// When resolution fails or no address can be bound (the last error).
    pub async fn bind_host(host: &str, port: u16, options: &BindOptions) -> io::Result<Self> {
        let mut last = None;
        for addr in resolve(host, port).await? {
            match Self::bind_with(addr, options) {
                Ok(l) => return Ok(l),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other(format!("no address to bind for {host}"))))
    }

    /// Wraps a bound, listening std listener (made non-blocking here).
    ///
    /// # Errors
    ///
    /// When it cannot be made non-blocking or registered.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        let io = PollEvented::new(mio::net::TcpListener::from_std(listener), ready::READABLE)?;
        Ok(TcpListener { io })
    }

    /// Accepts a connection (asyncio's `sock_accept`). The stream has
    /// `TCP_NODELAY` set.
    ///
    /// # Errors
    ///
    /// The OS's error, e.g. `EMFILE` when the process is out of file
    /// descriptors: the pending connection stays queued, so a server should
    /// pause before accepting again rather than retry at once.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: no connection is lost if the future is dropped.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for one connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let reg = self.io.registration();
        let (stream, peer) = ready!(reg.poll_io(cx, Direction::Read, || self.io.io().accept()))?;
        // Nagle's delay only hurts request/response traffic; asyncio sets
        // TCP_NODELAY on every stream socket too. Failing to set it is
        // harmless, so it is not an accept error.
        let _ = stream.set_nodelay(true);
        let stream = TcpStream::from_mio(stream, ready::READABLE | ready::WRITABLE)?;
        Poll::Ready(Ok((stream, peer)))
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.io().local_addr()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// Creates, configures, binds and listens, with `socket2`.
pub(crate) fn bind_socket(
    addr: SocketAddr,
    options: &BindOptions,
) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if options.reuse_address {
        socket.set_reuse_address(true)?;
    }
    if options.reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(options.backlog)?;
    Ok(socket.into())
}

/// A TCP connection. Methods take `&self`, so one task can read while
/// another writes (share it with an `Rc`).
///
/// `TcpStream` and `&TcpStream` implement the `futures-io` traits and, with
/// the `tokio-io` feature, tokio's `AsyncRead` / `AsyncWrite`.
pub struct TcpStream {
    io: PollEvented<mio::net::TcpStream>,
}

impl TcpStream {
    pub(crate) fn from_mio(stream: mio::net::TcpStream, initial: u8) -> io::Result<Self> {
        Ok(TcpStream {
            io: PollEvented::new(stream, initial)?,
        })
    }

    /// Connects to `host:port`: resolves off the loop, then tries each
    /// address in turn (asyncio's `create_connection` does the same).
    ///
    /// # Errors
    ///
    /// Resolution failure, or the last address's error, naming it.
    pub async fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
        let mut last = None;
        for addr in resolve(host, port).await? {
            match Self::connect_addr(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other(format!("no address for {host}"))))
    }

    /// Connects to one address.
    ///
    /// # Errors
    ///
    /// The connect error, e.g. `ConnectionRefused`, naming the address.
    pub async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = mio::net::TcpStream::connect(addr)
            .map_err(|e| context(e, format!("connect to {addr}")))?;
        let stream = TcpStream::from_mio(stream, 0)?;
        // The connect completes (or fails) when the socket turns writable.
        poll_fn(|cx| stream.io.registration().poll_ready(cx, Direction::Write)).await;
        if let Some(e) = stream.io.io().take_error()? {
            return Err(context(e, format!("connect to {addr}")));
        }
        match stream.io.io().peer_addr() {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("connect to {addr}: connection refused"),
                ));
            }
            Err(e) => return Err(context(e, format!("connect to {addr}"))),
        }
        let _ = stream.io.io().set_nodelay(true);
        Ok(stream)
    }

    /// Wraps a connected std stream (made non-blocking here).
    ///
    /// # Errors
    ///
    /// When it cannot be made non-blocking or registered.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_mio(
            mio::net::TcpStream::from_std(stream),
            ready::READABLE | ready::WRITABLE,
        )
    }

    stream::byte_stream_methods!();

    /// The remote address.
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

    /// Sets `TCP_NODELAY` (on by default for aio streams).
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.io.io().set_nodelay(on)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.io().nodelay()
    }

    /// The pending socket error (`SO_ERROR`), if any.
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.io().take_error()
    }

    pub(crate) fn into_evented(self) -> PollEvented<mio::net::TcpStream> {
        self.io
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}
