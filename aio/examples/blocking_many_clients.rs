//! Why blocking sockets serve one client at a time.
//!
//! Ports seed 001 (`001_2822c7fae0023b4d.txt`), the listing "allowing several
//! connections": an endless loop that `accept()`s, appends the connection to a
//! `connections` list, then for every connection in the list reads with
//! `recv(2)` until `b'\r\n'` and sends the line back.
//!
//! It looks like it serves many clients, but `accept` and `read` both block
//! the one thread. Each pass of the loop first waits for a *new* client, then
//! waits for a line from *every* client in turn. So:
//!
//! 1. client A connects and sends a line: it is echoed;
//! 2. A's second line gets no answer: the server sits in `accept`;
//! 3. client B connects: the server answers A's waiting line, then waits
//!    for a line from B;
//! 4. once B has been echoed, both wait for a third client to connect, and
//!    whatever they send meanwhile gets no answer.
//!
//! Unlike the Python listing, a client that hangs up or resets is dropped
//! from the list instead of being read (and echoed an empty line) forever or
//! crashing the server.
//!
//! Try it, with two or three client terminals:
//!
//! ```text
//! cargo run -p aio --example blocking_many_clients   # or `-- 8001` for another port
//! telnet 127.0.0.1 8000                              # or nc -C 127.0.0.1 8000; type lines
//! ```

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

fn main() -> io::Result<()> {
    let server_address = SocketAddr::from(([127, 0, 0, 1], port_from_args()));
    let server_socket = TcpListener::bind(server_address)?;
    println!("Listening on {server_address}");

    let mut connections: Vec<(TcpStream, SocketAddr)> = Vec::new();
    loop {
        // Blocks until a *new* client connects, however many lines the
        // clients we already have are waiting to get back.
        let (connection, client_address) = match server_socket.accept() {
            Ok(accepted) => accepted,
            Err(err) => {
                println!("accept failed: {err}");
                continue;
            }
        };
        println!("Got a connection from {client_address}");
        connections.push((connection, client_address));

        // Blocks on each client in turn until it sends a whole line.
        connections.retain_mut(|(connection, address)| match echo_one_line(connection) {
            Ok(true) => true,
            Ok(false) => {
                println!("{address} hung up");
                false
            }
            Err(err) => {
                println!("{address} dropped: {err}");
                false
            }
        });
    }
}

/// Reads up to and including `\r\n`, two bytes at a time, and sends it back.
/// Returns `false` when the client has closed its side.
fn echo_one_line(connection: &mut TcpStream) -> io::Result<bool> {
    let mut buffer = Vec::new();
    while !buffer.ends_with(b"\r\n") {
        let mut data = [0; 2];
        let n = match connection.read(&mut data) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        println!("Got data: {}!", show(&data[..n]));
        buffer.extend_from_slice(&data[..n]);
    }
    println!("All data: {}", show(&buffer));
    connection.write_all(&buffer)?;
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
