//! The connection pool both backends share (the seed's asyncpg pool): a
//! fixed set of connections on the loop's thread, each leaving the pool
//! for the length of one query.

use std::cell::RefCell;

use aio::sync::Event;

/// A fixed set of connections of type `C`. It lives on the loop's thread;
/// a query takes a connection with [`Pool::acquire`] and gives it back
/// with [`Pool::release`].
pub(super) struct Pool<C> {
    /// The connections not running a query.
    idle: RefCell<Vec<C>>,
    /// Set when a connection comes back, so waiters look at `idle` again.
    released: Event,
}

impl<C> Pool<C> {
    /// A pool of `connections`, all idle.
    pub(super) fn new(connections: Vec<C>) -> Pool<C> {
        Pool {
            idle: RefCell::new(connections),
            released: Event::new(),
        }
    }

    /// `pool.acquire()`: a free connection, waiting on the loop while all
    /// of them are busy.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a connection is taken only when it is returned.
    pub(super) async fn acquire(&self) -> C {
        loop {
            if let Some(connection) = self.idle.borrow_mut().pop() {
                return connection;
            }
            // No await between looking and waiting: no release slips in.
            self.released.clear();
            self.released.wait().await;
        }
    }

    /// Gives a connection back and wakes the queries waiting for one.
    pub(super) fn release(&self, connection: C) {
        self.idle.borrow_mut().push(connection);
        self.released.set();
    }
}
