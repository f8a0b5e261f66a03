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
pub(crate) enum Line {
    /// A line, `\n` (and any `\r`) included; the last line of the stream
    /// may lack its `\n`.
    Text(Vec<u8>),
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
pub(crate) async fn read_line(reader: &mut StreamReader) -> io::Result<Line> {
    let limit = reader.limit();
    match reader.readline().await {
        Ok(line) if line.is_empty() => Ok(Line::Eof),
        Ok(line) if line.len() > limit => Ok(Line::TooLong),
        Ok(line) => Ok(Line::Text(line)),
        Err(StreamError::LimitOverrun(_)) => Ok(Line::TooLong),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(input: &[u8], limit: usize) -> Vec<Line> {
        aio::run(async {
            let mut reader = StreamReader::with_limit(limit);
            reader.feed_data(input);
            reader.feed_eof();
            let mut out = Vec::new();
            loop {
                let line = read_line(&mut reader).await.unwrap();
                let done = line != Line::Eof && line != Line::TooLong;
                out.push(line);
                if !done {
                    return out;
                }
            }
        })
    }

    #[test]
    fn the_limit_counts_the_newline() {
        assert_eq!(
            lines_of(b"1234567\nab\r\ncd", 8),
            [
                Line::Text(b"1234567\n".to_vec()),
                Line::Text(b"ab\r\n".to_vec()),
                Line::Text(b"cd".to_vec()),
                Line::Eof
            ]
        );
        assert_eq!(lines_of(b"12345678\n", 8), [Line::TooLong]);
        assert_eq!(lines_of(b"123456789012\n", 8), [Line::TooLong]);
    }

    #[test]
    fn a_last_line_without_newline_may_fill_the_limit() {
        assert_eq!(
            lines_of(b"12345678", 8),
            [Line::Text(b"12345678".to_vec()), Line::Eof]
        );
        assert_eq!(lines_of(b"123456789", 8), [Line::TooLong]);
    }
}
