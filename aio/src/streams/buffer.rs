//! The reader's own buffer: the bytes a `StreamReader` is reading, moved
//! out of the shared state's `incoming`, which the protocol fills.
//!
//! Two buffers rather than one, so that a line the reader hands out can be
//! borrowed from it (`readline_ref`) while the protocol goes on receiving:
//! the protocol never touches this one. The move is usually free: when
//! everything here has been read, the two vectors are swapped. And so that
//! a connection keeps one buffer at most while it waits, [`ReadBuf::park`]
//! lends this buffer's memory back to `incoming`, where the next feed
//! lands without allocating.

use std::mem;
use std::ops::Range;
use std::task::{Context, Poll};

use super::state::{StreamState, Wants};

/// While the reader waits with nothing buffered, it keeps no more memory
/// than this for the next feed: an idle connection should not hold a
/// burst's memory, and a busy one with lines up to this size allocates
/// nothing per line.
const KEEP_WHILE_WAITING: usize = 16 * 1024;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct ReadBuf {
    /// Bytes taken from `incoming`; those before `start` were read (a
    /// borrowed line stays here until the next read).
    buf: Vec<u8>,
    start: usize,
}

impl ReadBuf {
    /// The bytes not read yet (not counting `incoming`).
    #[inline]
    pub(crate) fn unread(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// How many bytes are not read yet (not counting `incoming`).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Bytes of a completed read, by the range [`advance`](Self::advance)
    /// returned.
    #[inline]
    pub(crate) fn slice(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// Moves everything received into this buffer: swapped in whole when
    /// everything here has been read (no copy), else appended after the
    /// unread bytes. The reader no longer waits, so what it wanted is
    /// reset (a line read takes what the feeds' search found first).
    #[inline]
    pub(crate) fn refill(&mut self, s: &mut StreamState) {
        s.wants = Wants::Data;
        s.wants_n = 0;
        if s.incoming.is_empty() {
            return;
        }
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            mem::swap(&mut self.buf, &mut s.incoming);
        } else {
            self.append(s);
        }
        s.held = self.buf.len();
    }

    #[inline(never)]
    fn append(&mut self, s: &mut StreamState) {
        // Drop the bytes already read first, so the buffer only grows with
        // what is unread.
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(&s.incoming);
        s.incoming.clear();
    }

    /// Marks the next `n` unread bytes read and returns where they are.
    /// They stay in place until the next [`refill`](Self::refill) or
    /// [`park`](Self::park), so a caller can lend them out meanwhile.
    #[inline]
    pub(crate) fn advance(&mut self, s: &mut StreamState, n: usize) -> Range<usize> {
        let from = self.start;
        self.start += n;
        s.held = self.buf.len() - self.start;
        s.maybe_resume();
        from..self.start
    }

    /// The bytes of a completed read as a vector of their own: the buffer
    /// itself when the read took all of it and it is not much larger (no
    /// copy), else a copy.
    pub(crate) fn take_vec(&mut self, range: Range<usize>) -> Vec<u8> {
        let len = range.len();
        if range.start == 0 && range.end == self.buf.len() && self.buf.capacity() <= 2 * len {
            self.start = 0;
            return mem::take(&mut self.buf);
        }
        self.buf[range].to_vec()
    }

    /// Parks the reading task, after [`park`](Self::park), until a feed
    /// brings what it `wants` (see `StreamState::wants`).
    pub(crate) fn wait_for<T>(
        &mut self,
        s: &mut StreamState,
        wants: Wants,
        n: usize,
        cx: &Context<'_>,
    ) -> Poll<T> {
        self.park(s);
        s.wait_for(wants, n, cx);
        Poll::Pending
    }

    /// The reader is about to wait. With nothing unread, the larger of the
    /// two buffers goes to `incoming` for the next feed and the other is
    /// freed, and what is kept is bounded by [`KEEP_WHILE_WAITING`].
    pub(crate) fn park(&mut self, s: &mut StreamState) {
        if self.start < self.buf.len() || !s.incoming.is_empty() {
            return; // a partial line waits for its end: keep it
        }
        self.buf.clear();
        self.start = 0;
        // Keep the larger of the two (the next line is likely as long as
        // this one), and free the other.
        if self.buf.capacity() > s.incoming.capacity() {
            mem::swap(&mut self.buf, &mut s.incoming);
        }
        self.buf = Vec::new();
        if s.incoming.capacity() > KEEP_WHILE_WAITING {
            s.incoming = Vec::new();
        }
    }
}
