//! `StreamReader` behaviours ported from CPython's `test_streams.py`:
//! reads across chunk boundaries, EOF, limits, and the data errors carry.

use std::io;

use aio::streams::{StreamError, StreamReader};

/// Feeds `chunks` one loop step apart from a task, then EOF, so reads
/// really wait between chunks.
fn feed_later(reader: &StreamReader, chunks: &[&[u8]]) -> aio::Task<()> {
    let feeder = reader.feeder();
    let chunks: Vec<Vec<u8>> = chunks.iter().map(|c| c.to_vec()).collect();
    aio::spawn(async move {
        for c in chunks {
            aio::yield_now().await;
            feeder.feed_data(&c);
        }
        aio::yield_now().await;
        feeder.feed_eof();
    })
}

fn limit_overrun(r: Result<Vec<u8>, StreamError>) -> usize {
    match r {
        Err(StreamError::LimitOverrun(e)) => e.consumed,
        other => panic!("expected a limit overrun, got {other:?}"),
    }
}

fn incomplete(r: Result<Vec<u8>, StreamError>) -> (Vec<u8>, Option<usize>) {
    match r {
        Err(StreamError::Incomplete(e)) => (e.partial, e.expected),
        other => panic!("expected an incomplete read, got {other:?}"),
    }
}

#[aio::test]
async fn read_zero_returns_at_once() {
    let mut r = StreamReader::new();
    r.feed_data(b"data");
    assert_eq!(r.read(0).await.unwrap(), b"");
    assert_eq!(r.buffered(), 4);
}

#[aio::test]
async fn read_waits_for_data_and_returns_what_is_buffered() {
    let mut r = StreamReader::new();
    let feeder = feed_later(&r, &[b"chunk1 ", b"chunk2"]);
    assert_eq!(r.read(100).await.unwrap(), b"chunk1 ");
    assert_eq!(r.read(3).await.unwrap(), b"chu");
    assert_eq!(r.read(100).await.unwrap(), b"nk2");
    assert_eq!(r.read(100).await.unwrap(), b"", "empty at EOF");
    feeder.await.unwrap();
}

#[aio::test]
async fn read_to_end_collects_every_chunk() {
    let mut r = StreamReader::new();
    let feeder = feed_later(&r, &[b"chunk1\n", b"chunk2", b"\nchunk3"]);
    assert_eq!(r.read_to_end().await.unwrap(), b"chunk1\nchunk2\nchunk3");
    assert!(r.at_eof());
    feeder.await.unwrap();
}

#[aio::test]
async fn read_reports_the_error_after_the_buffered_data() {
    let mut r = StreamReader::new();
    r.feed_data(b"line\n");
    r.set_exception(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
    assert_eq!(r.read(2).await.unwrap(), b"li");
    assert_eq!(r.readline().await.unwrap(), b"ne\n");
    let err = r.read(2).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
}

#[aio::test]
async fn readline_across_chunk_boundaries() {
    let mut r = StreamReader::new();
    let feeder = feed_later(&r, &[b"chunk1 ", b"chunk2 ", b"chunk3 \n chunk4"]);
    assert_eq!(r.readline().await.unwrap(), b"chunk1 chunk2 chunk3 \n");
    assert_eq!(
        r.readline().await.unwrap(),
        b" chunk4",
        "a partial line at EOF"
    );
    assert_eq!(r.readline().await.unwrap(), b"", "then empty: EOF");
    feeder.await.unwrap();
}

#[aio::test]
async fn readline_line_breaks_keep_carriage_returns() {
    let mut r = StreamReader::new();
    r.feed_data(b"line1\r\nline2\n\nline4");
    r.feed_eof();
    assert_eq!(r.readline().await.unwrap(), b"line1\r\n");
    assert_eq!(r.readline().await.unwrap(), b"line2\n");
    assert_eq!(r.readline().await.unwrap(), b"\n");
    assert_eq!(r.readline().await.unwrap(), b"line4");
}

#[aio::test]
async fn readline_limit_with_existing_data_keeps_the_data() {
    let mut r = StreamReader::with_limit(3);
    r.feed_data(b"li");
    r.feed_data(b"ne1\nline2\n");
    // The separator is at index 5, past the limit of 3.
    assert_eq!(limit_overrun(r.readline().await), 5);
    // Nothing was lost: the caller skips the long line and goes on.
    assert_eq!(r.buffered(), 12);
    assert_eq!(r.readexactly(5).await.unwrap(), b"line1");
    assert_eq!(r.readline().await.unwrap(), b"\n");
    assert_eq!(limit_overrun(r.readline().await), 5);
}

#[aio::test]
async fn readline_limit_without_separator_across_chunks() {
    let mut r = StreamReader::with_limit(7);
    let feeder = feed_later(&r, &[b"1234567", b"89", b"0\n"]);
    let consumed = limit_overrun(r.readline().await);
    assert!(consumed > 7, "consumed {consumed} must pass the limit");
    // Everything fed so far is still there.
    feeder.await.unwrap();
    assert_eq!(r.read_to_end().await.unwrap(), b"1234567890\n");
}

#[aio::test]
async fn readline_accepts_a_line_of_exactly_the_limit() {
    // asyncio's limit bounds where the separator starts.
    let mut r = StreamReader::with_limit(5);
    r.feed_data(b"12345\n");
    assert_eq!(r.readline().await.unwrap(), b"12345\n");
    r.feed_data(b"123456\n");
    assert_eq!(limit_overrun(r.readline().await), 6);
}

#[aio::test]
async fn readuntil_separator_split_across_chunks() {
    let mut r = StreamReader::new();
    let feeder = feed_later(&r, &[b"lineA", b"AA", b"Aline", b"B", b"AAAA"]);
    assert_eq!(r.readuntil(b"AAA").await.unwrap(), b"lineAAA");
    assert_eq!(r.readuntil(b"AAA").await.unwrap(), b"AlineBAAA");
    let (partial, expected) = incomplete(r.readuntil(b"AAA").await);
    assert_eq!((partial, expected), (b"A".to_vec(), None));
    feeder.await.unwrap();
}

#[aio::test]
async fn readuntil_eof_gives_all_data_as_partial() {
    let mut r = StreamReader::new();
    r.feed_data(b"some dataAA");
    r.feed_eof();
    let (partial, expected) = incomplete(r.readuntil(b"AAA").await);
    assert_eq!(partial, b"some dataAA");
    assert_eq!(expected, None);
    assert!(r.at_eof());
}

#[aio::test]
async fn readuntil_limit_found_separator() {
    let mut r = StreamReader::with_limit(3);
    r.feed_data(b"some dataAA");
    assert_eq!(limit_overrun(r.readuntil(b"AAA").await), 9);
    r.feed_data(b"A");
    assert_eq!(limit_overrun(r.readuntil(b"AAA").await), 9);
    assert_eq!(r.buffered(), 12, "nothing consumed by an overrun");
}

#[aio::test]
async fn readuntil_several_separators_takes_the_first_to_end() {
    let mut r = StreamReader::new();
    r.feed_data(b"key: value\r\nnext\n");
    let seps: [&[u8]; 2] = [b"\r\n", b"\n"];
    assert_eq!(r.readuntil_any(&seps).await.unwrap(), b"key: value\r\n");
    assert_eq!(r.readuntil_any(&seps).await.unwrap(), b"next\n");
    r.feed_data(b"abcXYZ");
    let seps: [&[u8]; 2] = [b"cXYZ", b"bcX"];
    assert_eq!(r.readuntil_any(&seps).await.unwrap(), b"abcX");
}

#[aio::test]
async fn readexactly_across_chunks() {
    let mut r = StreamReader::new();
    let data = b"chunk1\nchunk2\nchunk3\n";
    let feeder = feed_later(&r, &[&data[..5], &data[5..9], &data[9..]]);
    assert_eq!(r.readexactly(12).await.unwrap(), &data[..12]);
    assert_eq!(r.readexactly(9).await.unwrap(), &data[12..]);
    feeder.await.unwrap();
}

#[aio::test]
async fn readexactly_short_at_eof_carries_the_partial_data() {
    let mut r = StreamReader::new();
    let feeder = feed_later(&r, &[b"chunk1\n", b"chunk2"]);
    let (partial, expected) = incomplete(r.readexactly(20).await);
    assert_eq!(partial, b"chunk1\nchunk2");
    assert_eq!(expected, Some(20));
    assert!(r.at_eof());
    feeder.await.unwrap();
}

#[aio::test]
async fn readexactly_larger_than_twice_the_limit() {
    // The reader must not deadlock waiting for more than it lets itself buffer.
    let mut r = StreamReader::with_limit(4);
    let feeder = feed_later(&r, &[b"0123456789", b"abcdefghij"]);
    assert_eq!(r.readexactly(20).await.unwrap(), b"0123456789abcdefghij");
    feeder.await.unwrap();
}

#[aio::test]
async fn a_timed_out_readline_loses_nothing() {
    let mut r = StreamReader::new();
    r.feed_data(b"half a li");
    let timed_out = aio::timeout(std::time::Duration::from_millis(5), r.readline()).await;
    assert!(timed_out.is_err());
    r.feed_data(b"ne\n");
    assert_eq!(r.readline().await.unwrap(), b"half a line\n");
}

#[aio::test]
async fn lines_yields_every_line_then_ends() {
    use futures_util::StreamExt;
    let mut r = StreamReader::new();
    let feeder = feed_later(&r, &[b"a\nb", b"\nc"]);
    let lines: Vec<Vec<u8>> = r.lines().map(|l| l.unwrap()).collect().await;
    assert_eq!(lines, [b"a\n".to_vec(), b"b\n".to_vec(), b"c".to_vec()]);
    feeder.await.unwrap();
}

#[aio::test]
async fn futures_io_read_sees_data_and_eof() {
    use futures_util::AsyncReadExt;
    let mut r = StreamReader::new();
    let feeder = feed_later(&r, &[b"abc", b"def"]);
    let mut out = Vec::new();
    AsyncReadExt::read_to_end(&mut r, &mut out).await.unwrap();
    assert_eq!(out, b"abcdef");
    feeder.await.unwrap();
}
