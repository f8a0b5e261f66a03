//! The socket-facing half of a TLS connection: [`TlsProtocol`] is the
//! `Protocol` the socket transport drives; it feeds the ciphertext to
//! rustls, completes the handshake, and hands the plaintext to the
//! application's protocol (asyncio's `SSLProtocol`, the receive side).
//!
//! The state lives in [`TlsConn`] (`conn.rs`).

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

use super::conn::TlsConn;
use crate::transport::{drop_protocol, Protocol, Transport};

/// Plaintext handed to `data_received` at most at a time. rustls holds up
/// to 16 KiB of decrypted data before it stops taking records, plus the
/// record being opened, so this takes all of it in one call.
const PLAIN_BUF_SIZE: usize = 40 * 1024;

/// Plaintext gathered before it is delivered: feeding a large read record
/// by record and delivering each alone would call the application once
/// per 4 KiB.
const DELIVER_BATCH: usize = 16 * 1024;

thread_local! {
    /// The loop's plaintext buffer, lent to one delivery at a time.
    static PLAIN_BUF: Cell<Option<Box<[u8]>>> = const { Cell::new(None) };
}

fn with_plain_buf<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    let mut buf = PLAIN_BUF
        .with(Cell::take)
        .unwrap_or_else(|| vec![0; PLAIN_BUF_SIZE].into_boxed_slice());
    let r = f(&mut buf);
    PLAIN_BUF.with(|b| b.set(Some(buf)));
    r
}

/// The protocol the socket transport drives. `Refused` stands for a
/// connection rustls could not even start (an invalid server
/// configuration): it drops the socket at once.
pub(crate) enum TlsProtocol<P> {
    /// A live TLS session.
    Live(Rc<TlsConn<P>>),
    /// Why this connection cannot speak TLS.
    Refused(String),
}

impl<P: Protocol> Protocol for TlsProtocol<P> {
    fn connection_made(&mut self, transport: &Transport) {
        match self {
            TlsProtocol::Live(conn) => conn.start(transport),
            TlsProtocol::Refused(why) => {
                tracing::error!("cannot start TLS: {why}");
                transport.abort();
            }
        }
    }

    fn data_received(&mut self, data: &[u8]) {
        if let TlsProtocol::Live(conn) = self {
            conn.receive(data);
        }
    }

    fn eof_received(&mut self) -> bool {
        if let TlsProtocol::Live(conn) = self {
            conn.socket_eof();
        }
        // The TLS layer decides when the socket closes: the application
        // may still be answering after the peer's EOF.
        true
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        if let TlsProtocol::Live(conn) = self {
            conn.socket_lost(error);
        }
    }

    fn pause_writing(&mut self) {
        if let TlsProtocol::Live(conn) = self {
            conn.set_want_paused(true);
        }
    }

    fn resume_writing(&mut self) {
        if let TlsProtocol::Live(conn) = self {
            conn.set_want_paused(false);
        }
    }
}

impl<P> Drop for TlsProtocol<P> {
    /// The socket transport dropped us: after `connection_lost`, or with
    /// the connection open when the loop ends. In the second case nothing
    /// is called (as for a plain connection), but the application's
    /// protocol must be dropped here, since it usually holds the
    /// application's transport and so keeps this state alive.
    fn drop(&mut self) {
        let TlsProtocol::Live(conn) = self else {
            return;
        };
        conn.lost.set(true);
        conn.closing.set(true);
        if let Some(timer) = conn.timer.borrow_mut().take() {
            timer.cancel();
        }
        let app = conn.app.try_borrow_mut().ok().and_then(|mut a| a.take());
        drop_protocol(app, "a protocol");
        let socket = conn.socket.try_borrow_mut().ok().and_then(|mut s| s.take());
        drop(socket);
        drop(conn.waiter.borrow_mut().take());
    }
}

/// What one plaintext read gave.
enum Plain {
    /// Bytes, delivered.
    Data,
    /// Nothing buffered now.
    Empty,
    /// The peer's `close_notify` (or an unclean EOF) after all the data.
    Eof,
}

impl<P: Protocol> TlsConn<P> {
    /// The socket is connected: send the first flight (a client's hello)
    /// and arm the handshake timeout.
    fn start(&self, socket: &Transport) {
        self.peer.set(socket.peer_addr());
        *self.socket.borrow_mut() = Some(socket.clone());
        let me = self.me.clone();
        let timeout = self.handshake_timeout;
        let timer = crate::runtime::call_later(timeout, move || {
            if let Some(me) = me.upgrade() {
                if !me.app_made.get() {
                    let e = io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "TLS handshake{} timed out after {} s",
                            me.with_peer(),
                            timeout.as_secs_f64()
                        ),
                    );
                    me.fail(e);
                }
            }
        });
        *self.timer.borrow_mut() = Some(timer);
        self.flush_tls();
    }

    /// Ciphertext arrived from the socket.
    fn receive(&self, data: &[u8]) {
        if !self.accepts_data() {
            return;
        }
        if self.app_paused.get() || !self.backlog.borrow().is_empty() {
            // Keep the order: whatever is queued goes first.
            self.backlog.borrow_mut().extend_from_slice(data);
            return;
        }
        let rest = self.feed(data);
        if !rest.is_empty() && self.accepts_data() {
            self.backlog.borrow_mut().extend_from_slice(rest);
        }
    }

    /// Whether received data still has somewhere to go (rather than a
    /// connection that is closing or failed).
    fn accepts_data(&self) -> bool {
        !(self.failed.get() || self.closing.get() || self.lost.get())
    }

    /// Feeds ciphertext to rustls and delivers the plaintext; returns what
    /// was not fed because the application paused reading.
    fn feed<'a>(&self, mut data: &'a [u8]) -> &'a [u8] {
        let mut deliver = true;
        loop {
            if deliver && !self.deliver_plaintext() {
                return data;
            }
            if data.is_empty() {
                return data;
            }
            let read = self.tls.borrow_mut().read_tls(&mut data);
            match read {
                // After the peer's close_notify nothing more is read: TLS
                // says the rest is not from the peer's session.
                Ok(0) => return &[],
                Ok(_) => {}
                Err(e) => {
                    self.fail(self.tls_error(&e.to_string(), io::ErrorKind::InvalidData));
                    return &[];
                }
            }
            match self.process() {
                Some(plaintext) => deliver = plaintext >= DELIVER_BATCH || data.is_empty(),
                None => return &[],
            }
        }
    }

    /// Processes the records fed so far: answers the handshake, notices
    /// its end. Returns the plaintext waiting, or `None` after a failure.
    fn process(&self) -> Option<usize> {
        let processed = self.tls.borrow_mut().process_new_packets();
        // Handshake messages, alerts (including the one explaining a
        // failure) and key updates go out whatever happened.
        self.flush_tls();
        match processed {
            Err(e) => {
                self.fail(self.tls_error(&e.to_string(), io::ErrorKind::InvalidData));
                None
            }
            Ok(state) => {
                if !self.app_made.get() && !self.tls.borrow().is_handshaking() {
                    self.handshake_done();
                }
                (!self.failed.get()).then(|| state.plaintext_bytes_to_read())
            }
        }
    }

    fn handshake_done(&self) {
        if let Some(timer) = self.timer.borrow_mut().take() {
            timer.cancel();
        }
        {
            let tls = self.tls.borrow();
            tracing::debug!(
                "TLS handshake{} done: {:?}, {:?}",
                self.with_peer(),
                tls.protocol_version(),
                tls.negotiated_cipher_suite().map(|s| s.suite())
            );
        }
        if let Some(waiter) = self.waiter.borrow_mut().take() {
            let _ = waiter.send(Ok(()));
        }
        self.app_made.set(true);
        if let Some(transport) = self.app_transport() {
            self.call_app(|p| p.connection_made(&transport));
        }
    }

    /// Hands buffered plaintext to the application until rustls has none
    /// left; `false` when delivery must stop (paused, closing, failed).
    fn deliver_plaintext(&self) -> bool {
        loop {
            if !self.accepts_data() {
                return false;
            }
            if !self.app_made.get() {
                return true;
            }
            if self.app_paused.get() {
                return false;
            }
            let got = with_plain_buf(|buf| {
                let read = self.tls.borrow_mut().reader().read(buf);
                match read {
                    Ok(0) => Plain::Eof,
                    Ok(n) => {
                        self.call_app(|p| p.data_received(&buf[..n]));
                        Plain::Data
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Plain::Empty,
                    // An unclean EOF: handled as the socket's EOF is.
                    Err(_) => Plain::Eof,
                }
            });
            match got {
                Plain::Data => {}
                Plain::Empty => return true,
                Plain::Eof => {
                    self.peer_eof();
                    return true;
                }
            }
        }
    }

    /// The peer's side ended (`close_notify`, or a TCP EOF without one):
    /// tells the application once, and closes unless it keeps the
    /// connection open to answer.
    fn peer_eof(&self) {
        if self.app_eof.replace(true) || self.closing.get() {
            return;
        }
        let keep_open = self.call_app(|p| p.eof_received());
        if keep_open != Some(true) {
            self.close_now();
        }
    }

    /// The socket's EOF.
    fn socket_eof(&self) {
        if self.failed.get() {
            return;
        }
        if !self.app_made.get() {
            let e = self.tls_error(
                "the peer closed the connection",
                io::ErrorKind::UnexpectedEof,
            );
            self.fail(e);
            return;
        }
        self.socket_eof.set(true);
        if self.app_paused.get() || !self.backlog.borrow().is_empty() {
            return; // after the backlog, in `resume_delivery`
        }
        self.finish_socket_eof();
    }

    fn finish_socket_eof(&self) {
        if !self.app_eof.get() {
            // asyncio (and Python's `suppress_ragged_eofs`) accept this;
            // many servers close without close_notify.
            tracing::debug!("TLS peer{} closed without close_notify", self.with_peer());
        }
        self.peer_eof();
    }

    /// Schedules delivering what was held back while the application was
    /// paused.
    pub(super) fn schedule_delivery(&self) {
        if self.delivery_scheduled.replace(true) {
            return;
        }
        let me = self.me.clone();
        crate::runtime::call_soon(move || {
            if let Some(me) = me.upgrade() {
                me.resume_delivery();
            }
        });
    }

    fn resume_delivery(&self) {
        self.delivery_scheduled.set(false);
        if self.app_paused.get() || !self.accepts_data() {
            return;
        }
        let backlog = std::mem::take(&mut *self.backlog.borrow_mut());
        let rest = self.feed(&backlog);
        if !rest.is_empty() && self.accepts_data() {
            let mut queued = self.backlog.borrow_mut();
            let newer = std::mem::take(&mut *queued);
            queued.extend_from_slice(rest);
            queued.extend_from_slice(&newer);
            return;
        }
        if self.socket_eof.get() && !self.app_paused.get() && self.backlog.borrow().is_empty() {
            self.finish_socket_eof();
        }
    }

    /// The socket is gone: report to whoever waits.
    fn socket_lost(&self, error: Option<io::Error>) {
        self.lost.set(true);
        self.closing.set(true);
        if let Some(timer) = self.timer.borrow_mut().take() {
            timer.cancel();
        }
        // The TLS failure explains the loss better than the socket's own
        // view (usually none: it was closed on purpose).
        let error = self.error.borrow_mut().take().or(error);
        if self.app_made.get() {
            self.call_app(|p| p.connection_lost(error));
        } else {
            let error = error.unwrap_or_else(|| {
                self.tls_error("the connection closed", io::ErrorKind::ConnectionAborted)
            });
            match self.waiter.borrow_mut().take() {
                Some(waiter) => {
                    let _ = waiter.send(Err(error));
                }
                None => tracing::debug!("{error}"),
            }
        }
        let app = self.app.try_borrow_mut().ok().and_then(|mut a| a.take());
        drop_protocol(app, "a protocol");
        drop(self.socket.borrow_mut().take());
    }
}
