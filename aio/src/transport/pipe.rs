//! Pipe transports (asyncio's `connect_read_pipe` / `connect_write_pipe`),
//! for pipes, terminals and the process's own stdin/stdout.
//!
//! A non-blocking flag lives on the open file description, which a shell
//! shares with every process of the terminal: setting it on our stdin and
//! leaving would break the shell. So a pipe or terminal is reopened through
//! `/proc/self/fd/N` (a new description with its own flags); where that is
//! impossible the flags are set on the shared one and restored on close.
//! A regular file cannot be registered with epoll at all; it is read as an
//! always-ready source instead.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use rustix::fs::{FileType, OFlags};

use super::connect::ProtocolHandle;
use super::{start_transport, FdKind, Protocol, StreamSocket, Transport};
use crate::runtime::reactor::{ready, PollEvented};

/// One end of a pipe (or a terminal, or a file), non-blocking while we
/// hold it.
pub(crate) struct PipeEnd {
    fd: OwnedFd,
    /// The flags to put back on close, when they were changed on a shared
    /// file description.
    restore: Option<OFlags>,
    /// A regular file: always ready, and a short read does not mean "wait".
    always_ready: bool,
    /// The write end (stdout), rather than the read end (stdin).
    write: bool,
}

impl PipeEnd {
    /// Takes `fd`, reopening it or making it non-blocking as explained in
    /// the module docs.
    pub(crate) fn new(fd: OwnedFd, write: bool) -> io::Result<PipeEnd> {
        let file_type = FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode);
        if matches!(file_type, FileType::Fifo | FileType::CharacterDevice) {
            let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
            let access = if write {
                OFlags::WRONLY
            } else {
                OFlags::RDONLY
            };
            let flags = access | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
            if let Ok(reopened) = rustix::fs::open(&path, flags, rustix::fs::Mode::empty()) {
                return Ok(PipeEnd {
                    fd: reopened,
                    restore: None,
                    always_ready: false,
                    write,
                });
            }
        }
        let old = rustix::fs::fcntl_getfl(&fd)?;
        let restore = if old.contains(OFlags::NONBLOCK) {
            None
        } else {
            rustix::fs::fcntl_setfl(&fd, old | OFlags::NONBLOCK)?;
            Some(old)
        };
        Ok(PipeEnd {
            fd,
            restore,
            always_ready: file_type == FileType::RegularFile,
            write,
        })
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        if let Some(flags) = self.restore {
            // Best effort: the descriptor is closing either way.
            let _ = rustix::fs::fcntl_setfl(&self.fd, flags);
        }
    }
}

impl fmt::Debug for PipeEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeEnd")
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}

impl Source for PipeEnd {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.fd.as_raw_fd()).register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        SourceFd(&self.fd.as_raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.fd.as_raw_fd()).deregister(registry)
    }
}

impl AsRawFd for PipeEnd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl StreamSocket for PipeEnd {
    const KIND: FdKind = FdKind::Pipe;

    fn shutdown_write(&self) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a pipe cannot half-close; close the transport instead",
        ))
    }

    fn can_write_eof(&self) -> bool {
        false
    }

    fn short_read_drains(&self) -> bool {
        !self.always_ready
    }

    fn writable(&self) -> bool {
        self.write
    }
}

fn connect_pipe<F, P>(
    factory: F,
    fd: OwnedFd,
    write: bool,
) -> io::Result<(Transport, ProtocolHandle<P>)>
where
    F: FnOnce() -> P,
    P: Protocol,
{
    let end = PipeEnd::new(fd, write)?;
    let initial = if write { ready::WRITABLE } else { 0 };
    let (io, always_ready) = PollEvented::new_or_always_ready(end, initial)?;
    let (transport, conn) = start_transport(io, factory(), always_ready && !write, None)?;
    if write {
        // A write pipe delivers nothing; reading it would only see EOF when
        // the other end closes, which asyncio reports as connection_lost.
        transport.pause_reading();
    }
    Ok((transport, ProtocolHandle::new(conn)))
}

/// Reads from a pipe, terminal or file (e.g. stdin) through a protocol
/// (asyncio's `loop.connect_read_pipe`). The descriptor's shared flags are
/// left as they were found.
///
/// ```no_run
/// use std::os::fd::AsFd;
/// # struct Lines;
/// # impl aio::transport::Protocol for Lines {}
/// aio::run(async {
///     let stdin = std::io::stdin().as_fd().try_clone_to_owned()?;
///     let (_transport, _protocol) = aio::transport::connect_read_pipe(|| Lines, stdin)?;
///     Ok::<(), std::io::Error>(())
/// }).unwrap();
/// ```
///
/// # Errors
///
/// When the descriptor cannot be inspected, made non-blocking or
/// registered.
pub fn connect_read_pipe<F, P>(
    factory: F,
    fd: OwnedFd,
) -> io::Result<(Transport, ProtocolHandle<P>)>
where
    F: FnOnce() -> P,
    P: Protocol,
{
    connect_pipe(factory, fd, false)
}

/// Writes to a pipe, terminal or file (e.g. stdout) through a transport
/// (asyncio's `loop.connect_write_pipe`). Flow control works as for
/// sockets.
///
/// # Errors
///
/// As [`connect_read_pipe`].
pub fn connect_write_pipe<F, P>(
    factory: F,
    fd: OwnedFd,
) -> io::Result<(Transport, ProtocolHandle<P>)>
where
    F: FnOnce() -> P,
    P: Protocol,
{
    connect_pipe(factory, fd, true)
}
