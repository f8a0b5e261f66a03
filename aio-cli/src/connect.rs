//! `aio connect HOST PORT`: telnet/nc on aio streams.
//!
//! Two flows run at once on one loop, neither waiting for the other:
//!
//! - a task copies stdin (async, `aio::streams::stdin()`) to the socket,
//!   `drain`ing after each piece; at EOF on stdin it half-closes the
//!   connection with `write_eof`, so the server sees the end of our input
//!   and can still answer;
//! - the main task copies the socket to stdout (`aio::streams::stdout()`,
//!   drained too, so a slow pipe slows the socket, not our memory) until
//!   the server closes, then exits 0.
//!
//! Bytes pass through as they come (not line by line), so binary data and
//! prompts without a newline work. The socket's writer is shared (`Rc`)
//! because dropping a `StreamWriter` closes the connection: the stdin task
//! ending must not cut the reply short.
//!
//! With `--tls` the same runs over TLS (trusting the webpki roots, plus
//! `--cacert`); EOF on stdin then sends `close_notify` before the
//! half-close.

use std::fmt;
use std::io;
use std::process::ExitCode;
use std::rc::Rc;

use aio::streams::{StreamOptions, StreamReader, StreamWriter};
use aio::tls::TlsConnector;

use crate::cli::ConnectArgs;

/// How much is read (from stdin or the socket) at a time.
const CHUNK: usize = 64 * 1024;

/// The exit status of a usage error (clap's), here an unusable `--cacert`.
const USAGE_ERROR: u8 = 2;

/// Runs `aio connect` and returns the exit status.
pub(crate) fn run(args: ConnectArgs) -> ExitCode {
    let mut options = StreamOptions::default();
    if args.tls {
        let connector = match &args.cacert {
            Some(path) => TlsConnector::webpki_and_ca_file(path),
            None => TlsConnector::webpki(),
        };
        match connector {
            Ok(connector) => options.client_tls = Some(connector),
            Err(e) => {
                eprintln!("aio connect: {e}");
                return ExitCode::from(USAGE_ERROR);
            }
        }
    }
    match aio::run(session(args.host, args.port, options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aio connect: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Why a session ended badly.
#[derive(Debug)]
enum ConnectError {
    /// Resolution or connect failure (the error names the address).
    Connect(io::Error),
    /// The connection failed after it was made.
    Connection(io::Error),
    /// Stdout could not be opened or written.
    Stdout(io::Error),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Connect(e) => e.fmt(f),
            ConnectError::Connection(e) => write!(f, "connection failed: {e}"),
            ConnectError::Stdout(e) => write!(f, "writing to stdout failed: {e}"),
        }
    }
}

/// One connection: stdin to the socket and the socket to stdout, until the
/// server closes. With TLS the handshake is done before anything is sent.
async fn session(host: String, port: u16, options: StreamOptions) -> Result<(), ConnectError> {
    let (mut from_server, to_server) = aio::streams::open_connection_with(&host, port, &options)
        .await
        .map_err(ConnectError::Connect)?;
    tracing::debug!("connected to {host}:{port}");
    let to_server = Rc::new(to_server);
    let stdout = aio::streams::stdout().map_err(ConnectError::Stdout)?;
    let upload = match aio::streams::stdin() {
        Ok(stdin) => Some(aio::spawn(upload(stdin, to_server.clone()))),
        Err(e) => {
            // No usable stdin (closed): nothing to send, like `nc < /dev/null`.
            tracing::debug!("stdin: {e}; sending EOF");
            to_server.write_eof();
            None
        }
    };
    let downloaded = download(&mut from_server, &stdout).await;
    if let Some(upload) = upload {
        upload.cancel();
    }
    let flushed = async {
        stdout.drain().await.map_err(ConnectError::Stdout)?;
        stdout.close();
        stdout.wait_closed().await;
        Ok(())
    };
    downloaded.and(flushed.await)
}

/// Copies the socket to stdout until the server closes.
async fn download(
    from_server: &mut StreamReader,
    stdout: &StreamWriter,
) -> Result<(), ConnectError> {
    loop {
        let data = from_server
            .read(CHUNK)
            .await
            .map_err(ConnectError::Connection)?;
        if data.is_empty() {
            tracing::debug!("the server closed the connection");
            return Ok(());
        }
        stdout.write(&data);
        stdout.drain().await.map_err(ConnectError::Stdout)?;
    }
}

/// Copies stdin to the socket; at EOF half-closes it. A failed socket ends
/// the copy quietly: the download side reports the connection's fate.
async fn upload(mut stdin: StreamReader, to_server: Rc<StreamWriter>) {
    loop {
        match stdin.read(CHUNK).await {
            Ok(data) if data.is_empty() => break,
            Ok(data) => {
                to_server.write(&data);
                if let Err(e) = to_server.drain().await {
                    tracing::debug!("sending stopped: {e}");
                    return;
                }
            }
            Err(e) => {
                tracing::warn!("reading stdin failed: {e}; sending EOF");
                break;
            }
        }
    }
    tracing::debug!("stdin ended; half-closing the connection");
    to_server.write_eof();
}
