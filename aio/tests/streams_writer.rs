//! `StreamWriter` over real sockets: drain and flow control, errors after
//! a reset, `wait_closed`, and the reader pausing its transport.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::time::Duration;

use aio::streams::StreamWriter;

/// A std listener whose accepted socket the test drives from a thread.
fn std_listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    (l, port)
}

/// A connection to `port` whose reader refuses lines over 1 KiB, so its
/// transport pauses past 2 KiB buffered.
async fn open_with_1k_limit(port: u16) -> (aio::streams::StreamReader, StreamWriter) {
    let options = aio::streams::StreamOptions {
        limit: 1024,
        ..Default::default()
    };
    aio::streams::open_connection_with("127.0.0.1", port, &options)
        .await
        .unwrap()
}

/// Writes until the transport is above its high-water mark, so `drain`
/// has to wait. Returns how much was written.
fn fill(writer: &StreamWriter) -> usize {
    writer.transport().set_write_buffer_limits(Some(4096), None);
    let chunk = vec![b'x'; 64 * 1024];
    let mut total = 0;
    // The kernel's socket buffers take a few MiB at most.
    while writer.transport().write_buffer_size() <= 4096 {
        writer.write(&chunk);
        total += chunk.len();
        assert!(total < 256 << 20, "the peer's buffers never filled");
    }
    total
}

#[aio::test]
async fn concurrent_drains_all_complete_when_the_peer_reads() {
    let (listener, port) = std_listener();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<usize>();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let expected = go_rx.recv().expect("told how much to read");
        let mut got = 0;
        let mut buf = vec![0; 1 << 16];
        while got < expected {
            let n = s.read(&mut buf).expect("read");
            assert!(n > 0, "early EOF");
            got += n;
        }
        got
    });
    let (_reader, writer) = aio::open_connection("127.0.0.1", port).await.unwrap();
    let written = fill(&writer);
    let writer = std::rc::Rc::new(writer);
    let drains: Vec<_> = (0..3)
        .map(|_| {
            let w = writer.clone();
            aio::spawn(async move { w.drain().await })
        })
        .collect();
    // None can finish while the peer is not reading.
    aio::yield_now().await;
    assert!(drains.iter().all(|d| !d.is_finished()));
    go_tx.send(written).unwrap();
    for d in drains {
        d.await.unwrap().unwrap();
    }
    let peer_got = aio::spawn_blocking(move || peer.join().expect("peer"))
        .await
        .unwrap();
    assert_eq!(peer_got, written);
}

#[aio::test]
async fn drain_after_the_peer_reset_reports_the_error() {
    let (listener, port) = std_listener();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let (s, _) = listener.accept().expect("accept");
        // Reset only once the client has its connection: a reset during
        // the connect would (rightly) fail `open_connection` instead.
        go_rx.recv().expect("go");
        // SO_LINGER 0: close sends RST instead of FIN.
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .expect("linger");
        drop(s);
    });
    let (mut reader, writer) = aio::open_connection("127.0.0.1", port).await.unwrap();
    go_tx.send(()).unwrap();
    aio::spawn_blocking(move || peer.join().expect("peer"))
        .await
        .unwrap();
    // The reader learns of the reset first.
    let err = reader.read(10).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    writer.write(b"too late");
    let err = writer.drain().await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
}

#[aio::test]
async fn wait_closed_returns_after_close_and_flushes_first() {
    let (listener, port) = std_listener();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let mut all = Vec::new();
        s.read_to_end(&mut all).expect("read");
        all
    });
    let (_reader, writer) = aio::open_connection("127.0.0.1", port).await.unwrap();
    writer.write(b"last words");
    writer.close();
    assert!(writer.is_closing());
    writer.wait_closed().await;
    let got = aio::spawn_blocking(move || peer.join().expect("peer"))
        .await
        .unwrap();
    assert_eq!(got, b"last words");
}

/// The feed that pauses the transport still searches for the line the
/// reader waits for: the reader takes the feeds' word for where it ends.
#[aio::test]
async fn a_line_in_the_feed_that_pauses_the_transport_is_found_where_it_ends() {
    let (listener, port) = std_listener();
    let (written_tx, written_rx) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        // The line, then bytes with no newline.
        let mut data = vec![b'a'; 100];
        data.push(b'\n');
        data.resize(64 * 1024, b'y');
        s.write_all(&data).expect("write");
        s.shutdown(Shutdown::Write).expect("shutdown");
        written_tx.send(()).ok();
    });
    let (mut reader, writer) = open_with_1k_limit(port).await;
    // Blocks the loop until every byte sits in the socket, so the first
    // feed, which comes once `readline` waits for its line, takes more
    // than twice the limit at once.
    written_rx.recv().expect("the peer wrote");
    let line = reader.readline().await.unwrap();
    assert_eq!(line.len(), 101);
    assert_eq!(line.last(), Some(&b'\n'));
    assert!(
        !writer.transport().is_reading(),
        "the feed that brought the line paused the transport"
    );
    // The rest is one run past the limit.
    assert!(reader.readline().await.is_err());
    aio::spawn_blocking(move || peer.join().expect("peer"))
        .await
        .unwrap();
}

#[aio::test]
async fn reader_pauses_the_transport_past_twice_its_limit() {
    let (listener, port) = std_listener();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.write_all(&vec![b'y'; 1 << 20]).expect("write");
        s.shutdown(Shutdown::Write).expect("shutdown");
        done_rx.recv().ok();
    });
    let (mut reader, writer) = open_with_1k_limit(port).await;
    // Let the loop run until the transport stops reading.
    while writer.transport().is_reading() {
        aio::yield_now().await;
    }
    let buffered = reader.buffered();
    assert!(
        buffered > 2048,
        "paused only past twice the limit ({buffered})"
    );
    assert!(
        buffered < 2048 + 300 * 1024,
        "paused soon after ({buffered})"
    );
    // Reading it all resumes the transport and gets every byte.
    let all = reader.read_to_end().await.unwrap();
    assert_eq!(all.len(), 1 << 20);
    done_tx.send(()).unwrap();
    aio::spawn_blocking(move || peer.join().expect("peer"))
        .await
        .unwrap();
}
