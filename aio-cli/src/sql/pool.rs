//! The connection pool both backends share (the seed's asyncpg pool): a
//! fixed set of connections on the loop's thread, each leaving the pool
//! for the length of one query.
//!
//! The idle connections sit in an [`aio::sync::Queue`], so a released
//! connection goes to the query that has waited longest, and wakes only
//! that one. (An event that woke every waiting query made a piped file of
//! n lines cost n² wake-ups: 40,000 `SELECT 1`s took 13 s.) It is a LIFO
//! queue, as asyncpg's is: the connection used last is used next, while it
//! is warm on both ends.

use aio::sync::{Queue, QueueFull};

/// A fixed set of connections of type `C`. It lives on the loop's thread;
/// a query takes a connection with [`Pool::acquire`] and gives it back
/// with [`Pool::release`].
pub(super) struct Pool<C> {
    /// The connections not running a query.
    idle: Queue<C>,
}

impl<C> Pool<C> {
    /// A pool of `connections`, all idle.
    pub(super) fn new(connections: Vec<C>) -> Pool<C> {
        let idle = Queue::new_lifo(connections.len());
        for connection in connections {
            // Cannot be full: the bound is the number of connections.
            let _ = idle.put_nowait(connection);
        }
        Pool { idle }
    }

    /// `pool.acquire()`: a free connection, waiting on the loop while all
    /// of them are busy; queries get connections in the order they asked.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a connection handed to a query cancelled before it ran
    /// goes to the next one (see [`Queue::get`]).
    pub(super) async fn acquire(&self) -> C {
        self.idle.get().await
    }

    /// Gives a connection back and wakes the query that waited longest.
    pub(super) fn release(&self, connection: C) {
        if let Err(QueueFull(_)) = self.idle.put_nowait(connection) {
            // Only a connection this pool handed out comes back, so there
            // is always room for it; were there not, dropping it closes it.
            tracing::error!("sql pool: a connection came back to a full pool; closed it");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::future::{poll_fn, Future};
    use std::pin::pin;
    use std::rc::Rc;

    use super::Pool;

    /// Lets every ready task run.
    async fn settle() {
        for _ in 0..4 {
            aio::yield_now().await;
        }
    }

    #[test]
    fn queries_get_connections_in_the_order_they_asked() {
        aio::run(async {
            let pool = Rc::new(Pool::new(vec!["only"]));
            let busy = pool.acquire().await;
            let order = Rc::new(RefCell::new(Vec::new()));
            let queries: Vec<_> = (0..4)
                .map(|i| {
                    let (pool, order) = (pool.clone(), order.clone());
                    aio::spawn(async move {
                        let connection = pool.acquire().await;
                        order.borrow_mut().push(i);
                        aio::yield_now().await; // holds it across an await
                        pool.release(connection);
                    })
                })
                .collect();
            settle().await;
            assert!(order.borrow().is_empty(), "all four wait");
            pool.release(busy);
            for query in queries {
                query.await.unwrap();
            }
            assert_eq!(*order.borrow(), [0, 1, 2, 3]);
        });
    }

    #[test]
    fn a_connection_handed_to_a_cancelled_query_goes_to_the_next() {
        aio::run(async {
            let pool = Rc::new(Pool::new(vec!["only"]));
            let busy = pool.acquire().await;
            let first = {
                let pool = pool.clone();
                aio::spawn(async move { pool.acquire().await })
            };
            settle().await;
            let second = {
                let pool = pool.clone();
                aio::spawn(async move { pool.acquire().await })
            };
            settle().await;
            pool.release(busy);
            first.cancel(); // handed the connection, dropped before it ran
            assert!(first.await.unwrap_err().is_cancelled());
            assert_eq!(second.await, Ok("only"));
        });
    }

    #[test]
    fn a_release_wakes_only_the_query_it_serves() {
        aio::run(async {
            let pool = Rc::new(Pool::new(vec!["only"]));
            let busy = pool.acquire().await;
            let polls = Rc::new(Cell::new(0));
            let queries: Vec<_> = (0..10)
                .map(|_| {
                    let (pool, polls) = (pool.clone(), polls.clone());
                    aio::spawn(async move {
                        let mut acquire = pin!(pool.acquire());
                        let connection = poll_fn(|cx| {
                            polls.set(polls.get() + 1);
                            acquire.as_mut().poll(cx)
                        })
                        .await;
                        // Kept until cancelled: no release chains on.
                        let _held = connection;
                        std::future::pending::<()>().await;
                    })
                })
                .collect();
            settle().await;
            assert_eq!(polls.get(), 10, "each polled once, and waits");
            pool.release(busy);
            settle().await;
            // One more poll: the query served. Waking every waiter (for
            // all but one to wait again) made n queued queries cost n².
            assert_eq!(polls.get(), 11);
            for query in queries {
                query.cancel();
            }
        });
    }
}
