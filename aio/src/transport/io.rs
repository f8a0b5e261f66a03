//! What a stream transport needs from the thing under it: a socket or a
//! pipe end that reads, writes and can be registered with the reactor.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};

/// A non-blocking byte stream a transport can drive.
pub(crate) trait StreamSocket: mio::event::Source + 'static {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn write(&self, buf: &[u8]) -> io::Result<usize>;
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
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
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(&mut &*self, buf)
    }
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        Write::write(&mut &*self, buf)
    }
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Write::write_vectored(&mut &*self, bufs)
    }
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
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        Read::read(&mut &*self, buf)
    }
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        Write::write(&mut &*self, buf)
    }
    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Write::write_vectored(&mut &*self, bufs)
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
    fn can_write_eof(&self) -> bool {
        true
    }
}
