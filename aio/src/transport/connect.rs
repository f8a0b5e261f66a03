//! `create_connection` (asyncio's `loop.create_connection`).

use std::fmt;
use std::io;
use std::path::Path;
use std::rc::Rc;

use super::socket::Conn;
use super::{start_transport, Protocol, StreamSocket, Transport};
use crate::net::{TcpStream, UnixStream};
use crate::runtime::reactor::PollEvented;
use crate::tls::{self, TlsConnector};

/// Reaches a connection's protocol from outside its callbacks (the
/// `protocol` of asyncio's `transport, protocol = await
/// loop.create_connection(...)`). The protocol is gone once
/// `connection_lost` has run.
pub struct ProtocolHandle<P> {
    conn: Rc<dyn ProtocolCell<P>>,
}

/// Where a connection keeps its protocol: the socket transport itself, or
/// the TLS layer in front of it.
pub(crate) trait ProtocolCell<P> {
    fn with_dyn(&self, f: &mut dyn FnMut(&mut P));
}

impl<P: Protocol, S: StreamSocket> ProtocolCell<P> for Conn<P, S> {
    fn with_dyn(&self, f: &mut dyn FnMut(&mut P)) {
        self.with_protocol(f);
    }
}

impl<P: Protocol> ProtocolHandle<P> {
    pub(crate) fn new<S: StreamSocket>(conn: Rc<Conn<P, S>>) -> Self {
        ProtocolHandle { conn }
    }

    pub(crate) fn from_cell(conn: Rc<dyn ProtocolCell<P>>) -> Self {
        ProtocolHandle { conn }
    }

    /// Runs `f` on the protocol. `None` once the connection is lost, or
    /// when called from inside one of this protocol's own callbacks.
    pub fn with<R>(&self, f: impl FnOnce(&mut P) -> R) -> Option<R> {
        let mut f = Some(f);
        let mut out = None;
        self.conn.with_dyn(&mut |p| {
            if let Some(f) = f.take() {
                out = Some(f(p));
            }
        });
        out
    }
}

impl<P> fmt::Debug for ProtocolHandle<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProtocolHandle")
    }
}

/// Connects to `host:port` and runs a protocol from `factory` on the
/// connection. Resolution happens off the loop; each address is tried in
/// turn. `connection_made` has run when this returns.
///
/// The usual way to get a result out of the protocol is a
/// [`oneshot`](crate::sync::oneshot) channel it completes:
///
/// ```no_run
/// use aio::sync::oneshot;
/// use aio::transport::{Protocol, Transport};
///
/// struct Get { reply: Vec<u8>, done: Option<oneshot::Sender<Vec<u8>>> }
///
/// impl Protocol for Get {
///     fn connection_made(&mut self, t: &Transport) {
///         t.write(b"GET / HTTP/1.0\r\n\r\n");
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         self.reply.extend_from_slice(data);
///     }
///     fn connection_lost(&mut self, _: Option<std::io::Error>) {
///         if let Some(tx) = self.done.take() {
///             let _ = tx.send(std::mem::take(&mut self.reply));
///         }
///     }
/// }
///
/// aio::run(async {
///     let (tx, rx) = oneshot::channel();
///     let mut tx = Some(tx);
///     let factory = move || Get { reply: Vec::new(), done: tx.take() };
///     aio::transport::create_connection(factory, "127.0.0.1", 8000).await?;
///     let reply = rx.await.unwrap_or_default();
///     println!("{}", String::from_utf8_lossy(&reply));
///     Ok::<(), std::io::Error>(())
/// }).unwrap();
/// ```
///
/// # Errors
///
/// Resolution failure or the last address's connect error, naming it.
pub async fn create_connection<F, P>(
    factory: F,
    host: &str,
    port: u16,
) -> io::Result<(Transport, ProtocolHandle<P>)>
where
    F: FnOnce() -> P,
    P: Protocol,
{
    let stream = TcpStream::connect(host, port).await?;
    finish(stream.into_evented(), factory())
}

/// Settings of [`create_connection_with`].
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Speak TLS with these settings (asyncio's `ssl=`); the handshake is
    /// done before `create_connection_with` returns.
    pub tls: Option<TlsConnector>,
    /// The name the server's certificate must hold (asyncio's
    /// `server_hostname`); defaults to `host`.
    pub server_name: Option<String>,
}

/// [`create_connection`] with options, such as TLS:
///
/// ```no_run
/// use aio::transport::{ConnectOptions, Protocol, Transport};
/// use aio::tls::TlsConnector;
///
/// struct Hello;
///
/// impl Protocol for Hello {
///     fn connection_made(&mut self, t: &Transport) {
///         t.write(b"HEAD / HTTP/1.1\r\nHost: example.com\r\n\r\n");
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         print!("{}", String::from_utf8_lossy(data));
///     }
/// }
///
/// aio::run(async {
///     let options = ConnectOptions {
///         tls: Some(TlsConnector::webpki()?),
///         ..Default::default()
///     };
///     let (transport, _) =
///         aio::transport::create_connection_with(|| Hello, "example.com", 443, &options).await?;
///     # drop(transport);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// As [`create_connection`]; with TLS also an invalid server name, and
/// the handshake's failure or timeout, naming the peer ("TLS handshake
/// with 127.0.0.1:443 failed: invalid peer certificate: UnknownIssuer").
///
/// # Cancel safety
///
/// Dropping the future during the TLS handshake aborts the connection.
pub async fn create_connection_with<F, P>(
    factory: F,
    host: &str,
    port: u16,
    options: &ConnectOptions,
) -> io::Result<(Transport, ProtocolHandle<P>)>
where
    F: FnOnce() -> P,
    P: Protocol,
{
    let Some(connector) = &options.tls else {
        return create_connection(factory, host, port).await;
    };
    let name = options.server_name.as_deref().unwrap_or(host);
    let session = tls::client_session(connector, name)?;
    let stream = TcpStream::connect(host, port).await?;
    let timeout = connector.handshake_timeout();
    tls::client_handshake(stream.into_evented(), factory(), session, timeout).await
}

/// Connects to the Unix socket at `path` and runs a protocol on it.
///
/// # Errors
///
/// The connect error, naming the path.
pub async fn create_unix_connection<F, P>(
    factory: F,
    path: impl AsRef<Path>,
) -> io::Result<(Transport, ProtocolHandle<P>)>
where
    F: FnOnce() -> P,
    P: Protocol,
{
    let stream = UnixStream::connect(path).await?;
    finish(stream.into_evented(), factory())
}

/// Hands a connected socket from the task-driven layer to the
/// callback-driven one. The registration is kept (no `epoll_ctl`); only its
/// events now go to the transport.
fn finish<P: Protocol, S: StreamSocket>(
    io: PollEvented<S>,
    protocol: P,
) -> io::Result<(Transport, ProtocolHandle<P>)> {
    // Data that arrived during the connect raised its edge while no one
    // was reading; the cached readiness says so, and a read at once sees it.
    let (transport, conn) = start_transport(io, protocol, true, None)?;
    Ok((transport, ProtocolHandle::new(conn)))
}
