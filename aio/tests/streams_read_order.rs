//! When the loop runs a reader's task: right after the event whose read
//! woke it when that read was large (so the task works on bytes still in
//! the cache), after the whole batch of events when it was small (the
//! order that measured fastest for small lines).
//!
//! Two connections are made readable before the loop looks, so one
//! `epoll_wait` reports both, the stream reader's first (loopback delivers
//! a segment to the receiving socket within the sender's `send`). The
//! second connection's protocol logs its read; the reader's task logs its
//! line. Which comes first tells when the task ran.

mod support;

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

use aio::streams::StreamReader;
use aio::transport::{Protocol, Transport};
use support::within;

type Log = Rc<RefCell<Vec<&'static str>>>;

/// Logs its first read.
struct LogsReads(Log);

impl Protocol for LogsReads {
    fn connection_made(&mut self, _transport: &Transport) {}

    fn data_received(&mut self, _data: &[u8]) {
        if !self.0.borrow().contains(&"other connection read") {
            self.0.borrow_mut().push("other connection read");
        }
    }
}

/// Sends a `size`-byte line to a waiting stream reader and some bytes to
/// another connection, back to back, and returns the log.
async fn log_of_a_batch_with_a_line_of(size: usize) -> Vec<&'static str> {
    let log: Log = Rc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();

    let (mut reader, _writer) = aio::open_connection("127.0.0.1", port).await.unwrap();
    let (mut line_peer, _) = listener.accept().unwrap();
    let l = log.clone();
    let (_transport, _protocol) = aio::create_connection(move || LogsReads(l), "127.0.0.1", port)
        .await
        .unwrap();
    let (mut other_peer, _) = listener.accept().unwrap();

    let l = log.clone();
    let read = aio::spawn(async move {
        let line = read_line(&mut reader).await;
        l.borrow_mut().push("reader's task ran");
        line
    });
    support::settle().await; // the reader waits for its line

    let mut line = vec![b'x'; size - 1];
    line.push(b'\n');
    // Both sends finish before the loop's next `epoll_wait`.
    line_peer.write_all(&line).unwrap();
    other_peer.write_all(b"ping").unwrap();
    let got = within(read).await.unwrap();
    assert_eq!(got.len(), size, "the whole line in one read");
    let log = log.borrow().clone();
    log
}

async fn read_line(reader: &mut StreamReader) -> Vec<u8> {
    reader.readline().await.unwrap()
}

#[aio::test]
async fn a_reader_woken_by_a_large_read_runs_before_the_next_event() {
    assert_eq!(
        log_of_a_batch_with_a_line_of(16 * 1024).await,
        ["reader's task ran", "other connection read"]
    );
}

#[aio::test]
async fn a_reader_woken_by_a_small_read_runs_after_the_batch() {
    assert_eq!(
        log_of_a_batch_with_a_line_of(1024).await,
        ["other connection read", "reader's task ran"]
    );
}
