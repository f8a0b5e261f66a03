//! The socket layer: non-blocking sockets whose operations are futures
//! (asyncio's `loop.sock_accept`, `sock_recv`, `sock_sendall`).
//!
//! # Design
//!
//! Each type owns a `mio` source registered with the current loop
//! (`PollEvented`). An operation tries the syscall first and waits for the
//! reactor only after `WouldBlock`, so a steady stream of reads costs one
//! syscall each. Methods take `&self`: one task may read while another
//! writes. Errors are `io::Error`s; those from binding, connecting and
//! resolving name the address. Everything here needs a running loop.
//!
//! `TcpStream` and `UnixStream` (and `&` each) implement the `futures-io`
//! traits, and with the `tokio-io` feature tokio's `AsyncRead` /
//! `AsyncWrite` too, so crates written for either ecosystem run on an aio
//! loop.

mod accept;
mod futures_io;
mod resolve;
mod stream;
mod tcp;
#[cfg(feature = "tokio-io")]
mod tokio_io;
mod udp;
mod unix;

pub use accept::{accept_error_kind, AcceptErrorKind};
pub use resolve::resolve;
pub use tcp::{BindOptions, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};

pub(crate) use resolve::context as error_context;
pub(crate) use tcp::bind_socket;
