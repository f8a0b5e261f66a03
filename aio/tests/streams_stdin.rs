//! Async stdin in a real child process: lines from a pipe, a timed-out
//! read that loses nothing, a regular file as stdin, and the shared
//! descriptor's flags left as they were found.
//!
//! The child is this test binary itself, re-run with `AIO_STDIN_CHILD`
//! set, so it needs no helper program.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use rustix::fs::OFlags;

const CHILD: &str = "AIO_STDIN_CHILD";

/// The child's side: echo stdin's lines with a prefix, after first proving
/// a timed-out `readline` consumes nothing.
fn child_main() {
    let flags_before = rustix::fs::fcntl_getfl(std::io::stdin()).expect("getfl");
    aio::run(async {
        let mut stdin = aio::streams::stdin().expect("stdin");
        let first = aio::timeout(Duration::from_millis(20), stdin.readline()).await;
        // The test harness prints its own text before ours on this line.
        println!("\ntimed out: {}", first.is_err());
        if let Ok(line) = first {
            let line = line.expect("readline");
            println!("got: {}", String::from_utf8_lossy(&line).trim_end());
        }
        loop {
            let line = stdin.readline().await.expect("readline");
            if line.is_empty() {
                break;
            }
            println!("got: {}", String::from_utf8_lossy(&line).trim_end());
        }
    });
    let flags_after = rustix::fs::fcntl_getfl(std::io::stdin()).expect("getfl");
    println!(
        "flags kept: {}",
        flags_before == flags_after && !flags_after.contains(OFlags::NONBLOCK)
    );
}

fn child() -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current exe"));
    cmd.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdout(Stdio::piped());
    cmd
}

/// Not a test of its own: the entry point of the child process.
#[test]
fn child_entry() {
    if std::env::var_os(CHILD).is_some() {
        child_main();
    }
}

#[test]
fn stdin_pipe_lines_and_a_timed_out_read_loses_nothing() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let mut proc = child().stdin(Stdio::piped()).spawn().expect("spawn");
    let mut input = proc.stdin.take().expect("stdin");
    let mut output = BufReader::new(proc.stdout.take().expect("stdout"));
    input.write_all(b"par").expect("write");
    input.flush().expect("flush");
    let mut line = String::new();
    // The child's first readline times out on the partial line.
    loop {
        line.clear();
        assert!(
            output.read_line(&mut line).expect("read") > 0,
            "child ended early"
        );
        if line.starts_with("timed out") {
            break;
        }
    }
    assert_eq!(line.trim(), "timed out: true");
    input.write_all(b"tial\nsecond\n").expect("write");
    drop(input); // EOF
    let rest: Vec<String> = output.lines().map(|l| l.expect("line")).collect();
    let got: Vec<&str> = rest
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("got:") || l.starts_with("flags"))
        .collect();
    assert_eq!(got, ["got: partial", "got: second", "flags kept: true"]);
    assert!(proc.wait().expect("wait").success());
}

#[test]
fn stdin_from_a_regular_file_is_read_to_the_end() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let path = std::env::temp_dir().join(format!("aio-stdin-{}.txt", std::process::id()));
    std::fs::write(&path, b"one\ntwo\nthree").expect("write file");
    let file = std::fs::File::open(&path).expect("open");
    let out = child().stdin(file).output().expect("run");
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout);
    let got: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("got:") || l.starts_with("flags"))
        .collect();
    assert_eq!(
        got,
        ["got: one", "got: two", "got: three", "flags kept: true"]
    );
    assert!(out.status.success());
}
