//! UDP endpoints (asyncio's `create_datagram_endpoint`).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};

use super::{guard, DatagramProtocol};
use crate::net::resolve;
use crate::runtime::context;
use crate::runtime::reactor::{ready, Direction, PollEvented, ReadyHandler};

/// The largest UDP payload; the receive buffer holds any datagram whole.
const MAX_DATAGRAM: usize = 65536;

/// Datagrams received per readiness event before other sources run.
const MAX_RECVS_PER_WAKE: usize = 32;

/// A UDP endpoint's command side (asyncio's `DatagramTransport`).
#[derive(Clone)]
pub struct DatagramTransport {
    inner: Rc<dyn DatagramOps>,
}

trait DatagramOps {
    fn sendto(&self, data: &[u8], addr: Option<SocketAddr>);
    fn close(&self);
    fn is_closing(&self) -> bool;
    fn local_addr(&self) -> Option<SocketAddr>;
    fn buffer_size(&self) -> usize;
}

impl DatagramTransport {
    /// Sends one datagram to `addr`, or to the connected peer when `None`.
    /// Queued if the socket is momentarily full.
    pub fn sendto(&self, data: &[u8], addr: Option<SocketAddr>) {
        self.inner.sendto(data, addr);
    }

    /// Closes the endpoint; `connection_lost(None)` follows.
    pub fn close(&self) {
        self.inner.close();
    }

    /// True once closing.
    pub fn is_closing(&self) -> bool {
        self.inner.is_closing()
    }

    /// The bound address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr()
    }

    /// Bytes of queued datagrams.
    pub fn write_buffer_size(&self) -> usize {
        self.inner.buffer_size()
    }
}

impl fmt::Debug for DatagramTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramTransport")
            .field("local_addr", &self.local_addr())
            .finish()
    }
}

struct Endpoint<P> {
    me: Weak<Self>,
    io: RefCell<Option<PollEvented<mio::net::UdpSocket>>>,
    protocol: RefCell<Option<P>>,
    /// Datagrams waiting for room in the socket buffer.
    queue: RefCell<VecDeque<(Vec<u8>, Option<SocketAddr>)>>,
    queued_bytes: Cell<usize>,
    /// Receive buffer, allocated on the first datagram and kept.
    recv_buf: Cell<Option<Box<[u8]>>>,
    closing: Cell<bool>,
    lost: Cell<bool>,
}

impl<P: DatagramProtocol> Endpoint<P> {
    fn invoke(&self, f: impl FnOnce(&mut P)) {
        if guard::call(&self.protocol, "datagram protocol callback", f).is_err() {
            self.close_now();
        }
    }

    fn send_one(&self, data: &[u8], addr: Option<SocketAddr>) -> io::Result<usize> {
        match self.io.borrow().as_ref() {
            Some(io) => match addr {
                Some(a) => io.io().send_to(data, a),
                None => io.io().send(data),
            },
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn recv_ready(&self) {
        let mut buf = self
            .recv_buf
            .take()
            .unwrap_or_else(|| vec![0u8; MAX_DATAGRAM].into_boxed_slice());
        self.recv_into(&mut buf);
        self.recv_buf.set(Some(buf));
    }

    fn recv_into(&self, buf: &mut [u8]) {
        for _ in 0..MAX_RECVS_PER_WAKE {
            if self.closing.get() {
                return;
            }
            let r = match self.io.borrow().as_ref() {
                Some(io) => io.io().recv_from(buf),
                None => return,
            };
            match r {
                Ok((n, from)) => self.invoke(|p| p.datagram_received(&buf[..n], from)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Some(io) = self.io.borrow().as_ref() {
                        io.registration().clear_ready(Direction::Read);
                    }
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.invoke(|p| p.error_received(e)),
            }
        }
        let Some(me) = self.me.upgrade() else { return };
        context::with_current(|core| core.call_soon(Box::new(move || me.recv_ready())));
    }

    fn send_ready(&self) {
        loop {
            let Some((data, addr)) = self.queue.borrow_mut().pop_front() else {
                break;
            };
            match self.send_one(&data, addr) {
                Ok(_) => self.queued_bytes.set(self.queued_bytes.get() - data.len()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Some(io) = self.io.borrow().as_ref() {
                        io.registration().clear_ready(Direction::Write);
                    }
                    self.queue.borrow_mut().push_front((data, addr));
                    return;
                }
                Err(e) => {
                    self.queued_bytes.set(self.queued_bytes.get() - data.len());
                    self.invoke(|p| p.error_received(e));
                }
            }
        }
        if self.closing.get() {
            self.close_now();
        }
    }

    fn close_now(&self) {
        self.closing.set(true);
        if self.lost.replace(true) {
            return;
        }
        let Some(me) = self.me.upgrade() else { return };
        context::with_current(|core| {
            core.call_soon(Box::new(move || {
                me.invoke(|p| p.connection_lost(None));
                let protocol = me.protocol.borrow_mut().take();
                drop(protocol);
                if let Some(io) = me.io.borrow_mut().take() {
                    io.registration().clear_handler();
                }
            }))
        });
    }
}

/// As with stream transports, the protocol usually keeps its transport, so
/// the two hold each other; when the loop ends with the endpoint open,
/// `loop_closing` breaks that cycle and closes the socket, which otherwise
/// stayed bound after `aio::run` returned.
impl<P: DatagramProtocol> ReadyHandler for Endpoint<P> {
    fn on_ready(&self, readiness: u8, _read_buf: &mut [u8]) {
        if readiness & ready::READ_ANY != 0 {
            self.recv_ready();
        }
        if readiness & ready::WRITE_ANY != 0 {
            self.send_ready();
        }
    }

    fn loop_closing(&self) {
        // After connection_lost the protocol is gone already.
        let protocol = match self.protocol.try_borrow_mut() {
            Ok(mut p) => p.take(),
            Err(_) => None,
        };
        let Some(protocol) = protocol else { return };
        // No callbacks from a closing loop: just let go and close.
        self.closing.set(true);
        self.lost.set(true);
        guard::drop_protocol(protocol, "a datagram protocol");
        let io = self.io.try_borrow_mut().ok().and_then(|mut io| io.take());
        drop(io); // closes the socket
    }
}

impl<P: DatagramProtocol> DatagramOps for Endpoint<P> {
    fn sendto(&self, data: &[u8], addr: Option<SocketAddr>) {
        if self.closing.get() {
            return;
        }
        if self.queue.borrow().is_empty() {
            match self.send_one(data, addr) {
                Ok(_) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Some(io) = self.io.borrow().as_ref() {
                        io.registration().clear_ready(Direction::Write);
                    }
                }
                Err(e) => {
                    self.invoke(|p| p.error_received(e));
                    return;
                }
            }
        }
        self.queued_bytes.set(self.queued_bytes.get() + data.len());
        self.queue.borrow_mut().push_back((data.to_vec(), addr));
    }

    fn close(&self) {
        if self.closing.replace(true) {
            return;
        }
        if self.queue.borrow().is_empty() {
            self.close_now();
        }
    }

    fn is_closing(&self) -> bool {
        self.closing.get()
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.io
            .borrow()
            .as_ref()
            .and_then(|io| io.io().local_addr().ok())
    }

    fn buffer_size(&self) -> usize {
        self.queued_bytes.get()
    }
}

/// Creates a UDP endpoint bound to `local` (use port 0 for any) and,
/// with `remote = Some((host, port))`, connected to that peer; `factory`'s
/// protocol receives its datagrams.
///
/// ```
/// use aio::transport::{create_datagram_endpoint, DatagramProtocol, DatagramTransport};
/// use std::net::SocketAddr;
///
/// struct Echo(Option<DatagramTransport>);
/// impl DatagramProtocol for Echo {
///     fn connection_made(&mut self, t: &DatagramTransport) { self.0 = Some(t.clone()); }
///     fn datagram_received(&mut self, data: &[u8], from: SocketAddr) {
///         if let Some(t) = &self.0 { t.sendto(data, Some(from)); }
///     }
/// }
///
/// aio::run(async {
///     let server = create_datagram_endpoint(|| Echo(None), "127.0.0.1:0".parse().unwrap(), None).await?;
///     let client = aio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
///     client.send_to(b"hi", server.local_addr().unwrap()).await?;
///     let mut buf = [0; 8];
///     let (n, _) = client.recv_from(&mut buf).await?;
///     assert_eq!(&buf[..n], b"hi");
///     Ok::<(), std::io::Error>(())
/// }).unwrap();
/// ```
///
/// # Errors
///
/// Bind, resolution or connect failure, naming the address.
pub async fn create_datagram_endpoint<F, P>(
    factory: F,
    local: SocketAddr,
    remote: Option<(&str, u16)>,
) -> io::Result<DatagramTransport>
where
    F: FnOnce() -> P,
    P: DatagramProtocol,
{
    let socket = mio::net::UdpSocket::bind(local)
        .map_err(|e| crate::net::error_context(e, format!("bind {local}")))?;
    if let Some((host, port)) = remote {
        let addr = resolve(host, port)
            .await?
            .into_iter()
            .find(|a| a.is_ipv4() == local.is_ipv4())
            .ok_or_else(|| io::Error::other(format!("{host}: no address of the local family")))?;
        socket
            .connect(addr)
            .map_err(|e| crate::net::error_context(e, format!("connect to {addr}")))?;
    }
    let io = PollEvented::new(socket, ready::WRITABLE)?;
    let endpoint = Rc::new_cyclic(|me| Endpoint {
        me: me.clone(),
        io: RefCell::new(Some(io)),
        protocol: RefCell::new(Some(factory())),
        queue: RefCell::new(VecDeque::new()),
        queued_bytes: Cell::new(0),
        recv_buf: Cell::new(None),
        closing: Cell::new(false),
        lost: Cell::new(false),
    });
    if let Some(io) = endpoint.io.borrow().as_ref() {
        io.registration().set_handler(endpoint.clone());
    }
    let transport = DatagramTransport {
        inner: endpoint.clone(),
    };
    endpoint.invoke(|p| p.connection_made(&transport));
    Ok(transport)
}
