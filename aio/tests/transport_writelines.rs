//! `writelines` hands all its chunks to the kernel in one `writev`.
//!
//! Proved on a `SOCK_SEQPACKET` socket pair, where every write syscall is
//! one message: the peer's single `recv` gets every chunk only if they went
//! out in one call.

use std::io::Read;
use std::os::fd::OwnedFd;

use aio::transport::{connect_write_pipe, Protocol};
use socket2::{Domain, Socket, Type};

struct Quiet;
impl Protocol for Quiet {}

#[aio::test]
async fn writelines_issues_one_writev() {
    let (ours, peer) = Socket::pair(Domain::UNIX, Type::SEQPACKET, None).expect("socketpair");
    let (transport, _) = connect_write_pipe(|| Quiet, OwnedFd::from(ours)).expect("transport");
    transport.writelines(&[b"first ", b"second ", b"third"]);
    transport.write(b"alone");

    // `read` on a seqpacket socket returns exactly one message.
    let mut peer = std::os::unix::net::UnixStream::from(OwnedFd::from(peer));
    let mut buf = [0u8; 64];
    let n = peer.read(&mut buf).expect("read");
    assert_eq!(&buf[..n], b"first second third", "one message: one writev");
    let n = peer.read(&mut buf).expect("read");
    assert_eq!(&buf[..n], b"alone", "a plain write is its own message");
    transport.close();
}

/// Past the chunks `writelines` keeps on the stack, it is still one call.
#[aio::test]
async fn many_chunks_are_still_one_writev() {
    let (ours, peer) = Socket::pair(Domain::UNIX, Type::SEQPACKET, None).expect("socketpair");
    let (transport, _) = connect_write_pipe(|| Quiet, OwnedFd::from(ours)).expect("transport");
    let words: Vec<String> = (0..40).map(|i| format!("{i:02} ")).collect();
    let chunks: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
    transport.writelines(&chunks);

    let mut peer = std::os::unix::net::UnixStream::from(OwnedFd::from(peer));
    let mut buf = [0u8; 256];
    let n = peer.read(&mut buf).expect("read");
    assert_eq!(
        &buf[..n],
        words.concat().as_bytes(),
        "40 chunks, one message"
    );
    transport.close();
}
