//! `create_server` and `Server` (asyncio's `loop.create_server` and
//! `Server`). The listening socket is driven by a readiness handler that
//! accepts straight into new transports, with no task per listener.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::unix::net::SocketAddr as UnixAddr;
use std::path::Path;
use std::rc::{Rc, Weak};
use std::task::Poll;
use std::time::Duration;

use slab::Slab;

use super::{start_transport, Protocol, StreamSocket, Transport};
use crate::net::{accept_error_kind, bind_socket, resolve, AcceptErrorKind, BindOptions};
use crate::runtime::context;
use crate::runtime::reactor::{ready, Direction, PollEvented, ReadyHandler};
use crate::sync::{wake_all, WaitList};
use crate::tls::TlsAcceptor;

/// How long accepting pauses after the process ran out of file
/// descriptors or memory (asyncio's `ACCEPT_RETRY_DELAY`): retrying at once
/// would spin, since the pending connection stays queued.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Connections accepted per readiness event before other sources run.
const MAX_ACCEPTS_PER_WAKE: usize = 128;

/// Settings of [`create_server_with`].
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The socket options of every listening socket.
    pub bind: BindOptions,
    /// Start accepting at once (asyncio's `start_serving=True`).
    pub start_serving: bool,
    /// Speak TLS on every connection (asyncio's `ssl=`): the protocol's
    /// `connection_made` comes after the handshake.
    pub tls: Option<TlsAcceptor>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            bind: BindOptions::default(),
            start_serving: true,
            tls: None,
        }
    }
}

/// The server's state, shared by its listeners and connections.
struct ServerInner {
    listeners: RefCell<Vec<Rc<dyn ListenerOps>>>,
    /// Live connections, for `close_clients` / `abort_clients`.
    conns: RefCell<Slab<Option<Transport>>>,
    serving: Cell<bool>,
    closed: Cell<bool>,
    /// Tasks in `serve_forever` / `wait_closed`.
    waiters: RefCell<WaitList>,
}

impl ServerInner {
    fn notify(&self) {
        let wakers = self.waiters.borrow_mut().take();
        wake_all(wakers);
    }
}

/// The type-erased side of a listener.
trait ListenerOps {
    fn local_addr(&self) -> Option<SocketAddr>;
    fn start(self: Rc<Self>);
    fn close(&self);
}

/// A listening socket kind: TCP or Unix.
trait Accept: mio::event::Source + 'static {
    type Stream: StreamSocket;
    fn accept_one(&self) -> io::Result<Self::Stream>;
    fn addr(&self) -> Option<SocketAddr>;
}

impl Accept for mio::net::TcpListener {
    type Stream = mio::net::TcpStream;
    fn accept_one(&self) -> io::Result<Self::Stream> {
        let (stream, _) = self.accept()?;
        // Request/response traffic suffers from Nagle; asyncio sets
        // TCP_NODELAY on every stream too. Failing to set it is harmless.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
    fn addr(&self) -> Option<SocketAddr> {
        self.local_addr().ok()
    }
}

impl Accept for mio::net::UnixListener {
    type Stream = mio::net::UnixStream;
    fn accept_one(&self) -> io::Result<Self::Stream> {
        self.accept().map(|(s, _): (_, UnixAddr)| s)
    }
    fn addr(&self) -> Option<SocketAddr> {
        None
    }
}

struct Listener<L: Accept, F> {
    me: Weak<Self>,
    io: RefCell<Option<PollEvented<L>>>,
    factory: Rc<F>,
    server: Weak<ServerInner>,
    /// Accepting is paused after EMFILE until this clears.
    backing_off: Cell<bool>,
}

impl<L: Accept, F: Fn() -> P + 'static, P: Protocol> Listener<L, F> {
    fn accept_ready(&self) {
        let Some(server) = self.server.upgrade() else {
            return;
        };
        if !server.serving.get() || self.backing_off.get() {
            return;
        }
        for _ in 0..MAX_ACCEPTS_PER_WAKE {
            let accepted = match self.io.borrow().as_ref() {
                Some(io) => io.io().accept_one(),
                None => return,
            };
            match accepted {
                Ok(stream) => self.serve(&server, stream),
                Err(e) => match accept_error_kind(&e) {
                    AcceptErrorKind::Drained => {
                        if let Some(io) = self.io.borrow().as_ref() {
                            io.registration().clear_ready(Direction::Read);
                        }
                        return;
                    }
                    AcceptErrorKind::Transient => {}
                    AcceptErrorKind::OutOfResources => {
                        tracing::error!(
                            "accept failed: {e}; pausing accepting for {:?}",
                            ACCEPT_RETRY_DELAY
                        );
                        self.back_off();
                        return;
                    }
                    _ => {
                        tracing::error!("accept failed: {e}");
                        self.back_off();
                        return;
                    }
                },
            }
        }
        // More may be queued: continue next step, after other sources.
        self.schedule_accept();
    }

    fn back_off(&self) {
        self.backing_off.set(true);
        let me = self.me.clone();
        crate::runtime::call_later(ACCEPT_RETRY_DELAY, move || {
            if let Some(me) = me.upgrade() {
                me.backing_off.set(false);
                me.accept_ready();
            }
        });
    }

    fn schedule_accept(&self) {
        let me = self.me.clone();
        context::with_current(|core| {
            core.call_soon(Box::new(move || {
                if let Some(me) = me.upgrade() {
                    me.accept_ready();
                }
            }))
        });
    }

    fn serve(&self, server: &Rc<ServerInner>, stream: L::Stream) {
        let key = server.conns.borrow_mut().insert(None);
        let weak = Rc::downgrade(server);
        let on_lost = Box::new(move || {
            if let Some(server) = weak.upgrade() {
                server.conns.borrow_mut().try_remove(key);
                server.notify();
            }
        });
        let protocol = (self.factory)();
        let started = PollEvented::new(stream, ready::WRITABLE)
            .and_then(|io| start_transport(io, protocol, false, Some(on_lost)));
        match started {
            Ok((t, _)) => {
                if let Some(slot) = server.conns.borrow_mut().get_mut(key) {
                    *slot = Some(t);
                }
            }
            Err(e) => {
                server.conns.borrow_mut().try_remove(key);
                tracing::error!("cannot register an accepted connection: {e}");
            }
        }
    }
}

/// The readiness handler of a serving listener. It holds the server
/// strongly, because the listener itself only holds it weakly: without
/// this, dropping the last `Server` handle (without `close`) silently
/// stopped accepting, while `Server` promises that dropping it does not
/// stop it (asyncio's loop keeps its servers alive too). The reference
/// lives exactly as long as the handler: `close` clears the handler and the
/// loop's end drops every handler, so no cycle outlives the server or the
/// loop.
struct Serving<L: Accept, F> {
    listener: Rc<Listener<L, F>>,
    _server: Rc<ServerInner>,
}

impl<L: Accept, F: Fn() -> P + 'static, P: Protocol> ReadyHandler for Serving<L, F> {
    fn on_ready(&self, readiness: u8, _read_buf: &mut [u8]) {
        if readiness & ready::READ_ANY != 0 {
            self.listener.accept_ready();
        }
    }
}

impl<L: Accept, F: Fn() -> P + 'static, P: Protocol> ListenerOps for Listener<L, F> {
    fn local_addr(&self) -> Option<SocketAddr> {
        self.io.borrow().as_ref().and_then(|io| io.io().addr())
    }

    fn start(self: Rc<Self>) {
        if let (Some(io), Some(server)) = (self.io.borrow().as_ref(), self.server.upgrade()) {
            let serving = Serving {
                listener: self.clone(),
                _server: server,
            };
            io.registration().set_handler(Rc::new(serving));
        }
        // Connections may have queued before serving started, and their
        // edge is gone.
        self.schedule_accept();
    }

    fn close(&self) {
        if let Some(io) = self.io.borrow_mut().take() {
            io.registration().clear_handler();
        }
    }
}

/// A listening server (asyncio's `Server`). Dropping it does not stop it;
/// call [`close`](Server::close).
#[derive(Clone)]
pub struct Server {
    inner: Rc<ServerInner>,
}

/// Creates a TCP server: binds every address `host` resolves to and calls
/// `factory` for each accepted connection (asyncio's `create_server`).
/// `port` 0 lets the kernel pick; see [`Server::local_addrs`].
///
/// # Errors
///
/// Resolution or bind failure, naming the address.
pub async fn create_server<F, P>(factory: F, host: &str, port: u16) -> io::Result<Server>
where
    F: Fn() -> P + 'static,
    P: Protocol,
{
    create_server_with(factory, host, port, &ServerOptions::default()).await
}

/// [`create_server`] with options (backlog, `SO_REUSEPORT`, start later,
/// TLS).
///
/// ```no_run
/// use aio::transport::{Protocol, ServerOptions, Transport};
/// use aio::tls::TlsAcceptor;
///
/// struct Hello;
///
/// impl Protocol for Hello {
///     fn connection_made(&mut self, t: &Transport) {
///         // After the handshake: this is encrypted.
///         t.write(b"hello over TLS\n");
///         t.close();
///     }
/// }
///
/// aio::run(async {
///     let options = ServerOptions {
///         tls: Some(TlsAcceptor::from_pem_files("cert.pem", "key.pem")?),
///         ..Default::default()
///     };
///     let server = aio::transport::create_server_with(|| Hello, "127.0.0.1", 8443, &options).await?;
///     server.serve_forever().await;
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
///
/// As [`create_server`]; with TLS also a configuration rustls refuses.
pub async fn create_server_with<F, P>(
    factory: F,
    host: &str,
    port: u16,
    options: &ServerOptions,
) -> io::Result<Server>
where
    F: Fn() -> P + 'static,
    P: Protocol,
{
    // Two instantiations: a plain server's connections never see the TLS
    // layer.
    match &options.tls {
        Some(acceptor) => {
            crate::tls::check_acceptor(acceptor)?;
            let factory = crate::tls::server_factory(factory, acceptor.clone());
            bind_server(factory, host, port, options).await
        }
        None => bind_server(factory, host, port, options).await,
    }
}

/// Binds every address of `host` and serves `factory`'s protocols.
async fn bind_server<F, P>(
    factory: F,
    host: &str,
    port: u16,
    options: &ServerOptions,
) -> io::Result<Server>
where
    F: Fn() -> P + 'static,
    P: Protocol,
{
    let mut addrs = resolve(host, port).await?;
    addrs.dedup();
    let server = Server::new();
    let factory = Rc::new(factory);
    for addr in addrs {
        let std_listener = bind_socket(addr, &options.bind)
            .map_err(|e| crate::net::error_context(e, format!("bind {addr}")))?;
        let listener = mio::net::TcpListener::from_std(std_listener);
        server.add_listener(listener, factory.clone())?;
    }
    if options.start_serving {
        server.start_serving();
    }
    Ok(server)
}

/// Creates a Unix-socket server at `path` (which must not exist).
///
/// # Errors
///
/// Bind failure, naming the path.
pub async fn create_unix_server<F, P>(factory: F, path: impl AsRef<Path>) -> io::Result<Server>
where
    F: Fn() -> P + 'static,
    P: Protocol,
{
    let path = path.as_ref();
    let listener = mio::net::UnixListener::bind(path)
        .map_err(|e| crate::net::error_context(e, format!("bind {}", path.display())))?;
    let server = Server::new();
    server.add_listener(listener, Rc::new(factory))?;
    server.start_serving();
    Ok(server)
}

impl Server {
    fn new() -> Server {
        Server {
            inner: Rc::new(ServerInner {
                listeners: RefCell::new(Vec::new()),
                conns: RefCell::new(Slab::new()),
                serving: Cell::new(false),
                closed: Cell::new(false),
                waiters: RefCell::new(WaitList::default()),
            }),
        }
    }

    fn add_listener<L: Accept, F: Fn() -> P + 'static, P: Protocol>(
        &self,
        listener: L,
        factory: Rc<F>,
    ) -> io::Result<()> {
        let io = PollEvented::new(listener, 0)?;
        let listener = Rc::new_cyclic(|me| Listener {
            me: me.clone(),
            io: RefCell::new(Some(io)),
            factory,
            server: Rc::downgrade(&self.inner),
            backing_off: Cell::new(false),
        });
        self.inner.listeners.borrow_mut().push(listener);
        Ok(())
    }

    /// The bound addresses (with the kernel's port when 0 was asked).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.inner
            .listeners
            .borrow()
            .iter()
            .filter_map(|l| l.local_addr())
            .collect()
    }

    /// Starts accepting (no-op if already serving or closed).
    pub fn start_serving(&self) {
        if self.inner.serving.get() || self.inner.closed.get() {
            return;
        }
        self.inner.serving.set(true);
        let listeners = self.inner.listeners.borrow().clone();
        for l in listeners {
            l.start();
        }
    }

    /// Whether the server is accepting connections.
    pub fn is_serving(&self) -> bool {
        self.inner.serving.get()
    }

    /// Starts serving and waits until [`close`](Server::close) is called.
    pub async fn serve_forever(&self) {
        self.start_serving();
        poll_fn(|cx| {
            if self.inner.closed.get() {
                Poll::Ready(())
            } else {
                self.inner.waiters.borrow_mut().register(cx.waker());
                Poll::Pending
            }
        })
        .await;
    }

    /// Stops accepting and closes the listening sockets. Open connections
    /// are left alone (see [`close_clients`](Server::close_clients)).
    pub fn close(&self) {
        if self.inner.closed.replace(true) {
            return;
        }
        self.inner.serving.set(false);
        let listeners = std::mem::take(&mut *self.inner.listeners.borrow_mut());
        for l in listeners {
            l.close();
        }
        self.inner.notify();
    }

    fn clients(&self) -> Vec<Transport> {
        self.inner
            .conns
            .borrow()
            .iter()
            .filter_map(|(_, t)| t.clone())
            .collect()
    }

    /// Gracefully closes every connection: EOF is sent and each buffer is
    /// flushed before the socket closes. A peer that never reads keeps its
    /// connection open; follow with [`abort_clients`](Server::abort_clients)
    /// after a deadline, or use [`shutdown`](Server::shutdown).
    pub fn close_clients(&self) {
        for t in self.clients() {
            if t.can_write_eof() {
                t.write_eof();
            }
            t.close();
        }
    }

    /// Closes every connection at once, dropping unsent data.
    pub fn abort_clients(&self) {
        for t in self.clients() {
            t.abort();
        }
    }

    /// The number of open connections.
    pub fn connection_count(&self) -> usize {
        self.inner.conns.borrow().len()
    }

    /// Waits until the server is closed and every connection has ended.
    pub async fn wait_closed(&self) {
        poll_fn(|cx| {
            if self.inner.closed.get() && self.inner.conns.borrow().is_empty() {
                Poll::Ready(())
            } else {
                self.inner.waiters.borrow_mut().register(cx.waker());
                Poll::Pending
            }
        })
        .await;
    }

    /// Closes the server, closes its connections gracefully, and aborts
    /// those still open after `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        self.close();
        self.close_clients();
        if crate::time::timeout(grace, self.wait_closed())
            .await
            .is_err()
        {
            self.abort_clients();
            self.wait_closed().await;
        }
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addrs", &self.local_addrs())
            .field("serving", &self.is_serving())
            .field("connections", &self.connection_count())
            .finish()
    }
}
