//! Non-blocking sockets polled in a busy loop: it works, and burns a core.
//!
//! Ports seed 001 (`001_2822c7fae0023b4d.txt`), the listing "catching and
//! ignoring blocking-socket errors": the crashing `nonblocking_naive` loop with
//! `try: ... except BlockingIOError: pass` around the `accept()` and around
//! each client's `recv(2)`-until-`\r\n`-then-`send`.
//!
//! Every client is now served as soon as it speaks, but nothing ever tells
//! the program *when* a socket is ready, so it asks all of them again and
//! again, as fast as the CPU allows, even with no client at all. **This is a
//! real busy loop**: while it runs, `top` shows the process at 100% of a
//! core. Every 5 seconds it prints how many passes it made, which is the
//! waste made visible. `selector_echo` fixes this by asking the OS.
//!
//! Two departures from the Python listing, both to keep a server alive and
//! correct: each client keeps its own buffer (the listing starts `buffer =
//! b''` afresh every pass, losing half a line that arrived in pieces), and a
//! client that hangs up or resets is dropped (the listing would send it an
//! empty line on every pass, then crash on the broken pipe).
//!
//! Try it, with a client or two:
//!
//! ```text
//! cargo run -p aio --example nonblocking_busy_loop   # or `-- 8001` for another port
//! telnet 127.0.0.1 8000                              # or nc -C 127.0.0.1 8000; type lines
//! top                                                # see the server use a whole core
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// One connected client.
struct Client {
    /// Its non-blocking socket.
    connection: TcpStream,
    /// Where it connected from, for the log.
    address: SocketAddr,
    /// The part of a line received so far.
    buffer: Vec<u8>,
}

fn main() -> io::Result<()> {
    let server_address = SocketAddr::from(([127, 0, 0, 1], port_from_args()));
    let server_socket = TcpListener::bind(server_address)?;
    server_socket.set_nonblocking(true)?;
    println!("Listening on {server_address}");

    let mut clients: Vec<Client> = Vec::new();
    let mut passes: u64 = 0;
    let mut since = Instant::now();
    loop {
        passes += 1;
        if since.elapsed() >= Duration::from_secs(5) {
            println!("(busy loop: {passes} passes in 5 s, no sleeping in between)");
            passes = 0;
            since = Instant::now();
        }

        match server_socket.accept() {
            Ok((connection, address)) => match connection.set_nonblocking(true) {
                Ok(()) => {
                    println!("Got a connection from {address}!");
                    let buffer = Vec::new();
                    clients.push(Client {
                        connection,
                        address,
                        buffer,
                    });
                }
                Err(err) => println!("Could not set up {address}: {err}"),
            },
            // Nobody is connecting right now: `except BlockingIOError: pass`.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => println!("accept failed: {err}"),
        }

        clients.retain_mut(|client| match serve(client) {
            Ok(true) => true,
            Ok(false) => {
                println!("{} hung up", client.address);
                false
            }
            Err(err) => {
                println!("{} dropped: {err}", client.address);
                false
            }
        });
    }
}

/// Reads what `client` has sent, two bytes at a time, and echoes a line once
/// it ends in `\r\n`. Returns `false` when the client has closed its side.
fn serve(client: &mut Client) -> io::Result<bool> {
    while !client.buffer.ends_with(b"\r\n") {
        let mut data = [0; 2];
        let n = match client.connection.read(&mut data) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            // Nothing (more) has arrived: `except BlockingIOError: pass`,
            // and ask again on the next pass.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        println!("Got data: {}!", show(&data[..n]));
        client.buffer.extend_from_slice(&data[..n]);
    }
    println!("All data: {}", show(&client.buffer));
    // A line fits in the socket's send buffer, so this does not hit
    // WouldBlock in practice; if it did, the client would be dropped.
    client.connection.write_all(&client.buffer)?;
    client.buffer.clear();
    Ok(true)
}

/// Bytes the way Python prints them: `b'hi\r\n'`.
fn show(bytes: &[u8]) -> String {
    format!("b'{}'", bytes.escape_ascii())
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
