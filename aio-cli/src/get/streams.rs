//! `aio get --api streams`: seed 000's `read_until_empty` client, grown
//! into a real HTTP/1.1 reader on `open_connection`.
//!
//! The head and the chunked framing are read with `readline` (whose limit,
//! 64 KiB, bounds each line; [`HEAD_LIMIT`] bounds the section), the body
//! with `read` in pieces of at most [`CHUNK`] bytes, each piece going
//! straight to stdout as it arrives (then `drain`), so nothing is held
//! whole and a slow server's bytes show up as they come.

use aio::streams::{StreamError, StreamOptions, StreamReader};
use aio::tls::TlsConnector;

use super::{interim_shown, judge, GetError, Next, Options, Outcome, Output, CHUNK};
use crate::http::{self, BodyKind, Head, HttpError, HEAD_LIMIT};
use crate::url::Url;

/// Fetches `url` once (over TLS with `tls`), printing to `out` as `opts`
/// says.
pub(super) async fn get(
    url: &Url,
    tls: Option<&TlsConnector>,
    opts: &Options,
    out: &Output,
) -> Result<Outcome, GetError> {
    let options = StreamOptions {
        client_tls: tls.cloned(),
        ..StreamOptions::default()
    };
    let (mut reader, writer) =
        aio::streams::open_connection_with(url.connect_host(), url.port(), &options)
            .await
            .map_err(GetError::Connect)?;
    writer.write(&http::request(url));
    writer.drain().await.map_err(GetError::Io)?;

    let mut section = 0;
    let head = loop {
        let head = read_head(&mut reader, &mut section).await?;
        if !head.is_interim() {
            break head;
        }
        if let Some(shown) = interim_shown(&head, opts) {
            out.write(shown);
        }
    };
    let kind = head.body_kind()?;
    let (next, shown) = judge(&head, opts);
    if let Some(shown) = shown {
        out.write(shown);
    }
    match next {
        Next::Body => {}
        Next::Redirect(location) => return Ok(Outcome::Redirect(location)),
        Next::Fail => {
            return Ok(Outcome::Failed {
                status: head.status(),
                reason: head.reason().to_owned(),
            })
        }
    }
    match kind {
        BodyKind::Empty => {}
        BodyKind::Length(n) => copy_exactly(&mut reader, n, out)
            .await
            .map_err(|e| e.or_truncated(|got| HttpError::closed_in_body(got, n)))?,
        BodyKind::Chunked => copy_chunked(&mut reader, out).await?,
        BodyKind::UntilClose => loop {
            let data = reader.read(CHUNK).await.map_err(GetError::Io)?;
            if data.is_empty() {
                break;
            }
            out.write(&data);
            out.drain().await?;
        },
    }
    Ok(Outcome::Complete)
}

/// Reads one header section with `readline`; `section` counts the bytes of
/// all heads of this response against [`HEAD_LIMIT`].
async fn read_head(reader: &mut StreamReader, section: &mut usize) -> Result<Head, GetError> {
    let mut raw = Vec::new();
    loop {
        let line = readline(reader, || HttpError::too_large("response headers")).await?;
        if line.is_empty() {
            return Err(if raw.is_empty() && *section == 0 {
                HttpError::no_response().into()
            } else {
                HttpError::closed_in_head().into()
            });
        }
        *section += line.len();
        if *section > HEAD_LIMIT {
            return Err(HttpError::too_large("response headers").into());
        }
        if !line.ends_with(b"\n") {
            return Err(HttpError::closed_in_head().into());
        }
        let blank = http::is_blank_line(&line);
        raw.extend_from_slice(&line);
        if blank {
            return Ok(http::parse_head(raw)?);
        }
    }
}

/// `readline`, with a line over the reader's limit reported as
/// `overrun()`.
async fn readline(
    reader: &mut StreamReader,
    overrun: impl FnOnce() -> HttpError,
) -> Result<Vec<u8>, GetError> {
    match reader.readline().await {
        Ok(line) => Ok(line),
        Err(StreamError::LimitOverrun(_)) => Err(overrun().into()),
        Err(StreamError::Incomplete(e)) => Ok(e.partial),
        Err(StreamError::Io(e)) => Err(GetError::Io(e)),
    }
}

/// A body copy that stopped early: how many bytes got through, and why.
struct CopyError {
    /// Bytes copied before the failure.
    copied: u64,
    /// `None` for EOF; otherwise the failure.
    error: Option<GetError>,
}

impl CopyError {
    /// The failure, with EOF turned into `truncated(copied)`.
    fn or_truncated(self, truncated: impl FnOnce(u64) -> HttpError) -> GetError {
        self.error
            .unwrap_or_else(|| GetError::Http(truncated(self.copied)))
    }
}

/// Copies exactly `n` body bytes to stdout, each piece as soon as it
/// arrives: `read` (what is buffered, up to [`CHUNK`]) rather than
/// `readexactly`, which would sit on a slow server's bytes until a whole
/// piece had come. What arrived before an early EOF is still printed.
async fn copy_exactly(reader: &mut StreamReader, n: u64, out: &Output) -> Result<(), CopyError> {
    let mut copied = 0;
    while copied < n {
        let want = usize::try_from(n - copied).map_or(CHUNK, |left| left.min(CHUNK));
        let fail = |error| CopyError { copied, error };
        let piece = reader
            .read(want)
            .await
            .map_err(|e| fail(Some(GetError::Io(e))))?;
        if piece.is_empty() {
            return Err(fail(None));
        }
        out.write(&piece);
        out.drain().await.map_err(|e| fail(Some(e)))?;
        copied += piece.len() as u64;
    }
    Ok(())
}

/// Copies a chunked body to stdout: `readline` for each size line, the
/// chunk's data with [`copy_exactly`], then its closing blank line; after
/// the last chunk, the trailers are read and dropped.
async fn copy_chunked(reader: &mut StreamReader, out: &Output) -> Result<(), GetError> {
    loop {
        let line = readline(reader, || HttpError::line_too_long("chunk size line")).await?;
        if !line.ends_with(b"\n") {
            return Err(HttpError::closed_in_chunked().into());
        }
        let size = http::parse_chunk_size(&line)?;
        if size == 0 {
            break;
        }
        copy_exactly(reader, size, out)
            .await
            .map_err(|e| e.or_truncated(|_| HttpError::closed_in_chunked()))?;
        let end = readline(reader, || HttpError::line_too_long("chunk end")).await?;
        if end.is_empty() || !end.ends_with(b"\n") {
            return Err(HttpError::closed_in_chunked().into());
        }
        if !http::is_blank_line(&end) {
            return Err(HttpError::malformed("chunk end", &end).into());
        }
    }
    let mut trailers = 0;
    loop {
        let line = readline(reader, || HttpError::too_large("response trailers")).await?;
        trailers += line.len();
        if trailers > HEAD_LIMIT {
            return Err(HttpError::too_large("response trailers").into());
        }
        if !line.ends_with(b"\n") {
            return Err(HttpError::closed_in_chunked().into());
        }
        if http::is_blank_line(&line) {
            return Ok(());
        }
    }
}
