//! Calling a protocol from the loop, the one way every transport does it
//! (socket, datagram, and the TLS layer for the protocol above it): never
//! re-entered, and a panic contained, reported to the loop's error handler
//! once, and turned into the error that ends the connection.

use std::any::Any;
use std::cell::RefCell;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::runtime::error::{self, ErrorContext};

/// Calls `f` on the protocol in `cell`. `Ok(None)` when the protocol is
/// gone or already being called (a re-entrant call is skipped, never
/// nested); `Err` when it panicked, after reporting it as "`what`
/// panicked", with an error worded for `connection_lost`.
#[inline]
pub(crate) fn call<P, R>(
    cell: &RefCell<Option<P>>,
    what: &'static str,
    f: impl FnOnce(&mut P) -> R,
) -> Result<Option<R>, io::Error> {
    let Ok(mut guard) = cell.try_borrow_mut() else {
        return Ok(None);
    };
    let Some(protocol) = guard.as_mut() else {
        return Ok(None);
    };
    let result = catch_unwind(AssertUnwindSafe(|| f(protocol)));
    drop(guard);
    match result {
        Ok(r) => Ok(Some(r)),
        Err(payload) => Err(panicked(what, &*payload)),
    }
}

#[cold]
#[inline(never)]
fn panicked(what: &'static str, payload: &(dyn Any + Send)) -> io::Error {
    let msg = error::panic_message(payload);
    error::report(ErrorContext::other(format!("{what} panicked"), msg.clone()));
    io::Error::other(format!("{what} panicked: {msg}"))
}

/// Drops a protocol (`what` names it in the log); a panic in its
/// destructor is logged, never propagated into the loop.
pub(crate) fn drop_protocol<P>(protocol: P, what: &str) {
    if catch_unwind(AssertUnwindSafe(|| drop(protocol))).is_err() {
        tracing::error!("{what}'s destructor panicked");
    }
}
