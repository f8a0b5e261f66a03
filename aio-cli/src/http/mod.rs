//! HTTP/1.1 responses as `aio get` reads them, shared by its two APIs.
//!
//! - [`request`] builds the GET request.
//! - [`parse_head`] turns a complete header section (status line, header
//!   lines, blank line; bytes as received) into a [`Head`], and
//!   [`Head::body_kind`] says how its body ends: not at all, after
//!   `Content-Length` bytes, after the last chunk, or at close.
//! - [`parse_chunk_size`] and [`is_blank_line`] read the framing of a
//!   chunked body.
//! - [`ResponseParser`] is the same, pushed: it takes bytes as they arrive
//!   (from a protocol's `data_received`) and reports the head, body pieces
//!   and the end, holding only a partial line between calls.
//!
//! The streams API reads with `readline`/`readexactly` and calls the same
//! functions, so both APIs accept and reject exactly the same responses.
//!
//! Limits keep a hostile server from growing our memory: the header
//! section (interim 1xx heads included), each framing line and the trailer
//! section are at most [`HEAD_LIMIT`] bytes; body bytes are never
//! accumulated here, they are handed on.

mod parser;

use std::fmt;

use crate::url::Url;

pub(crate) use parser::{Event, ResponseParser};

/// The most bytes a header section (or a trailer section, or a chunk-size
/// line) may take: asyncio's default stream limit, 64 KiB.
pub(crate) const HEAD_LIMIT: usize = 64 * 1024;

/// The request `aio get` sends for `url`.
pub(crate) fn request(url: &Url) -> Vec<u8> {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: aio/0.1\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.target(),
        url.host_header()
    )
    .into_bytes()
}

/// A response that is not HTTP/1.x as we can read it, or that ended too
/// soon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpError(String);

impl HttpError {
    /// `bytes` are not a valid `what`.
    pub(crate) fn malformed(what: &str, bytes: &[u8]) -> HttpError {
        const SHOWN: usize = 80;
        let line = strip_eol(bytes);
        let shown = &line[..line.len().min(SHOWN)];
        let more = if line.len() > SHOWN { "..." } else { "" };
        HttpError(format!(
            "malformed {what}: \"{}{more}\"",
            shown.escape_ascii()
        ))
    }

    /// A header section (or trailer section) over [`HEAD_LIMIT`].
    pub(crate) fn too_large(what: &str) -> HttpError {
        HttpError(format!(
            "the {what} are larger than {} KiB",
            HEAD_LIMIT / 1024
        ))
    }

    /// One framing line over [`HEAD_LIMIT`].
    pub(crate) fn line_too_long(what: &str) -> HttpError {
        HttpError(format!("a {what} is longer than {} KiB", HEAD_LIMIT / 1024))
    }

    /// EOF before the status line.
    pub(crate) fn no_response() -> HttpError {
        HttpError("the server closed the connection without a response".into())
    }

    /// EOF inside the header section.
    pub(crate) fn closed_in_head() -> HttpError {
        HttpError("the connection closed inside the response headers".into())
    }

    /// EOF before `expected` body bytes arrived.
    pub(crate) fn closed_in_body(received: u64, expected: u64) -> HttpError {
        HttpError(format!(
            "the connection closed after {received} of {expected} body bytes"
        ))
    }

    /// EOF before the last chunk (or the trailers after it).
    pub(crate) fn closed_in_chunked() -> HttpError {
        HttpError("the connection closed inside the chunked body".into())
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

/// A response's status line and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    /// The header section exactly as received, blank line included (what
    /// `-i` prints).
    raw: Vec<u8>,
    /// The status code.
    status: u16,
    /// The reason phrase (lossy UTF-8), possibly empty.
    reason: String,
    /// The header fields in order, names lower-cased, values trimmed
    /// (lossy UTF-8; folded lines joined with a space).
    headers: Vec<(String, String)>,
}

/// How a response's body ends (RFC 9112 §6.3, for a GET).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// No body: 1xx, 204 and 304.
    Empty,
    /// Exactly this many bytes (`Content-Length`).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the server closes.
    UntilClose,
}

impl Head {
    /// The header section as received.
    pub(crate) fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The status code.
    pub(crate) fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase.
    pub(crate) fn reason(&self) -> &str {
        &self.reason
    }

    /// The first value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`.
    fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// An interim response (100 Continue, 103 Early Hints, ...): the real
    /// one follows on the same connection.
    pub(crate) fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }

    /// How the body ends.
    ///
    /// # Errors
    ///
    /// A `Content-Length` that is not a number, or several that disagree.
    pub(crate) fn body_kind(&self) -> Result<BodyKind, HttpError> {
        if (100..200).contains(&self.status) || self.status == 204 || self.status == 304 {
            return Ok(BodyKind::Empty);
        }
        // Transfer-Encoding wins over Content-Length (RFC 9112 §6.3).
        let codings: Vec<&str> = self
            .headers_named("transfer-encoding")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        if let Some(last) = codings.last() {
            return Ok(if last.eq_ignore_ascii_case("chunked") {
                BodyKind::Chunked
            } else {
                BodyKind::UntilClose
            });
        }
        let mut length = None;
        for value in self
            .headers_named("content-length")
            .flat_map(|v| v.split(','))
        {
            let value = value.trim();
            let bad = || HttpError::malformed("Content-Length", value.as_bytes());
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let n: u64 = value.parse().map_err(|_| bad())?;
            if length.is_some_and(|l| l != n) {
                return Err(HttpError(
                    "conflicting Content-Length values in the response".into(),
                ));
            }
            length = Some(n);
        }
        Ok(length.map_or(BodyKind::UntilClose, BodyKind::Length))
    }
}

/// True for the empty line that ends a header section or a chunk
/// (`\r\n`, or a bare `\n` from a lax server).
pub(crate) fn is_blank_line(line: &[u8]) -> bool {
    line == b"\r\n" || line == b"\n"
}

/// A line without its `\n` or `\r\n`.
fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Parses a complete header section: a status line, header lines, and the
/// blank line that ends it, each ending in `\n` (`\r\n` expected).
///
/// # Errors
///
/// A status line that is not `HTTP/1.x NNN reason`, or a header line
/// without a valid `name:`.
pub(crate) fn parse_head(raw: Vec<u8>) -> Result<Head, HttpError> {
    let mut lines = raw.split_inclusive(|&b| b == b'\n');
    let status_line = lines.next().unwrap_or_default();
    let (status, reason) = parse_status_line(strip_eol(status_line))
        .ok_or_else(|| HttpError::malformed("status line", status_line))?;
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        let text = strip_eol(line);
        if text.is_empty() {
            break;
        }
        if text[0] == b' ' || text[0] == b'\t' {
            // An obsolete folded continuation: joined with a space
            // (RFC 9112 §5.2 lets a client do that).
            let Some((_, value)) = headers.last_mut() else {
                return Err(HttpError::malformed("header line", line));
            };
            value.push(' ');
            value.push_str(String::from_utf8_lossy(text).trim());
            continue;
        }
        let colon = text
            .iter()
            .position(|&b| b == b':')
            .filter(|&i| i > 0 && text[..i].iter().all(|&b| is_token_byte(b)))
            .ok_or_else(|| HttpError::malformed("header line", line))?;
        let name = String::from_utf8_lossy(&text[..colon]).to_ascii_lowercase();
        let value = String::from_utf8_lossy(&text[colon + 1..])
            .trim_matches([' ', '\t'])
            .to_owned();
        headers.push((name, value));
    }
    Ok(Head {
        raw,
        status,
        reason,
        headers,
    })
}

/// `HTTP/1.x NNN[ reason]` → (status, reason).
fn parse_status_line(line: &[u8]) -> Option<(u16, String)> {
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let (&minor, rest) = rest.split_first()?;
    if !minor.is_ascii_digit() {
        return None;
    }
    let rest = rest.strip_prefix(b" ")?;
    let (code, reason) = match rest.get(3) {
        None => (rest, &b""[..]),
        Some(b' ') => (&rest[..3], &rest[4..]),
        Some(_) => return None,
    };
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) || code[0] == b'0' {
        return None;
    }
    let status = std::str::from_utf8(code).ok()?.parse().ok()?;
    Some((status, String::from_utf8_lossy(reason).into_owned()))
}

/// A `tchar` of RFC 9110 §5.6.2 (what a header name is made of).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses a chunk-size line (`1a2b[;extensions]\r\n`), ignoring
/// extensions.
///
/// # Errors
///
/// No hex digits, a non-hex character, or a size over 64 bits.
pub(crate) fn parse_chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let text = strip_eol(line);
    let size = text.split(|&b| b == b';').next().unwrap_or_default();
    let size = size.trim_ascii();
    let bad = || HttpError::malformed("chunk size line", line);
    if size.is_empty() || size.len() > 16 || !size.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad());
    }
    let size = std::str::from_utf8(size).map_err(|_| bad())?;
    u64::from_str_radix(size, 16).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_has_the_required_headers() {
        let url = Url::parse("http://127.0.0.1:8080/a?b").unwrap();
        assert_eq!(
            request(&url),
            b"GET /a?b HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: aio/0.1\r\n\
              Accept: */*\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn heads_parse_and_keep_their_bytes() {
        let raw =
            b"HTTP/1.1 301 Moved Permanently\r\nLocation: /x\r\nX-A:  b c \r\n  folded\r\n\r\n";
        let head = parse_head(raw.to_vec()).unwrap();
        assert_eq!((head.status(), head.reason()), (301, "Moved Permanently"));
        assert_eq!(head.header("location"), Some("/x"));
        assert_eq!(head.header("X-a"), Some("b c folded"));
        assert_eq!(head.raw(), raw);
        let head = parse_head(b"HTTP/1.0 200\n\n".to_vec()).unwrap();
        assert_eq!((head.status(), head.reason()), (200, ""));
    }

    #[test]
    fn bad_heads_are_refused() {
        for bad in [
            &b"HTTP/2 200 OK\r\n\r\n"[..],
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1  200 OK\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"http/1.1 200 OK\r\n\r\n",
            b"\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n: empty\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n folded-first\r\n\r\n",
        ] {
            assert!(parse_head(bad.to_vec()).is_err(), "{}", bad.escape_ascii());
        }
        let e = parse_head(b"FOO bar\r\n\r\n".to_vec()).unwrap_err();
        assert_eq!(e.to_string(), "malformed status line: \"FOO bar\"");
    }

    #[test]
    fn body_kinds_follow_rfc_9112() {
        let kind = |h: &str| {
            parse_head(format!("{h}\r\n").into_bytes())
                .unwrap()
                .body_kind()
        };
        assert_eq!(kind("HTTP/1.1 200 OK\r\n"), Ok(BodyKind::UntilClose));
        assert_eq!(
            kind("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"),
            Ok(BodyKind::Length(5))
        );
        assert_eq!(
            kind("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\ncontent-length: 5\r\n"),
            Ok(BodyKind::Length(5))
        );
        assert!(kind("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n").is_err());
        assert!(kind("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n").is_err());
        assert!(kind("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n").is_err());
        assert_eq!(
            kind("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\nContent-Length: 5\r\n"),
            Ok(BodyKind::Chunked)
        );
        assert_eq!(
            kind("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"),
            Ok(BodyKind::UntilClose)
        );
        assert_eq!(
            kind("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n"),
            Ok(BodyKind::Empty)
        );
        assert_eq!(kind("HTTP/1.1 304 Not Modified\r\n"), Ok(BodyKind::Empty));
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(parse_chunk_size(b"1a\r\n"), Ok(26));
        assert_eq!(parse_chunk_size(b"0\r\n"), Ok(0));
        assert_eq!(parse_chunk_size(b"FF ; name=value\r\n"), Ok(255));
        assert_eq!(parse_chunk_size(b"ffffffffffffffff\n"), Ok(u64::MAX));
        for bad in [
            &b"\r\n"[..],
            b"xyz\r\n",
            b"-1\r\n",
            b"10000000000000000\r\n",
            b"1 2\r\n",
        ] {
            assert!(parse_chunk_size(bad).is_err(), "{}", bad.escape_ascii());
        }
    }
}
