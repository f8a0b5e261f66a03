//! A waiting reader is woken by the feed that brings what it waits for, not
//! by every feed: the end of a line (the feeds search the new bytes for
//! `\n` themselves), the last byte of `readuntil`'s separator,
//! `readexactly`'s count, `read_to_end`'s EOF. These tests count the
//! reading task's polls, and check that what the feeds found is used only
//! while it is true (a read for another separator, a line past the limit, a
//! readline dropped half-way) and that a reader whose transport paused
//! still wakes to resume it.

mod support;

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::task::Poll;

use aio::streams::{LimitOverrunError, StreamError, StreamOptions, StreamReader, StreamWriter};
use support::{poll_once, settle, within, PollCount};

/// Spawns `fut` and counts how often the loop polls it.
fn spawn_counted<F>(fut: F) -> (aio::Task<F::Output>, Rc<Cell<u32>>)
where
    F: Future + 'static,
    F::Output: 'static,
{
    let polls = Rc::new(Cell::new(0));
    (aio::spawn(PollCount::new(polls.clone(), fut)), polls)
}

#[aio::test]
async fn a_line_reader_sleeps_until_the_feed_that_ends_its_line() {
    let mut reader = StreamReader::new();
    let feeder = reader.feeder();
    let (task, polls) = spawn_counted(async move {
        let line = reader.readline().await.unwrap();
        (line, reader)
    });
    settle().await;
    assert_eq!(polls.get(), 1, "polled once, then waits");
    for piece in [&b"one "[..], b"two ", b"three"] {
        feeder.feed_data(piece);
        settle().await;
    }
    assert_eq!(polls.get(), 1, "feeds without a newline leave it asleep");
    feeder.feed_data(b" four\nfive");
    let (line, mut reader) = within(task).await.unwrap();
    assert_eq!(line, b"one two three four\n");
    assert_eq!(polls.get(), 2, "one wake-up for the line");
    // What followed the newline is the next line's start.
    feeder.feed_data(b"\n");
    assert_eq!(reader.readline().await.unwrap(), b"five\n");
}

/// Spawns `read` on a reader whose limit is 8, feeds `under` (no more than
/// the limit: the read must still wait) and then `past`, and returns the
/// overrun the read reports. No EOF follows: only the limit can end it.
async fn overrun_of<F, Fut>(read: F, under: &[u8], past: &[u8]) -> LimitOverrunError
where
    F: FnOnce(StreamReader) -> Fut,
    Fut: Future<Output = Result<Vec<u8>, StreamError>> + 'static,
{
    let reader = StreamReader::with_limit(8);
    let feeder = reader.feeder();
    let task = aio::spawn(read(reader));
    settle().await;
    feeder.feed_data(under);
    settle().await;
    assert!(!task.is_finished(), "within the limit: still waiting");
    feeder.feed_data(past);
    match within(task).await.unwrap() {
        Err(StreamError::LimitOverrun(e)) => e,
        other => panic!("expected a limit overrun, got {other:?}"),
    }
}

#[aio::test]
async fn a_sleeping_line_reader_wakes_to_report_a_line_past_the_limit() {
    let e = overrun_of(
        |mut r| async move { r.readline().await },
        b"01234",
        b"56789",
    )
    .await;
    assert_eq!(e.consumed, 10);
}

#[aio::test]
async fn a_dropped_readline_leaves_its_search_to_no_other_separator() {
    let mut reader = StreamReader::new();
    let feeder = reader.feeder();
    {
        let mut line = Box::pin(reader.readline());
        assert!(poll_once(&mut line).await.is_pending());
        feeder.feed_data(b"xab");
    }
    // The feeds found no `\n` in "xab"; a search for "b" must still look.
    assert_eq!(within(reader.readuntil(b"b")).await.unwrap(), b"xab");
}

#[aio::test]
async fn readuntil_sleeps_through_feeds_without_the_separators_last_byte() {
    let mut reader = StreamReader::new();
    let feeder = reader.feeder();
    let (task, polls) = spawn_counted(async move {
        let head = reader.readuntil(b"\r\n\r\n").await.unwrap();
        (head, reader)
    });
    settle().await;
    for piece in [&b"GET / HTTP/1.1\r"[..], b"Host: a\r", b"X: y"] {
        feeder.feed_data(piece);
        settle().await;
    }
    assert_eq!(polls.get(), 1, "no `\\n` fed: still asleep");
    // A `\n` that does not end the separator wakes the reader once; it
    // searches, finds nothing and sleeps again.
    feeder.feed_data(b"\r\n");
    settle().await;
    assert_eq!(polls.get(), 2);
    feeder.feed_data(b"\r");
    settle().await;
    assert_eq!(polls.get(), 2, "the separator's first bytes: still asleep");
    feeder.feed_data(b"\nbody");
    let (head, mut reader) = within(task).await.unwrap();
    assert_eq!(head, b"GET / HTTP/1.1\rHost: a\rX: y\r\n\r\n");
    assert_eq!(polls.get(), 3);
    feeder.feed_eof();
    assert_eq!(reader.read_to_end().await.unwrap(), b"body");
}

#[aio::test]
async fn readuntil_any_with_different_last_bytes_still_finds_either() {
    let mut reader = StreamReader::new();
    let feeder = reader.feeder();
    let task = aio::spawn(async move { reader.readuntil_any(&[b"ab", b"cd"]).await });
    settle().await;
    for piece in [&b"xx"[..], b"c", b"d!"] {
        feeder.feed_data(piece);
        settle().await;
    }
    assert_eq!(within(task).await.unwrap().unwrap(), b"xxcd");
}

#[aio::test]
async fn a_sleeping_readuntil_wakes_to_report_a_chunk_past_the_limit() {
    let read = |mut r: StreamReader| async move { r.readuntil(b"--").await };
    let e = overrun_of(read, b"0123456", b"789ab").await;
    // Of the 12 bytes, the last could begin the separator: 11 known
    // not to hold it (asyncio's figure too).
    assert_eq!(e.consumed, 11);
}

#[aio::test]
async fn a_readline_dropped_while_waiting_loses_nothing() {
    let mut reader = StreamReader::new();
    let feeder = reader.feeder();
    reader.feed_data(b"kept ");
    {
        let mut line = Box::pin(reader.readline());
        assert!(poll_once(&mut line).await.is_pending());
        feeder.feed_data(b"and fed ");
        assert!(matches!(poll_once(&mut line).await, Poll::Pending));
    }
    // A fresh readline searches again from the start of what is unread,
    // so both the bytes it had and the ones fed come back, in order.
    feeder.feed_data(b"then\nnext\n");
    assert_eq!(
        within(reader.readline()).await.unwrap(),
        b"kept and fed then\n"
    );
    assert_eq!(reader.readline().await.unwrap(), b"next\n");
}

#[aio::test]
async fn a_line_fed_in_pieces_over_a_socket_arrives_whole() {
    use std::io::Write;
    let (mut reader, _writer, mut peer) = connection(aio::streams::DEFAULT_LIMIT).await;
    let (read, polls) = spawn_counted(async move { reader.readline().await.unwrap() });
    settle().await;
    for piece in [&b"sent "[..], b"in ", b"pieces\n"] {
        peer.write_all(piece).unwrap();
        settle().await;
    }
    assert_eq!(within(read).await.unwrap(), b"sent in pieces\n");
    // However the pieces arrived: the first poll, and the wake-up for the
    // newline.
    assert_eq!(polls.get(), 2);
}

#[aio::test]
async fn readexactly_sleeps_until_enough_has_come() {
    let mut reader = StreamReader::new();
    let feeder = reader.feeder();
    let (task, polls) = spawn_counted(async move { reader.readexactly(10).await.unwrap() });
    for piece in [&b"012"[..], b"345", b"678"] {
        settle().await;
        feeder.feed_data(piece);
    }
    settle().await;
    assert_eq!(polls.get(), 1, "nine bytes of ten: still asleep");
    feeder.feed_data(b"9 and more");
    assert_eq!(within(task).await.unwrap(), b"0123456789");
    assert_eq!(polls.get(), 2);
}

#[aio::test]
async fn read_to_end_sleeps_until_the_end() {
    let mut reader = StreamReader::new();
    let feeder = reader.feeder();
    let (task, polls) = spawn_counted(async move { reader.read_to_end().await.unwrap() });
    for piece in [&b"all "[..], b"of ", b"it"] {
        settle().await;
        feeder.feed_data(piece);
    }
    settle().await;
    assert_eq!(polls.get(), 1);
    feeder.feed_eof();
    assert_eq!(within(task).await.unwrap(), b"all of it");
    assert_eq!(polls.get(), 2);
}

/// A connection whose reader has the given limit, its writer (dropping it
/// closes the connection) and the peer's end, which sends each write at
/// once.
async fn connection(limit: usize) -> (StreamReader, StreamWriter, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let options = StreamOptions {
        limit,
        ..StreamOptions::default()
    };
    let (reader, writer) = aio::streams::open_connection_with("127.0.0.1", port, &options)
        .await
        .unwrap();
    let (peer, _) = listener.accept().unwrap();
    peer.set_nodelay(true).unwrap();
    (reader, writer, peer)
}

#[aio::test]
async fn readexactly_past_twice_the_limit_resumes_the_paused_transport() {
    use std::io::Write;
    // The transport pauses past 2 KiB buffered; only the sleeping reader
    // can resume it, so the feed that pauses must wake it.
    let (mut reader, _writer, mut peer) = connection(1024).await;
    let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    let sent = data.clone();
    let writing = std::thread::spawn(move || peer.write_all(&sent));
    let got = within(reader.readexactly(data.len())).await.unwrap();
    assert!(got == data, "the bytes came back in order");
    writing.join().unwrap().unwrap();
}

#[aio::test]
async fn read_to_end_past_twice_the_limit_resumes_the_paused_transport() {
    use std::io::Write;
    let (mut reader, _writer, mut peer) = connection(1024).await;
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let sent = data.clone();
    let writing = std::thread::spawn(move || {
        peer.write_all(&sent)?;
        peer.shutdown(std::net::Shutdown::Write)
    });
    let got = within(reader.read_to_end()).await.unwrap();
    assert!(got == data, "the bytes came back in order");
    writing.join().unwrap().unwrap();
}
