//! What a stream transport needs from the thing under it: a socket or a
//! pipe end that reads, writes and can be registered with the reactor.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;

use super::FdKind;

/// A non-blocking byte stream a transport can drive. The transport reads
/// and writes its descriptor directly (see `FdKind`); this trait supplies
/// the rest.
pub(crate) trait StreamSocket: mio::event::Source + AsRawFd + 'static {
    /// How the descriptor is read and written (a constant, so the read
    /// path picks its syscall at compile time).
    const KIND: FdKind = FdKind::Socket;
    /// Sends EOF; `Unsupported` where the stream cannot half-close.
    fn shutdown_write(&self) -> io::Result<()>;
    fn can_write_eof(&self) -> bool;
    /// False for the read end of a pipe: after EOF there is nothing left
    /// to keep open.
    fn writable(&self) -> bool {
        true
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        None
    }
    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }
    /// Whether a read shorter than the buffer proves the source drained
    /// (true for stream sockets, whose every arrival raises a new edge).
    fn short_read_drains(&self) -> bool {
        true
    }
}

impl StreamSocket for mio::net::TcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
    fn can_write_eof(&self) -> bool {
        true
    }
    fn peer_addr(&self) -> Option<SocketAddr> {
        mio::net::TcpStream::peer_addr(self).ok()
    }
    fn local_addr(&self) -> Option<SocketAddr> {
        mio::net::TcpStream::local_addr(self).ok()
    }
}

impl StreamSocket for mio::net::UnixStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
    fn can_write_eof(&self) -> bool {
        true
    }
}
