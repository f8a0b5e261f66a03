//! `aio echo`: every byte a client sends comes back.
//!
//! One server per aio layer, chosen with `--api`; all of them run on the
//! shared [`server`](crate::server) harness (announce, graceful shutdown,
//! workers):
//!
//! - `sockets`: seed 001's loop of `read` and `write_all`, a task per
//!   connection accepted by the harness.
//! - `protocol`: seed 004's `Protocol`, called straight from the loop's
//!   readiness callbacks on the transport layer's own server.
//! - `streams` (the default): seed 003's `readline` loop on
//!   `start_server`, line by line within `--limit`.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::task::{Context, Poll};

use aio::net::TcpStream;
use aio::streams::{ReadLineRef, StreamError, StreamOptions, StreamReader, StreamWriter};
use aio::transport::{Protocol, ServerOptions, Transport};
use clap::CommandFactory;

use crate::cli::{Cli, EchoApi, EchoArgs};
use crate::lines::{self, Line};
use crate::server::{self, log_connection_error, Config, Listen};

/// How much one `read` of the sockets server takes at most: as much as
/// the loop's own read buffer. A read that fills the buffer cannot tell
/// that it drained the socket, so the next one returns `EAGAIN`: with a
/// 16 KiB buffer, each 16 KiB message of the benchmark cost one.
const SOCKETS_READ_SIZE: usize = 64 * 1024;

thread_local! {
    /// The sockets server's read buffer, one per worker thread: a
    /// connection borrows it only between becoming readable and handing
    /// the bytes to the kernel, so an idle connection holds no buffer.
    static READ_BUF: RefCell<Box<[u8]>> =
        RefCell::new(vec![0; SOCKETS_READ_SIZE].into_boxed_slice());
}

/// Runs `aio echo` and returns the exit status.
pub(crate) fn run(args: EchoArgs) -> ExitCode {
    let config = Config::new("echo", &args.serve, args.workers);
    match args.api {
        EchoApi::Sockets if args.tls.enabled() => usage_command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "TLS (--tls-cert/--tls-key) works with --api streams or protocol, \
                 not with --api sockets",
            )
            .exit(),
        EchoApi::Sockets => server::serve(config, |_worker| echo_sockets),
        EchoApi::Protocol => {
            let tls = match server::tls_acceptor("echo", &args.tls) {
                Ok(tls) => tls,
                Err(status) => return status,
            };
            server::serve_server(config, move |_worker, listen: Listen| {
                let options = ServerOptions {
                    bind: listen.bind,
                    start_serving: true,
                    tls: tls.clone(),
                };
                async move {
                    aio::transport::create_server_with(
                        EchoProtocol::default,
                        &listen.host,
                        listen.port,
                        &options,
                    )
                    .await
                }
            })
        }
        EchoApi::Streams => {
            let tls = match server::tls_acceptor("echo", &args.tls) {
                Ok(tls) => tls,
                Err(status) => return status,
            };
            let limit = args.limit;
            server::serve_server(config, move |_worker, listen: Listen| {
                let options = StreamOptions {
                    limit,
                    bind: listen.bind,
                    server_tls: tls.clone(),
                    ..StreamOptions::default()
                };
                async move {
                    aio::streams::start_server_with(echo_lines, &listen.host, listen.port, &options)
                        .await
                }
            })
        }
    }
}

/// `aio echo`'s own command, so a usage error shows its usage line.
fn usage_command() -> clap::Command {
    let mut cli = Cli::command();
    cli.build();
    match cli.find_subcommand("echo") {
        Some(echo) => echo.clone(),
        None => cli,
    }
}

/// Seed 001's echo on the socket layer: read what came, write it all back,
/// until EOF. An error ends this connection only.
///
/// The loop waits for readiness with nothing in hand, then reads into the
/// thread's one buffer and writes straight back; only bytes the kernel
/// does not take at once are copied out, and awaited with `write_all`.
async fn echo_sockets(stream: TcpStream, peer: SocketAddr) {
    let result = async {
        loop {
            stream.readable().await?;
            match echo_ready(&stream)? {
                Echoed::All => {}
                Echoed::Eof => {
                    // The peer half-closed: everything it sent has been
                    // echoed, so closing (on drop) sends our EOF after the
                    // last byte.
                    return Ok::<(), io::Error>(());
                }
                Echoed::Rest(rest) => stream.write_all(&rest).await?,
            }
        }
    }
    .await;
    match result {
        Ok(()) => tracing::debug!("{peer}: closed"),
        Err(e) => log_connection_error(peer, &e),
    }
}

/// What one readable turn of [`echo_sockets`] did.
enum Echoed {
    /// Everything read (possibly nothing: a spurious wake-up) went back.
    All,
    /// The peer sent EOF.
    Eof,
    /// These bytes were read but the socket had no room for them yet.
    Rest(Vec<u8>),
}

/// Reads what is there into the thread's buffer and writes it back.
fn echo_ready(stream: &TcpStream) -> io::Result<Echoed> {
    READ_BUF.with_borrow_mut(|buf| {
        let n = match stream.try_read(buf) {
            Ok(0) => return Ok(Echoed::Eof),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Echoed::All),
            Err(e) => return Err(e),
        };
        let sent = match stream.try_write(&buf[..n]) {
            Ok(sent) => sent,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
        };
        Ok(if sent == n {
            Echoed::All
        } else {
            Echoed::Rest(buf[sent..n].to_vec())
        })
    })
}

/// Seed 004's echo protocol: bytes go back as they come.
///
/// Flow control makes it safe against a client that sends and never
/// reads: when the transport's write buffer passes its high-water mark,
/// reading pauses until it drains, so the kernel's buffers fill and TCP
/// slows the client down instead of the server's memory growing.
#[derive(Debug, Default)]
struct EchoProtocol {
    /// The connection, once made.
    transport: Option<Transport>,
    /// The client, for the log.
    peer: Option<SocketAddr>,
}

impl Protocol for EchoProtocol {
    fn connection_made(&mut self, transport: &Transport) {
        self.peer = transport.peer_addr();
        tracing::debug!("connection from {}", peer_name(self.peer));
        self.transport = Some(transport.clone());
    }

    #[inline(always)] // called from the loop's read path, per read
    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.transport {
            t.write(data);
        }
    }

    fn eof_received(&mut self) -> bool {
        // Everything the client sent has been echoed (or is buffered):
        // closing flushes the buffer, then our EOF follows the last byte.
        false
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        let peer = peer_name(self.peer);
        match error {
            None => tracing::debug!("{peer}: closed"),
            Some(e) => log_connection_error(peer, &e),
        }
        self.transport = None;
    }

    fn pause_writing(&mut self) {
        if let Some(t) = &self.transport {
            t.pause_reading();
        }
    }

    fn resume_writing(&mut self) {
        if let Some(t) = &self.transport {
            t.resume_reading();
        }
    }
}

/// A peer address for the log.
fn peer_name(peer: Option<SocketAddr>) -> String {
    peer.map_or_else(|| "a client".to_owned(), |p| p.to_string())
}

/// The answering side of [`echo_lines`]: the writer, and the lines that
/// came in at once and go back with one `write`.
///
/// A line the task had to wait for (the usual case, one line at a time)
/// is written straight from the reader's buffer, with no copy. A line that
/// was already buffered when asked for is one of several sent at once (a
/// file piped in), so it joins `batch`, and the batch is written as soon
/// as the reader runs dry ([`NextLine`]): a syscall per burst instead of
/// one per line, and no answer is ever held back while the task waits.
struct Answers {
    writer: StreamWriter,
    /// Boxed, and only while a burst lasts: this struct is part of every
    /// idle connection's memory, where 8 bytes beat a `Vec`'s 24.
    #[allow(clippy::box_collection)] // on purpose, as said
    batch: Option<Box<Vec<u8>>>,
}

impl Answers {
    fn line(&mut self, line: &[u8], waited: bool) {
        match (&mut self.batch, waited) {
            (None, true) => self.writer.write(line),
            (batch, _) => batch.get_or_insert_default().extend_from_slice(line),
        }
    }

    /// Writes the batch, if any, and frees it.
    fn flush(&mut self) {
        if let Some(batch) = self.batch.take() {
            self.writer.write(&batch);
        }
    }
}

/// The next line, and whether it had to be waited for; the answers
/// gathered so far are flushed before the task waits.
struct NextLine<'r, 'a> {
    read: ReadLineRef<'r>,
    answers: &'a mut Answers,
    waited: bool,
}

impl<'r> Future for NextLine<'r, '_> {
    type Output = (Result<&'r [u8], StreamError>, bool);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        match Pin::new(&mut this.read).poll(cx) {
            Poll::Ready(read) => Poll::Ready((read, this.waited)),
            Poll::Pending => {
                this.waited = true;
                this.answers.flush();
                Poll::Pending
            }
        }
    }
}

/// Seed 003's echo on streams: each line back as it came, `\r` and all;
/// a last line without its newline at EOF; a line over the limit gets
/// [`lines::TOO_LONG`] and the connection closes. `drain` after each line
/// keeps a client that does not read from growing the write buffer, and
/// the reader pauses the transport past twice the limit, so memory stays
/// bounded either way. Lines that arrive together go back together (see
/// [`Answers`]), so a piped file costs a syscall per burst, not per line.
///
/// This future is most of an idle connection's memory, so it keeps little:
/// the peer's IP and port (20 bytes; a `SocketAddr` takes 32), not its
/// formatted name; a line on its own borrowed from the reader, never
/// copied, and written before any `await`, so it is never held across
/// one; a burst's batch boxed, and only while the burst lasts; one future
/// layer, no `async fn` (rustc stores an `async fn`'s arguments twice, as
/// captures and as locals). 152 bytes in all, with rustc 1.95.
#[allow(clippy::manual_async_fn)] // see above: an `async fn` would be larger
fn echo_lines(mut reader: StreamReader, writer: StreamWriter) -> impl Future<Output = ()> {
    // Built out here, so that the future captures the writer once, inside
    // `answers`, and does not also keep the argument.
    let mut answers = Answers {
        writer,
        batch: None,
    };
    async move {
        let peer = answers.writer.peer_addr().map(|a| (a.ip(), a.port()));
        let peer_name = || peer_name(peer.map(SocketAddr::from));
        tracing::debug!("connection from {}", peer_name());
        let limit = reader.limit();
        let result = loop {
            let next = NextLine {
                read: reader.readline_ref(),
                answers: &mut answers,
                waited: false,
            };
            let (read, waited) = next.await;
            match lines::classify(read, limit) {
                Ok(Line::Text(line)) => answers.line(line, waited),
                Ok(Line::TooLong) => {
                    tracing::debug!("{}: line over {limit} bytes", peer_name());
                    answers.flush();
                    // Closing (when the writer is dropped) sends it first.
                    answers.writer.write(lines::TOO_LONG);
                    break Ok(());
                }
                Ok(Line::Eof) => {
                    answers.flush();
                    break Ok(());
                }
                Err(e) => break Err(e),
            }
            if let Err(e) = answers.writer.drain().await {
                break Err(e);
            }
        };
        match result {
            Ok(()) => tracing::debug!("{}: closed", peer_name()),
            Err(e) => log_connection_error(peer_name(), &e),
        }
        // Dropping the writer closes the connection once its buffer is
        // sent.
    }
}
