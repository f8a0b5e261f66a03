//! Running the real `aio` binary as a client (`get`, `connect`) against
//! servers written in the test, for the client app tests.
//!
//! Everything waits on events (the process exiting, a line on its stdout,
//! a request arriving); [`GUARD`] is a failure guard only, never reached
//! when the code under test is right.

#![allow(dead_code)] // each test file uses part of it

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single wait may take before the test fails.
pub const GUARD: Duration = Duration::from_secs(30);

/// The `aio` binary, with a clean environment for logging (no `RUST_LOG`
/// from the caller, so stderr holds only what the app prints by default).
pub fn aio(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_aio"));
    command
        .args(args)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    command
}

/// A finished `aio` run.
#[derive(Debug)]
pub struct Finished {
    /// The exit status.
    pub status: ExitStatus,
    /// Everything printed on stdout.
    pub stdout: Vec<u8>,
    /// Everything printed on stderr.
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

impl Finished {
    /// The exit code (panics if killed by a signal).
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("aio was killed: {self:?}"))
    }

    /// Stdout as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Asserts stderr is exactly one line, starting with `prefix` and
    /// containing `needle` (case-insensitive); returns it.
    pub fn one_error_line(&self, prefix: &str, needle: &str) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "stderr is not one line: {:?}", self.stderr);
        let line = lines[0];
        assert!(line.starts_with(prefix), "{line:?} lacks {prefix:?}");
        assert!(
            line.to_lowercase().contains(&needle.to_lowercase()),
            "{line:?} lacks {needle:?}"
        );
        line.to_owned()
    }
}

/// Runs `aio ARGS...` with stdin closed (`/dev/null`) until it exits.
pub fn run(args: &[&str]) -> Finished {
    let start = Instant::now();
    let child = aio(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the aio binary");
    let (status, stdout, stderr) = collect(child);
    Finished {
        status,
        stdout,
        stderr,
        elapsed: start.elapsed(),
    }
}

/// Waits for `child` to exit (killing it after [`GUARD`]) and gathers its
/// stdout and stderr.
fn collect(mut child: Child) -> (ExitStatus, Vec<u8>, String) {
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = thread::spawn(move || {
        let mut buf = String::new();
        let _ = stderr.read_to_string(&mut buf);
        buf
    });
    let status = wait_with_guard(&mut child);
    (status, out.join().unwrap(), err.join().unwrap())
}

/// Waits for `child` to exit; kills it and fails after [`GUARD`].
pub fn wait_with_guard(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + GUARD;
    loop {
        if let Some(status) = child.try_wait().expect("wait for aio") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("aio did not exit within {GUARD:?}");
        }
        // Polling the exit status; std offers nothing to block on with a
        // time limit.
        thread::sleep(Duration::from_millis(5));
    }
}

/// An `aio` process driven through its stdin, read line by line from its
/// stdout.
pub struct Interactive {
    child: Child,
    /// `None` once closed.
    stdin: Option<ChildStdin>,
    /// Stdout's lines (with their `\n`), then `None` at EOF.
    lines: mpsc::Receiver<Option<String>>,
    /// Stderr, whole, once it closes.
    stderr: Option<thread::JoinHandle<String>>,
}

impl Interactive {
    /// Starts `aio ARGS...` with piped stdin, stdout and stderr.
    pub fn start(args: &[&str]) -> Interactive {
        let mut child = aio(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the aio binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(None);
                        return;
                    }
                    Ok(_) => {
                        let _ = tx.send(Some(String::from_utf8_lossy(&line).into_owned()));
                    }
                }
            }
        });
        let mut stderr = child.stderr.take().expect("piped stderr");
        let stderr = thread::spawn(move || {
            let mut buf = String::new();
            let _ = stderr.read_to_string(&mut buf);
            buf
        });
        Interactive {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr: Some(stderr),
        }
    }

    /// Writes `text` to aio's stdin.
    pub fn send(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin
            .write_all(text.as_bytes())
            .expect("write to aio's stdin");
        stdin.flush().unwrap();
    }

    /// Closes aio's stdin (EOF).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next line aio prints (`None` at EOF); fails after [`GUARD`].
    pub fn next_line(&mut self) -> Option<String> {
        match self.lines.recv_timeout(GUARD) {
            Ok(line) => line,
            Err(_) => panic!("aio printed no line within {GUARD:?}"),
        }
    }

    /// Asserts the next line is `expected` (given without its `\n`).
    pub fn expect_line(&mut self, expected: &str) {
        assert_eq!(self.next_line().as_deref(), Some(&*format!("{expected}\n")));
    }

    /// Waits for the exit; returns the status and stderr.
    pub fn wait(mut self) -> (ExitStatus, String) {
        let status = wait_with_guard(&mut self.child);
        let stderr = self.stderr.take().unwrap().join().unwrap();
        (status, stderr)
    }
}

impl Drop for Interactive {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A port nothing listens on: bound by us, then released.
pub fn refused_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A TCP server in threads: each accepted connection is handed to
/// `serve`, which may do anything with it; then the connection is closed
/// cleanly (write side first, then read to EOF, so the peer sees FIN, not
/// a reset).
pub struct TestServer {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// The head of each HTTP request received, in order (HTTP servers
    /// only).
    requests: Arc<Mutex<Vec<String>>>,
}

impl TestServer {
    /// Serves every connection with `serve(stream)`.
    pub fn start(serve: impl Fn(&mut TcpStream) + Send + Sync + 'static) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test server");
        let port = listener.local_addr().unwrap().port();
        let serve = Arc::new(serve);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let serve = serve.clone();
                thread::spawn(move || {
                    stream.set_read_timeout(Some(GUARD)).unwrap();
                    stream.set_write_timeout(Some(GUARD)).unwrap();
                    serve(&mut stream);
                    let _ = stream.shutdown(Shutdown::Write);
                    let _ = stream.read_to_end(&mut Vec::new());
                });
            }
        });
        TestServer {
            port,
            requests: Arc::default(),
        }
    }

    /// An HTTP server: reads each request's head, records it, and lets
    /// `respond(request_head, stream)` write the response.
    pub fn http(respond: impl Fn(&str, &mut TcpStream) + Send + Sync + 'static) -> TestServer {
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = requests.clone();
        let mut server = TestServer::start(move |stream| {
            let Some(head) = read_request_head(stream) else {
                return;
            };
            log.lock().unwrap().push(head.clone());
            respond(&head, stream);
        });
        server.requests = requests;
        server
    }

    /// An HTTP server answering every request with `response`, whole.
    pub fn canned(response: &[u8]) -> TestServer {
        let response = response.to_vec();
        TestServer::http(move |_, stream| {
            let _ = stream.write_all(&response);
        })
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The request heads received so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// The request targets (paths) received so far.
    pub fn paths(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| r.split(' ').nth(1).unwrap_or_default().to_owned())
            .collect()
    }
}

/// Reads an HTTP request head (up to the blank line); `None` if the
/// client hung up first.
fn read_request_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}
