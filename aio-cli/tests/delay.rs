//! `aio delay`, run as the real binary: in line mode with piped stdin, and
//! on the cbreak screen with a real pseudo-terminal.
//!
//! Every wait is for an event (an output line, the process exiting); the
//! time limits only keep a broken build from hanging the suite.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;

use support::pty::Pty;
use support::{feed_and_wait, wait_with_guard, GUARD};

/// Starts `aio delay` in line mode: stdin, stdout and stderr piped.
fn start_delay() -> Child {
    Command::new(env!("CARGO_BIN_EXE_aio"))
        .arg("delay")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start aio delay")
}

/// Runs `aio delay` with `input` on stdin (then EOF); returns its stdout
/// lines, stderr and exit status.
fn delay_lines(input: &[u8]) -> (Vec<String>, String, ExitStatus) {
    feed_and_wait(start_delay(), input)
}

/// Checks that every `Finished delay N` comes after its `Starting delay N`
/// and returns the other lines, in order.
fn without_finished(lines: &[String]) -> Vec<&str> {
    for (i, line) in lines.iter().enumerate() {
        if let Some(n) = line.strip_prefix("Finished delay ") {
            let start = format!("Starting delay {n}");
            assert!(
                lines[..i].contains(&start),
                "{line:?} before its start: {lines:?}"
            );
        }
    }
    lines
        .iter()
        .map(String::as_str)
        .filter(|l| !l.starts_with("Finished delay "))
        .collect()
}

#[test]
fn numbers_start_delays_and_anything_else_is_not_a_number() {
    let (lines, stderr, status) = delay_lines(b"0.05\nabc\n-1\ninf\n1e9\n0\n");
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(
        without_finished(&lines),
        [
            "Starting delay 0.05",
            "Not a number: abc",
            "Not a number: -1",
            "Not a number: inf",
            "Not a number: 1e9",
            "Starting delay 0",
        ]
    );
    let mut finished: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("Finished"))
        .collect();
    finished.sort_unstable();
    assert_eq!(finished, ["Finished delay 0", "Finished delay 0.05"]);
    assert_eq!(stderr, "");
}

#[test]
fn lines_are_trimmed_blank_ones_skipped_and_the_range_checked() {
    let input = b"  0.01 \r\n\n   \nNaN\n86400.5\n-0.5\n1_0\n\xff1\n2e-3";
    let (lines, stderr, status) = delay_lines(input);
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(
        without_finished(&lines),
        [
            "Starting delay 0.01",
            "Not a number: NaN",
            "Not a number: 86400.5",
            "Not a number: -0.5",
            "Not a number: 1_0",
            "Not a number: \u{fffd}1",
            "Starting delay 2e-3", // the last line needs no newline
        ]
    );
    assert_eq!(lines.len(), 9, "{lines:?}");
}

#[test]
fn a_line_over_the_limit_is_reported_and_the_next_one_still_works() {
    let mut input = vec![b'7'; 100_000];
    input.extend_from_slice(b"\n0\n");
    let (lines, stderr, status) = delay_lines(&input);
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(
        lines,
        [
            "Not a number: (a line over 64 KiB)",
            "Starting delay 0",
            "Finished delay 0"
        ]
    );
}

#[test]
fn eof_waits_for_the_delays_still_running() {
    let mut child = start_delay();
    let mut stdin: ChildStdin = child.stdin.take().expect("piped stdin");
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let (tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    stdin.write_all(b"1\n").unwrap();
    assert_eq!(lines.recv_timeout(GUARD).unwrap(), "Starting delay 1");
    drop(stdin); // EOF while the delay sleeps
    assert_eq!(lines.recv_timeout(GUARD).unwrap(), "Finished delay 1");
    let output = wait_with_guard(child);
    assert!(output.status.success(), "{}", output.status);
    assert!(
        lines.recv_timeout(GUARD).is_err(),
        "nothing after the last delay"
    );
}

// ---------------------------------------------------------------------
// The screen, on a real pseudo-terminal.
// ---------------------------------------------------------------------

#[test]
fn the_screen_runs_delays_edits_lines_and_leaves_on_ctrl_d() {
    let mut pty = Pty::start(&["delay"]);
    pty.wait_for("> "); // the input line: cbreak mode is on
    assert!(!pty.restored(), "the screen runs in cbreak mode");
    // Backspace fixes a typo; the line is only submitted by Enter.
    pty.type_keys(b"0.0x\x7f1\r");
    pty.wait_for("Starting delay 0.01");
    pty.wait_for("Finished delay 0.01");
    pty.type_keys(b"soon\r");
    pty.wait_for("Not a number: soon");
    pty.type_keys(b"\x04");
    let status = pty.wait_exit();
    assert!(status.success(), "{status}");
    assert!(pty.restored(), "the terminal was left in cbreak mode");
}

#[test]
fn ctrl_c_on_the_screen_restores_the_terminal_and_exits_0() {
    let mut pty = Pty::start(&["delay"]);
    pty.wait_for("> ");
    pty.type_keys(b"3600\r");
    pty.wait_for("Starting delay 3600");
    pty.type_keys(b"\x03"); // the pty's line discipline turns it into SIGINT
    let status = pty.wait_exit();
    assert!(status.success(), "{status}");
    assert!(pty.restored(), "the terminal was left in cbreak mode");
}
