//! UDP sockets.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use super::resolve::{context, resolve};
use crate::runtime::reactor::{ready, Direction, PollEvented};

/// A UDP socket.
///
/// ```
/// aio::run(async {
///     let a = aio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
///     let b = aio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap())?;
///     a.send_to(b"ping", b.local_addr()?).await?;
///     let mut buf = [0; 16];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
///     Ok::<(), std::io::Error>(())
/// }).unwrap();
/// ```
pub struct UdpSocket {
    io: PollEvented<mio::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr`.
    ///
    /// # Errors
    ///
    /// When the socket cannot be bound; the message names the address.
    pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
        let sock =
            mio::net::UdpSocket::bind(addr).map_err(|e| context(e, format!("bind {addr}")))?;
        Ok(UdpSocket {
            io: PollEvented::new(sock, ready::READABLE | ready::WRITABLE)?,
        })
    }

    /// Sets the default peer for `send`/`recv`, resolving `host` off the loop.
    ///
    /// # Errors
    ///
    /// Resolution or connect failure.
    pub async fn connect(&self, host: &str, port: u16) -> io::Result<()> {
        let addrs = resolve(host, port).await?;
        let mut last = None;
        for addr in addrs {
            match self.io.io().connect(addr) {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(context(e, format!("connect to {addr}"))),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no address")))
    }

    /// Sends one datagram to `target`.
    pub async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send_to(cx, buf, target)).await
    }

    /// Receives one datagram and its sender.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// Sends one datagram to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let reg = self.io.registration();
        poll_fn(|cx| reg.poll_io(cx, Direction::Write, || self.io.io().send(buf))).await
    }

    /// Receives one datagram from the connected peer.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        let reg = self.io.registration();
        poll_fn(|cx| reg.poll_io(cx, Direction::Read, || self.io.io().recv(buf))).await
    }

    /// Polls a `send_to`.
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        let reg = self.io.registration();
        reg.poll_io(cx, Direction::Write, || self.io.io().send_to(buf, target))
    }

    /// Polls a `recv_from`.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let reg = self.io.registration();
        reg.poll_io(cx, Direction::Read, || self.io.io().recv_from(buf))
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// The OS's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.io().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` when `connect` was not called.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.io().peer_addr()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}
