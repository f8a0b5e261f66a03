//! The reader in the wider ecosystem's shapes: a [`Stream`] of lines, and
//! the `futures-io` read traits (`AsyncBufRead` lends the reader's buffer,
//! so a parser on top of it copies nothing).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::error::StreamError;
use super::reader::StreamReader;

impl StreamReader {
    /// The lines of the stream, as a [`Stream`]; ends at EOF. Items keep
    /// their `\n`.
    pub fn lines(&mut self) -> Lines<'_> {
        self.scanned = 0;
        Lines { reader: self }
    }
}

/// The [`Stream`] of [`StreamReader::lines`].
pub struct Lines<'a> {
    reader: &'a mut StreamReader,
}

impl Stream for Lines<'_> {
    type Item = Result<Vec<u8>, StreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let result = std::task::ready!(this.reader.poll_line(cx));
        this.reader.scanned = 0;
        Poll::Ready(match result {
            Ok(until) => {
                let line = this.reader.buf.take_vec(until.range());
                (!line.is_empty()).then_some(Ok(line))
            }
            Err(e) => Some(Err(e)),
        })
    }
}

impl fmt::Debug for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lines").finish_non_exhaustive()
    }
}

impl futures_io::AsyncRead for StreamReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this = self.get_mut();
        std::task::ready!(this.poll_fill(cx))?;
        let data = this.consume(out.len());
        out[..data.len()].copy_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }
}

/// Lends the reader's buffer: `poll_fill_buf` waits for data as
/// [`read`](StreamReader::read) does (empty at EOF), and `consume` marks
/// bytes read.
impl futures_io::AsyncBufRead for StreamReader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_fill(cx))?;
        Poll::Ready(Ok(this.buf.unread()))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        StreamReader::consume(self.get_mut(), amt);
    }
}
