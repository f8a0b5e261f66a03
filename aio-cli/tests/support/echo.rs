//! What every `aio echo --api X` must do, whichever layer serves it:
//! each check takes the API's name, and [`echo_suite!`] turns them all
//! into tests in the API's own test file.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

use super::{closed_by_server, pattern, round_trip, send_all_then_read_to_eof, Server, Signal};

/// Expands to a module of tests, one per shared check, for `--api $api`.
#[allow(unused_macros)] // only the echo test files use it
macro_rules! echo_suite {
    ($api:literal) => {
        $crate::support::echo::echo_suite!(@tests $api:
            several_concurrent_clients_each_get_their_own_bytes_back,
            a_half_closed_client_gets_every_byte_back_then_eof,
            a_reset_client_does_not_disturb_another,
            a_client_that_never_reads_cannot_grow_the_servers_memory,
            sigterm_with_an_idle_connection_exits_0_and_closes_it_when_grace_ends,
            sigterm_mid_conversation_lets_the_client_finish_and_exits_as_soon_as_it_does,
            a_second_sigint_exits_at_once,
            a_sigterm_during_the_grace_does_not_force_an_exit,
            two_workers_serve_one_port_and_both_shut_down,
            a_port_in_use_is_a_one_line_error
        );
    };
    (@tests $api:literal: $($check:ident),*) => {
        mod shared {
            $(
                #[test]
                fn $check() {
                    $crate::support::echo::$check($api);
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use echo_suite;

/// Starts `aio echo --api API --port 0 EXTRA...`.
pub fn start(api: &str, extra: &[&str]) -> Server {
    let mut args = vec!["echo", "--api", api, "--port", "0"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

pub fn several_concurrent_clients_each_get_their_own_bytes_back(api: &str) {
    let server = start(api, &[]);
    // All connections open at once and their messages interleaved: a
    // server that served one client at a time would stall on the second.
    let mut clients: Vec<TcpStream> = (0..10).map(|_| server.connect()).collect();
    for round in 0..5 {
        for (i, client) in clients.iter_mut().enumerate() {
            round_trip(client, format!("client {i} round {round}\r\n").as_bytes());
        }
    }
    // Then bulk traffic on all of them together, large enough to need
    // partial writes, flow control and readiness waits on both sides.
    // (`pattern` has a newline every 256 bytes, so it is lines too.)
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

pub fn a_half_closed_client_gets_every_byte_back_then_eof(api: &str) {
    let server = start(api, &[]);
    let data = pattern(1024 * 1024, 7);
    let back = send_all_then_read_to_eof(server.connect(), data.clone());
    assert_eq!(back.len(), data.len());
    assert!(back == data, "the echo differs from what was sent");
}

pub fn a_reset_client_does_not_disturb_another(api: &str) {
    let server = start(api, &[]);
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

/// A client pushes up to 64 MiB and reads nothing: the server must stop
/// taking its data (so the push stalls) rather than buffer the echo.
/// Linux only: it reads the server's memory from /proc.
pub fn a_client_that_never_reads_cannot_grow_the_servers_memory(api: &str) {
    if cfg!(not(target_os = "linux")) {
        return;
    }
    let server = start(api, &[]);
    // Warm up: the loop's read buffer and a connection's buffers are
    // allocated (and touched) before the baseline.
    let warm_up = pattern(1024 * 1024, 1);
    assert!(send_all_then_read_to_eof(server.connect(), warm_up.clone()) == warm_up);
    let mut other = server.connect();
    round_trip(&mut other, b"hello\n");
    let before = super::rss_kib(&server);

    let hog = server.connect();
    let pushed = super::push_until_stalled(
        &hog,
        &pattern(64 * 1024, 9),
        64 * 1024 * 1024,
        Duration::from_secs(1),
    );
    let growth_kib = super::rss_kib(&server).saturating_sub(before);
    assert!(
        growth_kib < 16 * 1024,
        "the server grew by {growth_kib} KiB while a client pushed {pushed} bytes and read none"
    );

    // The other client is still served while the hog stays stuck.
    round_trip(&mut other, b"still served\n");
    drop(hog);
    round_trip(&mut other, b"and after\n");
}

/// A server with `--grace GRACE` and one client it has answered, once
/// `signal` has made it stop accepting.
fn draining(api: &str, grace: &str, signal: Signal) -> (Server, TcpStream) {
    let server = start(api, &["--grace", grace]);
    let mut client = server.connect();
    round_trip(&mut client, b"before the signal\n");
    server.signal(signal);
    server.wait_for_log("no longer accepting; 1 open connection(s)");
    (server, client)
}

pub fn sigterm_with_an_idle_connection_exits_0_and_closes_it_when_grace_ends(api: &str) {
    let (mut server, mut idle) = draining(api, "1", Signal::TERM);
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

pub fn sigterm_mid_conversation_lets_the_client_finish_and_exits_as_soon_as_it_does(api: &str) {
    // A grace far longer than the guard: exiting at all proves the server
    // did not wait for the grace to end once the client had finished.
    let (mut server, mut client) = draining(api, "600", Signal::TERM);
    for i in 0..3 {
        round_trip(&mut client, format!("after the signal {i}\n").as_bytes());
    }
    client.shutdown(Shutdown::Write).unwrap();
    assert!(closed_by_server(&mut client));

    let status = server.wait_exit();
    assert!(status.success(), "exit status {status}");
    server.wait_for_log("all connections finished");
}

pub fn a_second_sigint_exits_at_once(api: &str) {
    let (mut server, mut client) = draining(api, "600", Signal::INT);
    server.signal(Signal::INT);
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(130), "exit status {status}");
    assert!(closed_by_server(&mut client));
}

pub fn a_sigterm_during_the_grace_does_not_force_an_exit(api: &str) {
    let (mut server, mut client) = draining(api, "600", Signal::TERM);
    server.signal(Signal::TERM);
    server.wait_for_log("SIGTERM ignored");
    round_trip(&mut client, b"still served\n");
    drop(client);
    assert!(server.wait_exit().success());
}

pub fn two_workers_serve_one_port_and_both_shut_down(api: &str) {
    let mut server = start(api, &["--workers", "2"]);
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

pub fn a_port_in_use_is_a_one_line_error(api: &str) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aio"))
        .args(["echo", "--api", api, "--port", &port])
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

/// `aio echo --api API` with TLS options naming files that do not exist.
pub fn tls_files_missing(api: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_aio"))
        .args(["echo", "--api", api, "--port", "0"])
        .args(["--tls-cert", "c.pem", "--tls-key", "k.pem"])
        .output()
        .unwrap()
}
