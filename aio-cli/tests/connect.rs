//! `aio connect`, run as a real process against TCP servers written here:
//! an interactive session (each line answered before the next is sent),
//! half-close on stdin EOF with the reply still printed, the server closing
//! first, bulk data both ways at once, and connection errors.

mod client;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::thread;

use client::{refused_port, run, Interactive, TestServer};

/// Greets, answers each line upper-cased, and after the client's EOF sends
/// a last line and closes.
fn upper_case_server() -> TestServer {
    TestServer::start(|stream| {
        let _ = stream.write_all(b"hello\n");
        let mut writer = stream.try_clone().expect("clone the stream");
        for line in BufReader::new(&*stream).split(b'\n') {
            let Ok(mut line) = line else { return };
            line.make_ascii_uppercase();
            line.push(b'\n');
            if writer.write_all(&line).is_err() {
                return;
            }
        }
        let _ = writer.write_all(b"bye after your eof\n");
    })
}

#[test]
fn a_scripted_session_runs_both_ways_then_half_closes() {
    let server = upper_case_server();
    let port = server.port.to_string();
    let mut session = Interactive::start(&["connect", "127.0.0.1", &port]);
    // The greeting arrives with nothing typed: socket to stdout does not
    // wait for stdin.
    session.expect_line("hello");
    // Each answer arrives while stdin is still open: stdin to socket does
    // not wait for EOF either.
    session.send("first line\n");
    session.expect_line("FIRST LINE");
    session.send("second\n");
    session.expect_line("SECOND");
    // EOF on stdin half-closes: the server sees it, answers, closes.
    session.close_stdin();
    session.expect_line("bye after your eof");
    assert_eq!(
        session.next_line(),
        None,
        "stdout ends when the server closes"
    );
    let (status, stderr) = session.wait();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn empty_stdin_half_closes_at_once_and_the_reply_is_printed() {
    let server = upper_case_server();
    let out = run(&["connect", "127.0.0.1", &server.port.to_string()]);
    assert_eq!(out.code(), 0, "{out:?}");
    assert_eq!(out.stdout_text(), "hello\nbye after your eof\n");
}

#[test]
fn the_server_closing_ends_the_session_with_stdin_still_open() {
    let server = TestServer::start(|stream| {
        let _ = stream.write_all(b"one line and goodbye\n");
    });
    let port = server.port.to_string();
    let mut session = Interactive::start(&["connect", "127.0.0.1", &port]);
    session.expect_line("one line and goodbye");
    assert_eq!(session.next_line(), None);
    // stdin was never closed.
    let (status, stderr) = session.wait();
    assert_eq!(status.code(), Some(0), "{stderr}");
}

#[test]
fn bulk_data_flows_both_ways_at_once() {
    // An echo server: if aio read all of stdin before reading the socket
    // (or the reverse), both sides' buffers would fill and everything would
    // stall; several MiB is far more than the buffers hold.
    let server = TestServer::start(|stream| {
        let mut writer = stream.try_clone().expect("clone the stream");
        let mut buf = vec![0; 64 * 1024];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if writer.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let data: Vec<u8> = (0..6 * 1024 * 1024)
        .map(|i| (i * 13 + i / 251) as u8)
        .collect();
    let mut child = client::aio(&["connect", "127.0.0.1", &server.port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start aio");
    let mut stdin = child.stdin.take().unwrap();
    let sent = data.clone();
    let writer = thread::spawn(move || {
        stdin.write_all(&sent).expect("write aio's stdin");
        // Dropping stdin: EOF, so aio half-closes and the server finishes.
    });
    let mut back = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut back)
        .expect("read aio's stdout");
    writer.join().unwrap();
    let status = client::wait_with_guard(&mut child);
    assert_eq!(status.code(), Some(0));
    assert_eq!(back.len(), data.len());
    assert!(back == data, "the echo differs from what was sent");
}

#[test]
fn a_refused_connection_is_a_one_line_error() {
    let out = run(&["connect", "127.0.0.1", &refused_port().to_string()]);
    assert_ne!(out.code(), 0);
    out.one_error_line("aio connect: ", "refused");
    assert_eq!(out.stdout, b"");
}

#[test]
fn an_unknown_host_is_a_one_line_error() {
    let out = run(&["connect", "no-such-host.invalid", "80"]);
    assert_ne!(out.code(), 0);
    out.one_error_line("aio connect: ", "no-such-host.invalid");
}

#[test]
fn an_unreadable_cacert_is_a_usage_error() {
    let out = run(&[
        "connect",
        "--tls",
        "--cacert",
        "missing.pem",
        "127.0.0.1",
        "443",
    ]);
    assert_eq!(out.code(), 2);
    out.one_error_line("aio connect: ", "cannot read certificate file missing.pem");
    // --cacert means nothing without --tls.
    assert_eq!(
        run(&["connect", "--cacert", "ca.pem", "127.0.0.1", "443"]).code(),
        2
    );
}
