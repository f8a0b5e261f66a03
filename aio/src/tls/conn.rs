//! The state of one TLS connection, shared by the socket-facing protocol
//! (`protocol.rs`) and the application's transport (`transport.rs`), and
//! the plumbing both use: sending what rustls queued, calling the
//! application's protocol, failing, and flow control.
//!
//! Everything is reached through `&self` with short `RefCell` borrows: no
//! borrow of the rustls connection is ever held while the application's
//! protocol runs, because that protocol writes, pauses and closes from
//! inside its callbacks.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::time::Duration;

use rustls::Connection;

use crate::runtime::TimerHandle;
use crate::sync::oneshot;
use crate::transport::{call_guarded, PauseNotice, Protocol, Transport, TransportOps};

/// Tells the task awaiting a client handshake how it ended.
pub(crate) type HandshakeWaiter = oneshot::Sender<io::Result<()>>;

/// One TLS connection's state.
pub(crate) struct TlsConn<P> {
    /// For handing out the application's `Transport` and for callbacks.
    pub(super) me: Weak<Self>,
    /// The rustls session (client or server).
    pub(super) tls: RefCell<Connection>,
    /// The socket transport; `None` before `connection_made` and after
    /// `connection_lost`.
    pub(super) socket: RefCell<Option<Transport>>,
    /// The application's protocol; taken after its `connection_lost`,
    /// which breaks the protocol → transport → connection cycle.
    pub(super) app: RefCell<Option<P>>,
    /// The peer, remembered for messages after the socket is gone.
    pub(super) peer: Cell<Option<SocketAddr>>,
    /// How long the handshake may take.
    pub(super) handshake_timeout: Duration,
    /// The pending handshake timeout.
    pub(super) timer: RefCell<Option<TimerHandle>>,
    /// The client task waiting for the handshake, if any.
    pub(super) waiter: RefCell<Option<HandshakeWaiter>>,
    /// The handshake is done and `connection_made` was delivered.
    pub(super) app_made: Cell<bool>,
    /// The first fatal error, reported by `connection_lost`.
    pub(super) error: RefCell<Option<io::Error>>,
    /// A fatal error happened: nothing more is read or delivered.
    pub(super) failed: Cell<bool>,
    /// Ciphertext not yet fed to rustls because the application paused
    /// reading (rustls must be drained of plaintext before it takes more).
    pub(super) backlog: RefCell<Vec<u8>>,
    /// The application called `pause_reading`.
    pub(super) app_paused: Cell<bool>,
    /// A delivery after `resume_reading` is queued.
    pub(super) delivery_scheduled: Cell<bool>,
    /// The socket saw EOF; the application hears it once the backlog is
    /// delivered.
    pub(super) socket_eof: Cell<bool>,
    /// `eof_received` was delivered to the application.
    pub(super) app_eof: Cell<bool>,
    /// The application closed or aborted (or a fatal error): no more
    /// writes or deliveries.
    pub(super) closing: Cell<bool>,
    /// The application called `write_eof`; `close_notify` went out.
    pub(super) eof_sent: Cell<bool>,
    /// Whether the application should be paused (the socket's buffer is
    /// above its high-water mark), and what it was last told.
    pub(super) pause: PauseNotice,
    /// The socket transport's `connection_lost` ran.
    pub(super) lost: Cell<bool>,
}

impl<P: Protocol> TlsConn<P> {
    /// The state of a connection running `tls` for `app`; `waiter` learns
    /// how the handshake ended. Wrap it in [`TlsProtocol::Live`](super::protocol::TlsProtocol::Live) for the
    /// socket transport.
    pub(crate) fn new(
        tls: Connection,
        app: P,
        handshake_timeout: Duration,
        waiter: Option<HandshakeWaiter>,
    ) -> Rc<Self> {
        let mut tls = tls;
        // Flow control is the socket transport's job (its water marks
        // pause the application); rustls's own 64 KiB cap would instead
        // make a large write fail half-way.
        tls.set_buffer_limit(None);
        Rc::new_cyclic(|me| TlsConn {
            me: me.clone(),
            tls: RefCell::new(tls),
            socket: RefCell::new(None),
            app: RefCell::new(Some(app)),
            peer: Cell::new(None),
            handshake_timeout,
            timer: RefCell::new(None),
            waiter: RefCell::new(waiter),
            app_made: Cell::new(false),
            error: RefCell::new(None),
            failed: Cell::new(false),
            backlog: RefCell::new(Vec::new()),
            app_paused: Cell::new(false),
            delivery_scheduled: Cell::new(false),
            socket_eof: Cell::new(false),
            app_eof: Cell::new(false),
            closing: Cell::new(false),
            eof_sent: Cell::new(false),
            pause: PauseNotice::default(),
            lost: Cell::new(false),
        })
    }

    /// ` with PEER`, for messages.
    pub(super) fn with_peer(&self) -> String {
        self.peer
            .get()
            .map_or_else(String::new, |p| format!(" with {p}"))
    }

    /// A TLS failure as an `io::Error`, worded for the phase it broke.
    pub(super) fn tls_error(&self, what: &str, kind: io::ErrorKind) -> io::Error {
        let message = if self.app_made.get() {
            format!("TLS error: {what}")
        } else {
            format!("TLS handshake{} failed: {what}", self.with_peer())
        };
        io::Error::new(kind, message)
    }

    /// A handle on the application's side of the connection (`None` only
    /// while this state is being dropped).
    pub(super) fn app_transport(&self) -> Option<Transport> {
        let me: Rc<dyn TransportOps> = self.me.upgrade()?;
        Some(Transport::new(me))
    }

    /// Ends the connection with `error`: the alert rustls queued (if any)
    /// is sent, the socket closed, and `connection_lost(Some(error))`
    /// follows (or the handshake's waiter gets the error).
    pub(super) fn fail(&self, error: io::Error) {
        if self.failed.replace(true) || self.lost.get() {
            return;
        }
        // Reported once the socket is gone: to the application, the
        // handshake's waiter, or (a server's failed handshake) the log.
        *self.error.borrow_mut() = Some(error);
        self.closing.set(true);
        self.backlog.borrow_mut().clear();
        self.flush_tls();
        if let Some(socket) = self.socket.borrow().as_ref() {
            // The alert is a few bytes the kernel takes at once; a peer
            // that is not reading gets no time to take more.
            if socket.write_buffer_size() == 0 {
                socket.close();
            } else {
                socket.abort();
            }
        }
    }

    /// Sends what rustls has queued (handshake messages, records, alerts)
    /// through the socket transport.
    pub(super) fn flush_tls(&self) {
        {
            let socket = self.socket.borrow();
            let Some(socket) = socket.as_ref() else {
                return;
            };
            let mut tls = self.tls.borrow_mut();
            let mut sink = ToSocket(socket);
            while tls.wants_write() {
                // The sink never fails (the transport buffers what the
                // kernel does not take); an error would end the loop.
                if tls.write_tls(&mut sink).is_err() {
                    break;
                }
            }
        }
        // A water mark crossed during the writes waited for the borrow.
        self.deliver_flow_control();
    }

    /// Runs `f` on the application's protocol, containing a panic, then
    /// delivers any flow-control change that arose meanwhile. `None` if
    /// the protocol is gone, busy or panicked.
    pub(super) fn call_app<R>(&self, f: impl FnOnce(&mut P) -> R) -> Option<R> {
        let r = self.invoke_app(f);
        self.deliver_flow_control();
        r
    }

    fn invoke_app<R>(&self, f: impl FnOnce(&mut P) -> R) -> Option<R> {
        match call_guarded(&self.app, "protocol callback", f) {
            Ok(r) => r,
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    pub(super) fn set_want_paused(&self, paused: bool) {
        self.pause.want(paused);
        self.deliver_flow_control();
    }

    /// Delivers a due `pause_writing`/`resume_writing` once neither the
    /// application nor rustls is busy (the same rule as the socket
    /// transport's: never re-enter a protocol).
    pub(super) fn deliver_flow_control(&self) {
        self.pause.deliver(
            || {
                self.app_made.get()
                    && self.tls.try_borrow_mut().is_ok()
                    && self.app.try_borrow_mut().is_ok()
            },
            |pause| {
                self.invoke_app(|p| {
                    if pause {
                        p.pause_writing();
                    } else {
                        p.resume_writing();
                    }
                });
            },
        );
    }
}

/// Records handed to the socket transport per `writev` (it keeps up to 16
/// slices on the stack).
const VECTORED_RECORDS: usize = 16;

/// `io::Write` into the socket transport, which never blocks: it writes
/// what the kernel takes and buffers the rest.
struct ToSocket<'a>(&'a Transport);

impl io::Write for ToSocket<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf);
        Ok(buf.len())
    }

    /// Up to [`VECTORED_RECORDS`] records per call, as one `writev`, with
    /// no allocation: `io::Write` lets a write take fewer bytes than
    /// offered, and `flush_tls` calls again while rustls has more.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut chunks: [&[u8]; VECTORED_RECORDS] = [&[]; VECTORED_RECORDS];
        let taken = bufs.len().min(VECTORED_RECORDS);
        for (chunk, buf) in chunks.iter_mut().zip(bufs) {
            *chunk = buf;
        }
        let chunks = &chunks[..taken];
        self.0.writelines(chunks);
        Ok(chunks.iter().map(|c| c.len()).sum())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
