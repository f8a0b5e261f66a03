//! Pipe transports over real descriptors: a pipe's data and EOF, a large
//! stream from a writer thread, a regular file read whole through the
//! always-ready fallback, a socket given as a "pipe", and a write pipe.
//!
//! Each test keeps the original descriptor and hands the transport a
//! duplicate (which shares the open file description, as a shell's stdin
//! does), then checks with `fcntl(F_GETFL)` that `O_NONBLOCK` on the
//! original is as it was once the transport has closed.

mod support;

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use aio::transport::{connect_read_pipe, connect_write_pipe};
use rustix::fs::{fcntl_getfl, OFlags};
use support::protocol::{assert_callback_order, sink, Ev};
use support::within;

fn flags(fd: impl AsFd) -> OFlags {
    fcntl_getfl(fd).unwrap()
}

fn nonblocking(fd: impl AsFd) -> bool {
    flags(fd).contains(OFlags::NONBLOCK)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|k| (k % 251) as u8).collect()
}

/// A file under the temp dir that no other test (or process) uses,
/// removed on drop.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn with_contents(tag: &str, contents: &[u8]) -> TempFile {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("aio-test-{}-{tag}-{n}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[aio::test]
async fn a_read_pipe_delivers_data_then_eof() {
    let (reader, mut writer) = std::io::pipe().unwrap();
    let kept = OwnedFd::from(reader);
    let before = flags(&kept);
    assert!(!before.contains(OFlags::NONBLOCK));
    let (sink, mut events) = sink();
    let (transport, _protocol) =
        connect_read_pipe(move || sink.recorder(), kept.try_clone().unwrap()).unwrap();
    // A pipe is reopened, so the shared description is never touched.
    assert!(!nonblocking(&kept), "O_NONBLOCK set on the shared pipe");
    assert!(!transport.can_write_eof());

    writer.write_all(b"first line\n").unwrap();
    events.data(0, 11).await;
    writer.write_all(b"second line\n").unwrap();
    events.data(0, 23).await;
    drop(writer); // the last write end: EOF
    events.dropped(0).await;

    let log = events.log_of(0);
    assert_eq!(assert_callback_order(&log), b"first line\nsecond line\n");
    assert_eq!(log[log.len() - 3..], [Ev::Eof, Ev::Lost(None), Ev::Dropped]);
    assert_eq!(flags(&kept), before);
}

#[aio::test]
async fn a_read_pipe_takes_a_large_stream_from_a_writer_thread() {
    const LEN: usize = 4 << 20; // many times the 64 KiB a pipe holds
    let (reader, mut writer) = std::io::pipe().unwrap();
    let (sink, mut events) = sink();
    let _transport = connect_read_pipe(move || sink.recorder(), reader.into()).unwrap();
    let thread = std::thread::spawn(move || writer.write_all(&pattern(LEN)));

    events.dropped(0).await;
    thread.join().unwrap().unwrap();
    let log = events.log_of(0);
    let got = assert_callback_order(&log);
    assert_eq!(got.len(), LEN);
    assert!(got == pattern(LEN), "pipe data reordered or lost");
    assert!(log.contains(&Ev::Eof));
}

#[aio::test]
async fn a_regular_file_is_read_whole_then_eof() {
    // epoll refuses regular files; the fallback reads until EOF. More
    // than the loop's 256 KiB read buffer, and not a multiple of it.
    const LEN: usize = (1 << 20) + 17;
    let file = TempFile::with_contents("read-pipe-file", &pattern(LEN));
    let kept = OwnedFd::from(std::fs::File::open(&file.0).unwrap());
    let before = flags(&kept);
    assert!(!before.contains(OFlags::NONBLOCK));
    let (sink, mut events) = sink();
    let _transport = connect_read_pipe(move || sink.recorder(), kept.try_clone().unwrap()).unwrap();

    within(events.dropped(0)).await;
    let log = events.log_of(0);
    let got = assert_callback_order(&log);
    assert_eq!(got.len(), LEN);
    assert!(got == pattern(LEN), "file data reordered or lost");
    assert_eq!(log[log.len() - 3..], [Ev::Eof, Ev::Lost(None), Ev::Dropped]);
    assert_eq!(flags(&kept), before, "O_NONBLOCK left on the file");
}

#[aio::test]
async fn flags_set_on_a_shared_description_are_restored_on_close() {
    // A socket cannot be reopened through /proc/self/fd, so the transport
    // sets O_NONBLOCK on the description it shares with `kept`, and must
    // put it back.
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let kept = OwnedFd::from(ours);
    let before = flags(&kept);
    assert!(!before.contains(OFlags::NONBLOCK));
    let (sink, mut events) = sink();
    let _transport = connect_read_pipe(move || sink.recorder(), kept.try_clone().unwrap()).unwrap();
    assert!(
        nonblocking(&kept),
        "expected the shared description to be non-blocking while in use"
    );

    theirs.write_all(b"through a socket").unwrap();
    events.data(0, 16).await;
    drop(theirs);
    events.dropped(0).await;

    assert_eq!(
        assert_callback_order(&events.log_of(0)),
        b"through a socket"
    );
    assert_eq!(flags(&kept), before, "O_NONBLOCK not restored");
}

#[aio::test]
async fn a_write_pipe_flushes_everything_then_closes() {
    const LEN: usize = 1 << 20;
    let (mut reader, writer) = std::io::pipe().unwrap();
    let kept = OwnedFd::from(writer);
    let before = flags(&kept);
    let (sink, mut events) = sink();
    let (transport, _protocol) =
        connect_write_pipe(move || sink.recorder(), kept.try_clone().unwrap()).unwrap();
    assert!(!nonblocking(&kept), "O_NONBLOCK set on the shared pipe");

    // More than the pipe holds: the rest is buffered and flushed as the
    // reader thread drains it.
    transport.write(&pattern(LEN));
    assert!(transport.write_buffer_size() > 0);
    transport.close();
    let thread = std::thread::spawn(move || {
        let mut got = Vec::new();
        reader.read_to_end(&mut got).map(|_| got)
    });
    events.dropped(0).await;
    // Flow control works as on sockets: 1 MiB is over the 64 KiB mark.
    assert_eq!(
        events.log_of(0),
        [
            Ev::Made,
            Ev::PauseWriting,
            Ev::ResumeWriting,
            Ev::Lost(None),
            Ev::Dropped
        ]
    );
    assert_eq!(flags(&kept), before);

    drop(kept); // our last write end: the reader sees EOF
    let got = thread.join().unwrap().unwrap();
    assert_eq!(got.len(), LEN);
    assert!(got == pattern(LEN), "pipe data reordered or lost");
}

/// Regression: a pipe transport still open when its loop ended was never
/// dropped (its protocol and transport held each other), so flags it had
/// set on a shared description stayed set after `aio::run` returned.
#[test]
fn flags_are_restored_when_the_loop_ends_with_the_pipe_open() {
    let (ours, _theirs) = UnixStream::pair().unwrap();
    let kept = OwnedFd::from(ours);
    let before = flags(&kept);
    let (given, check) = (kept.try_clone().unwrap(), kept.try_clone().unwrap());
    let (sink, events) = sink();
    let during = aio::run(async move {
        let _transport = connect_read_pipe(move || sink.recorder(), given).unwrap();
        flags(&check)
    });
    assert!(
        during.contains(OFlags::NONBLOCK),
        "the restore path was not taken"
    );
    assert_eq!(events.log_of(0), [Ev::Made, Ev::Dropped]);
    assert_eq!(flags(&kept), before, "O_NONBLOCK left set after the loop");
}
