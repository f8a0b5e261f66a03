//! `Waiters`: a FIFO of waiting futures, each served a value in turn.
//!
//! The queue and the semaphore wake *one* waiter, the oldest, and hand it
//! something (an item, a permit) that must not be lost if that waiter is
//! dropped before it runs again. So here every waiting future owns an
//! entry, found by its key (an event being set serves every entry at once,
//! see `wait_all`):
//!
//! ```text
//!   push ──► waiting (linked in FIFO order) ──serve(v)──► served(v, unlinked)
//!                 │                                           │
//!             remove: None                           take / remove: Some(v)
//! ```
//!
//! A future calls [`Waiters::take`] when polled and [`Waiters::remove`]
//! when dropped; a served entry's value comes back either way, so the
//! owner of the structure can pass it on. Only the future that pushed an
//! entry removes it, so a key is never reused while someone still holds it.
//!
//! The FIFO is a doubly linked list threaded through a slab: pushing,
//! serving the oldest and removing any entry (a cancelled waiter in the
//! middle) are all O(1), whatever the number of waiters.

use std::task::Waker;

use slab::Slab;

/// A FIFO of waiting futures; see the module docs.
#[derive(Debug)]
pub(crate) struct Waiters<T> {
    /// Every entry of a live future: waiting (linked) or served (unlinked,
    /// holding its value until the future takes it or is dropped).
    entries: Slab<Entry<T>>,
    /// The oldest waiting entry: the next one served.
    head: Option<usize>,
    /// The newest waiting entry, after which arrivals are linked.
    tail: Option<usize>,
    /// How many entries are waiting (linked); the rest are served.
    waiting: usize,
}

#[derive(Debug)]
struct Entry<T> {
    /// How to wake the future; taken when the entry is served.
    waker: Option<Waker>,
    /// `None` while waiting; the value it was served after that.
    value: Option<T>,
    /// The next older waiting entry (meaningful only while waiting).
    prev: Option<usize>,
    /// The next newer waiting entry (meaningful only while waiting).
    next: Option<usize>,
}

impl<T> Default for Waiters<T> {
    fn default() -> Self {
        Self {
            entries: Slab::new(),
            head: None,
            tail: None,
            waiting: 0,
        }
    }
}

impl<T> Waiters<T> {
    /// Adds a waiting entry at the back of the line; returns its key.
    pub(crate) fn push(&mut self, waker: &Waker) -> usize {
        let key = self.entries.insert(Entry {
            waker: Some(waker.clone()),
            value: None,
            prev: self.tail,
            next: None,
        });
        match self.tail {
            Some(tail) => self.entries[tail].next = Some(key),
            None => self.head = Some(key),
        }
        self.tail = Some(key);
        self.waiting += 1;
        key
    }

    /// One poll of a future in the line, whose entry is `key` (`None`
    /// before it joined): the value it was served, taking its entry out
    /// (`key` back to `None`); otherwise it joins the line, or stays in it
    /// with `waker` as its waker, and `None` comes back.
    pub(crate) fn wait(&mut self, key: &mut Option<usize>, waker: &Waker) -> Option<T> {
        match *key {
            None => {
                *key = Some(self.push(waker));
                None
            }
            Some(k) => {
                let value = self.take(k);
                match value {
                    Some(_) => *key = None,
                    None => self.set_waker(k, waker),
                }
                value
            }
        }
    }

    /// Updates the waker of a still-waiting entry (a future may be polled
    /// with a different waker, e.g. once moved into another task).
    pub(crate) fn set_waker(&mut self, key: usize, waker: &Waker) {
        if let Some(entry) = self.entries.get_mut(key) {
            let current = entry.waker.as_ref().is_some_and(|w| w.will_wake(waker));
            // A served entry was woken already; its waker is not needed.
            if entry.value.is_none() && !current {
                entry.waker = Some(waker.clone());
            }
        }
    }

    /// Serves the oldest waiting entry with `value` and returns its waker,
    /// to wake once the caller has released its borrow. Gives `value` back
    /// when nobody is waiting.
    pub(crate) fn serve(&mut self, value: T) -> Result<Option<Waker>, T> {
        let Some(key) = self.head else {
            return Err(value);
        };
        self.unlink(key);
        let entry = &mut self.entries[key];
        entry.value = Some(value);
        Ok(entry.waker.take())
    }

    /// Serves up to `n` of the oldest waiting entries, each with a clone of
    /// `value`: how many were served, and their wakers, to wake once the
    /// caller has released its borrow.
    pub(crate) fn serve_up_to(&mut self, n: usize, value: T) -> (usize, Vec<Waker>)
    where
        T: Clone,
    {
        let mut wakers = Vec::new();
        let mut served = 0;
        while served < n && self.head.is_some() {
            match self.serve(value.clone()) {
                Ok(waker) => wakers.extend(waker),
                Err(_) => break, // not reached: someone waits
            }
            served += 1;
        }
        (served, wakers)
    }

    /// Serves every waiting entry with a clone of `value` (an event being
    /// set); returns their wakers, as [`serve_up_to`](Self::serve_up_to).
    pub(crate) fn serve_all(&mut self, value: T) -> Vec<Waker>
    where
        T: Clone,
    {
        self.serve_up_to(usize::MAX, value).1
    }

    /// The value of a served entry, removing the entry; `None` (and the
    /// entry stays) while it is still waiting.
    pub(crate) fn take(&mut self, key: usize) -> Option<T> {
        match self.entries.get(key) {
            Some(entry) if entry.value.is_some() => self.entries.remove(key).value,
            _ => None,
        }
    }

    /// Removes an entry, waiting or served; gives back a served value.
    pub(crate) fn remove(&mut self, key: usize) -> Option<T> {
        let waiting = self.entries.get(key)?.value.is_none();
        if waiting {
            self.unlink(key);
        }
        self.entries.remove(key).value
    }

    /// How many entries are waiting to be served.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting
    }

    /// How many entries were served and not yet taken or removed.
    pub(crate) fn served(&self) -> usize {
        self.entries.len() - self.waiting
    }

    /// Unlinks a waiting entry from the FIFO (it stays in the slab).
    fn unlink(&mut self, key: usize) {
        let (prev, next) = {
            let entry = &self.entries[key];
            (entry.prev, entry.next)
        };
        match prev {
            Some(p) => self.entries[p].next = next,
            None => self.head = next,
        }
        match next {
            Some(n) => self.entries[n].prev = prev,
            None => self.tail = prev,
        }
        self.waiting -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    fn waker() -> Waker {
        Waker::noop().clone()
    }

    #[test]
    fn serves_in_push_order() {
        let mut w = Waiters::default();
        let a = w.push(&waker());
        let b = w.push(&waker());
        let c = w.push(&waker());
        assert!(w.serve(1).is_ok());
        assert!(w.serve(2).is_ok());
        assert_eq!((w.waiting(), w.served()), (1, 2));
        assert_eq!(w.take(c), None, "c is still waiting");
        assert_eq!(w.take(b), Some(2));
        assert_eq!(w.take(a), Some(1));
        assert!(w.serve(3).is_ok());
        assert_eq!(w.take(c), Some(3));
        assert_eq!(w.serve(4).err(), Some(4), "nobody waits any more");
    }

    #[test]
    fn wait_joins_then_waits_then_takes_what_it_was_served() {
        let mut w = Waiters::default();
        let mut key = None;
        assert_eq!(w.wait(&mut key, &waker()), None);
        assert!(key.is_some() && w.waiting() == 1, "joined the line");
        assert_eq!(w.wait(&mut key, &waker()), None);
        assert_eq!(w.waiting(), 1, "polled again, still one entry");
        assert!(w.serve(7).is_ok());
        assert_eq!(w.wait(&mut key, &waker()), Some(7));
        assert_eq!((key, w.waiting(), w.served()), (None, 0, 0));
    }

    #[test]
    fn removing_a_waiter_in_the_middle_keeps_the_order() {
        let mut w = Waiters::default();
        let a = w.push(&waker());
        let b = w.push(&waker());
        let c = w.push(&waker());
        assert_eq!(w.remove(b), None);
        assert!(w.serve(1).is_ok());
        assert!(w.serve(2).is_ok());
        assert_eq!(w.take(a), Some(1));
        assert_eq!(w.take(c), Some(2));
        assert_eq!((w.waiting(), w.served()), (0, 0));
    }

    #[test]
    fn serve_up_to_serves_the_oldest_and_says_how_many() {
        let mut w = Waiters::default();
        let keys: Vec<_> = (0..3).map(|_| w.push(&waker())).collect();
        let (served, wakers) = w.serve_up_to(2, 'x');
        assert_eq!((served, wakers.len()), (2, 2));
        assert_eq!((w.take(keys[0]), w.take(keys[1])), (Some('x'), Some('x')));
        assert_eq!(w.take(keys[2]), None, "the newest still waits");
        assert_eq!(w.serve_up_to(5, 'y').0, 1, "fewer wait than asked for");
        assert!(w.serve_all('z').is_empty(), "nobody waits any more");
    }

    #[test]
    fn removing_a_served_entry_gives_its_value_back() {
        let mut w = Waiters::default();
        let a = w.push(&waker());
        assert!(w.serve("item").is_ok());
        assert_eq!(w.remove(a), Some("item"));
        assert_eq!(w.served(), 0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push,
        Serve,
        /// Take or remove the live entry at this index (modulo their number).
        Take(usize),
        Remove(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Push),
            Just(Op::Serve),
            any::<usize>().prop_map(Op::Take),
            any::<usize>().prop_map(Op::Remove),
        ]
    }

    proptest! {
        /// Against a model (a plain list of waiting keys): values go to the
        /// oldest waiter, none is lost or duplicated, counts stay right.
        #[test]
        fn matches_a_vec_model(ops in proptest::collection::vec(op(), 0..200)) {
            let mut w = Waiters::default();
            let mut line: Vec<usize> = Vec::new();
            let mut served: Vec<(usize, u32)> = Vec::new();
            let mut next = 0u32;
            for op in ops {
                match op {
                    Op::Push => line.push(w.push(&waker())),
                    Op::Serve => {
                        next += 1;
                        match w.serve(next) {
                            Ok(_) => served.push((line.remove(0), next)),
                            Err(v) => {
                                prop_assert!(line.is_empty());
                                prop_assert_eq!(v, next);
                            }
                        }
                    }
                    Op::Take(i) | Op::Remove(i) if line.len() + served.len() > 0 => {
                        let i = i % (line.len() + served.len());
                        let is_take = matches!(op, Op::Take(_));
                        if i < line.len() {
                            let key = line[i];
                            if is_take {
                                prop_assert_eq!(w.take(key), None);
                            } else {
                                prop_assert_eq!(w.remove(key), None);
                                line.remove(i);
                            }
                        } else {
                            let (key, v) = served.remove(i - line.len());
                            let got = if is_take { w.take(key) } else { w.remove(key) };
                            prop_assert_eq!(got, Some(v));
                        }
                    }
                    Op::Take(_) | Op::Remove(_) => {}
                }
                prop_assert_eq!(w.waiting(), line.len());
                prop_assert_eq!(w.served(), served.len());
            }
        }
    }
}
