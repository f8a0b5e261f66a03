//! `StreamReader` (asyncio's `StreamReader`): the connection's protocol
//! fills a shared buffer, and the reading task reads from a buffer of its
//! own that it refills from the shared one (see `buffer`).

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::buffer::ReadBuf;
use super::error::{copy_error, IncompleteReadError, LimitOverrunError, StreamError};
use super::search::Separator;
use super::state::{self, SharedState, StreamState, Wants};

/// asyncio's default buffer limit: 64 KiB.
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// Reads from a connection (asyncio's `StreamReader`).
///
/// Every method is cancel-safe: a read that is dropped before it completes
/// (say by [`timeout`](crate::timeout)) consumed nothing.
///
/// A waiting `readline` is woken only by the bytes that end its line (or
/// pass the limit), `readexactly` only once its count has come, and
/// `read_to_end` only at EOF: a line that arrives in many pieces costs its
/// task one poll, not one per piece.
///
/// ```
/// aio::run(async {
///     let mut reader = aio::streams::StreamReader::new();
///     reader.feed_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody");
///     reader.feed_eof();
///     assert_eq!(reader.readline().await.unwrap(), b"GET / HTTP/1.1\r\n");
///     assert_eq!(reader.readuntil(b"\r\n\r\n").await.unwrap(), b"Host: x\r\n\r\n");
///     assert_eq!(reader.read_to_end().await.unwrap(), b"body");
///     assert!(reader.at_eof());
/// });
/// ```
pub struct StreamReader {
    /// What the protocol fills, shared with it and with the writer.
    pub(super) state: SharedState,
    /// The bytes being read, which only this reader touches.
    pub(super) buf: ReadBuf,
    /// How far the separator search of the read in progress got (asyncio's
    /// `offset`: no match starts before it); every read resets it. Kept
    /// here rather than in each read's future, which keeps those small.
    pub(super) scanned: usize,
}

/// How a search for a separator ended (the range is in the reader's own
/// buffer, already marked read).
pub(super) enum Until {
    /// Up to and including the separator.
    Found(Range<usize>),
    /// EOF came first: everything that was left.
    Eof(Range<usize>),
}

impl Until {
    pub(super) fn range(self) -> Range<usize> {
        match self {
            Until::Found(r) | Until::Eof(r) => r,
        }
    }
}

impl StreamReader {
    /// A reader fed by hand (for tests and parsers), with the default limit.
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_LIMIT)
    }

    /// A reader with the given limit.
    ///
    /// # Panics
    ///
    /// If `limit` is zero.
    pub fn with_limit(limit: usize) -> Self {
        assert!(limit > 0, "a StreamReader limit must be positive");
        StreamReader {
            state: StreamState::new_shared(limit),
            buf: ReadBuf::default(),
            scanned: 0,
        }
    }

    pub(crate) fn shared(&self) -> SharedState {
        self.state.clone()
    }

    /// The buffer limit.
    pub fn limit(&self) -> usize {
        self.state.borrow().limit
    }

    /// Bytes received and not read yet.
    pub fn buffered(&self) -> usize {
        self.state.borrow().buffered()
    }

    /// True when EOF was received and the buffer is empty.
    pub fn at_eof(&self) -> bool {
        let s = self.state.borrow();
        s.eof && s.buffered() == 0
    }

    /// Adds data, as the connection's protocol does.
    pub fn feed_data(&self, data: &[u8]) {
        state::feed_data(&self.state, data);
    }

    /// Marks the end of the stream.
    pub fn feed_eof(&self) {
        state::feed_eof(&self.state);
    }

    /// Records a connection error; reads report it once the buffer is spent.
    pub fn set_exception(&self, error: io::Error) {
        state::set_exception(&self.state, error);
    }

    /// Reads up to `n` bytes: whatever is buffered, waiting only while
    /// nothing is. Empty at EOF (or when `n` is 0).
    ///
    /// # Errors
    ///
    /// The connection's error, once the buffered data is spent.
    pub async fn read(&mut self, n: usize) -> io::Result<Vec<u8>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        poll_fn(|cx| self.poll_fill(cx)).await?;
        let len = self.buf.len().min(n);
        let range = self.buf.advance(&mut self.state.borrow_mut(), len);
        Ok(self.buf.take_vec(range))
    }

    /// Waits until some bytes are unread in the reader's own buffer, or
    /// none will come (EOF); then `Ok`. The connection's error once the
    /// buffered data is spent.
    pub(super) fn poll_fill(&mut self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        let mut s = self.state.borrow_mut();
        self.buf.refill(&mut s);
        if self.buf.len() > 0 {
            Poll::Ready(Ok(()))
        } else if let Some(e) = &s.error {
            Poll::Ready(Err(copy_error(e)))
        } else if s.eof {
            Poll::Ready(Ok(()))
        } else {
            self.buf.wait_for(&mut s, Wants::Data, 0, cx)
        }
    }

    /// Marks the next `n` unread bytes read (at most what
    /// [`poll_fill`](Self::poll_fill) made available) and returns them.
    pub(super) fn consume(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.buf.len());
        let range = self.buf.advance(&mut self.state.borrow_mut(), n);
        self.buf.slice(range)
    }

    /// Reads until EOF.
    ///
    /// # Errors
    ///
    /// The connection's error (the data read so far stays buffered).
    pub async fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        let range = poll_fn(|cx| {
            let mut s = self.state.borrow_mut();
            self.buf.refill(&mut s);
            if let Some(e) = &s.error {
                Poll::Ready(Err(copy_error(e)))
            } else if s.eof {
                let len = self.buf.len();
                Poll::Ready(Ok(self.buf.advance(&mut s, len)))
            } else {
                self.buf.wait_for(&mut s, Wants::Eof, 0, cx)
            }
        })
        .await?;
        Ok(self.buf.take_vec(range))
    }

    /// Reads exactly `n` bytes.
    ///
    /// # Errors
    ///
    /// [`StreamError::Incomplete`] when EOF comes first (with what was
    /// read, which leaves the reader), or the connection's error.
    pub async fn readexactly(&mut self, n: usize) -> Result<Vec<u8>, StreamError> {
        let until = poll_fn(|cx| -> Poll<Result<Until, StreamError>> {
            let mut s = self.state.borrow_mut();
            self.buf.refill(&mut s);
            let len = self.buf.len();
            if len >= n {
                Poll::Ready(Ok(Until::Found(self.buf.advance(&mut s, n))))
            } else if let Some(e) = &s.error {
                Poll::Ready(Err(copy_error(e).into()))
            } else if s.eof {
                Poll::Ready(Ok(Until::Eof(self.buf.advance(&mut s, len))))
            } else {
                self.buf.wait_for(&mut s, Wants::Bytes, n, cx)
            }
        })
        .await?;
        match until {
            Until::Found(range) => Ok(self.buf.take_vec(range)),
            Until::Eof(range) => Err(IncompleteReadError {
                partial: self.buf.take_vec(range),
                expected: Some(n),
            }
            .into()),
        }
    }

    /// Reads one line, `\n` included. At EOF the last line may lack its
    /// `\n`, and an empty result means EOF.
    ///
    /// To read lines without a new vector for each, see
    /// [`readline_ref`](Self::readline_ref).
    ///
    /// # Errors
    ///
    /// [`StreamError::LimitOverrun`] for a line longer than the limit: the
    /// data stays buffered (see [`LimitOverrunError`]); or the connection's
    /// error.
    pub async fn readline(&mut self) -> Result<Vec<u8>, StreamError> {
        self.scanned = 0;
        let until = poll_fn(|cx| self.poll_line(cx)).await?;
        Ok(self.buf.take_vec(until.range()))
    }

    /// [`readline`](Self::readline) that lends the line instead of copying
    /// it into a vector of its own: it borrows the reader's buffer, so it
    /// is valid until the next read. The fast way to handle a stream line
    /// by line: no allocation and no copy per line.
    ///
    /// ```
    /// aio::run(async {
    ///     let mut reader = aio::streams::StreamReader::new();
    ///     reader.feed_data(b"one\ntwo\nthree");
    ///     reader.feed_eof();
    ///     let mut total = 0;
    ///     loop {
    ///         let line = reader.readline_ref().await.unwrap();
    ///         if line.is_empty() {
    ///             break; // EOF
    ///         }
    ///         total += line.len();
    ///     }
    ///     assert_eq!(total, 13);
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// As [`readline`](Self::readline).
    pub fn readline_ref(&mut self) -> ReadLineRef<'_> {
        self.scanned = 0;
        ReadLineRef { reader: Some(self) }
    }

    /// Reads up to and including `separator`.
    ///
    /// # Errors
    ///
    /// [`StreamError::Incomplete`] when EOF comes first (with all the data,
    /// which leaves the reader); [`StreamError::LimitOverrun`] when no
    /// separator is found within the limit (nothing is consumed); or the
    /// connection's error.
    ///
    /// # Panics
    ///
    /// If `separator` is empty.
    pub async fn readuntil(&mut self, separator: &[u8]) -> Result<Vec<u8>, StreamError> {
        self.readuntil_any(&[separator]).await
    }

    /// [`readuntil`](Self::readuntil) that lends the bytes instead of
    /// copying them, as [`readline_ref`](Self::readline_ref) does: valid
    /// until the next read.
    ///
    /// ```
    /// aio::run(async {
    ///     let mut reader = aio::streams::StreamReader::new();
    ///     reader.feed_data(b"Host: x\r\n\r\nbody");
    ///     let head = reader.readuntil_ref(b"\r\n\r\n").await.unwrap();
    ///     assert_eq!(head, b"Host: x\r\n\r\n");
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// As [`readuntil`](Self::readuntil).
    ///
    /// # Panics
    ///
    /// If `separator` is empty.
    pub async fn readuntil_ref(&mut self, separator: &[u8]) -> Result<&[u8], StreamError> {
        assert!(!separator.is_empty(), "separators must be non-empty");
        self.scanned = 0;
        let until = poll_fn(|cx| self.poll_until(cx, &[separator][..])).await?;
        match until {
            Until::Found(range) => Ok(self.buf.slice(range)),
            Until::Eof(range) => Err(self.incomplete(range).into()),
        }
    }

    /// Reads up to and including whichever of `separators` ends first
    /// (asyncio 3.13's tuple of separators).
    ///
    /// # Errors
    ///
    /// As [`readuntil`](Self::readuntil).
    ///
    /// # Panics
    ///
    /// If `separators` is empty or holds an empty separator.
    pub async fn readuntil_any(&mut self, separators: &[&[u8]]) -> Result<Vec<u8>, StreamError> {
        assert!(
            !separators.is_empty() && separators.iter().all(|s| !s.is_empty()),
            "separators must be non-empty"
        );
        self.scanned = 0;
        let until = poll_fn(|cx| self.poll_until(cx, separators)).await?;
        match until {
            Until::Found(range) => Ok(self.buf.take_vec(range)),
            Until::Eof(range) => Err(self.incomplete(range).into()),
        }
    }

    fn incomplete(&mut self, range: Range<usize>) -> IncompleteReadError {
        IncompleteReadError {
            partial: self.buf.take_vec(range),
            expected: None,
        }
    }

    /// One attempt of `readline`: [`poll_until`](Self::poll_until) for
    /// `\n`, compiled on its own so the line path is a `memchr` and little
    /// else.
    #[inline(never)]
    pub(super) fn poll_line(&mut self, cx: &Context<'_>) -> Poll<Result<Until, StreamError>> {
        self.poll_until(cx, b'\n')
    }

    /// One attempt of `readuntil`, resuming the search at
    /// [`scanned`](Self::scanned) (asyncio's algorithm).
    #[inline]
    pub(super) fn poll_until(
        &mut self,
        cx: &Context<'_>,
        separator: impl Separator,
    ) -> Poll<Result<Until, StreamError>> {
        let mut s = self.state.borrow_mut();
        // Where the fed bytes will join the unread ones, how many of them
        // the feeds found free of `\n`, and whether a `\n` follows those
        // (the search resumes past them, or ends there, when it got as far
        // as that join).
        let joined_at = self.buf.len();
        let (newline_free, line_fed) = s.line_search();
        self.buf.refill(&mut s);
        let wants = separator.wants();
        let mut found = None;
        if wants == Wants::Line && self.scanned == joined_at {
            self.scanned += newline_free;
            if line_fed {
                found = Some((self.scanned, self.scanned + 1));
            }
        }
        let data = self.buf.unread();
        debug_assert!(found.is_none_or(|(at, _)| data.get(at) == Some(&b'\n')));
        let (min_len, max_len) = separator.lens();
        if found.is_none() && data.len() >= self.scanned + min_len {
            found = separator.find_in(data, self.scanned);
            if found.is_none() {
                self.scanned = (data.len() + 1).saturating_sub(max_len);
            }
        }
        match found {
            Some((start, end)) if start <= s.limit => {
                return Poll::Ready(Ok(Until::Found(self.buf.advance(&mut s, end))));
            }
            Some((start, _)) => {
                return Poll::Ready(Err(overrun(
                    "Separator is found, but chunk is longer than limit",
                    start,
                )));
            }
            None => {}
        }
        // Also when the feeds did the searching.
        if self.scanned > s.limit {
            return Poll::Ready(Err(overrun(
                "Separator is not found, and chunk exceed the limit",
                self.scanned,
            )));
        }
        if s.eof || s.error.is_some() {
            return Poll::Ready(end_of_stream(&mut self.buf, &mut s));
        }
        self.buf.wait_for(&mut s, wants, 0, cx)
    }
}

/// How a read that found no separator ends once no more data will come:
/// the connection's error, or the rest of the stream.
#[cold]
#[inline(never)]
fn end_of_stream(buf: &mut ReadBuf, s: &mut StreamState) -> Result<Until, StreamError> {
    if let Some(e) = &s.error {
        return Err(copy_error(e).into());
    }
    let len = buf.len();
    Ok(Until::Eof(buf.advance(s, len)))
}

#[cold]
fn overrun(message: &'static str, consumed: usize) -> StreamError {
    LimitOverrunError { message, consumed }.into()
}

/// The future of [`StreamReader::readline_ref`].
///
/// A type of its own rather than an `async fn`'s: no state machine around
/// the poll, and half the size (an `async fn` stores its `&mut self`
/// twice). It is part of every line-reading task, polled for every line.
#[must_use = "futures do nothing unless polled"]
pub struct ReadLineRef<'a> {
    /// `None` once the line was handed out.
    reader: Option<&'a mut StreamReader>,
}

impl<'a> Future for ReadLineRef<'a> {
    type Output = Result<&'a [u8], StreamError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(reader) = self.reader.as_mut() else {
            panic!("ReadLineRef polled after it completed");
        };
        let range = match std::task::ready!(reader.poll_line(cx)) {
            Ok(until) => until.range(),
            Err(e) => return Poll::Ready(Err(e)),
        };
        // Ready: the line may borrow the reader for all of 'a now.
        let reader = self.reader.take().map(|r| r.buf.slice(range));
        Poll::Ready(Ok(reader.unwrap_or_default()))
    }
}

impl fmt::Debug for ReadLineRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadLineRef").finish_non_exhaustive()
    }
}

/// Feeds a [`StreamReader`] (see [`StreamReader::feeder`]); cheap to clone.
#[derive(Clone)]
pub struct StreamFeeder {
    state: SharedState,
}

impl StreamReader {
    /// A handle that feeds this reader from elsewhere: a protocol of your
    /// own, or a test driving the reader chunk by chunk.
    pub fn feeder(&self) -> StreamFeeder {
        StreamFeeder {
            state: self.state.clone(),
        }
    }
}

impl StreamFeeder {
    /// Adds data and wakes the reading task.
    pub fn feed_data(&self, data: &[u8]) {
        state::feed_data(&self.state, data);
    }

    /// Marks the end of the stream.
    pub fn feed_eof(&self) {
        state::feed_eof(&self.state);
    }

    /// Records a connection error.
    pub fn set_exception(&self, error: io::Error) {
        state::set_exception(&self.state, error);
    }
}

impl fmt::Debug for StreamFeeder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamFeeder").finish_non_exhaustive()
    }
}

impl Default for StreamReader {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.borrow();
        f.debug_struct("StreamReader")
            .field("buffered", &s.buffered())
            .field("eof", &s.eof)
            .field("limit", &s.limit)
            .finish()
    }
}
