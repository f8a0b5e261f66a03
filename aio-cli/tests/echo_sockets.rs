//! `aio echo --api sockets`, run as a real process: echo with concurrent
//! clients, half-close, a reset peer, accept under descriptor exhaustion,
//! graceful shutdown on SIGTERM/SIGINT, and workers.

mod support;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use support::{closed_by_server, pattern, round_trip, send_all_then_read_to_eof, Server, Signal};

fn start(extra: &[&str]) -> Server {
    let mut args = vec!["echo", "--api", "sockets", "--port", "0"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

#[test]
fn several_concurrent_clients_each_get_their_own_bytes_back() {
    let server = start(&[]);
    // All connections open at once and their messages interleaved: a
    // server that served one client at a time would stall on the second.
    let mut clients: Vec<TcpStream> = (0..10).map(|_| server.connect()).collect();
    for round in 0..5 {
        for (i, client) in clients.iter_mut().enumerate() {
            round_trip(client, format!("client {i} round {round}\r\n").as_bytes());
        }
    }
    // Then bulk traffic on all of them together, large enough to need
    // partial writes and readiness waits on both sides.
    let senders: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, client)| {
            thread::spawn(move || {
                let data = pattern(256 * 1024, i as u8);
                let back = send_all_then_read_to_eof(client, data.clone());
                assert!(back == data, "client {i} got different bytes back");
            })
        })
        .collect();
    for s in senders {
        s.join().expect("a client thread failed");
    }
}

#[test]
fn a_half_closed_client_gets_every_byte_back_then_eof() {
    let server = start(&[]);
    let data = pattern(1024 * 1024, 7);
    let back = send_all_then_read_to_eof(server.connect(), data.clone());
    assert_eq!(back.len(), data.len());
    assert!(back == data, "the echo differs from what was sent");
}

#[test]
fn a_reset_client_does_not_disturb_another() {
    let server = start(&[]);
    let mut steady = server.connect();
    round_trip(&mut steady, b"before\n");

    let doomed = server.connect();
    (&doomed).write_all(b"unread echo\n").unwrap();
    // Wait until the echo has arrived, then close without reading it:
    // unread data makes the kernel send RST instead of FIN.
    let mut peeked = [0; 1];
    assert_eq!(doomed.peek(&mut peeked).unwrap(), 1);
    drop(doomed);
    server.wait_for_log("connection reset by peer");

    round_trip(&mut steady, b"after\n");
    let mut newcomer = server.connect();
    round_trip(&mut newcomer, b"newcomer\n");
}

#[cfg(target_os = "linux")] // reads /proc
#[test]
fn out_of_descriptors_pauses_accepting_without_spinning_then_recovers() {
    use rustix::process::{getrlimit, prlimit, Resource, Rlimit};

    let server = start(&[]);
    let mut first = server.connect();
    round_trip(&mut first, b"first\n");
    // Let the server open exactly as many descriptors as it has now: the
    // next accept fails with EMFILE.
    let open = std::fs::read_dir(format!("/proc/{}/fd", server.pid().as_raw_nonzero()))
        .expect("list the server's descriptors")
        .count() as u64;
    let hard = getrlimit(Resource::Nofile).maximum;
    prlimit(
        Some(server.pid()),
        Resource::Nofile,
        Rlimit {
            current: Some(open),
            maximum: hard,
        },
    )
    .expect("lower the server's descriptor limit");

    // The kernel completes the handshake; the server cannot accept it.
    let mut waiting = server.connect();
    waiting.write_all(b"queued\n").unwrap();
    server.wait_for_log("pausing accepts");

    // While accept keeps failing, the server must not burn a core: over a
    // measured second it may use a small fraction of it.
    let before = cpu_ticks(&server);
    let window = Instant::now();
    thread::sleep(Duration::from_secs(1)); // a measurement window, not a sync
    let used = cpu_ticks(&server) - before;
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let share = used as f64 / ticks_per_sec / window.elapsed().as_secs_f64();
    assert!(
        share < 0.5,
        "the server used {share:.2} of a core while paused"
    );
    assert_eq!(
        server.log_count("pausing accepts"),
        1,
        "logged once per burst"
    );

    // The established connection is still served, and once a descriptor
    // frees up the queued one is accepted and served too.
    round_trip(&mut first, b"still here\n");
    first.shutdown(Shutdown::Write).unwrap();
    assert!(closed_by_server(&mut first));
    let mut echoed = [0; 7];
    std::io::Read::read_exact(&mut waiting, &mut echoed).expect("the queued client is served");
    assert_eq!(&echoed, b"queued\n");
}

/// User plus system CPU time of the server, in clock ticks.
#[cfg(target_os = "linux")]
fn cpu_ticks(server: &Server) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", server.pid().as_raw_nonzero()))
        .expect("read the server's /proc stat");
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let after_name = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn sigterm_with_an_idle_connection_exits_0_and_closes_it_when_grace_ends() {
    let mut server = start(&["--grace", "1"]);
    let mut idle = server.connect();
    round_trip(&mut idle, b"hello\n");

    server.signal(Signal::TERM);
    server.wait_for_log("no longer accepting");
    // The listener is closed: new clients are refused...
    let refused = TcpStream::connect(server.addr);
    assert!(
        refused.is_err(),
        "a new connection was accepted after SIGTERM"
    );
    // ...while the open connection is still served during the grace.
    round_trip(&mut idle, b"still served\n");

    // Then the grace ends: the connection is cut and the process exits 0.
    assert!(
        closed_by_server(&mut idle),
        "the idle connection was not cut"
    );
    let status = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    server.wait_for_log("grace period over: closing 1 connection(s)");
    assert_eq!(server.rest_of_stdout(), "", "only one line on stdout");
}

#[test]
fn sigterm_mid_conversation_lets_the_client_finish_and_exits_as_soon_as_it_does() {
    // A grace far longer than the guard: exiting at all proves the server
    // did not wait for the grace to end once the client had finished.
    let mut server = start(&["--grace", "600"]);
    let mut client = server.connect();
    round_trip(&mut client, b"first half\n");

    server.signal(Signal::TERM);
    server.wait_for_log("no longer accepting");
    for i in 0..3 {
        round_trip(&mut client, format!("after the signal {i}\n").as_bytes());
    }
    client.shutdown(Shutdown::Write).unwrap();
    assert!(closed_by_server(&mut client));

    let status = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    server.wait_for_log("all connections finished");
}

#[test]
fn a_second_sigint_exits_at_once() {
    let mut server = start(&["--grace", "600"]);
    let mut client = server.connect();
    round_trip(&mut client, b"keeps the server draining\n");

    server.signal(Signal::INT);
    server.wait_for_log("no longer accepting");
    server.signal(Signal::INT);
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(130), "exit status {status}");
    assert!(closed_by_server(&mut client));
}

#[test]
fn a_sigterm_during_the_grace_does_not_force_an_exit() {
    let mut server = start(&["--grace", "600"]);
    let mut client = server.connect();
    round_trip(&mut client, b"hello\n");

    server.signal(Signal::TERM);
    server.wait_for_log("no longer accepting");
    server.signal(Signal::TERM);
    server.wait_for_log("SIGTERM ignored");
    round_trip(&mut client, b"still served\n");
    drop(client);
    assert!(server.wait_exit().success());
}

#[test]
fn two_workers_serve_one_port_and_both_shut_down() {
    let mut server = start(&["--workers", "2"]);
    let mut clients: Vec<TcpStream> = (0..16).map(|_| server.connect()).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        round_trip(client, format!("client {i}\n").as_bytes());
    }
    drop(clients);

    server.signal(Signal::TERM);
    server.wait_for_log_n("no longer accepting", 2);
    let status = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    assert_eq!(server.rest_of_stdout(), "", "only one line on stdout");
}

#[test]
fn a_port_in_use_is_a_one_line_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aio"))
        .args(["echo", "--api", "sockets", "--port", &port])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("aio echo: cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
}

#[test]
fn tls_with_the_sockets_api_is_a_usage_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aio"))
        .args([
            "echo",
            "--api",
            "sockets",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}
