//! A one-value channel: one side sends once, the other awaits it. This is
//! how a protocol hands a result to the task that created it (asyncio's
//! `on_con_lost = loop.create_future()` pattern).
//!
//! ```
//! aio::run(async {
//!     let (tx, rx) = aio::sync::oneshot::channel();
//!     aio::call_soon(move || { let _ = tx.send("done"); });
//!     assert_eq!(rx.await, Ok("done"));
//! });
//! ```

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

struct Inner<T> {
    value: Option<T>,
    waiter: Option<Waker>,
    sender_alive: bool,
    receiver_alive: bool,
}

/// The error of awaiting a [`Receiver`] whose [`Sender`] was dropped unsent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sender was dropped without sending")]
pub struct Canceled;

/// Creates a connected sender and receiver.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Rc::new(RefCell::new(Inner {
        value: None,
        waiter: None,
        sender_alive: true,
        receiver_alive: true,
    }));
    (
        Sender {
            inner: inner.clone(),
        },
        Receiver { inner },
    )
}

/// Sends the one value.
pub struct Sender<T> {
    inner: Rc<RefCell<Inner<T>>>,
}

impl<T> Sender<T> {
    /// Sends `value`; gives it back if the receiver is gone.
    ///
    /// # Errors
    ///
    /// `Err(value)` when the receiver was dropped.
    pub fn send(self, value: T) -> Result<(), T> {
        let mut inner = self.inner.borrow_mut();
        if !inner.receiver_alive {
            return Err(value);
        }
        inner.value = Some(value);
        let waiter = inner.waiter.take();
        drop(inner);
        if let Some(w) = waiter {
            w.wake();
        }
        Ok(())
    }

    /// Whether the receiver was dropped.
    pub fn is_closed(&self) -> bool {
        !self.inner.borrow().receiver_alive
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut inner = self.inner.borrow_mut();
        inner.sender_alive = false;
        let waiter = inner.waiter.take();
        drop(inner);
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

/// Awaits the one value.
pub struct Receiver<T> {
    inner: Rc<RefCell<Inner<T>>>,
}

impl<T> Receiver<T> {
    /// The value if it was sent, without waiting.
    pub fn try_recv(&mut self) -> Option<T> {
        self.inner.borrow_mut().value.take()
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, Canceled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.inner.borrow_mut();
        if let Some(v) = inner.value.take() {
            return Poll::Ready(Ok(v));
        }
        if !inner.sender_alive {
            return Poll::Ready(Err(Canceled));
        }
        inner.waiter = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.inner.borrow_mut().receiver_alive = false;
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oneshot::Sender")
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oneshot::Receiver")
    }
}
