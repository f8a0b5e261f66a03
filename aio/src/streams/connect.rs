//! `open_connection` and `start_server` (asyncio's stream functions): a
//! transport with a stream protocol, handed out as a reader and a writer.

use std::future::Future;
use std::io;
use std::path::Path;
use std::rc::Rc;

use super::protocol::StreamProtocol;
use super::reader::{StreamReader, DEFAULT_LIMIT};
use super::writer::StreamWriter;
use crate::net::BindOptions;
use crate::runtime::task::spawn_detached;
use crate::tls::{TlsAcceptor, TlsConnector};
use crate::transport::{self, ConnectOptions, Server, ServerOptions, Transport};

/// Settings shared by the stream functions.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// The reader's limit (default 64 KiB): the longest line `readline`
    /// accepts; the transport pauses when twice this is buffered.
    pub limit: usize,
    /// Listening socket options (servers only).
    pub bind: BindOptions,
    /// Servers: speak TLS with this certificate (asyncio's `ssl=` of
    /// `start_server`); the handler starts after the handshake.
    pub server_tls: Option<TlsAcceptor>,
    /// Clients: speak TLS with these trusted roots (asyncio's `ssl=` of
    /// `open_connection`); the connection is returned after the
    /// handshake.
    pub client_tls: Option<TlsConnector>,
    /// Clients: the name the server's certificate must hold (asyncio's
    /// `server_hostname`); defaults to the host connected to.
    pub server_name: Option<String>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            limit: DEFAULT_LIMIT,
            bind: BindOptions::default(),
            server_tls: None,
            client_tls: None,
            server_name: None,
        }
    }
}

/// Connects to `host:port` (resolved off the loop) and returns a reader
/// and a writer (asyncio's `open_connection`).
///
/// ```no_run
/// aio::run(async {
///     let (mut reader, writer) = aio::open_connection("127.0.0.1", 8000).await?;
///     writer.write(b"hello\n");
///     writer.drain().await?;
///     let line = reader.readline().await?;
///     println!("{}", String::from_utf8_lossy(&line));
///     Ok::<(), Box<dyn std::error::Error>>(())
/// }).unwrap();
/// ```
///
/// # Errors
///
/// Resolution or connect failure, naming the address.
pub async fn open_connection(host: &str, port: u16) -> io::Result<(StreamReader, StreamWriter)> {
    open_connection_with(host, port, &StreamOptions::default()).await
}

/// [`open_connection`] with options: the reader's limit, and TLS
/// (`client_tls`, `server_name`).
///
/// # Errors
///
/// As [`open_connection`]; with TLS also the handshake's failure, naming
/// the peer.
pub async fn open_connection_with(
    host: &str,
    port: u16,
    options: &StreamOptions,
) -> io::Result<(StreamReader, StreamWriter)> {
    let reader = StreamReader::with_limit(options.limit);
    let protocol = StreamProtocol::new(reader.shared(), None);
    let connect = ConnectOptions {
        tls: options.client_tls.clone(),
        server_name: options.server_name.clone(),
    };
    let (transport, _) =
        transport::create_connection_with(move || protocol, host, port, &connect).await?;
    let writer = StreamWriter::new(transport, reader.shared());
    Ok((reader, writer))
}

/// Connects to the Unix socket at `path`.
///
/// # Errors
///
/// The connect error, naming the path.
pub async fn open_unix_connection(
    path: impl AsRef<Path>,
) -> io::Result<(StreamReader, StreamWriter)> {
    let reader = StreamReader::new();
    let protocol = StreamProtocol::new(reader.shared(), None);
    let (transport, _) = transport::create_unix_connection(move || protocol, path).await?;
    let writer = StreamWriter::new(transport, reader.shared());
    Ok((reader, writer))
}

/// Builds the per-connection protocol of a stream server: on connection it
/// spawns `client_connected(reader, writer)` as a task.
fn server_factory<H, Fut>(handler: H, limit: usize) -> impl Fn() -> StreamProtocol + 'static
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let handler = Rc::new(handler);
    move || {
        let reader = StreamReader::with_limit(limit);
        let state = reader.shared();
        let handler = handler.clone();
        let on_connect = Box::new(move |transport: &Transport| {
            let writer = StreamWriter::new(transport.clone(), reader.shared());
            // Detached: the connection lives as long as the handler runs;
            // a panic in it is reported by the loop. No `Task` handle, so
            // no result cell per connection.
            spawn_detached(handler(reader, writer));
        });
        StreamProtocol::new(state, Some(on_connect))
    }
}

/// Starts a TCP server that runs `client_connected(reader, writer)` as a
/// task for each connection (asyncio's `start_server`). When the task ends
/// and drops its writer, the connection closes.
///
/// ```no_run
/// use aio::streams::{StreamReader, StreamWriter};
///
/// async fn echo(mut reader: StreamReader, writer: StreamWriter) {
///     while let Ok(line) = reader.readline().await {
///         if line.is_empty() {
///             break;
///         }
///         writer.write(&line);
///         if writer.drain().await.is_err() {
///             break;
///         }
///     }
/// }
///
/// aio::run(async {
///     let server = aio::start_server(echo, "127.0.0.1", 8000).await?;
///     server.serve_forever().await;
///     Ok::<(), std::io::Error>(())
/// }).unwrap();
/// ```
///
/// # Errors
///
/// Resolution or bind failure, naming the address.
pub async fn start_server<H, Fut>(client_connected: H, host: &str, port: u16) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    start_server_with(client_connected, host, port, &StreamOptions::default()).await
}

/// [`start_server`] with options (limit, backlog, `SO_REUSEPORT`, TLS with
/// `server_tls`).
///
/// # Errors
///
/// As [`start_server`].
pub async fn start_server_with<H, Fut>(
    client_connected: H,
    host: &str,
    port: u16,
    options: &StreamOptions,
) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let factory = server_factory(client_connected, options.limit);
    let server_options = ServerOptions {
        bind: options.bind.clone(),
        start_serving: true,
        tls: options.server_tls.clone(),
    };
    transport::create_server_with(factory, host, port, &server_options).await
}

/// Starts a Unix-socket stream server at `path`.
///
/// # Errors
///
/// Bind failure, naming the path.
pub async fn start_unix_server<H, Fut>(
    client_connected: H,
    path: impl AsRef<Path>,
) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    transport::create_unix_server(server_factory(client_connected, DEFAULT_LIMIT), path).await
}
