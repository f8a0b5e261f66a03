//! tokio's `AsyncRead` / `AsyncWrite` for the stream sockets (feature
//! `tokio-io`), so crates written against tokio's I/O traits —
//! `tokio-postgres` through `Config::connect_raw`, hyper, `tokio-util`
//! codecs — run on an aio loop.
//!
//! Only the traits are used: tokio is built with no default feature, so no
//! tokio runtime, reactor or timer is compiled in. The sockets stay
//! registered with aio's reactor, and a pending operation is woken by it.
//!
//! The impls are the same polls as the `futures-io` ones: a read fills the
//! unfilled part of tokio's `ReadBuf` (zeroing it the first time, so no
//! `unsafe` is needed to hand the kernel uninitialised memory), a flush has
//! nothing to do (aio buffers nothing in user space), and `poll_shutdown`
//! half-closes the write side (`shutdown(Write)`), as `poll_close` does.
//! Both `S` and `&S` implement them, so one task can read while another
//! writes.

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{TcpStream, UnixStream};

/// Implements tokio's I/O traits for `$ty` by calling the `poll_*`
/// methods of the socket type `$socket`.
macro_rules! tokio_io_impls {
    ($socket:ident for $ty:ty) => {
        /// tokio's `AsyncRead` (feature `tokio-io`): the same read as
        /// `poll_read`; `Ok(())` with nothing filled means EOF.
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let n = ready!($socket::poll_read(&self, cx, buf.initialize_unfilled()))?;
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
        }

        /// tokio's `AsyncWrite` (feature `tokio-io`): writes go straight
        /// to the socket; `poll_shutdown` sends EOF (`shutdown(Write)`)
        /// while reading goes on.
        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                $socket::poll_write(&self, cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                $socket::poll_write_vectored(&self, cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true // `writev`
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(())) // nothing is buffered in user space
            }

            fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready($socket::shutdown(&self, Shutdown::Write))
            }
        }
    };
}

tokio_io_impls!(TcpStream for TcpStream);
tokio_io_impls!(TcpStream for &TcpStream);
tokio_io_impls!(UnixStream for UnixStream);
tokio_io_impls!(UnixStream for &UnixStream);
