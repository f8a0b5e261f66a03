//! `aio echo --api protocol`, run as a real process: seed 004's echo
//! protocol on the transport layer's own server (accepting in a readiness
//! callback), behind the shared harness. It must pass every check the
//! echo APIs share; pause_writing → pause_reading is what keeps a client
//! that never reads from growing the server's memory.

mod support;

support::echo::echo_suite!("protocol");

#[test]
fn bulk_data_in_both_directions_survives_flow_control_turns() {
    // Far past the 64 KiB high-water mark, from a client that reads and
    // writes at once: reading pauses and resumes many times.
    let server = support::echo::start("protocol", &[]);
    let data = support::pattern(16 * 1024 * 1024, 3);
    let back = support::send_all_then_read_to_eof(server.connect(), data.clone());
    assert_eq!(back.len(), data.len());
    assert!(back == data, "the echo differs from what was sent");
}

#[test]
fn tls_is_refused_until_it_lands() {
    let out = support::echo::tls_refused("protocol");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "aio echo: TLS is not available yet"
    );
}
