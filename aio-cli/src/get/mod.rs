//! `aio get URL`: an HTTP/1.1 GET client, seed 000's two clients made real.
//!
//! One request per connection (`Connection: close`), on either aio layer:
//!
//! - `streams` (default): `open_connection`, then `readline` for the head
//!   and chunk framing and `readexactly`/`read` for the body — seed 000's
//!   `read_until_empty` client, grown up.
//! - `protocol`: `create_connection` with seed 000's
//!   `HTTPGetClientProtocol`, which writes the request in
//!   `connection_made`, parses `data_received` incrementally and completes a
//!   oneshot when the response is done.
//!
//! Both parse with [`crate::http`], so they accept the same responses and
//! print the same bytes. Body bytes go to stdout as they arrive, through the
//! async stdout writer and its `drain`, so memory stays bounded however
//! large the body and however slow the reader of our stdout. This module
//! holds what the two share: the redirect loop, what to do with a head
//! (`-i`, `-L`, `-f`), the whole-request timeout and the exit codes.
//!
//! https runs the same code over aio's TLS layer (rustls), trusting the
//! webpki roots plus `--cacert`; the TLS settings are built once, at the
//! first https URL, and shared by every redirect.
//!
//! Exit codes follow curl where it has one: 0 for any complete response,
//! 1 for network, TLS and protocol errors, 3 for a URL that cannot be
//! fetched, 22 for `-f` and a status of 400 or more, 23 when stdout fails,
//! 28 for a timeout, 47 for too many redirects, 77 for a `--cacert` that
//! cannot be used.

mod protocol;
mod streams;

use std::fmt;
use std::io;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use aio::streams::StreamWriter;
use aio::tls::TlsConnector;

use crate::cli::{GetApi, GetArgs};
use crate::http::{Head, HttpError};
use crate::url::{Scheme, Url, UrlError};

/// How many redirects `-L` follows, as curl's default `--max-redirs` in
/// spirit (curl allows 50; DESIGN.md asks for 10).
const MAX_REDIRECTS: usize = 10;

/// How much body is read (and written to stdout) at a time.
const CHUNK: usize = 64 * 1024;

/// The flags that change what happens to a response.
#[derive(Debug, Clone, Copy)]
struct Options {
    /// `-i`: print each head before the body.
    include: bool,
    /// `-L`: follow redirects.
    location: bool,
    /// `-f`: a status of 400 or more is a failure.
    fail: bool,
}

/// How one request ended.
#[derive(Debug)]
enum Outcome {
    /// The whole body is on stdout.
    Complete,
    /// `-L` and a redirect to this `Location`.
    Redirect(String),
    /// `-f` and an error status; nothing was printed.
    Failed { status: u16, reason: String },
}

/// What to do with a final head.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Print the body.
    Body,
    /// Follow this `Location` (the body is not printed).
    Redirect(String),
    /// `-f` refuses this status.
    Fail,
}

/// Decides what a final head leads to, and returns the bytes `-i` prints
/// for it (none when it is refused by `-f`).
fn judge<'h>(head: &'h Head, opts: &Options) -> (Next, Option<&'h [u8]>) {
    let redirect = matches!(head.status(), 301 | 302 | 303 | 307 | 308);
    let next = match head.header("location") {
        Some(location) if opts.location && redirect => Next::Redirect(location.to_owned()),
        _ if opts.fail && head.status() >= 400 => Next::Fail,
        _ => Next::Body,
    };
    let shown = (opts.include && next != Next::Fail).then(|| head.raw());
    (next, shown)
}

/// The bytes `-i` prints for an interim (1xx) head.
fn interim_shown<'h>(head: &'h Head, opts: &Options) -> Option<&'h [u8]> {
    opts.include.then(|| head.raw())
}

/// Why `aio get` failed; each maps to an exit code.
#[derive(Debug)]
enum GetError {
    /// The URL (given, or redirected to) cannot be fetched.
    Url(UrlError),
    /// `--cacert` cannot be read or holds no usable certificate.
    CaCert(io::Error),
    /// Resolution or connect failure (the error names the address).
    Connect(io::Error),
    /// The connection failed mid-request.
    Io(io::Error),
    /// The response is malformed or ended early.
    Http(HttpError),
    /// `-f` and a status of 400 or more.
    Status { status: u16, reason: String },
    /// More than [`MAX_REDIRECTS`] redirects.
    TooManyRedirects,
    /// `--timeout` ran out.
    TimedOut(Duration),
    /// Writing to stdout failed.
    Output(io::Error),
}

impl GetError {
    fn exit_code(&self) -> u8 {
        match self {
            GetError::Connect(_) | GetError::Io(_) | GetError::Http(_) => 1,
            GetError::Url(_) => 3,
            GetError::Status { .. } => 22,
            GetError::Output(_) => 23,
            GetError::TimedOut(_) => 28,
            GetError::TooManyRedirects => 47,
            GetError::CaCert(_) => 77,
        }
    }
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Url(e) => e.fmt(f),
            GetError::CaCert(e) => e.fmt(f),
            GetError::Connect(e) => e.fmt(f),
            GetError::Io(e) => write!(f, "connection failed: {e}"),
            GetError::Http(e) => e.fmt(f),
            GetError::Status { status, reason } => {
                write!(f, "the server answered {status} {reason}")
            }
            GetError::TooManyRedirects => {
                write!(f, "too many redirects (more than {MAX_REDIRECTS})")
            }
            GetError::TimedOut(d) => write!(f, "timed out after {} s", d.as_secs_f64()),
            GetError::Output(e) => write!(f, "writing to stdout failed: {e}"),
        }
    }
}

impl From<HttpError> for GetError {
    fn from(e: HttpError) -> Self {
        GetError::Http(e)
    }
}

/// Stdout, written asynchronously with flow control.
#[derive(Debug)]
struct Output {
    writer: StreamWriter,
}

impl Output {
    fn open() -> Result<Output, GetError> {
        let writer = aio::streams::stdout().map_err(GetError::Output)?;
        Ok(Output { writer })
    }

    /// Queues `data` (never blocks).
    fn write(&self, data: &[u8]) {
        self.writer.write(data);
    }

    /// Stdout's transport, for writing from protocol callbacks.
    fn transport(&self) -> &aio::transport::Transport {
        self.writer.transport()
    }

    /// Waits while too much is queued.
    async fn drain(&self) -> Result<(), GetError> {
        self.writer.drain().await.map_err(GetError::Output)
    }

    /// Flushes everything and closes our handle on stdout.
    async fn finish(&self) -> Result<(), GetError> {
        self.drain().await?;
        self.writer.close();
        self.writer.wait_closed().await;
        Ok(())
    }
}

/// Runs `aio get` and returns the exit status.
pub(crate) fn run(args: GetArgs) -> ExitCode {
    let opts = Options {
        include: args.include,
        location: args.location,
        fail: args.fail,
    };
    let limit = args.timeout;
    let result = aio::run(async move {
        match aio::timeout(limit, get(&args, opts)).await {
            Ok(result) => result,
            Err(_) => Err(GetError::TimedOut(limit)),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aio get: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// The whole request: redirects included, stdout flushed.
async fn get(args: &GetArgs, opts: Options) -> Result<(), GetError> {
    let mut url = Url::parse(&args.url).map_err(GetError::Url)?;
    let out = Output::open()?;
    let result = follow(&mut url, args, opts, &out).await;
    // What was printed before a failure stays printed.
    let flushed = out.finish().await;
    result.and(flushed)
}

/// Requests `url`, and with `-L` each redirect in turn.
async fn follow(
    url: &mut Url,
    args: &GetArgs,
    opts: Options,
    out: &Output,
) -> Result<(), GetError> {
    let mut connector = None;
    for redirects in 0.. {
        let tls = match url.scheme() {
            Scheme::Http => None,
            Scheme::Https => Some(match &connector {
                Some(c) => c,
                None => connector.insert(tls_connector(args.cacert.as_deref())?),
            }),
        };
        tracing::debug!("GET {url}");
        let outcome = match args.api {
            GetApi::Streams => streams::get(url, tls, &opts, out).await?,
            GetApi::Protocol => protocol::get(url, tls, &opts, out).await?,
        };
        match outcome {
            Outcome::Complete => return Ok(()),
            Outcome::Failed { status, reason } => return Err(GetError::Status { status, reason }),
            Outcome::Redirect(_) if redirects == MAX_REDIRECTS => {
                return Err(GetError::TooManyRedirects)
            }
            Outcome::Redirect(location) => {
                *url = url.join(&location).map_err(GetError::Url)?;
            }
        }
    }
    unreachable!("the redirect loop returns")
}

/// The client TLS settings: the webpki roots, plus `cacert`'s
/// certificates (as curl's `--cacert` adds to nothing, ours adds to the
/// roots, as DESIGN.md asks).
fn tls_connector(cacert: Option<&Path>) -> Result<TlsConnector, GetError> {
    match cacert {
        Some(path) => TlsConnector::webpki_and_ca_file(path),
        None => TlsConnector::webpki(),
    }
    .map_err(GetError::CaCert)
}
