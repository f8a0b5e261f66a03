//! Seed 004's Python echo client, run with python3 against the real
//! `aio echo --api protocol`, prints what the seed shows: its three
//! messages sent, the echo received (whole or in pieces), then EOF.

mod support;

use std::process::Command;

#[test]
fn seed_004_python_client_prints_what_the_seed_shows() {
    let mut server = support::Server::start(&["echo", "--api", "protocol", "--port", "0"]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/seed004_echo_client.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .arg(server.addr.ip().to_string())
        .arg(server.addr.port().to_string())
        .output()
        .expect("python3 runs (it is part of the base machine)");
    assert!(out.status.success(), "client failed: {out:?}");
    let log = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = log.lines().filter(|l| !l.starts_with("asyncio:")).collect();

    let port = server.addr.port();
    let head = [
        "main: waiting for client to complete".to_string(),
        format!("EchoClient: connectiong to 127.0.0.1 port {port}"),
        "EchoClient: sending b'This is the message. '".to_string(),
        "EchoClient: sending b'It will be sent '".to_string(),
        "EchoClient: sending b'in parts.'".to_string(),
    ];
    assert_eq!(lines[..head.len()], head, "{log}");
    let tail = ["EchoClient: received EOF", "main: closing event loop"];
    assert_eq!(lines[lines.len() - 2..], tail, "{log}");

    // The echo may arrive whole or in pieces (the seed shows both); what
    // was received, joined, is exactly what was sent.
    let mut echoed = String::new();
    for line in &lines[head.len()..lines.len() - 2] {
        let piece = line
            .strip_prefix("EchoClient: received b'")
            .and_then(|rest| rest.strip_suffix('\''))
            .unwrap_or_else(|| panic!("unexpected line {line:?} in\n{log}"));
        echoed.push_str(piece);
    }
    assert_eq!(echoed, "This is the message. It will be sent in parts.");

    server.signal(support::Signal::TERM);
    assert!(server.wait_exit().success());
}
