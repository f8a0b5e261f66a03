//! `StreamReader` (asyncio's `StreamReader`): a buffer the connection's
//! protocol fills and the reading task drains.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use super::error::{copy_error, IncompleteReadError, LimitOverrunError, StreamError};
use crate::transport::Transport;

/// asyncio's default buffer limit: 64 KiB.
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// Sent bytes at the buffer's head are dropped once they pass this and
/// half the buffer, so a long-lived reader does not keep them.
const COMPACT_AT: usize = 64 * 1024;

/// The reader's state, shared with the protocol that feeds it.
pub(crate) struct ReaderState {
    /// Received bytes; those before `start` were consumed.
    buf: Vec<u8>,
    start: usize,
    eof: bool,
    /// The connection's error, reported once the buffer cannot satisfy a read.
    error: Option<io::Error>,
    /// The task waiting for data.
    waiter: Option<Waker>,
    /// Lines (and separators) longer than this are refused; the transport
    /// is paused when the buffer passes twice this.
    limit: usize,
    /// For pause/resume reading; absent for a reader fed by hand.
    transport: Option<Transport>,
    /// Whether this reader paused the transport.
    paused: bool,
}

impl ReaderState {
    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.buf[self.start..self.start + n].to_vec();
        self.consume(n);
        out
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.buf.len() {
            self.start = 0;
            // An idle connection should not keep a burst's memory.
            if self.buf.capacity() > COMPACT_AT {
                self.buf = Vec::new();
            } else {
                self.buf.clear();
            }
        } else if self.start > COMPACT_AT && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.maybe_resume();
    }

    fn maybe_resume(&mut self) {
        if self.paused && self.buffered().len() <= self.limit {
            self.paused = false;
            if let Some(t) = &self.transport {
                t.resume_reading();
            }
        }
    }

    fn wake(&mut self) -> Option<Waker> {
        self.waiter.take()
    }

    /// Parks the reading task until the next feed. A transport this reader
    /// paused is resumed first: the caller needs more than the buffer holds
    /// (say `readexactly` of more than twice the limit).
    fn pend<T>(&mut self, cx: &mut Context<'_>) -> Poll<T> {
        if self.paused {
            self.paused = false;
            if let Some(t) = &self.transport {
                t.resume_reading();
            }
        }
        self.waiter = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Reads from a connection (asyncio's `StreamReader`).
///
/// Every method is cancel-safe: a read that is dropped before it completes
/// (say by [`timeout`](crate::timeout)) consumed nothing.
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
    state: Rc<RefCell<ReaderState>>,
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
            state: Rc::new(RefCell::new(ReaderState {
                buf: Vec::new(),
                start: 0,
                eof: false,
                error: None,
                waiter: None,
                limit,
                transport: None,
                paused: false,
            })),
        }
    }

    pub(crate) fn shared(&self) -> Rc<RefCell<ReaderState>> {
        self.state.clone()
    }

    /// A handle that feeds this reader from elsewhere: a protocol of your
    /// own, or a test driving the reader chunk by chunk.
    pub fn feeder(&self) -> StreamFeeder {
        StreamFeeder {
            state: self.state.clone(),
        }
    }

    /// The buffer limit.
    pub fn limit(&self) -> usize {
        self.state.borrow().limit
    }

    /// Bytes received and not read yet.
    pub fn buffered(&self) -> usize {
        self.state.borrow().buffered().len()
    }

    /// True when EOF was received and the buffer is empty.
    pub fn at_eof(&self) -> bool {
        let s = self.state.borrow();
        s.eof && s.buffered().is_empty()
    }

    /// Adds data, as the connection's protocol does.
    pub fn feed_data(&self, data: &[u8]) {
        feed_data(&self.state, data);
    }

    /// Marks the end of the stream.
    pub fn feed_eof(&self) {
        feed_eof(&self.state);
    }

    /// Records a connection error; reads report it once the buffer is spent.
    pub fn set_exception(&self, error: io::Error) {
        set_exception(&self.state, error);
    }

    /// Reads up to `n` bytes: whatever is buffered, waiting only while
    /// nothing is. Empty at EOF (or when `n` is 0).
    ///
    /// # Errors
    ///
    /// The connection's error, once the buffered data is spent.
    pub async fn read(&mut self, n: usize) -> io::Result<Vec<u8>> {
        poll_fn(|cx| {
            let mut s = self.state.borrow_mut();
            let len = s.buffered().len();
            if n == 0 {
                Poll::Ready(Ok(Vec::new()))
            } else if len > 0 {
                Poll::Ready(Ok(s.take(len.min(n))))
            } else if let Some(e) = &s.error {
                Poll::Ready(Err(copy_error(e)))
            } else if s.eof {
                Poll::Ready(Ok(Vec::new()))
            } else {
                s.pend(cx)
            }
        })
        .await
    }

    /// Reads until EOF.
    ///
    /// # Errors
    ///
    /// The connection's error (the data read so far stays buffered).
    pub async fn read_to_end(&mut self) -> io::Result<Vec<u8>> {
        poll_fn(|cx| {
            let mut s = self.state.borrow_mut();
            if let Some(e) = &s.error {
                Poll::Ready(Err(copy_error(e)))
            } else if s.eof {
                let len = s.buffered().len();
                Poll::Ready(Ok(s.take(len)))
            } else {
                s.pend(cx)
            }
        })
        .await
    }

    /// Reads exactly `n` bytes.
    ///
    /// # Errors
    ///
    /// [`StreamError::Incomplete`] when EOF comes first (with what was
    /// read, which leaves the reader), or the connection's error.
    pub async fn readexactly(&mut self, n: usize) -> Result<Vec<u8>, StreamError> {
        poll_fn(|cx| {
            let mut s = self.state.borrow_mut();
            let len = s.buffered().len();
            if len >= n {
                Poll::Ready(Ok(s.take(n)))
            } else if let Some(e) = &s.error {
                Poll::Ready(Err(copy_error(e).into()))
            } else if s.eof {
                let partial = s.take(len);
                Poll::Ready(Err(IncompleteReadError {
                    partial,
                    expected: Some(n),
                }
                .into()))
            } else {
                s.pend(cx)
            }
        })
        .await
    }

    /// Reads one line, `\n` included. At EOF the last line may lack its
    /// `\n`, and an empty result means EOF.
    ///
    /// # Errors
    ///
    /// [`StreamError::LimitOverrun`] for a line longer than the limit: the
    /// data stays buffered (see [`LimitOverrunError`]); or the connection's
    /// error.
    pub async fn readline(&mut self) -> Result<Vec<u8>, StreamError> {
        let mut offset = 0;
        poll_fn(|cx| self.poll_readline(cx, &mut offset)).await
    }

    fn poll_readline(
        &self,
        cx: &mut Context<'_>,
        offset: &mut usize,
    ) -> Poll<Result<Vec<u8>, StreamError>> {
        match self.poll_readuntil(cx, &[b"\n"], offset) {
            Poll::Ready(Err(StreamError::Incomplete(e))) => Poll::Ready(Ok(e.partial)),
            other => other,
        }
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
        let mut offset = 0;
        poll_fn(|cx| self.poll_readuntil(cx, separators, &mut offset)).await
    }

    /// One attempt of `readuntil`; `offset` carries over between attempts
    /// the point before which no match can start (asyncio's algorithm).
    fn poll_readuntil(
        &self,
        cx: &mut Context<'_>,
        separators: &[&[u8]],
        offset: &mut usize,
    ) -> Poll<Result<Vec<u8>, StreamError>> {
        let min_len = separators.iter().map(|s| s.len()).min().unwrap_or(1);
        let max_len = separators.iter().map(|s| s.len()).max().unwrap_or(1);
        let mut s = self.state.borrow_mut();
        let limit = s.limit;
        let data = s.buffered();
        if data.len() >= *offset + min_len {
            if let Some((start, end)) = find_first(data, separators, *offset) {
                if start > limit {
                    return Poll::Ready(Err(LimitOverrunError {
                        message: "Separator is found, but chunk is longer than limit",
                        consumed: start,
                    }
                    .into()));
                }
                return Poll::Ready(Ok(s.take(end)));
            }
            *offset = (data.len() + 1).saturating_sub(max_len);
            if *offset > limit {
                return Poll::Ready(Err(LimitOverrunError {
                    message: "Separator is not found, and chunk exceed the limit",
                    consumed: *offset,
                }
                .into()));
            }
        }
        if let Some(e) = &s.error {
            return Poll::Ready(Err(copy_error(e).into()));
        }
        if s.eof {
            let len = s.buffered().len();
            let partial = s.take(len);
            return Poll::Ready(Err(IncompleteReadError {
                partial,
                expected: None,
            }
            .into()));
        }
        s.pend(cx)
    }

    /// The lines of the stream, as a [`Stream`]; ends at EOF. Items keep
    /// their `\n`.
    pub fn lines(&mut self) -> Lines<'_> {
        Lines {
            reader: self,
            offset: 0,
        }
    }
}

/// Feeds a [`StreamReader`] (see [`StreamReader::feeder`]); cheap to clone.
#[derive(Clone)]
pub struct StreamFeeder {
    state: Rc<RefCell<ReaderState>>,
}

impl StreamFeeder {
    /// Adds data and wakes the reading task.
    pub fn feed_data(&self, data: &[u8]) {
        feed_data(&self.state, data);
    }

    /// Marks the end of the stream.
    pub fn feed_eof(&self) {
        feed_eof(&self.state);
    }

    /// Records a connection error.
    pub fn set_exception(&self, error: io::Error) {
        set_exception(&self.state, error);
    }
}

impl fmt::Debug for StreamFeeder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamFeeder").finish_non_exhaustive()
    }
}

/// The earliest-ending match of any separator at or after `offset`, as
/// (start, end).
fn find_first(data: &[u8], separators: &[&[u8]], offset: usize) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    for sep in separators {
        if let Some(i) = find(&data[offset..], sep) {
            let start = offset + i;
            let end = start + sep.len();
            if best.is_none_or(|(_, e)| end < e) {
                best = Some((start, end));
            }
        }
    }
    best
}

/// SIMD search (memchr): a byte-at-a-time scan cost more than everything
/// else in a `readline` echo put together.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    match needle {
        [byte] => memchr::memchr(*byte, haystack),
        _ => memchr::memmem::find(haystack, needle),
    }
}

pub(crate) fn feed_data(state: &RefCell<ReaderState>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let mut s = state.borrow_mut();
    s.buf.extend_from_slice(data);
    if !s.paused && s.buffered().len() > 2 * s.limit {
        if let Some(t) = &s.transport {
            t.pause_reading();
            s.paused = true;
        }
    }
    let waiter = s.wake();
    drop(s);
    if let Some(w) = waiter {
        w.wake();
    }
}

pub(crate) fn feed_eof(state: &RefCell<ReaderState>) {
    let mut s = state.borrow_mut();
    s.eof = true;
    let waiter = s.wake();
    drop(s);
    if let Some(w) = waiter {
        w.wake();
    }
}

pub(crate) fn set_exception(state: &RefCell<ReaderState>, error: io::Error) {
    let mut s = state.borrow_mut();
    s.error = Some(error);
    let waiter = s.wake();
    drop(s);
    if let Some(w) = waiter {
        w.wake();
    }
}

pub(crate) fn set_transport(state: &RefCell<ReaderState>, transport: Transport) {
    state.borrow_mut().transport = Some(transport);
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
            .field("buffered", &s.buffered().len())
            .field("eof", &s.eof)
            .field("limit", &s.limit)
            .finish()
    }
}

/// The [`Stream`] of [`StreamReader::lines`].
pub struct Lines<'a> {
    reader: &'a mut StreamReader,
    /// The search offset of the line being read.
    offset: usize,
}

impl Stream for Lines<'_> {
    type Item = Result<Vec<u8>, StreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let result = std::task::ready!(this.reader.poll_readline(cx, &mut this.offset));
        this.offset = 0;
        Poll::Ready(match result {
            Ok(line) if line.is_empty() => None,
            other => Some(other),
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
        let mut s = self.state.borrow_mut();
        let len = s.buffered().len();
        if len == 0 {
            if let Some(e) = &s.error {
                return Poll::Ready(Err(copy_error(e)));
            }
            if s.eof {
                return Poll::Ready(Ok(0));
            }
            return s.pend(cx);
        }
        let n = len.min(out.len());
        out[..n].copy_from_slice(&s.buffered()[..n]);
        s.consume(n);
        Poll::Ready(Ok(n))
    }
}
