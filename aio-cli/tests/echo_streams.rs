//! `aio echo` with its default `--api streams`, run as a real process:
//! line by line with `readline` on `start_server`. Every check the echo
//! APIs share, then what is the streams server's own: lines echoed as
//! they came (`\r` kept), the partial last line at EOF, and the `--limit`
//! rule.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::thread;

use support::{closed_by_server, round_trip, send_all_then_read_to_eof, Server};

support::echo::echo_suite!("streams");

/// `aio echo` with no `--api`: streams is the default.
fn start(extra: &[&str]) -> Server {
    let mut args = vec!["echo", "--port", "0"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// `count` numbered lines of `len` bytes each, newline included.
fn numbered_lines(count: usize, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(count * len);
    for i in 0..count {
        let head = format!("{i:08} ");
        out.extend_from_slice(head.as_bytes());
        out.extend(std::iter::repeat_n(
            b'a' + (i % 26) as u8,
            len - head.len() - 1,
        ));
        out.push(b'\n');
    }
    out
}

#[test]
fn lines_come_back_as_sent_and_the_last_partial_line_at_eof() {
    let server = start(&[]);
    let sent = b"hello\r\n\nworld\n\r\nno newline at the end".to_vec();
    let back = send_all_then_read_to_eof(server.connect(), sent.clone());
    assert_eq!(
        String::from_utf8_lossy(&back),
        String::from_utf8_lossy(&sent)
    );
}

#[test]
fn a_line_comes_back_once_its_newline_arrives() {
    let server = start(&[]);
    let mut client = server.connect();
    for part in [&b"in "[..], b"three ", b"parts\n"] {
        client.write_all(part).unwrap();
    }
    let mut back = [0; 15];
    client.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"in three parts\n");
    // Nothing waits for EOF: the next line is answered on its own.
    round_trip(&mut client, b"next\n");
}

#[test]
fn many_lines_from_concurrent_half_closed_clients_all_come_back() {
    let server = start(&[]);
    let senders: Vec<_> = (0..6)
        .map(|_| {
            let client = server.connect();
            thread::spawn(move || {
                let data = numbered_lines(20_000, 100);
                let back = send_all_then_read_to_eof(client, data.clone());
                assert!(back == data, "lines lost, reordered or changed");
            })
        })
        .collect();
    for s in senders {
        s.join().expect("a client thread failed");
    }
}

/// Lines that arrive together are answered together, with one write; the
/// answer must still not wait for the partial line behind them, whose
/// sender waits for it before sending the rest.
#[test]
fn lines_sent_together_come_back_without_waiting_for_the_partial_one_after() {
    let server = start(&[]);
    let mut client = server.connect();
    client.write_all(b"one\ntwo\nthree\nfo").unwrap();
    let mut back = [0; 14];
    client.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"one\ntwo\nthree\n");
    client.write_all(b"ur\n").unwrap();
    let mut back = [0; 5];
    client.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"four\n");
    round_trip(&mut client, b"five\n");
}

#[test]
fn a_line_over_the_limit_gets_an_error_and_a_close_while_others_carry_on() {
    let server = start(&["--limit", "16"]);
    let mut steady = server.connect();
    // 16 bytes with the newline is the longest line accepted.
    round_trip(&mut steady, b"exactly sixteen\n");

    let mut long = server.connect();
    round_trip(&mut long, b"short first\n");
    long.write_all(b"seventeen bytes!\nnever echoed\n").unwrap();
    let mut reply = String::new();
    BufReader::new(&long).read_line(&mut reply).unwrap();
    assert_eq!(reply, "error: line too long\n");
    assert!(closed_by_server(&mut long), "the connection stayed open");

    // Lines that came with the long one, before it, are answered first.
    let mut together = server.connect();
    together.write_all(b"a\nb\nseventeen bytes!\n").unwrap();
    let mut reply = Vec::new();
    together.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"a\nb\nerror: line too long\n");

    // A line with no newline in sight is refused as soon as it passes the
    // limit, without waiting for the rest.
    let mut endless = server.connect();
    endless.write_all(&[b'x'; 17]).unwrap();
    let mut reply = Vec::new();
    endless.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"error: line too long\n");

    // A last line may fill the limit without its newline.
    let back = send_all_then_read_to_eof(server.connect(), b"sixteen, no eol!".to_vec());
    assert_eq!(back, b"sixteen, no eol!");

    round_trip(&mut steady, b"still here\n");
    round_trip(&mut server.connect(), b"newcomer\n");
}

#[test]
fn missing_tls_files_are_a_usage_error_naming_the_file() {
    let out = support::echo::tls_files_missing("streams");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "aio echo: cannot read certificate file c.pem: No such file or directory (os error 2)"
    );
}
