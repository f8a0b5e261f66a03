//! What an `accept` error means for a server: the one place that decides
//! between "try the next connection", "pause" and "nothing is queued".

use std::io;

use rustix::io::Errno;

/// How a server should react to an error from `accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcceptErrorKind {
    /// `WouldBlock`: nothing more is queued.
    Drained,
    /// The pending connection died before it was taken (or a signal came):
    /// accept the next one at once.
    Transient,
    /// The process or system is out of descriptors or memory (`EMFILE`,
    /// `ENFILE`, `ENOBUFS`, `ENOMEM`). The connection stays queued, so
    /// retrying at once would spin: pause accepting for a while.
    OutOfResources,
    /// Anything else: log it and pause too.
    Other,
}

/// Classifies an `accept` error.
///
/// ```
/// use aio::net::{accept_error_kind, AcceptErrorKind};
/// let emfile = std::io::Error::from_raw_os_error(24);
/// assert_eq!(accept_error_kind(&emfile), AcceptErrorKind::OutOfResources);
/// ```
pub fn accept_error_kind(e: &io::Error) -> AcceptErrorKind {
    match e.kind() {
        io::ErrorKind::WouldBlock => return AcceptErrorKind::Drained,
        io::ErrorKind::Interrupted
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset => return AcceptErrorKind::Transient,
        _ => {}
    }
    match e.raw_os_error().map(Errno::from_raw_os_error) {
        Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM) => {
            AcceptErrorKind::OutOfResources
        }
        // Linux reports some protocol errors of the pending connection,
        // and firewall refusals, through accept.
        Some(Errno::PROTO | Errno::PERM) => AcceptErrorKind::Transient,
        _ => AcceptErrorKind::Other,
    }
}
