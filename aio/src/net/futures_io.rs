//! The `futures-io` traits for the stream sockets, so crates written
//! against them (`futures-util`'s `AsyncReadExt`, `async-tls`, codecs) run
//! on an aio loop.
//!
//! The impls are the sockets' own polls: a flush has nothing to do (aio
//! buffers nothing in user space) and `poll_close` half-closes the write
//! side (`shutdown(Write)`), as asyncio's `write_eof` does. Both `S` and
//! `&S` implement them, so one task can read while another writes.

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use super::{TcpStream, UnixStream};

/// Implements the `futures-io` traits for `$ty` by calling the `poll_*`
/// methods of the socket type `$socket`.
macro_rules! futures_io_impls {
    ($socket:ident for $ty:ty) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                $socket::poll_read(&self, cx, buf)
            }
        }

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

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(())) // nothing is buffered in user space
            }

            fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready($socket::shutdown(&self, Shutdown::Write))
            }
        }
    };
}

futures_io_impls!(TcpStream for TcpStream);
futures_io_impls!(TcpStream for &TcpStream);
futures_io_impls!(UnixStream for UnixStream);
futures_io_impls!(UnixStream for &UnixStream);
