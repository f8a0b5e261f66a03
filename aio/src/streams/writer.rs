//! `StreamWriter` (asyncio's `StreamWriter`): writes through the transport
//! and waits on its flow control in `drain`.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::error::copy_error;
use super::state::SharedState;
use crate::transport::Transport;

/// Writes to a connection (asyncio's `StreamWriter`).
///
/// `write` never blocks: it hands the bytes to the transport, which sends
/// what the socket takes and buffers the rest. Call [`drain`] after writing
/// to wait while that buffer is above its high-water mark — that is how a
/// fast writer is slowed to the pace of a slow reader.
///
/// Dropping the writer closes the connection (after flushing), as
/// asyncio's writer does when it is garbage-collected.
///
/// [`drain`]: StreamWriter::drain
pub struct StreamWriter {
    /// Where the bytes go.
    transport: Transport,
    /// The connection's flow control and loss, as the protocol reports
    /// them.
    state: SharedState,
}

impl StreamWriter {
    pub(crate) fn new(transport: Transport, state: SharedState) -> Self {
        StreamWriter { transport, state }
    }

    /// Queues `data` for sending.
    pub fn write(&self, data: &[u8]) {
        self.transport.write(data);
    }

    /// Queues several buffers, sent with one `writev` when possible.
    pub fn writelines(&self, chunks: &[&[u8]]) {
        self.transport.writelines(chunks);
    }

    /// Waits until the write buffer is below its high-water mark. Any number
    /// of tasks may drain at once.
    ///
    /// # Errors
    ///
    /// The connection's error if it was lost with one, or
    /// `ConnectionReset` ("connection lost") once it is gone.
    //
    // Not an `async fn`: the bare `poll_fn` is the whole future, with no
    // state machine around it (a line echo drains after every line).
    pub fn drain(&self) -> impl Future<Output = io::Result<()>> + '_ {
        poll_fn(move |cx| self.poll_drain(cx))
    }

    #[inline]
    fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = self.state.borrow_mut();
        if !s.write_paused && !s.lost {
            return Poll::Ready(Ok(()));
        }
        if let (true, Some(e)) = (s.lost_with_error, &s.error) {
            return Poll::Ready(Err(copy_error(e)));
        }
        if s.lost {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "connection lost",
            )));
        }
        s.writers.register(cx.waker());
        Poll::Pending
    }

    /// Sends EOF after the buffered data (half-close); reading goes on.
    pub fn write_eof(&self) {
        self.transport.write_eof();
    }

    /// Whether [`write_eof`](Self::write_eof) is supported.
    pub fn can_write_eof(&self) -> bool {
        self.transport.can_write_eof()
    }

    /// Flushes, then closes the connection.
    pub fn close(&self) {
        self.transport.close();
    }

    /// True once closing or closed.
    pub fn is_closing(&self) -> bool {
        self.transport.is_closing()
    }

    /// Waits until the connection is closed.
    pub async fn wait_closed(&self) {
        poll_fn(|cx| {
            let mut s = self.state.borrow_mut();
            if s.lost {
                Poll::Ready(())
            } else {
                s.writers.register(cx.waker());
                Poll::Pending
            }
        })
        .await;
    }

    /// The peer's address (`get_extra_info('peername')`).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.transport.peer_addr()
    }

    /// The local address (`get_extra_info('sockname')`).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.transport.local_addr()
    }

    /// The underlying transport.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        self.transport.close();
    }
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("transport", &self.transport)
            .finish()
    }
}

impl futures_io::AsyncWrite for StreamWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_drain(cx))?;
        self.transport.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_drain(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.transport.close();
        let mut s = self.state.borrow_mut();
        if s.lost {
            Poll::Ready(Ok(()))
        } else {
            s.writers.register(cx.waker());
            Poll::Pending
        }
    }
}
