//! `aio echo --api sockets`, run as a real process: the checks every
//! echo API shares (concurrent clients, half-close, a reset peer, a client
//! that never reads, graceful shutdown on SIGTERM/SIGINT, workers), and
//! accepting under descriptor exhaustion, which is the socket layer
//! harness's own.

mod support;

use std::io::Write;
use std::net::Shutdown;
use std::thread;
use std::time::{Duration, Instant};

use support::{closed_by_server, round_trip, Server};

support::echo::echo_suite!("sockets");

fn start(extra: &[&str]) -> Server {
    support::echo::start("sockets", extra)
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
fn tls_with_the_sockets_api_is_a_usage_error() {
    let out = support::echo::tls_files_missing("sockets");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}
