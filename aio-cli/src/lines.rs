//! Reading lines with a length limit, for the line-based servers
//! (`aio echo --api streams`, `aio chat`).
//!
//! The limit counts the newline: with `--limit 8`, `1234567\n` is a line
//! and `12345678\n` is too long. asyncio's reader limit counts only the
//! bytes before the separator, so the reader alone would let one more
//! byte through; [`read_line`] checks the last byte itself.

use std::io;

use aio::streams::{StreamError, StreamReader};

/// What a client that sent too long a line gets before its connection is
/// closed.
pub(crate) const TOO_LONG: &[u8] = b"error: line too long\n";

/// One read of a line-based connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line<'a> {
    /// A line, `\n` (and any `\r`) included; the last line of the stream
    /// may lack its `\n`. Borrowed from the reader (valid until its next
    /// read), so reading a line allocates nothing.
    Text(&'a [u8]),
    /// The line passed the limit; the reader still holds its bytes.
    TooLong,
    /// The client closed its side and every line has been read.
    Eof,
}

/// Reads one line of at most `reader.limit()` bytes, newline included.
///
/// # Errors
///
/// The connection's error.
pub(crate) async fn read_line(reader: &mut StreamReader) -> io::Result<Line<'_>> {
    let limit = reader.limit();
    classify(reader.readline_ref().await, limit)
}

/// What a `readline_ref` gave, as a [`Line`] of at most `limit` bytes.
/// [`read_line`] in one `await` less: the echo server's loop calls
/// `readline_ref` itself, which spares it a future's layer per line.
///
/// # Errors
///
/// The connection's error.
pub(crate) fn classify(read: Result<&[u8], StreamError>, limit: usize) -> io::Result<Line<'_>> {
    match read {
        Ok([]) => Ok(Line::Eof),
        Ok(line) if line.len() > limit => Ok(Line::TooLong),
        Ok(line) => Ok(Line::Text(line)),
        Err(StreamError::LimitOverrun(_)) => Ok(Line::TooLong),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each read, as `Some(line)` or `None` for [`Line::TooLong`], up to
    /// EOF (left out) or the first line too long.
    fn lines_of(input: &[u8], limit: usize) -> Vec<Option<Vec<u8>>> {
        aio::run(async {
            let mut reader = StreamReader::with_limit(limit);
            reader.feed_data(input);
            reader.feed_eof();
            let mut out = Vec::new();
            loop {
                match read_line(&mut reader).await.unwrap() {
                    Line::Text(line) => out.push(Some(line.to_vec())),
                    Line::TooLong => {
                        out.push(None);
                        return out;
                    }
                    Line::Eof => return out,
                }
            }
        })
    }

    fn text(line: &[u8]) -> Option<Vec<u8>> {
        Some(line.to_vec())
    }

    #[test]
    fn the_limit_counts_the_newline() {
        assert_eq!(
            lines_of(b"1234567\nab\r\ncd", 8),
            [text(b"1234567\n"), text(b"ab\r\n"), text(b"cd")]
        );
        assert_eq!(lines_of(b"12345678\n", 8), [None]);
        assert_eq!(lines_of(b"123456789012\n", 8), [None]);
    }

    #[test]
    fn a_last_line_without_newline_may_fill_the_limit() {
        assert_eq!(lines_of(b"12345678", 8), [text(b"12345678")]);
        assert_eq!(lines_of(b"123456789", 8), [None]);
    }
}
