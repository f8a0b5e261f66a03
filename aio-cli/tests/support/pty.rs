//! The `aio` binary on a real pseudo-terminal, for the tests of the
//! cbreak screen (`aio delay`, `aio sql`): keys typed into the master
//! side, everything drawn collected, and the terminal's settings checked
//! after the app exits.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Instant;

use rustix::termios::{self, LocalModes};

use super::{wait_with_guard, GUARD};

/// The `aio` binary on the slave side of a pty, and what it drew so far.
pub struct Pty {
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
    /// Starts `aio ARGS` with a fresh pty as its controlling terminal
    /// (so Ctrl-C typed into it is a real `SIGINT`), stdin, stdout and
    /// stderr.
    pub fn start(args: &[&str]) -> Pty {
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
            .args(args)
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
        let child = command.spawn().expect("start aio on the pty");

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
    pub fn type_keys(&mut self, keys: &[u8]) {
        self.master.write_all(keys).expect("type into the pty");
    }

    /// Waits until the screen output contains `needle`.
    pub fn wait_for(&self, needle: &str) {
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
    pub fn wait_exit(&mut self) -> ExitStatus {
        let child = self.child.take().expect("not waited for yet");
        wait_with_guard(child).status
    }

    /// Whether the terminal is back in canonical mode with echo.
    pub fn restored(&self) -> bool {
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
