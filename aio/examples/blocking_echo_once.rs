//! Reading in pieces: collect one line two bytes at a time, echo it, exit.
//!
//! Ports seed 001 (`001_2822c7fae0023b4d.txt`), the listing "reading data
//! from a socket": after one `accept()` it loops `data = connection.recv(2)`,
//! appending to `buffer` until the buffer ends with `b'\r\n'` (or `recv`
//! returns `b''`), prints every piece and the buffer so far, then
//! `connection.sendall(buffer)` and closes the server socket.
//!
//! A stream socket has no messages, only bytes: `recv` returns whatever has
//! arrived, up to the size asked for, so a reader keeps a buffer until it
//! sees its terminator. Every `read` blocks the thread, and only one client
//! is ever served.
//!
//! Try it:
//!
//! ```text
//! cargo run -p aio --example blocking_echo_once   # or `-- 8001` for another port
//! telnet 127.0.0.1 8000                           # second terminal, type `hello` + Enter
//! ```
//!
//! telnet ends a line with `\r\n`. With `nc` use `nc -C 127.0.0.1 8000` so
//! Enter sends `\r\n` too; plain `nc` sends `\n` only and the server keeps
//! waiting until you end input with Ctrl-D.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};

fn main() -> io::Result<()> {
    let server_address = SocketAddr::from(([127, 0, 0, 1], port_from_args()));
    let server_socket = TcpListener::bind(server_address)?;
    println!("Listening on {server_address}");

    let (mut connection, client_address) = server_socket.accept()?;
    println!("Got a connection from {client_address}!");

    let mut buffer = Vec::new();
    while !buffer.ends_with(b"\r\n") {
        let mut data = [0; 2]; // read two bytes at a time, to show the pieces
        let n = match connection.read(&mut data) {
            Ok(0) => break, // the client closed its side: no more bytes
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                println!("Reading from {client_address} failed: {err}");
                return Ok(());
            }
        };
        println!("Got data: {}", show(&data[..n]));
        buffer.extend_from_slice(&data[..n]);
        println!("All data: {}", show(&buffer));
    }

    // Python's `sendall`: `write_all` loops until every byte is written.
    if let Err(err) = connection.write_all(&buffer) {
        println!("Sending to {client_address} failed: {err}");
    }
    // Dropping `connection` and `server_socket` closes both sockets, like
    // the listing's `finally: server_socket.close()`.
    Ok(())
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
