//! `aio chat`, run as a real process with nc-style clients: the exact
//! texts of a scripted session, invalid UTF-8, over-long lines, a client
//! that stops reading while the room floods, and graceful shutdown.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use support::{Server, Signal};

fn start(extra: &[&str]) -> Server {
    let mut args = vec!["chat", "--port", "0"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// A chat user on a raw TCP connection, as with nc.
struct Client {
    /// The name the room gives it: its address as the server sees it.
    name: String,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    /// Connects and reads the welcome, which must count `online` users.
    fn join(server: &Server, online: usize) -> Client {
        let stream = server.connect();
        let mut client = Client {
            name: stream.local_addr().unwrap().to_string(),
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        client.expect(&format!("Welcome! {online} user(s) online."));
        client
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("send to the chat");
    }

    fn say(&mut self, line: &str) {
        self.send(format!("{line}\n").as_bytes());
    }

    /// The next line, which must be UTF-8 and end with `\n`.
    fn read_line(&mut self) -> String {
        let mut line = Vec::new();
        self.reader
            .read_until(b'\n', &mut line)
            .expect("read from the chat");
        assert_eq!(line.last(), Some(&b'\n'), "{line:?} is not a whole line");
        line.pop();
        String::from_utf8(line).expect("the server sends UTF-8")
    }

    fn expect(&mut self, line: &str) {
        assert_eq!(self.read_line(), line, "{} got another line", self.name);
    }

    /// Reads lines until `line` comes (others may come first).
    fn skip_to(&mut self, line: &str) {
        while self.read_line() != line {}
    }

    /// Reads whatever is left until the server closes the connection.
    fn expect_closed(&mut self) {
        let mut buf = vec![0; 64 * 1024];
        loop {
            match std::io::Read::read(&mut self.reader, &mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
                Err(e) => panic!("{} was not disconnected: {e}", self.name),
            }
        }
    }
}

/// The first two members of a fresh room, past their welcome and join.
fn two_members(server: &Server) -> (Client, Client) {
    let mut a = Client::join(server, 1);
    let b = Client::join(server, 2);
    a.expect(&format!("* {} joined (2 online)", b.name));
    (a, b)
}

#[test]
fn a_scripted_session_shows_every_message_exactly() {
    let server = start(&[]);
    let (mut a, mut b) = two_members(&server);
    let mut c = Client::join(&server, 3);
    for other in [&mut a, &mut b] {
        other.expect(&format!("* {} joined (3 online)", c.name));
    }

    // A line goes to everyone else, `\r\n` stripped; not back to the
    // sender (its next line below is someone else's news).
    a.send(b"hello everyone\r\n");
    for other in [&mut b, &mut c] {
        other.expect(&format!("<{}> hello everyone", a.name));
    }

    a.say("/nick alice");
    for other in [&mut b, &mut c] {
        other.expect(&format!("* {} is now alice", a.name));
    }
    b.say("/nick alice");
    b.expect("* the name alice is taken");
    b.say("/nick   ");
    b.expect("* usage: /nick NAME (a name cannot be empty)");
    b.say("/nick bob");
    for other in [&mut a, &mut c] {
        other.expect(&format!("* {} is now bob", b.name));
    }

    c.say("/who");
    c.expect(&format!("* online: alice, bob, {}", c.name));
    b.say("hi from bob");
    a.expect("<bob> hi from bob");
    c.expect("<bob> hi from bob");

    b.say("/quit");
    b.expect_closed();
    a.expect("* bob left (2 online)");
    c.expect("* bob left (2 online)");

    // Leaving by closing the connection is announced the same way.
    let c_name = c.name.clone();
    drop(c);
    a.expect(&format!("* {c_name} left (1 online)"));
    a.say("/who");
    a.expect("* online: alice");
}

#[test]
fn invalid_utf8_is_shown_with_replacement_characters() {
    let server = start(&[]);
    let (mut a, mut b) = two_members(&server);

    b.send(b"caf\xc3\xa9 is fine, caf\xe9 is not, nor \xff\xfe\n");
    a.expect(&format!(
        "<{}> café is fine, caf\u{FFFD} is not, nor \u{FFFD}\u{FFFD}",
        b.name
    ));
    b.send(b"/nick \xff\n");
    a.expect(&format!("* {} is now \u{FFFD}", b.name));
    b.say("still here");
    a.expect("<\u{FFFD}> still here");
}

#[test]
fn an_over_long_line_gets_an_error_and_a_disconnect() {
    let server = start(&[]);
    let (mut a, mut b) = two_members(&server);

    // The stream limit is 64 KiB.
    let mut long = vec![b'x'; 70_000];
    long.push(b'\n');
    b.send(&long);
    b.expect("error: line too long");
    b.expect_closed();
    a.expect(&format!("* {} left (1 online)", b.name));
}

#[test]
fn a_client_that_stops_reading_is_dropped_and_the_room_goes_on() {
    let server = start(&["--max-backlog", "131072"]);
    let (mut a, mut slow) = two_members(&server);
    let mut c = Client::join(&server, 3);
    a.expect(&format!("* {} joined (3 online)", c.name));
    slow.expect(&format!("* {} joined (3 online)", c.name));
    #[cfg(target_os = "linux")]
    let before = support::rss_kib(&server);

    // From here `slow` reads nothing. `a` floods the room in batches and
    // `c` reads each batch before the next, so only `slow` falls behind:
    // its kernel buffers fill, then its backlog passes the limit. A batch
    // is well under the limit, so `c` can never be the one dropped.
    const BATCH: usize = 16;
    let left = format!("* {} left (2 online)", slow.name);
    let filler = "y".repeat(1000);
    let mut flooded = 0usize;
    let mut slow_gone = false;
    while !slow_gone {
        assert!(
            flooded < 1 << 30,
            "1 GiB flooded and the slow client is still in"
        );
        let mut batch = String::new();
        for i in 0..BATCH {
            batch.push_str(&format!("flood {flooded} {i} {filler}\n"));
        }
        a.send(batch.as_bytes());
        let last = format!("<{}> flood {flooded} {} {filler}", a.name, BATCH - 1);
        loop {
            let line = c.read_line();
            slow_gone |= line == left;
            if line == last {
                break;
            }
        }
        flooded += batch.len();
    }
    a.expect(&left);
    server.wait_for_log("over the backlog limit of 131072: disconnecting");

    #[cfg(target_os = "linux")]
    {
        let growth_kib = support::rss_kib(&server).saturating_sub(before);
        assert!(
            growth_kib < 16 * 1024,
            "the server grew by {growth_kib} KiB after {flooded} bytes of flood"
        );
    }

    // The others chat on.
    a.say("still chatting");
    c.skip_to(&format!("<{}> still chatting", a.name));
    c.say("me too");
    a.expect(&format!("<{}> me too", c.name));
    c.say("/who");
    c.expect(&format!("* online: {}, {}", a.name, c.name));
    slow.expect_closed();
}

#[test]
fn sigterm_cuts_idle_members_when_the_grace_ends_and_exits_0() {
    let mut server = start(&["--grace", "0.5"]);
    let (mut a, mut b) = two_members(&server);

    server.signal(Signal::TERM);
    server.wait_for_log("no longer accepting; 2 open connection(s)");
    // The room still works during the grace.
    a.say("bye");
    b.expect(&format!("<{}> bye", a.name));

    a.expect_closed();
    b.expect_closed();
    let status = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    server.wait_for_log("grace period over: closing 2 connection(s)");
    assert_eq!(server.rest_of_stdout(), "", "only one line on stdout");
}

#[test]
fn missing_tls_files_are_a_usage_error_naming_the_file() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aio"))
        .args([
            "chat",
            "--port",
            "0",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "aio chat: cannot read certificate file c.pem: No such file or directory (os error 2)"
    );
}
