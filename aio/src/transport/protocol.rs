//! The protocol traits: what a connection tells your code.

use std::io;
use std::net::SocketAddr;

use super::datagram::DatagramTransport;
use super::Transport;

/// Receives a stream connection's events (asyncio's `Protocol`). Every
/// method has a default, so a protocol implements only what it needs.
///
/// The loop calls them in this order, on its own thread:
///
/// ```text
/// connection_made (data_received)* eof_received? connection_lost
/// ```
///
/// `connection_lost` is called exactly once, whether the connection was
/// closed by you, aborted, reset by the peer or ended by EOF. (If the loop
/// itself ends first, nothing more is called: the protocol is dropped and
/// the socket closed, as asyncio calls nothing from a closing loop.) Between
/// `pause_writing` and `resume_writing` the transport's write buffer is
/// above its high-water mark: a well-behaved producer stops writing.
///
/// Calling the transport from inside any of these methods is the normal
/// case. A panic in one of them aborts that connection only; it is reported
/// to the loop's error handler and `connection_lost` receives an error.
///
/// ```no_run
/// use aio::transport::{Protocol, Transport};
///
/// struct Echo(Option<Transport>);
///
/// impl Protocol for Echo {
///     fn connection_made(&mut self, transport: &Transport) {
///         self.0 = Some(transport.clone());
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         if let Some(t) = &self.0 {
///             t.write(data);
///         }
///     }
/// }
///
/// aio::run(async {
///     let server = aio::transport::create_server(|| Echo(None), "127.0.0.1", 8000).await?;
///     server.serve_forever().await;
///     Ok::<(), std::io::Error>(())
/// }).unwrap();
/// ```
pub trait Protocol: 'static {
    /// Whether this protocol receives through
    /// [`get_buffer`](Protocol::get_buffer) (set by [`BufferedProtocol`]);
    /// lets the read path skip asking when it does not.
    #[doc(hidden)]
    const BUFFERED: bool = false;

    /// Whether this protocol receives through
    /// [`append_received`](Protocol::append_received); lets the read path
    /// skip asking when it does not.
    #[doc(hidden)]
    const APPENDS: bool = false;

    /// The connection is up; keep a clone of `transport` to write.
    fn connection_made(&mut self, transport: &Transport) {
        let _ = transport;
    }

    /// Bytes arrived. `data` borrows the loop's read buffer: copy what you
    /// keep.
    fn data_received(&mut self, data: &[u8]) {
        let _ = data;
    }

    /// The peer sent EOF (shut down its write side). Return `true` to keep
    /// the connection open for writing (then close it yourself); `false`
    /// closes it.
    fn eof_received(&mut self) -> bool {
        false
    }

    /// The connection is gone: `None` after a normal close or EOF,
    /// `Some(error)` after a reset or another I/O error.
    fn connection_lost(&mut self, error: Option<io::Error>) {
        let _ = error;
    }

    /// The transport's write buffer went above its high-water mark.
    fn pause_writing(&mut self) {}

    /// The transport's write buffer drained to its low-water mark.
    fn resume_writing(&mut self) {}

    /// Buffered reading (asyncio's `BufferedProtocol.get_buffer`): return a
    /// buffer to receive into your own memory; `None` (the default) uses the
    /// loop's buffer and `data_received`. Implement [`BufferedProtocol`]
    /// rather than overriding this by hand.
    fn get_buffer(&mut self, size_hint: usize) -> Option<&mut [u8]> {
        let _ = size_hint;
        None
    }

    /// `nbytes` were written at the start of the last `get_buffer` buffer.
    fn buffer_updated(&mut self, nbytes: usize) {
        let _ = nbytes;
    }

    /// Receiving by appending, the streams layer's read path: call
    /// `receive` with the vector new bytes should be appended to (the
    /// read lands in its spare capacity, so nothing is copied), take note
    /// of what it appended, and return its result; `None` if it did not
    /// call `receive` (reading then stops until more data arrives).
    /// Used only with `APPENDS`, in place of `data_received`.
    #[doc(hidden)]
    fn append_received<F>(&mut self, receive: F) -> Option<io::Result<(usize, usize)>>
    where
        F: FnOnce(&mut Vec<u8>) -> io::Result<(usize, usize)>,
    {
        let _ = receive;
        None
    }
}

/// A protocol that receives into its own memory (asyncio's
/// `BufferedProtocol`): the loop reads straight into the buffer
/// `get_buffer` returns, then calls `buffer_updated`. Every
/// `BufferedProtocol` is a [`Protocol`].
///
/// ```
/// use aio::transport::BufferedProtocol;
///
/// struct Count { buf: Vec<u8>, total: usize }
///
/// impl BufferedProtocol for Count {
///     fn get_buffer(&mut self, _size_hint: usize) -> &mut [u8] {
///         &mut self.buf
///     }
///     fn buffer_updated(&mut self, nbytes: usize) {
///         self.total += nbytes;
///     }
/// }
///
/// // What the loop does on each read (doctests deny warnings, so the
/// // example has to use its type).
/// let mut count = Count { buf: vec![0; 4096], total: 0 };
/// count.get_buffer(4096)[..5].copy_from_slice(b"hello");
/// count.buffer_updated(5);
/// assert_eq!(count.total, 5);
/// ```
pub trait BufferedProtocol: 'static {
    /// As [`Protocol::connection_made`].
    fn connection_made(&mut self, transport: &Transport) {
        let _ = transport;
    }

    /// The buffer to read into; must not be empty.
    fn get_buffer(&mut self, size_hint: usize) -> &mut [u8];

    /// `nbytes` were written at the start of the buffer.
    fn buffer_updated(&mut self, nbytes: usize);

    /// As [`Protocol::eof_received`].
    fn eof_received(&mut self) -> bool {
        false
    }

    /// As [`Protocol::connection_lost`].
    fn connection_lost(&mut self, error: Option<io::Error>) {
        let _ = error;
    }

    /// As [`Protocol::pause_writing`].
    fn pause_writing(&mut self) {}

    /// As [`Protocol::resume_writing`].
    fn resume_writing(&mut self) {}
}

impl<B: BufferedProtocol> Protocol for B {
    const BUFFERED: bool = true;

    fn connection_made(&mut self, transport: &Transport) {
        BufferedProtocol::connection_made(self, transport);
    }

    fn eof_received(&mut self) -> bool {
        BufferedProtocol::eof_received(self)
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        BufferedProtocol::connection_lost(self, error);
    }

    fn pause_writing(&mut self) {
        BufferedProtocol::pause_writing(self);
    }

    fn resume_writing(&mut self) {
        BufferedProtocol::resume_writing(self);
    }

    fn get_buffer(&mut self, size_hint: usize) -> Option<&mut [u8]> {
        Some(BufferedProtocol::get_buffer(self, size_hint))
    }

    fn buffer_updated(&mut self, nbytes: usize) {
        BufferedProtocol::buffer_updated(self, nbytes);
    }
}

/// Receives a UDP endpoint's events (asyncio's `DatagramProtocol`).
pub trait DatagramProtocol: 'static {
    /// The endpoint is ready; keep a clone of `transport` to send.
    fn connection_made(&mut self, transport: &DatagramTransport) {
        let _ = transport;
    }

    /// One datagram arrived from `addr`.
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        let _ = (data, addr);
    }

    /// A send or receive failed (e.g. `ConnectionRefused` from an ICMP
    /// error); the endpoint stays open.
    fn error_received(&mut self, error: io::Error) {
        let _ = error;
    }

    /// The endpoint was closed; called exactly once.
    fn connection_lost(&mut self, error: Option<io::Error>) {
        let _ = error;
    }
}
