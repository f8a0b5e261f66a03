//! Running `aio sql` in line mode (piped stdin) for the SQL tests, whatever
//! the backend: one run with all its input at once ([`run`]), or a
//! [`Session`] that sends queries and reads answers as they come.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;

pub use super::wait_with_guard;
use super::GUARD;

/// Starts `aio sql ARGS` with piped stdin, stdout and stderr.
pub fn start(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_aio"))
        .arg("sql")
        .args(args)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start aio sql")
}

/// Runs `aio sql ARGS` with `queries` on stdin (then EOF); returns its
/// stdout lines, stderr and exit status.
pub fn run(args: &[&str], queries: &str) -> (Vec<String>, String, ExitStatus) {
    super::feed_and_wait(start(args), queries.as_bytes())
}

/// Runs `queries` with `args`, checks it exits 0, and returns the
/// answers sorted (they come in the order the queries finish).
pub fn sorted_answers(args: &[&str], queries: &str) -> Vec<String> {
    let (mut lines, stderr, status) = run(args, queries);
    assert!(status.success(), "{status}: {stderr}");
    lines.sort();
    lines
}

/// The line of `lines` that starts with `prefix`; fails the test if none.
pub fn find<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in {lines:?}"))
}

/// Sends queries to a running `aio sql` and reads its answers as they come.
pub struct Session {
    /// The app; taken when it is waited for.
    child: Option<Child>,
    /// Its stdin; dropped for EOF.
    stdin: Option<ChildStdin>,
    /// Its stdout, line by line.
    pub answers: mpsc::Receiver<String>,
}

impl Session {
    pub fn start(args: &[&str]) -> Session {
        let mut child = start(args);
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let (tx, answers) = mpsc::channel();
        thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Session {
            child: Some(child),
            stdin: Some(stdin),
            answers,
        }
    }

    pub fn send(&mut self, query: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{query}").expect("send a query");
    }

    /// The next answer; fails the test if none comes within the guard.
    pub fn answer(&self) -> String {
        self.answers.recv_timeout(GUARD).expect("an answer")
    }

    /// Closes stdin and waits for the app to exit.
    pub fn finish(&mut self) -> ExitStatus {
        self.stdin = None;
        let child = self.child.take().expect("not waited for yet");
        wait_with_guard(child).status
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
