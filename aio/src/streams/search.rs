//! What a reader searches for: a newline, or any of several separators.
//! One trait so `poll_until` is written once and compiled twice: the line
//! reads get a copy specialised to one byte, with nothing but `memchr`.

use super::state::Wants;

/// A separator (or set of them) to search the buffer for.
pub(super) trait Separator: Copy {
    /// The lengths of the shortest and the longest separator.
    fn lens(self) -> (usize, usize);

    /// The earliest-ending match at or after `offset`, as (start, end).
    fn find_in(self, data: &[u8], offset: usize) -> Option<(usize, usize)>;

    /// What a feed must bring before the waiting reader is worth a poll.
    /// [`Wants::Line`] only for `readline`'s `\n`, which the feeds then
    /// search for themselves (see `StreamState::wants`).
    fn wants(self) -> Wants;
}

/// A single byte: `readline`'s `\n`.
impl Separator for u8 {
    #[inline]
    fn lens(self) -> (usize, usize) {
        (1, 1)
    }

    #[inline]
    fn find_in(self, data: &[u8], offset: usize) -> Option<(usize, usize)> {
        find_byte(self, data, offset)
    }

    #[inline]
    fn wants(self) -> Wants {
        if self == b'\n' {
            Wants::Line
        } else {
            Wants::Until(self)
        }
    }
}

/// Out of line: in ping-pong the feeds find every line (see
/// `StreamState::line_search`), and this code inlined sat between the hot
/// parts of `readline`.
#[inline(never)]
fn find_byte(byte: u8, data: &[u8], offset: usize) -> Option<(usize, usize)> {
    let start = offset + memchr::memchr(byte, &data[offset..])?;
    Some((start, start + 1))
}

/// Any of several separators (asyncio 3.13's tuple); none is empty.
impl Separator for &[&[u8]] {
    fn lens(self) -> (usize, usize) {
        let min = self.iter().map(|s| s.len()).min().unwrap_or(1);
        let max = self.iter().map(|s| s.len()).max().unwrap_or(1);
        (min, max)
    }

    fn find_in(self, data: &[u8], offset: usize) -> Option<(usize, usize)> {
        let mut best: Option<(usize, usize)> = None;
        for sep in self {
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

    /// The separators' common last byte, when they share one: no
    /// separator can end in a feed without it. Otherwise any byte.
    fn wants(self) -> Wants {
        let mut lasts = self.iter().filter_map(|sep| sep.last());
        match lasts.next() {
            Some(&last) if lasts.all(|&b| b == last) => Wants::Until(last),
            _ => Wants::Data,
        }
    }
}

/// SIMD search (memchr): a byte-at-a-time scan cost more than everything
/// else in a `readline` echo put together.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    match needle {
        [byte] => memchr::memchr(*byte, haystack),
        _ => memchr::memmem::find(haystack, needle),
    }
}
