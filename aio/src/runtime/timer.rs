//! Timers: a binary heap of deadlines with lazy cancellation, as asyncio's
//! `_scheduled`. Cancelling frees the entry at once and leaves its heap
//! record behind; the heap is compacted when dead records outnumber live
//! ones, so a server that arms and cancels a timeout per request does not
//! grow.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use slab::Slab;
use std::task::Waker;

/// What a timer does when it fires.
pub(crate) enum Action {
    /// Wake a sleeping task (`sleep`, `timeout`).
    Wake(Option<Waker>),
    /// Run a callback (`call_later`).
    Call(Box<dyn FnOnce()>),
}

/// A fired timer, handed back to the loop to act on outside any borrow.
pub(crate) enum Fired {
    Wake(Waker),
    Call(Box<dyn FnOnce()>),
}

struct Entry {
    /// Matches the heap record; a record with another `seq` is stale.
    seq: u64,
    action: Action,
}

/// Identifies one armed timer; stale ids are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerId {
    key: usize,
    seq: u64,
}

/// The loop's timers.
pub(crate) struct Timers {
    /// (deadline, seq, key), earliest first; seq breaks ties in arming order.
    heap: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    /// Live timers.
    entries: Slab<Entry>,
    /// The seq the next timer gets.
    next_seq: u64,
    /// Heap records whose timer was cancelled.
    dead: usize,
}

impl Timers {
    pub(crate) fn new() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            entries: Slab::new(),
            next_seq: 0,
            dead: 0,
        }
    }

    pub(crate) fn insert(&mut self, deadline: Instant, action: Action) -> TimerId {
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = self.entries.insert(Entry { seq, action });
        self.heap.push(Reverse((deadline, seq, key)));
        TimerId { key, seq }
    }

    /// Replaces the waker of a sleeping timer. Returns false if the timer
    /// already fired or was cancelled.
    pub(crate) fn update_waker(&mut self, id: TimerId, waker: &Waker) -> bool {
        match self.entries.get_mut(id.key) {
            Some(entry) if entry.seq == id.seq => {
                if let Action::Wake(slot) = &mut entry.action {
                    match slot {
                        Some(w) if w.will_wake(waker) => {}
                        _ => *slot = Some(waker.clone()),
                    }
                }
                true
            }
            _ => false,
        }
    }

    /// Cancels a timer; returns what it held so the caller can drop it
    /// outside the borrow.
    pub(crate) fn cancel(&mut self, id: TimerId) -> Option<Action> {
        match self.entries.get(id.key) {
            Some(entry) if entry.seq == id.seq => {}
            _ => return None,
        }
        let entry = self.entries.remove(id.key);
        self.dead += 1;
        if self.dead > 64 && self.dead * 2 > self.heap.len() {
            let entries = &self.entries;
            self.heap
                .retain(|Reverse((_, seq, key))| entries.get(*key).is_some_and(|e| e.seq == *seq));
            self.dead = 0;
        }
        Some(entry.action)
    }

    /// Whether no timer is armed.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The earliest live deadline, dropping dead records on the way.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((deadline, seq, key))) = self.heap.peek().copied() {
            if self.entries.get(key).is_some_and(|e| e.seq == seq) {
                return Some(deadline);
            }
            self.heap.pop();
            self.dead = self.dead.saturating_sub(1);
        }
        None
    }

    /// Removes and returns one timer due at `now`, if any.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Fired> {
        loop {
            let deadline = self.next_deadline()?;
            if deadline > now {
                return None;
            }
            let Reverse((_, _, key)) = self.heap.pop()?;
            let entry = self.entries.remove(key);
            match entry.action {
                Action::Wake(Some(w)) => return Some(Fired::Wake(w)),
                Action::Wake(None) => continue,
                Action::Call(f) => return Some(Fired::Call(f)),
            }
        }
    }

    /// Whether the timer is still armed.
    #[cfg(test)]
    pub(crate) fn is_armed(&self, id: TimerId) -> bool {
        self.entries.get(id.key).is_some_and(|e| e.seq == id.seq)
    }

    #[cfg(test)]
    fn heap_len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn call(log: &std::rc::Rc<std::cell::RefCell<Vec<u32>>>, n: u32) -> Action {
        let log = log.clone();
        Action::Call(Box::new(move || log.borrow_mut().push(n)))
    }

    fn run_due(timers: &mut Timers, now: Instant) {
        while let Some(f) = timers.pop_expired(now) {
            if let Fired::Call(f) = f {
                f();
            }
        }
    }

    #[test]
    fn fires_in_deadline_order_then_arming_order() {
        let log = Default::default();
        let mut t = Timers::new();
        let base = Instant::now();
        t.insert(base + Duration::from_millis(30), call(&log, 3));
        t.insert(base + Duration::from_millis(10), call(&log, 1));
        t.insert(base + Duration::from_millis(20), call(&log, 2));
        t.insert(base + Duration::from_millis(20), call(&log, 22));
        run_due(&mut t, base + Duration::from_millis(25));
        assert_eq!(*log.borrow(), [1, 2, 22]);
        run_due(&mut t, base + Duration::from_millis(30));
        assert_eq!(*log.borrow(), [1, 2, 22, 3]);
    }

    #[test]
    fn cancelled_never_fire_and_stale_ids_are_ignored() {
        let log = Default::default();
        let mut t = Timers::new();
        let base = Instant::now();
        let a = t.insert(base, call(&log, 1));
        t.insert(base, call(&log, 2));
        assert!(t.cancel(a).is_some());
        assert!(t.cancel(a).is_none());
        // The freed slot is reused; the old id must not reach the new timer.
        let c = t.insert(base, call(&log, 3));
        assert!(t.cancel(a).is_none());
        assert!(t.is_armed(c));
        run_due(&mut t, base);
        assert_eq!(*log.borrow(), [2, 3]);
    }

    #[test]
    fn heap_is_compacted_when_most_timers_are_cancelled() {
        let log = Default::default();
        let mut t = Timers::new();
        let far = Instant::now() + Duration::from_secs(3600);
        for _ in 0..10_000 {
            let id = t.insert(far, call(&log, 0));
            t.cancel(id);
        }
        assert!(
            t.heap_len() < 200,
            "heap kept {} dead records",
            t.heap_len()
        );
        assert_eq!(t.next_deadline(), None);
    }
}
