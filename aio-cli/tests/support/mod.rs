//! Running the real `aio` binary as a child process, for the app tests.
//!
//! Everything here waits on events (a line on stdout, a line in the log,
//! EOF, the process exiting); the time limits are failure guards only,
//! generous enough never to be reached when the code under test is right.

#![allow(dead_code)] // each test file uses part of it

pub mod echo;
pub mod postgres;
pub mod pty;
pub mod sql;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub use rustix::process::Signal;

/// How long any single wait may take before the test fails.
pub const GUARD: Duration = Duration::from_secs(30);

/// Waits for `child` to exit and collects its output; kills it if the
/// guard runs out.
pub fn wait_with_guard(child: Child) -> Output {
    let pid = rustix::process::Pid::from_child(&child);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(GUARD) {
        Ok(output) => output.expect("wait for aio"),
        Err(_) => {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            panic!("aio did not exit within {GUARD:?}");
        }
    }
}

/// Writes `input` to `child`'s piped stdin (then EOF), waits for it to
/// exit, and returns its stdout lines, its stderr and its status.
pub fn feed_and_wait(mut child: Child, input: &[u8]) -> (Vec<String>, String, ExitStatus) {
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    thread::spawn(move || stdin.write_all(&input));
    let output = wait_with_guard(child);
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (
        stdout.lines().map(str::to_owned).collect(),
        stderr,
        output.status,
    )
}

/// A running `aio` server.
pub struct Server {
    child: Child,
    /// The address from its `listening on` line.
    pub addr: SocketAddr,
    /// Everything the server printed to stdout after that line, sent once
    /// stdout closes.
    rest_of_stdout: mpsc::Receiver<String>,
    /// The server's stderr, line by line.
    log: Arc<Log>,
}

#[derive(Default)]
struct Log {
    lines: Mutex<Vec<String>>,
    grew: Condvar,
}

impl Server {
    /// Starts `aio ARGS...` with debug logging and waits for its
    /// `listening on` line.
    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_aio"))
            .args(args)
            .env("RUST_LOG", "debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the aio binary");

        let log = Arc::new(Log::default());
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lines.lock().unwrap().push(line);
                sink.grew.notify_all();
            }
        });

        let stdout = child.stdout.take().expect("piped stdout");
        let (first_tx, first_rx) = mpsc::channel();
        let (rest_tx, rest_rx) = mpsc::channel();
        thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut first = String::new();
            let _ = stdout.read_line(&mut first);
            let _ = first_tx.send(first);
            let mut rest = String::new();
            let _ = stdout.read_to_string(&mut rest);
            let _ = rest_tx.send(rest);
        });

        let mut server = Server {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            rest_of_stdout: rest_rx,
            log,
        };
        let first = match first_rx.recv_timeout(GUARD) {
            Ok(line) => line,
            Err(_) => server.fail("no `listening on` line"),
        };
        let Some(addr) = first.trim_end().strip_prefix("listening on ") else {
            server.fail(&format!("the first stdout line was {first:?}"))
        };
        server.addr = addr.parse().expect("an IP:PORT after `listening on`");
        server
    }

    /// A client connection, with read and write time-outs as guards.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect to the server");
        stream.set_read_timeout(Some(GUARD)).unwrap();
        stream.set_write_timeout(Some(GUARD)).unwrap();
        stream
    }

    pub fn pid(&self) -> rustix::process::Pid {
        rustix::process::Pid::from_child(&self.child)
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: Signal) {
        rustix::process::kill_process(self.pid(), signal).expect("signal the server");
    }

    /// Waits until the log has `count` lines containing `needle`; returns
    /// the last of them.
    pub fn wait_for_log_n(&self, needle: &str, count: usize) -> String {
        let deadline = Instant::now() + GUARD;
        let mut lines = self.log.lines.lock().unwrap();
        loop {
            let found: Vec<&String> = lines.iter().filter(|l| l.contains(needle)).collect();
            if found.len() >= count {
                return found[count - 1].clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                drop(lines);
                self.fail(&format!("no {count} log line(s) with {needle:?}"));
            }
            lines = self.log.grew.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// Waits for a log line containing `needle`.
    pub fn wait_for_log(&self, needle: &str) -> String {
        self.wait_for_log_n(needle, 1)
    }

    /// How many log lines so far contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        let lines = self.log.lines.lock().unwrap();
        lines.iter().filter(|l| l.contains(needle)).count()
    }

    /// Waits for the server to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + GUARD;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the server") {
                return status;
            }
            if Instant::now() >= deadline {
                self.fail("the server did not exit");
            }
            // Polling the exit status; nothing else to wait on portably.
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// What the server printed on stdout after `listening on`, once it
    /// has exited.
    pub fn rest_of_stdout(&self) -> String {
        self.rest_of_stdout
            .recv_timeout(GUARD)
            .expect("stdout closes when the server exits")
    }

    /// The log so far, for failure messages.
    pub fn log_text(&self) -> String {
        self.log.lines.lock().unwrap().join("\n")
    }

    /// Fails the test, showing the server's log.
    pub fn fail(&self, what: &str) -> ! {
        panic!("{what}\n--- server log ---\n{}", self.log_text());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends `message` and checks that exactly it comes back.
pub fn round_trip(stream: &mut TcpStream, message: &[u8]) {
    stream.write_all(message).expect("send");
    let mut back = vec![0; message.len()];
    stream.read_exact(&mut back).expect("read the echo");
    assert_eq!(back, message, "the echo differs from what was sent");
}

/// `len` bytes of a pattern that shows misordered or lost data.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Sends `data` from one thread while reading everything back until EOF
/// on this one, after half-closing; returns what came back.
pub fn send_all_then_read_to_eof(stream: TcpStream, data: Vec<u8>) -> Vec<u8> {
    let mut writer = stream.try_clone().expect("clone the stream");
    let sender = thread::spawn(move || {
        writer.write_all(&data).expect("send");
        writer
            .shutdown(std::net::Shutdown::Write)
            .expect("half-close");
    });
    let mut reader = stream;
    let mut back = Vec::new();
    reader.read_to_end(&mut back).expect("read until EOF");
    sender.join().expect("the sender thread");
    back
}

/// True when `stream` has been closed by the server: EOF or a reset.
pub fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0; 64];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
        ),
    }
}

/// The server's resident memory (`VmRSS`), in KiB (Linux only: it
/// reads /proc).
pub fn rss_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid().as_raw_nonzero()))
        .expect("read the server's /proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    line.split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in kB")
}

/// Writes `chunk` over and over to `stream`, never reading, until `max`
/// bytes are sent or the peer stops taking them: a write that makes no
/// progress for `stall` ends the push. Returns the bytes sent.
///
/// A server that bounds its memory stops reading once its buffers are
/// full, so the push stalls after the kernel's buffers fill; a server
/// that does not takes everything. `stall` only decides how long "no
/// progress" must last: a shorter one makes the test weaker, never
/// flaky.
pub fn push_until_stalled(stream: &TcpStream, chunk: &[u8], max: usize, stall: Duration) -> usize {
    stream.set_write_timeout(Some(stall)).unwrap();
    let mut sent = 0;
    let mut writer = stream;
    while sent < max {
        match writer.write(chunk) {
            Ok(n) => sent += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) => panic!("push: {e}"),
        }
    }
    stream.set_write_timeout(Some(GUARD)).unwrap();
    sent
}
