//! The application-facing half of a TLS connection: the `Transport` its
//! protocol gets, whose `write` encrypts (asyncio's
//! `_SSLProtocolTransport`). Buffering and flow control are the socket
//! transport's: records go to it as soon as they are sealed, and its water
//! marks are the application's.

use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;

use super::conn::TlsConn;
use crate::transport::{Protocol, ProtocolCell, TransportOps};

impl<P: Protocol> TlsConn<P> {
    /// Sends `close_notify` (once the session is up) and closes the
    /// socket after its buffer is flushed.
    pub(super) fn close_now(&self) {
        if self.closing.replace(true) {
            return;
        }
        if self.app_made.get() {
            self.tls.borrow_mut().send_close_notify();
            self.flush_tls();
        }
        if let Some(socket) = self.socket.borrow().as_ref() {
            socket.close();
        }
    }

    fn accepts_writes(&self) -> bool {
        if self.eof_sent.get() {
            tracing::warn!("TLS transport: write after write_eof ignored");
            return false;
        }
        !self.closing.get() && !self.lost.get()
    }

    /// Seals `chunks` into records and sends them.
    fn seal(&self, chunks: &[&[u8]]) {
        let written = {
            let mut tls = self.tls.borrow_mut();
            let mut writer = tls.writer();
            chunks.iter().try_for_each(|c| writer.write_all(c))
        };
        match written {
            // Before the handshake ends rustls keeps the plaintext and
            // seals it once it can; flushing then sends nothing.
            Ok(()) => self.flush_tls(),
            Err(e) => self.fail(io::Error::new(e.kind(), format!("TLS write failed: {e}"))),
        }
    }

    fn socket_call<R: Default>(&self, f: impl FnOnce(&crate::transport::Transport) -> R) -> R {
        self.socket.borrow().as_ref().map(f).unwrap_or_default()
    }
}

impl<P: Protocol> TransportOps for TlsConn<P> {
    fn write(&self, data: &[u8]) {
        if !data.is_empty() && self.accepts_writes() {
            self.seal(&[data]);
        }
    }

    fn writelines(&self, chunks: &[&[u8]]) {
        if self.accepts_writes() {
            self.seal(chunks);
        }
    }

    fn write_eof(&self) {
        if self.closing.get() || self.eof_sent.replace(true) {
            return;
        }
        // close_notify ends our direction of the session; TLS 1.3 lets
        // the peer go on sending (rustls keeps reading), so this is a
        // real half-close, and the socket's own EOF follows it.
        self.tls.borrow_mut().send_close_notify();
        self.flush_tls();
        self.socket_call(|s| s.write_eof());
    }

    fn can_write_eof(&self) -> bool {
        self.socket_call(|s| s.can_write_eof())
    }

    fn close(&self) {
        self.close_now();
    }

    fn abort(&self) {
        self.closing.set(true);
        self.socket_call(|s| s.abort());
    }

    fn is_closing(&self) -> bool {
        self.closing.get() || self.socket_call(|s| s.is_closing()) || self.lost.get()
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        self.socket_call(|s| s.peer_addr())
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.socket_call(|s| s.local_addr())
    }

    fn pause_reading(&self) {
        if self.closing.get() || self.app_paused.replace(true) {
            return;
        }
        self.socket_call(|s| s.pause_reading());
    }

    fn resume_reading(&self) {
        if !self.app_paused.replace(false) {
            return;
        }
        self.socket_call(|s| s.resume_reading());
        // Plaintext rustls holds, ciphertext held back, or an EOF seen
        // meanwhile: delivered from the loop, never inside the caller
        // (which may be the protocol itself).
        self.schedule_delivery();
    }

    fn is_reading(&self) -> bool {
        !self.app_paused.get()
            && !self.closing.get()
            && !self.app_eof.get()
            && self.socket_call(|s| s.is_reading())
    }

    fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) {
        self.socket_call(|s| s.set_write_buffer_limits(high, low));
    }

    fn write_buffer_limits(&self) -> (usize, usize) {
        let socket = self.socket.borrow();
        match socket.as_ref() {
            Some(s) => s.write_buffer_limits(),
            None => {
                let (high, low) = crate::transport::water_marks(None, None);
                (low, high)
            }
        }
    }

    fn write_buffer_size(&self) -> usize {
        self.socket_call(|s| s.write_buffer_size())
    }
}

impl<P: Protocol> ProtocolCell<P> for TlsConn<P> {
    fn with_dyn(&self, f: &mut dyn FnMut(&mut P)) {
        self.call_app(|p| f(p));
    }
}

impl<P> fmt::Debug for TlsConn<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport")
            .field("peer", &self.peer.get())
            .field("handshake_done", &self.app_made.get())
            .field("closing", &self.closing.get())
            .finish()
    }
}
