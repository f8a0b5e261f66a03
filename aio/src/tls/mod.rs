//! TLS on rustls (asyncio's `ssl=` parameters and `sslproto`).
//!
//! # Design
//!
//! As in asyncio, TLS is a protocol between the socket transport and the
//! application: `TlsProtocol` is the `Protocol` the socket transport
//! drives, and the application's protocol gets a `Transport` of its own
//! whose `write` encrypts. So everything above — `create_server`,
//! `create_connection`, `start_server`, `open_connection`, any
//! `Protocol` — works over TLS unchanged, and a plain connection pays
//! nothing: the TLS layer exists only on connections asked to use it.
//!
//! - `config` — [`TlsAcceptor`] (server) and [`TlsConnector`] (client):
//!   shared rustls configurations, built from PEM files or your own
//!   `rustls` config, plus the handshake timeout.
//! - `conn` — the connection's state, shared by both halves, and the
//!   plumbing they use (sending records, calling the application, failing,
//!   flow control).
//! - `protocol` — the receive side: ciphertext in, handshake, plaintext
//!   out, EOF and errors.
//! - `transport` — the application's transport: `write` seals records,
//!   `write_eof` sends `close_notify`, flow control passes through.
//!
//! Invariants, beyond the `Protocol` contract:
//!
//! - the application's `connection_made` comes after the handshake (as in
//!   asyncio); a handshake that fails or times out never reaches the
//!   application: a client's `create_connection` returns the error, a
//!   server logs it (at debug level) and goes on serving;
//! - after the handshake a TLS failure (a bad record, an alert) closes
//!   the connection and `connection_lost` receives it, worded for a
//!   person ("TLS handshake with 127.0.0.1:4433 failed: invalid peer
//!   certificate: UnknownIssuer");
//! - the peer's `close_notify` is `eof_received`; a TCP EOF without it is
//!   accepted as EOF too, as asyncio does;
//! - flow control: the socket transport's water marks are the
//!   application's; `pause_reading` pauses the socket, and ciphertext
//!   already read waits, undecrypted, until `resume_reading`.
//!
//! From the transport layer this needs `start_transport` (to put this
//! protocol on a connected socket) and the crate-private `TransportOps`
//! trait (to build the application's `Transport`).
//!
//! A server over TLS, with streams:
//!
//! ```no_run
//! use aio::streams::{StreamOptions, StreamReader, StreamWriter};
//! use aio::tls::TlsAcceptor;
//!
//! async fn echo(mut reader: StreamReader, writer: StreamWriter) {
//!     while let Ok(line) = reader.readline().await {
//!         if line.is_empty() || writer.drain().await.is_err() {
//!             break;
//!         }
//!         writer.write(&line);
//!     }
//! }
//!
//! aio::run(async {
//!     let options = StreamOptions {
//!         server_tls: Some(TlsAcceptor::from_pem_files("cert.pem", "key.pem")?),
//!         ..Default::default()
//!     };
//!     let server = aio::streams::start_server_with(echo, "127.0.0.1", 8443, &options).await?;
//!     server.serve_forever().await;
//!     Ok::<(), std::io::Error>(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod config;
mod conn;
mod protocol;
mod transport;

use std::io;
use std::time::Duration;

pub use config::{
    load_certificates, load_private_key, parse_certificates, parse_private_key, webpki_roots,
    TlsAcceptor, TlsConnector, DEFAULT_HANDSHAKE_TIMEOUT,
};
/// The rustls crate aio is built with, so custom configurations use the
/// same version.
pub use rustls;

use conn::TlsConn;
use protocol::TlsProtocol;
use rustls::pki_types::ServerName;

use crate::runtime::reactor::PollEvented;
use crate::sync::oneshot;
use crate::transport::{start_transport, Protocol, ProtocolHandle, StreamSocket, Transport};

/// Wraps a server's protocol factory so each accepted connection speaks
/// TLS first.
pub(crate) fn server_factory<F, P>(factory: F, acceptor: TlsAcceptor) -> impl Fn() -> TlsProtocol<P>
where
    F: Fn() -> P + 'static,
    P: Protocol,
{
    move || {
        let app = factory();
        match rustls::ServerConnection::new(acceptor.config().clone()) {
            Ok(tls) => TlsProtocol::Live(TlsConn::new(
                tls.into(),
                app,
                acceptor.handshake_timeout(),
                None,
            )),
            Err(e) => TlsProtocol::Refused(e.to_string()),
        }
    }
}

/// Checks once, when the server starts, what every connection would
/// otherwise fail on.
///
/// # Errors
///
/// `InvalidInput` naming rustls's objection.
pub(crate) fn check_acceptor(acceptor: &TlsAcceptor) -> io::Result<()> {
    rustls::ServerConnection::new(acceptor.config().clone())
        .map(drop)
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("TLS server configuration: {e}"),
            )
        })
}

/// A client session for `server_name` (a DNS name or an IP address),
/// made before connecting so a bad name fails without touching the
/// network.
///
/// # Errors
///
/// `InvalidInput` for a name that is neither, or a configuration rustls
/// refuses.
pub(crate) fn client_session(
    connector: &TlsConnector,
    server_name: &str,
) -> io::Result<rustls::ClientConnection> {
    let name = ServerName::try_from(server_name.to_owned()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{server_name}` is not a valid TLS server name"),
        )
    })?;
    rustls::ClientConnection::new(connector.config().clone(), name).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TLS client configuration: {e}"),
        )
    })
}

/// Runs the client handshake of `session` on a connected socket and
/// returns once `app`'s `connection_made` has run.
///
/// # Errors
///
/// The handshake's failure, timeout or the connection's loss during it.
///
/// # Cancel safety
///
/// Dropping the future aborts the connection.
pub(crate) async fn client_handshake<P: Protocol, S: StreamSocket>(
    io: PollEvented<S>,
    app: P,
    session: rustls::ClientConnection,
    handshake_timeout: Duration,
) -> io::Result<(Transport, ProtocolHandle<P>)> {
    let (done, handshake) = oneshot::channel();
    let conn = TlsConn::new(session.into(), app, handshake_timeout, Some(done));
    // As in `create_connection`: data that came with the connect is read
    // at once.
    let (socket, _) = start_transport(io, TlsProtocol::Live(conn.clone()), true, None)?;
    let mut pending = AbortOnDrop(Some(socket));
    let result = handshake.await;
    pending.0 = None;
    match result {
        Ok(Ok(())) => match conn.app_transport() {
            Some(transport) => Ok((transport, ProtocolHandle::from_cell(conn))),
            None => Err(lost_during_handshake()),
        },
        Ok(Err(e)) => Err(e),
        Err(oneshot::Canceled) => Err(lost_during_handshake()),
    }
}

fn lost_during_handshake() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the connection closed during the TLS handshake",
    )
}

/// Aborts a connection whose handshake nobody awaits any more.
struct AbortOnDrop(Option<Transport>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(socket) = self.0.take() {
            socket.abort();
        }
    }
}
