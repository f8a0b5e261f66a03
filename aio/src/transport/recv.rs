//! The read syscalls of a stream transport: into the loop's buffer, or
//! appended to a protocol's own vector with the loop's buffer as overflow.
//!
//! The append form exists for the streams layer. Its protocol keeps the
//! received bytes in a vector until the reader takes them; receiving into
//! the loop's buffer and copying them over cost a second pass over every
//! byte (at 16 KiB lines, about a third of the streams echo's user time).
//! One `readv` lands the bytes where they are kept, and only what does not
//! fit in the vector's spare capacity is copied from the loop's buffer.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd};

use rustix::net::RecvFlags;

use super::state::FdKind;

/// One `recv` (or, for a pipe, `read`) on `fd`.
#[inline]
pub(crate) fn read_fd(fd: BorrowedFd<'_>, kind: FdKind, buf: &mut [u8]) -> io::Result<usize> {
    let result = match kind {
        FdKind::Socket => rustix::net::recv(fd, buf, RecvFlags::empty()).map(|(n, _)| n),
        FdKind::Pipe => rustix::io::read(fd, buf),
    };
    Ok(result?)
}

/// At most this much of a vector's spare capacity is offered to one read
/// (asyncio's transports read at most 256 KiB per call, too). The streams
/// layer pauses reading once its buffer passes twice its limit, but it can
/// only look after a read; a read into all the spare capacity of a vector
/// that once grew large took in a loopback socket's whole buffer at once:
/// 13 MB in one `readv`, for a reader whose limit is 64 KiB.
const MAX_ROOM: usize = 256 * 1024;

/// One read on `fd` that appends to `vec`: into its spare capacity first
/// (up to [`MAX_ROOM`] of it), then into `overflow`, whose part is then
/// copied onto `vec`. Returns the bytes read and how many could have been
/// (for the short-read test).
///
/// `readv` serves sockets and pipes alike; with no spare capacity this is
/// [`read_fd`] into `overflow`.
#[inline]
pub(crate) fn read_append(
    fd: BorrowedFd<'_>,
    kind: FdKind,
    vec: &mut Vec<u8>,
    overflow: &mut [u8],
) -> io::Result<(usize, usize)> {
    let spare = vec.spare_capacity_mut();
    let room_len = spare.len().min(MAX_ROOM);
    let room = &mut spare[..room_len];
    let n = if room_len == 0 {
        read_no_room(fd, kind, overflow)?
    } else {
        readv(fd, room, overflow)?
    };
    let in_room = n.min(room_len);
    // SAFETY: the kernel wrote the first `n` bytes of the two buffers in
    // order, so the first `in_room` bytes of the spare capacity are
    // initialized.
    unsafe { vec.set_len(vec.len() + in_room) };
    if n > in_room {
        spill(vec, &overflow[..n - in_room]);
    }
    Ok((n, room_len + overflow.len()))
}

// The two rare cases are out of line, so that the common one (everything
// fits in the spare capacity) is one short run of code.

/// The read of [`read_append`] with no spare capacity: all into `overflow`.
#[cold]
#[inline(never)]
fn read_no_room(fd: BorrowedFd<'_>, kind: FdKind, overflow: &mut [u8]) -> io::Result<usize> {
    read_fd(fd, kind, overflow)
}

/// The part of a read that did not fit in the spare capacity.
#[cold]
#[inline(never)]
fn spill(vec: &mut Vec<u8>, bytes: &[u8]) {
    vec.extend_from_slice(bytes);
}

/// `readv` into `first` (uninitialized memory is fine: the kernel only
/// writes) and then `second`.
fn readv(
    fd: BorrowedFd<'_>,
    first: &mut [MaybeUninit<u8>],
    second: &mut [u8],
) -> io::Result<usize> {
    let iov = [
        libc::iovec {
            iov_base: first.as_mut_ptr().cast(),
            iov_len: first.len(),
        },
        libc::iovec {
            iov_base: second.as_mut_ptr().cast(),
            iov_len: second.len(),
        },
    ];
    // SAFETY: both iovecs describe writable memory that the exclusive
    // borrows `first` and `second` keep alive and unaliased for the call;
    // `fd` is a descriptor borrowed for the call; the count matches the
    // array.
    let n = unsafe { libc::readv(fd.as_raw_fd(), iov.as_ptr(), 2) };
    // A negative return is -1 with `errno` set; anything else is the
    // count, which never exceeds the two lengths.
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    use super::*;

    /// Sends `data` and reads it back with `read_append` onto `vec`.
    fn append_after(data: &[u8], vec: &mut Vec<u8>, overflow: &mut [u8]) -> (usize, usize) {
        let (mut tx, rx) = UnixStream::pair().expect("socketpair");
        tx.write_all(data).expect("send");
        read_append(rx.as_fd(), FdKind::Socket, vec, overflow).expect("readv")
    }

    #[test]
    fn lands_in_spare_capacity_then_overflows_into_the_loop_buffer() {
        let mut overflow = [0u8; 8];
        // Room for 4 after "ab": 4 go in place, 3 through the overflow.
        let mut vec = Vec::with_capacity(6);
        vec.extend_from_slice(b"ab");
        let (n, could) = append_after(b"cdefghi", &mut vec, &mut overflow);
        assert_eq!((n, could), (7, 4 + 8));
        assert_eq!(vec, b"abcdefghi");
    }

    #[test]
    fn without_spare_capacity_everything_is_copied_from_the_loop_buffer() {
        let mut overflow = [0u8; 8];
        let mut vec = Vec::new();
        let (n, could) = append_after(b"hello", &mut vec, &mut overflow);
        assert_eq!((n, could), (5, 8));
        assert_eq!(vec, b"hello");
    }

    #[test]
    fn a_pipe_is_read_the_same_way() {
        let (rx, mut tx) = std::io::pipe().expect("pipe");
        tx.write_all(b"line\n").expect("write");
        let mut vec = Vec::with_capacity(64);
        let mut overflow = [0u8; 8];
        let (n, could) =
            read_append(rx.as_fd(), FdKind::Pipe, &mut vec, &mut overflow).expect("readv");
        assert_eq!((n, could), (5, 64 + 8));
        assert_eq!(vec, b"line\n");
    }

    #[test]
    fn one_read_offers_at_most_max_room_of_the_spare_capacity() {
        let (rx, mut tx) = std::io::pipe().expect("pipe");
        // A pipe large enough to hold more than one read may take.
        let size = rustix::pipe::fcntl_setpipe_size(&tx, 1 << 20).expect("F_SETPIPE_SZ");
        assert!(size >= 1 << 20, "cannot grow the pipe: {size}");
        let sent = vec![7u8; 2 * MAX_ROOM];
        tx.write_all(&sent).expect("write");
        let mut vec = Vec::with_capacity(4 * MAX_ROOM);
        let mut overflow = [0u8; 8];
        let (n, could) =
            read_append(rx.as_fd(), FdKind::Pipe, &mut vec, &mut overflow).expect("readv");
        assert_eq!((n, could), (MAX_ROOM + 8, MAX_ROOM + 8));
        assert_eq!(vec.len(), MAX_ROOM + 8);
    }

    #[test]
    fn eof_appends_nothing() {
        let (tx, rx) = UnixStream::pair().expect("socketpair");
        drop(tx);
        let mut vec = Vec::with_capacity(16);
        let mut overflow = [0u8; 8];
        let (n, _) =
            read_append(rx.as_fd(), FdKind::Socket, &mut vec, &mut overflow).expect("readv");
        assert_eq!(n, 0);
        assert!(vec.is_empty());
    }
}
