//! The reads that lend their bytes instead of copying them
//! (`readline_ref`, `readuntil_ref`, `futures-io`'s `AsyncBufRead`): the
//! same results as their copying twins, over real sockets and chunk by
//! chunk, and a lent line stays intact while more data arrives.

use std::io::Write;
use std::net::{Shutdown, TcpListener};

use aio::streams::{StreamError, StreamReader};
use futures_util::FutureExt;

/// Lines of many sizes (some with `\r\n`, one over 16 KiB, which the
/// reader does not keep while it waits), and a last one without newline.
fn sample_lines() -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = (0..200)
        .map(|i| {
            let mut line = vec![b'a' + (i % 26) as u8; (i * 37) % 3000];
            line.extend_from_slice(if i % 3 == 0 { b"\r\n" } else { b"\n" });
            line
        })
        .collect();
    lines.push([vec![b'z'; 20_000], b"\n".to_vec()].concat());
    lines.push(b"no newline at the end".to_vec());
    lines
}

/// A peer that sends `data` in writes of `chunk` bytes, then EOF.
fn serve_once(data: Vec<u8>, chunk: usize) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        for piece in data.chunks(chunk) {
            s.write_all(piece).expect("write");
        }
        s.shutdown(Shutdown::Write).expect("shutdown");
    });
    (port, peer)
}

async fn join(peer: std::thread::JoinHandle<()>) {
    aio::spawn_blocking(move || peer.join().expect("peer"))
        .await
        .unwrap();
}

#[aio::test]
async fn readline_ref_reads_every_line_over_a_socket() {
    let lines = sample_lines();
    // 777-byte writes cut lines anywhere, separators included.
    let (port, peer) = serve_once(lines.concat(), 777);
    let (mut reader, _writer) = aio::open_connection("127.0.0.1", port).await.unwrap();
    let mut got = Vec::new();
    loop {
        let line = reader.readline_ref().await.unwrap();
        if line.is_empty() {
            break;
        }
        got.push(line.to_vec());
    }
    assert_eq!(got, lines);
    assert!(reader.at_eof());
    join(peer).await;
}

#[aio::test]
async fn a_lent_line_stays_intact_while_more_data_arrives() {
    let mut reader = StreamReader::new();
    let feeder = reader.feeder();
    reader.feed_data(b"first\nsec");
    let line = reader.readline_ref().await.unwrap();
    // More than the reader's buffer holds: the shared buffer grows (and
    // moves) while the line is lent.
    feeder.feed_data(b"ond\n");
    feeder.feed_data(&vec![b'x'; 100_000]);
    assert_eq!(line, b"first\n");
    assert_eq!(reader.readline_ref().await.unwrap(), b"second\n");
    assert_eq!(reader.buffered(), 100_000);
    feeder.feed_eof();
    assert_eq!(reader.read_to_end().await.unwrap().len(), 100_000);
}

#[aio::test]
async fn readuntil_ref_finds_a_separator_across_chunks_and_reports_eof() {
    let mut reader = StreamReader::new();
    let feeder = reader.feeder();
    let feeding = aio::spawn(async move {
        for chunk in [&b"head"[..], b"er\r", b"\n\r", b"\nbody"] {
            aio::yield_now().await;
            feeder.feed_data(chunk);
        }
        aio::yield_now().await;
        feeder.feed_eof();
    });
    assert_eq!(
        reader.readuntil_ref(b"\r\n\r\n").await.unwrap(),
        b"header\r\n\r\n"
    );
    match reader.readuntil_ref(b"\r\n\r\n").await {
        Err(StreamError::Incomplete(e)) => {
            assert_eq!(e.partial, b"body");
            assert_eq!(e.expected, None);
        }
        other => panic!("expected an incomplete read, got {other:?}"),
    }
    assert!(reader.at_eof());
    feeding.await.unwrap();
}

#[aio::test]
async fn a_cancelled_search_does_not_hide_an_earlier_separator() {
    let mut reader = StreamReader::new();
    reader.feed_data(b"abc\ndef");
    // Polled once, it searches all seven bytes and waits; then it is
    // dropped. The next read must search from the start again.
    assert!(reader.readuntil_ref(b"XYZ").now_or_never().is_none());
    let line = reader.readline_ref().now_or_never();
    assert_eq!(line.expect("the line is buffered").unwrap(), b"abc\n");
    assert_eq!(reader.buffered(), 3);
}

#[aio::test]
async fn readline_ref_over_the_limit_consumes_nothing() {
    let mut reader = StreamReader::with_limit(8);
    reader.feed_data(b"0123456789ab");
    match reader.readline_ref().await {
        Err(StreamError::LimitOverrun(e)) => assert_eq!(e.consumed, 12),
        other => panic!("expected a limit overrun, got {other:?}"),
    }
    assert_eq!(reader.buffered(), 12);
    assert_eq!(reader.read(100).await.unwrap(), b"0123456789ab");
}

#[aio::test]
async fn async_buf_read_lends_the_buffer_over_a_socket() {
    use futures_util::{AsyncBufReadExt, AsyncReadExt};
    let lines = sample_lines();
    let (port, peer) = serve_once(lines.concat(), 4096);
    let (mut reader, _writer) = aio::open_connection("127.0.0.1", port).await.unwrap();
    // futures-io's own line reader, on the reader's buffer.
    let mut first = Vec::new();
    reader.read_until(b'\n', &mut first).await.unwrap();
    assert_eq!(first, lines[0]);
    // fill_buf and consume, mixed with the reader's own reads.
    let peeked = reader.fill_buf().await.unwrap().to_vec();
    assert!(!peeked.is_empty());
    assert!(lines[1..].concat().starts_with(&peeked));
    reader.consume_unpin(1);
    let rest_of_second = reader.readline_ref().await.unwrap().to_vec();
    assert_eq!([&lines[1][..1], &rest_of_second[..]].concat(), lines[1]);
    let mut rest = Vec::new();
    AsyncReadExt::read_to_end(&mut reader, &mut rest)
        .await
        .unwrap();
    assert_eq!(rest, lines[2..].concat());
    assert!(reader.fill_buf().await.unwrap().is_empty(), "empty at EOF");
    join(peer).await;
}
