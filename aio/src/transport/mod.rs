//! Transports and protocols (asyncio's callback layer).
//!
//! # Design
//!
//! A [`Transport`] takes commands (`write`, `write_eof`, `pause_reading`,
//! `close`, `abort`); a [`Protocol`] receives events (`connection_made`,
//! `data_received`, `eof_received`, `connection_lost`, `pause_writing`,
//! `resume_writing`). The socket's readiness handler calls the protocol
//! directly from the loop step — no task, no channel — which makes this the
//! fastest path in aio.
//!
//! - `protocol` — the [`Protocol`], [`BufferedProtocol`] and
//!   [`DatagramProtocol`] traits.
//! - `socket` — the stream transport (TCP, Unix, pipes): the read path, the
//!   write buffer and flow control.
//! - `server` — [`create_server`] and [`Server`].
//! - `connect` — [`create_connection`].
//! - `pipe` — [`connect_read_pipe`] / [`connect_write_pipe`].
//! - `datagram` — [`create_datagram_endpoint`].
//!
//! Flow control is a contract: when a transport's write buffer goes above
//! its high-water mark (default 64 KiB) the protocol gets `pause_writing`;
//! when it drains to the low-water mark (default high / 4) it gets
//! `resume_writing`. Invariants: `connection_lost` is called exactly once
//! and always from its own loop callback; a protocol is never called while
//! one of its own callbacks is running.
//!
//! From the layer below this needs `PollEvented` registrations whose events
//! can be routed to a `ReadyHandler` instead of a task waker.

mod buffer;
mod connect;
mod datagram;
mod guard;
mod io;
mod pipe;
mod protocol;
mod recv;
mod server;
mod socket;
mod state;

use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;

pub(crate) use connect::ProtocolCell;
pub use connect::{
    create_connection, create_connection_with, create_unix_connection, ConnectOptions,
    ProtocolHandle,
};
pub use datagram::{create_datagram_endpoint, DatagramTransport};
pub use pipe::{connect_read_pipe, connect_write_pipe};
pub use protocol::{BufferedProtocol, DatagramProtocol, Protocol};
pub use server::{create_server, create_server_with, create_unix_server, Server, ServerOptions};
pub use socket::DEFAULT_HIGH_WATER;

pub(crate) use guard::{call as call_guarded, drop_protocol};
pub(crate) use io::StreamSocket;
pub(crate) use socket::start as start_transport;
pub(crate) use state::{ConnState, FdKind, PauseNotice, Wrote};

/// The operations behind a [`Transport`], implemented per protocol and
/// socket type so the read path is monomorphised.
pub(crate) trait TransportOps: fmt::Debug {
    /// The protocol-independent state of a socket or pipe connection, which
    /// [`Transport`] keeps at hand so `write` runs its common case inline;
    /// `None` for transports of another kind (every write then goes to
    /// `write`).
    fn state(&self) -> Option<Rc<ConnState>> {
        None
    }
    /// Finishes a write made through [`state`](Self::state).
    fn after_write(&self, wrote: Wrote) {
        let _ = wrote;
    }
    fn write(&self, data: &[u8]);
    fn writelines(&self, chunks: &[&[u8]]);
    fn write_eof(&self);
    fn can_write_eof(&self) -> bool;
    fn close(&self);
    fn abort(&self);
    fn is_closing(&self) -> bool;
    fn peer_addr(&self) -> Option<SocketAddr>;
    fn local_addr(&self) -> Option<SocketAddr>;
    fn pause_reading(&self);
    fn resume_reading(&self);
    fn is_reading(&self) -> bool;
    fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>);
    fn write_buffer_limits(&self) -> (usize, usize);
    fn write_buffer_size(&self) -> usize;
}

/// asyncio's rule for water marks: high defaults to 64 KiB, or to 4 × low
/// when only low is given; low defaults to high / 4.
pub(crate) fn water_marks(high: Option<usize>, low: Option<usize>) -> (usize, usize) {
    let high = high.unwrap_or_else(|| low.map_or(DEFAULT_HIGH_WATER, |l| l.saturating_mul(4)));
    let low = low.unwrap_or(high / 4).min(high);
    (high, low)
}

/// A connection's command side (asyncio's `Transport`): a cheap handle,
/// cloned freely. Every method may be called from inside the protocol's
/// callbacks. Once the connection is lost, commands do nothing.
#[derive(Clone)]
pub struct Transport {
    inner: Rc<dyn TransportOps>,
    /// `inner`'s [`ConnState`], if it has one: `write` goes straight to it,
    /// without a virtual call.
    state: Option<Rc<ConnState>>,
}

impl Transport {
    pub(crate) fn new(inner: Rc<dyn TransportOps>) -> Self {
        let state = inner.state();
        Transport { inner, state }
    }

    /// Sends `data`: written to the socket at once when it has room, and
    /// only the rest is buffered. Never blocks; watch `pause_writing` (or
    /// [`write_buffer_size`](Self::write_buffer_size)) to bound the buffer.
    /// Ignored (with a warning) after `write_eof` or `close`.
    #[inline(always)] // the hot path of every protocol: one test and a `send`
    pub fn write(&self, data: &[u8]) {
        match &self.state {
            // Inline: an echo's write is one flags test and one `send`.
            Some(state) => match state.write(data) {
                Wrote::Done => {}
                wrote => self.inner.after_write(wrote),
            },
            None => self.inner.write(data),
        }
    }

    /// Sends several buffers with one `writev` when the socket has room.
    pub fn writelines(&self, chunks: &[&[u8]]) {
        self.inner.writelines(chunks);
    }

    /// Sends EOF once the buffer is flushed (half-close); reading goes on.
    pub fn write_eof(&self) {
        self.inner.write_eof();
    }

    /// Whether [`write_eof`](Self::write_eof) is supported (sockets: yes).
    pub fn can_write_eof(&self) -> bool {
        self.inner.can_write_eof()
    }

    /// Flushes the buffer, then closes; `connection_lost(None)` follows.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Closes at once, dropping buffered data; `connection_lost(None)`
    /// follows.
    pub fn abort(&self) {
        self.inner.abort();
    }

    /// True once closing (by `close`, `abort` or an error).
    pub fn is_closing(&self) -> bool {
        self.inner.is_closing()
    }

    /// The peer's address (asyncio's `get_extra_info('peername')`); `None`
    /// for Unix sockets and pipes, or once closed.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address (`get_extra_info('sockname')`).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr()
    }

    /// Stops calling `data_received` until
    /// [`resume_reading`](Self::resume_reading); the kernel's buffer then
    /// fills and the peer is slowed down by TCP itself.
    pub fn pause_reading(&self) {
        self.inner.pause_reading();
    }

    /// Undoes [`pause_reading`](Self::pause_reading).
    pub fn resume_reading(&self) {
        self.inner.resume_reading();
    }

    /// True while data is being delivered (not paused, not closed).
    pub fn is_reading(&self) -> bool {
        self.inner.is_reading()
    }

    /// Sets the write buffer's water marks (asyncio's defaults when `None`:
    /// high 64 KiB, low high / 4).
    pub fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) {
        self.inner.set_write_buffer_limits(high, low);
    }

    /// The water marks, as `(low, high)` (asyncio's order).
    pub fn write_buffer_limits(&self) -> (usize, usize) {
        self.inner.write_buffer_limits()
    }

    /// Bytes buffered, not yet taken by the kernel.
    pub fn write_buffer_size(&self) -> usize {
        self.inner.write_buffer_size()
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::water_marks;

    #[test]
    fn water_marks_follow_asyncio() {
        assert_eq!(water_marks(None, None), (65536, 16384));
        assert_eq!(water_marks(Some(1000), None), (1000, 250));
        assert_eq!(water_marks(None, Some(100)), (400, 100));
        assert_eq!(water_marks(Some(10), Some(50)), (10, 10));
    }
}
