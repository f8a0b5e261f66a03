//! The first try at non-blocking sockets, which crashes with `WouldBlock`.
//!
//! Ports seed 001 (`001_2822c7fae0023b4d.txt`), the listing "first attempt at
//! a non-blocking server": the many-clients loop of `blocking_many_clients`
//! with `server_socket.setblocking(False)` and `connection.setblocking(False)`
//! added, and nothing else changed.
//!
//! A non-blocking call never waits: when it cannot complete now it fails with
//! `EAGAIN`/`EWOULDBLOCK` ("Resource temporarily unavailable"), which Rust
//! reports as [`io::ErrorKind::WouldBlock`] and Python raises as
//! `BlockingIOError`. The first `accept()` runs before any client could have
//! connected, so the program dies at once, as the seed's traceback shows.
//! The crash is the point: this example exits with status 1.
//!
//! Try it:
//!
//! ```text
//! cargo run -p aio --example nonblocking_naive   # or `-- 8001` for another port
//! ```
//!
//! It prints, and exits non-zero:
//!
//! ```text
//! Listening on 127.0.0.1:8000
//! error: accept() failed: Resource temporarily unavailable (os error 11)
//!   io::ErrorKind::WouldBlock: Python raises this as BlockingIOError
//! ```

use std::convert::Infallible;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;

/// A call that failed, and how: what Python would show as a traceback.
struct Crash {
    /// The socket call that failed, e.g. `accept()`.
    call: &'static str,
    /// The error it failed with.
    error: io::Error,
}

fn main() -> ExitCode {
    let Err(Crash { call, error }) = serve();
    eprintln!("error: {call} failed: {error}");
    if error.kind() == io::ErrorKind::WouldBlock {
        eprintln!("  io::ErrorKind::WouldBlock: Python raises this as BlockingIOError");
    }
    ExitCode::FAILURE
}

/// The listing, line for line. Every error ends it, as an uncaught
/// exception ends the Python program.
fn serve() -> Result<Infallible, Crash> {
    let server_address = SocketAddr::from(([127, 0, 0, 1], port_from_args()));
    let server_socket = TcpListener::bind(server_address).map_err(crash("bind()"))?;
    // Mark the server socket non-blocking.
    let non_blocking = "setblocking(False)";
    server_socket
        .set_nonblocking(true)
        .map_err(crash(non_blocking))?;
    println!("Listening on {server_address}");

    let mut connections: Vec<TcpStream> = Vec::new();
    loop {
        // No client has connected yet, so this fails with WouldBlock.
        let (connection, client_address) = server_socket.accept().map_err(crash("accept()"))?;
        connection
            .set_nonblocking(true)
            .map_err(crash(non_blocking))?;
        println!("Got a connection from {client_address}!");
        connections.push(connection);

        for connection in &mut connections {
            let mut buffer = Vec::new();
            while !buffer.ends_with(b"\r\n") {
                let mut data = [0; 2];
                // Had a client got in, this would fail the same way: its
                // bytes have not arrived yet.
                let n = connection.read(&mut data).map_err(crash("recv(2)"))?;
                if n == 0 {
                    break;
                }
                println!("Got data: b'{}'!", data[..n].escape_ascii());
                buffer.extend_from_slice(&data[..n]);
            }
            println!("All data: b'{}'", buffer.escape_ascii());
            connection.write_all(&buffer).map_err(crash("send()"))?;
        }
    }
}

/// Labels an error with the call that failed.
fn crash(call: &'static str) -> impl FnOnce(io::Error) -> Crash {
    move |error| Crash { call, error }
}

/// The port to listen on: the first argument, or 8000.
fn port_from_args() -> u16 {
    let Some(arg) = std::env::args().nth(1) else {
        return 8000;
    };
    arg.parse().unwrap_or_else(|err| {
        eprintln!("{arg:?} is not a port number ({err}); try 8001");
        std::process::exit(2)
    })
}
