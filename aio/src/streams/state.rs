//! The state a connection's reader, writer and stream protocol share: the
//! bytes that arrived and were not read yet, EOF and errors, and the
//! writer's flow control.
//!
//! It is one allocation per connection (reader and writer sides used to
//! be two): 10,000 idle connections should cost little more than their
//! sockets. The reader keeps the bytes it is working on in a buffer of its
//! own (see `buffer`), so a line it hands out can be borrowed while the
//! protocol goes on filling [`StreamState::incoming`].

use std::cell::{RefCell, RefMut};
use std::io;
use std::rc::Rc;
use std::task::{Context, Waker};

use crate::runtime::context;
use crate::sync::{wake_all, WaitList};
use crate::transport::Transport;

/// The state, as the reader, the writer and the protocol hold it.
pub(crate) type SharedState = Rc<RefCell<StreamState>>;

/// What a waiting reader needs before waking it is worth a poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wants {
    /// Any byte (`read`, and what a reader that does not wait is owed).
    Data,
    /// The end of a line (`readline`), or more than the limit, which the
    /// reader then reports.
    Line,
    /// This byte, the last of the separator `readuntil` looks for (of
    /// every separator, for `readuntil_any`), or more than the limit. A
    /// feed that brings it may not complete the separator; the reader
    /// then searches and waits again, but a feed without it cannot
    /// complete one.
    Until(u8),
    /// `wants_n` bytes in all (`readexactly`).
    Bytes,
    /// The end of the stream (`read_to_end`).
    Eof,
}

/// See the module docs.
///
/// `repr(C)`, in this order, so that what every line read touches (the
/// `RefCell` flag before it, then `incoming` through the flags) spans two
/// cache lines whatever the allocation's alignment. The compiler's order
/// put the flags after the cold fields, over three. The feed (in the loop
/// step) and the reader's poll (in the task) both touch it, and the
/// kernel's network path between them leaves the first-level cache cold.
#[repr(C)]
pub(crate) struct StreamState {
    /// Bytes received and not yet moved into the reader's own buffer.
    pub(crate) incoming: Vec<u8>,
    /// Unread bytes in the reader's own buffer: with `incoming`, what the
    /// limit and flow control count.
    pub(crate) held: usize,
    /// Lines (and separators) longer than this are refused; the transport
    /// is paused when more than twice this is buffered.
    pub(crate) limit: usize,
    /// With [`Wants::Line`], how many leading bytes of `incoming` the
    /// feeds found free of `\n`: all of them, or up to the first `\n`,
    /// which the reader then takes without looking (see
    /// [`StreamState::line_search`]); with [`Wants::Until`], only the
    /// feeds use it;
    /// with [`Wants::Bytes`], how many bytes the reader needs buffered.
    /// Beside the enum rather than in it, which keeps this state within
    /// its allocation's size class.
    pub(crate) wants_n: usize,
    /// The waker of the task that reads. It stays here between waits: a
    /// task reading line after line waits with the same waker each time,
    /// and cloning it again for every line cost two atomic operations.
    pub(crate) reader: Option<Waker>,
    /// What that task waits for. A feed that does not bring it leaves the
    /// task asleep: a line or a frame that arrives in pieces costs one
    /// wake-up, not one per piece, and the pieces gather in `incoming`
    /// without being copied on into the reader's buffer.
    pub(crate) wants: Wants,
    /// Whether that task waits for data now (is owed a wake-up).
    pub(crate) reader_waiting: bool,
    /// Whether the reader paused the transport.
    pub(crate) read_paused: bool,
    /// The peer sent EOF (or the connection was lost cleanly).
    pub(crate) eof: bool,
    /// The transport's write buffer is above its high-water mark.
    pub(crate) write_paused: bool,
    /// `connection_lost` has run.
    pub(crate) lost: bool,
    /// The connection was lost with an error, which `drain` then reports:
    /// the one in `error`.
    pub(crate) lost_with_error: bool,
    /// The error reads report once the buffer is spent: the connection's,
    /// or one set by hand with `set_exception`. One slot for both sides
    /// (with `lost_with_error`) keeps this state a size class smaller.
    pub(crate) error: Option<io::Error>,
    /// Tasks in `drain` or `wait_closed`. One list for both: they wake on
    /// the same events (resume, loss) and each re-checks its own
    /// condition, which saves a list per connection.
    pub(crate) writers: WaitList,
    /// For pause/resume reading; absent for a reader fed by hand.
    pub(crate) transport: Option<Transport>,
}

impl StreamState {
    /// A fresh state whose reader refuses lines longer than `limit`.
    pub(crate) fn new_shared(limit: usize) -> SharedState {
        Rc::new(RefCell::new(StreamState {
            incoming: Vec::new(),
            held: 0,
            limit,
            eof: false,
            read_paused: false,
            write_paused: false,
            lost: false,
            lost_with_error: false,
            error: None,
            reader: None,
            reader_waiting: false,
            wants: Wants::Data,
            wants_n: 0,
            writers: WaitList::default(),
            transport: None,
        }))
    }

    /// Every byte received and not read yet.
    pub(crate) fn buffered(&self) -> usize {
        self.incoming.len() + self.held
    }

    /// Resumes a transport the reader paused, now that the buffer is back
    /// within the limit.
    #[inline]
    pub(crate) fn maybe_resume(&mut self) {
        if self.read_paused && self.buffered() <= self.limit {
            self.resume_paused();
        }
    }

    /// What the feeds' search for a line found in `incoming`: how many
    /// leading bytes hold no `\n`, and whether one follows them. Nothing
    /// unless the reader waited for a line ([`Wants::Line`]).
    ///
    /// Every feed searches the bytes it adds while the reader wants a
    /// line (`fed`), so `wants_n` short of the end can only be a `\n`:
    /// the reader need not load that byte to check. The line is the first
    /// thing it touches after the kernel's network path has run, and that
    /// load missed the cache in nearly every round trip of an echo.
    #[inline]
    pub(crate) fn line_search(&self) -> (usize, bool) {
        if self.wants == Wants::Line {
            (self.wants_n, self.wants_n < self.incoming.len())
        } else {
            (0, false)
        }
    }

    /// Parks the reading task until a feed brings what it `wants` (with
    /// `n`, see [`StreamState::wants_n`]), or the stream ends. Only right
    /// after a refill: `incoming` is empty, so a line's search starts with
    /// the next byte fed.
    pub(crate) fn wait_for(&mut self, wants: Wants, n: usize, cx: &Context<'_>) {
        debug_assert!(self.incoming.is_empty());
        self.resume_reading();
        self.reader_waiting = true;
        self.wants = wants;
        self.wants_n = n;
        // The same task waiting again (the usual case) left its waker
        // already.
        match &self.reader {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => self.set_reader(cx.waker()),
        }
    }

    /// Out of line, as it happens once per reading task.
    #[cold]
    #[inline(never)]
    fn set_reader(&mut self, waker: &Waker) {
        self.reader = Some(waker.clone());
    }

    /// Whether the bytes just fed give the waiting reader what it wants.
    #[inline]
    fn brings_what_is_wanted(&mut self) -> bool {
        match self.wants {
            Wants::Data => true,
            Wants::Line => self.byte_in_sight(b'\n'),
            Wants::Until(byte) => self.byte_in_sight(byte),
            Wants::Bytes => self.buffered() >= self.wants_n,
            Wants::Eof => false,
        }
    }

    /// Searches the bytes fed since the last search for `byte` (the end
    /// of the line, or of a separator); true when found, or when the
    /// buffer grew past the limit.
    #[inline]
    fn byte_in_sight(&mut self, byte: u8) -> bool {
        let from = self.wants_n;
        let Some(new) = self.incoming.get(from..) else {
            return true;
        };
        match memchr::memchr(byte, new) {
            Some(i) => {
                // Later feeds, before the reader runs, find it at once.
                self.wants_n = from + i;
                true
            }
            None => {
                self.wants_n = self.incoming.len();
                self.buffered() > self.limit
            }
        }
    }

    /// Resumes a transport the reader paused, whatever is buffered: the
    /// reader is about to wait, so it needs more than the buffer holds
    /// (say `readexactly` of more than twice the limit).
    #[inline]
    pub(crate) fn resume_reading(&mut self) {
        if self.read_paused {
            self.resume_paused();
        }
    }

    /// Out of line: a reader that keeps up never pauses the transport, and
    /// this call inlined twice into every line read spread its code over
    /// more cache lines.
    #[cold]
    #[inline(never)]
    fn resume_paused(&mut self) {
        self.read_paused = false;
        if let Some(t) = &self.transport {
            t.resume_reading();
        }
    }
}

/// Adds received bytes and wakes the reading task; pauses the transport
/// past twice the limit.
pub(crate) fn feed_data(state: &RefCell<StreamState>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let mut s = state.borrow_mut();
    s.incoming.extend_from_slice(data);
    fed(state, s);
}

/// The protocol's read: `read` appends to `incoming` (see
/// `Protocol::append_received`), then, as [`feed_data`], the reader wakes
/// and the transport may pause.
#[inline]
pub(crate) fn receive<F>(state: &RefCell<StreamState>, read: F) -> io::Result<(usize, usize)>
where
    F: FnOnce(&mut Vec<u8>) -> io::Result<(usize, usize)>,
{
    let mut s = state.borrow_mut();
    let result = read(&mut s.incoming);
    if let Ok((n @ 1.., _)) = result {
        if n >= RUN_READER_AT_ONCE {
            context::run_woken_after_this_event();
        }
        fed(state, s);
    }
    result
}

/// A read at least this large runs the reader it wakes right after its
/// event, not after the loop step's other reads (up to 64 of them, 1 MiB
/// at 16 KiB each): its task then scans and sends the bytes while they
/// are still in the first-level cache, as a task that reads for itself
/// does. Small reads leave the order alone. Running every woken reader at
/// once, the streams echo took 23 % more user time at 1 KiB, the same
/// requests per second at 4 KiB, and 2 to 9 % more at 8 KiB and 14 % more
/// at 16 KiB.
const RUN_READER_AT_ONCE: usize = 8 * 1024;

/// After bytes were added to `incoming`.
#[inline]
fn fed(state: &RefCell<StreamState>, mut s: RefMut<'_, StreamState>) {
    // First, even when about to pause: the reader trusts what the search
    // found (see `StreamState::line_search`).
    let wanted = s.brings_what_is_wanted();
    if !s.read_paused && s.buffered() > 2 * s.limit && s.transport.is_some() {
        return pause(state, s);
    }
    if wanted {
        wake_reader(state, s);
    }
}

/// Pauses the transport, past twice the limit, and wakes the reader
/// whatever it wants: only the reader resumes the transport (a
/// `readexactly` of more than twice the limit needs more than a paused
/// transport will feed). Out of line, as it is rare, so that the feed's
/// common path stays on fewer cache lines.
#[cold]
#[inline(never)]
fn pause(state: &RefCell<StreamState>, mut s: RefMut<'_, StreamState>) {
    if let Some(t) = &s.transport {
        t.pause_reading();
        s.read_paused = true;
    }
    wake_reader(state, s);
}

/// Wakes the reading task if it waits, with the state released (a waker
/// may run anything), and puts its waker back for the next wait.
#[inline]
fn wake_reader(state: &RefCell<StreamState>, mut s: RefMut<'_, StreamState>) {
    if !s.reader_waiting {
        return;
    }
    s.reader_waiting = false;
    let Some(waker) = s.reader.take() else { return };
    drop(s);
    waker.wake_by_ref();
    if let Ok(mut s) = state.try_borrow_mut() {
        // Unless the woken side registered another meanwhile.
        s.reader.get_or_insert(waker);
    }
}

/// Marks the end of the stream.
pub(crate) fn feed_eof(state: &RefCell<StreamState>) {
    let mut s = state.borrow_mut();
    s.eof = true;
    wake_reader(state, s);
}

/// Records an error for reads to report once the buffer is spent.
pub(crate) fn set_exception(state: &RefCell<StreamState>, error: io::Error) {
    let mut s = state.borrow_mut();
    s.error = Some(error);
    wake_reader(state, s);
}

/// The connection is gone: reads end (with `error`, once the buffer is
/// spent, or at EOF) and so do writers' waits.
pub(crate) fn connection_lost(state: &RefCell<StreamState>, error: Option<io::Error>) {
    let mut s = state.borrow_mut();
    s.lost = true;
    s.lost_with_error = error.is_some();
    match error {
        Some(e) => s.error = Some(e),
        None => s.eof = true,
    }
    let writers = s.writers.take();
    wake_reader(state, s);
    wake_all(writers);
}

/// Wakes every task in `drain` or `wait_closed`.
pub(crate) fn wake_writers(state: &RefCell<StreamState>) {
    let wakers = state.borrow_mut().writers.take();
    wake_all(wakers);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// The layout the struct's docs promise: the fields a line read
    /// touches, with the `RefCell` flag before them, fit in 80 bytes (two
    /// lines at any 16-byte alignment), and the state keeps its size class.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn hot_fields_lead_and_the_size_holds() {
        let hot_end = offset_of!(StreamState, eof) + 1;
        assert!(8 + hot_end <= 80, "hot fields end at {hot_end}");
        assert!(offset_of!(StreamState, error) >= hot_end);
        assert_eq!(size_of::<StreamState>(), 128);
    }
}
