//! `aio delay`, run as the real binary: in line mode with piped stdin, and
//! on the cbreak screen with a real pseudo-terminal.
//!
//! Every wait is for an event (an output line, the process exiting); the
//! time limits only keep a broken build from hanging the suite.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustix::termios::{self, LocalModes};

/// How long any single wait may take before the test fails.
const GUARD: Duration = Duration::from_secs(30);

/// Runs `aio delay` with `input` on stdin (then EOF); returns its stdout
/// lines, stderr and exit status.
fn delay_lines(input: &[u8]) -> (Vec<String>, String, ExitStatus) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aio"))
        .arg("delay")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start aio delay");
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

/// Waits for `child` to exit and collects its output; kills it if the
/// guard runs out.
fn wait_with_guard(child: Child) -> std::process::Output {
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_aio"))
        .arg("delay")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start aio delay");
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

/// `aio delay` on the slave side of a pty, and what it drew so far.
struct Pty {
    /// The app; taken when it is waited for.
    child: Option<Child>,
    /// The terminal side we type into.
    master: File,
    /// Kept open to read the terminal's settings after the child exits.
    slave: OwnedFd,
    /// Everything the child wrote to the terminal.
    screen: Arc<(Mutex<Vec<u8>>, Condvar)>,
}

impl Pty {
    /// Starts `aio delay` with a fresh pty as its controlling terminal
    /// (so Ctrl-C typed into it is a real `SIGINT`), stdin, stdout and
    /// stderr.
    fn start() -> Pty {
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .expect("open a pty");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let flags =
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC;
        let slave = rustix::fs::open(name.as_c_str(), flags, rustix::fs::Mode::empty())
            .expect("open the pty's slave");
        let size = termios::Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        termios::tcsetwinsize(&slave, size).expect("set the window size");
        let settings = termios::tcgetattr(&slave).expect("tcgetattr");
        assert!(settings
            .local_modes
            .contains(LocalModes::ICANON | LocalModes::ECHO));

        let mut command = Command::new(env!("CARGO_BIN_EXE_aio"));
        command
            .arg("delay")
            .env_remove("RUST_LOG")
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave.try_clone().unwrap());
        // SAFETY: between fork and exec the closure only makes two system
        // calls (no allocation, no lock), which is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                rustix::process::setsid()?;
                rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())?;
                Ok(())
            });
        }
        let child = command.spawn().expect("start aio delay on the pty");

        let master = File::from(master);
        let screen = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let (mut reader, sink) = (master.try_clone().unwrap(), screen.clone());
        thread::spawn(move || {
            let mut buf = [0; 4096];
            // Ends with EIO once every slave descriptor is closed.
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                sink.0.lock().unwrap().extend_from_slice(&buf[..n]);
                sink.1.notify_all();
            }
        });
        Pty {
            child: Some(child),
            master,
            slave,
            screen,
        }
    }

    /// Types `keys`.
    fn type_keys(&mut self, keys: &[u8]) {
        self.master.write_all(keys).expect("type into the pty");
    }

    /// Waits until the screen output contains `needle`.
    fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + GUARD;
        let (output, grew) = &*self.screen;
        let mut output = output.lock().unwrap();
        while !String::from_utf8_lossy(&output).contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {needle:?} on screen: {:?}",
                String::from_utf8_lossy(&output)
            );
            output = grew.wait_timeout(output, left).unwrap().0;
        }
    }

    /// Waits for the child to exit.
    fn wait_exit(&mut self) -> ExitStatus {
        let child = self.child.take().expect("not waited for yet");
        wait_with_guard(child).status
    }

    /// Whether the terminal is back in canonical mode with echo.
    fn restored(&self) -> bool {
        let settings = termios::tcgetattr(&self.slave).expect("tcgetattr");
        settings
            .local_modes
            .contains(LocalModes::ICANON | LocalModes::ECHO | LocalModes::ISIG)
    }
}

impl Drop for Pty {
    /// A failed test must not leave the app running.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn the_screen_runs_delays_edits_lines_and_leaves_on_ctrl_d() {
    let mut pty = Pty::start();
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
    let mut pty = Pty::start();
    pty.wait_for("> ");
    pty.type_keys(b"3600\r");
    pty.wait_for("Starting delay 3600");
    pty.type_keys(b"\x03"); // the pty's line discipline turns it into SIGINT
    let status = pty.wait_exit();
    assert!(status.success(), "{status}");
    assert!(pty.restored(), "the terminal was left in cbreak mode");
}
