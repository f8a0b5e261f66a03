//! The order a [`Queue`](super::Queue) hands its items out in: first in
//! first out (asyncio's `Queue`), last in first out (`LifoQueue`), or
//! smallest first (`PriorityQueue`).
//!
//! One enum rather than a type parameter, so that `Queue<T>` stays one
//! type whichever order it was made with, and `Queue::new(n)` needs no
//! annotation. Only [`Items::priority`] asks for `T: Ord`: it keeps `T`'s
//! comparison as a function pointer beside each item.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// The items stored in a queue, in its order.
pub(super) enum Items<T> {
    Fifo(VecDeque<T>),
    Lifo(Vec<T>),
    /// `cmp` is `T::cmp`, taken where `T: Ord` is known.
    Priority {
        heap: BinaryHeap<Ranked<T>>,
        cmp: fn(&T, &T) -> Ordering,
    },
}

impl<T> Items<T> {
    pub(super) fn fifo() -> Self {
        Items::Fifo(VecDeque::new())
    }

    pub(super) fn lifo() -> Self {
        Items::Lifo(Vec::new())
    }

    pub(super) fn priority() -> Self
    where
        T: Ord,
    {
        Items::Priority {
            heap: BinaryHeap::new(),
            cmp: T::cmp,
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Items::Fifo(items) => items.len(),
            Items::Lifo(items) => items.len(),
            Items::Priority { heap, .. } => heap.len(),
        }
    }

    /// Adds an item put.
    pub(super) fn push(&mut self, item: T) {
        match self {
            Items::Fifo(items) => items.push_back(item),
            Items::Lifo(items) => items.push(item),
            Items::Priority { heap, cmp } => heap.push(Ranked { item, cmp: *cmp }),
        }
    }

    /// Takes the next item out.
    pub(super) fn pop(&mut self) -> Option<T> {
        match self {
            Items::Fifo(items) => items.pop_front(),
            Items::Lifo(items) => items.pop(),
            Items::Priority { heap, .. } => heap.pop().map(|ranked| ranked.item),
        }
    }

    /// Takes back an item handed to a `get` that was cancelled. The items
    /// stored now were put after it (a `get` waits only while the queue is
    /// empty), but for others taken back the same way, so it goes where the
    /// oldest item goes: first out of a FIFO, last out of a LIFO. A
    /// priority queue sorts it in.
    pub(super) fn put_back(&mut self, item: T) {
        match self {
            Items::Fifo(items) => items.push_front(item),
            Items::Lifo(items) => items.insert(0, item),
            Items::Priority { .. } => self.push(item),
        }
    }
}

/// An item of a priority queue, with `T`'s comparison.
pub(super) struct Ranked<T> {
    item: T,
    cmp: fn(&T, &T) -> Ordering,
}

/// Reversed: `BinaryHeap` pops its greatest element, and a priority queue
/// (asyncio's, on `heapq`) hands out its smallest.
impl<T> Ord for Ranked<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.cmp)(&other.item, &self.item)
    }
}

impl<T> PartialOrd for Ranked<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> PartialEq for Ranked<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T> Eq for Ranked<T> {}

#[cfg(test)]
mod tests {
    use super::Items;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// A FIFO, a LIFO and a priority store, each holding `put`.
    fn filled(put: &[u8]) -> [Items<u8>; 3] {
        let mut all = [Items::fifo(), Items::lifo(), Items::priority()];
        for items in &mut all {
            for &x in put {
                items.push(x);
            }
        }
        all
    }

    fn drain(items: &mut Items<u8>) -> Vec<u8> {
        std::iter::from_fn(|| items.pop()).collect()
    }

    proptest! {
        #[test]
        fn each_order_hands_out_what_it_promises(put in vec(any::<u8>(), 0..100)) {
            let [mut fifo, mut lifo, mut priority] = filled(&put);
            prop_assert_eq!(priority.len(), put.len());
            let mut sorted = put.clone();
            sorted.sort();
            let mut reversed = put.clone();
            reversed.reverse();
            prop_assert_eq!(drain(&mut fifo), put);
            prop_assert_eq!(drain(&mut lifo), reversed);
            prop_assert_eq!(drain(&mut priority), sorted);
        }

        #[test]
        fn an_item_put_back_goes_where_the_oldest_goes(put in vec(any::<u8>(), 0..50), back: u8) {
            let [mut fifo, mut lifo, mut priority] = filled(&put);
            fifo.put_back(back);
            lifo.put_back(back);
            priority.put_back(back);
            prop_assert_eq!(fifo.pop(), Some(back));
            prop_assert_eq!(drain(&mut lifo).pop(), Some(back));
            let smallest = put.iter().copied().chain([back]).min();
            prop_assert_eq!(priority.pop(), smallest);
        }
    }
}
