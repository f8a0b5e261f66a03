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
fn missing_tls_files_are_a_usage_error_naming_the_file() {
    let out = support::echo::tls_files_missing("protocol");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "aio echo: cannot read certificate file c.pem: No such file or directory (os error 2)"
    );
}
