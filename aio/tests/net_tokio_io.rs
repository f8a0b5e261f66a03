//! tokio's `AsyncRead` / `AsyncWrite` on aio sockets (feature `tokio-io`),
//! driven by tokio's own `AsyncReadExt` / `AsyncWriteExt` / `BufReader`
//! over real sockets on an aio loop: no tokio runtime is involved, so every
//! wake-up here comes from aio's reactor.

mod support;

use std::io::{self, IoSlice};
use std::rc::Rc;

use aio::net::{TcpStream, UnixStream};
use support::{local_listener, serve_echo, within};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

// The sockets' inherent `read`, `write` and `write_all` would shadow the
// traits' methods of the same names, so those are called as
// `AsyncWriteExt::write_all(&mut stream, ..)`: every call here goes
// through tokio's traits.

/// Large enough to fill the socket buffers, so writes return `WouldBlock`
/// and reads wait: both directions must be woken by the reactor.
const BIG: usize = 4 * 1024 * 1024;

/// `len` bytes of a pattern that shows lost or reordered data.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[aio::test]
async fn tcp_round_trips_and_half_closes_through_tokio_traits() {
    let listener = local_listener();
    let addr = listener.local_addr().unwrap();
    let (outcomes, mut outcomes_rx) = support::channel();
    let server = aio::spawn(serve_echo(listener, outcomes));

    let mut client = TcpStream::connect_addr(addr).await.unwrap();
    AsyncWriteExt::write_all(&mut client, b"hello")
        .await
        .unwrap();
    let mut back = [0; 5];
    within(client.read_exact(&mut back)).await.unwrap();
    assert_eq!(&back, b"hello");

    let bufs = [IoSlice::new(b"one "), IoSlice::new(b"two")];
    let n = AsyncWriteExt::write_vectored(&mut client, &bufs)
        .await
        .unwrap();
    assert_eq!(n, 7, "a short loopback writev takes everything");
    AsyncWriteExt::flush(&mut client).await.unwrap();
    let mut back = [0; 7];
    within(client.read_exact(&mut back)).await.unwrap();
    assert_eq!(&back, b"one two");

    // shutdown() is a half-close: the echo server sees EOF, closes, and
    // every byte still comes back first.
    AsyncWriteExt::shutdown(&mut client).await.unwrap();
    let mut rest = Vec::new();
    within(client.read_to_end(&mut rest)).await.unwrap();
    assert!(rest.is_empty(), "nothing was in flight: {rest:?}");
    assert_eq!(within(outcomes_rx.recv()).await.unwrap().unwrap(), 12);
    server.cancel();
}

#[aio::test]
async fn tcp_moves_megabytes_each_way_at_once() {
    let listener = local_listener();
    let addr = listener.local_addr().unwrap();
    let (outcomes, mut outcomes_rx) = support::channel();
    let server = aio::spawn(serve_echo(listener, outcomes));

    let client = Rc::new(TcpStream::connect_addr(addr).await.unwrap());
    let data = pattern(BIG);
    let writer = {
        let (client, data) = (client.clone(), data.clone());
        // `&TcpStream` implements the traits: this task writes while the
        // test reads on the same socket.
        aio::spawn(async move {
            let mut stream = &*client;
            AsyncWriteExt::write_all(&mut stream, &data).await?;
            AsyncWriteExt::shutdown(&mut stream).await
        })
    };
    // `read_buf` hands the socket the uninitialised spare capacity of the
    // Vec, through `ReadBuf`.
    let mut back = Vec::with_capacity(BIG);
    let mut reader = &*client;
    while within(reader.read_buf(&mut back)).await.unwrap() > 0 {
        if back.len() == back.capacity() {
            back.reserve(64 * 1024);
        }
    }
    within(writer).await.unwrap().unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "the echo came back changed");
    assert_eq!(
        within(outcomes_rx.recv()).await.unwrap().unwrap(),
        BIG as u64
    );
    server.cancel();
}

#[aio::test]
async fn a_connection_reset_is_an_io_error_not_a_panic() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect_addr(listener.local_addr().unwrap())
        .await
        .unwrap();
    // Connected, so the connection is queued: this accept does not block.
    let (peer, _) = listener.accept().unwrap();
    // SO_LINGER 0: closing sends RST instead of FIN.
    socket2::SockRef::from(&peer)
        .set_linger(Some(std::time::Duration::ZERO))
        .unwrap();
    drop(peer);
    let mut buf = [0; 16];
    let err = within(AsyncReadExt::read(&mut client, &mut buf))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
}

#[aio::test]
async fn unix_sockets_work_with_tokio_buf_reader_lines() {
    let (a, b) = UnixStream::pair().unwrap();
    let writer = aio::spawn(async move {
        let mut a = a;
        for n in 0..1000 {
            AsyncWriteExt::write_all(&mut a, format!("line {n}\n").as_bytes()).await?;
        }
        AsyncWriteExt::shutdown(&mut a).await?;
        io::Result::Ok(a)
    });
    let mut lines = BufReader::new(&b).lines();
    let mut n = 0;
    while let Some(line) = within(lines.next_line()).await.unwrap() {
        assert_eq!(line, format!("line {n}"));
        n += 1;
    }
    assert_eq!(n, 1000);
    // The write side was only half-closed: the other direction still works.
    let a = within(writer).await.unwrap().unwrap();
    AsyncWriteExt::write_all(&mut &b, b"still open")
        .await
        .unwrap();
    let mut back = [0; 10];
    within((&a).read_exact(&mut back)).await.unwrap();
    assert_eq!(&back, b"still open");
}
