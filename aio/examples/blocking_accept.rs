//! A blocking listening socket: wait for one client, say who it is, exit.
//!
//! Ports seed 001 (`001_2822c7fae0023b4d.txt`), its first listing: a
//! `socket.socket(AF_INET, SOCK_STREAM)` with `SO_REUSEADDR`, `bind` to
//! `('127.0.0.1', 8000)`, `listen()`, then one `server_socket.accept()` and a
//! print of the client's address.
//!
//! `accept` blocks the whole thread until a client connects; nothing else
//! can happen meanwhile. That is the starting point every later example
//! works its way out of. std's [`TcpListener::bind`] does the four Python
//! calls at once: `socket`, `SO_REUSEADDR` (on Unix), `bind` and `listen`.
//!
//! Try it:
//!
//! ```text
//! cargo run -p aio --example blocking_accept   # or `-- 8001` for another port
//! nc 127.0.0.1 8000                            # second terminal; or telnet 127.0.0.1 8000
//! ```
//!
//! The server prints `Got a connection from 127.0.0.1:56526!` and exits,
//! which closes the connection: `nc` returns at once.

use std::io;
use std::net::{SocketAddr, TcpListener};

fn main() -> io::Result<()> {
    let server_address = SocketAddr::from(([127, 0, 0, 1], port_from_args()));
    let server_socket = TcpListener::bind(server_address)?;
    println!("Listening on {server_address}, waiting in accept()...");

    // Blocks until a client connects.
    let (_connection, client_address) = server_socket.accept()?;
    println!("Got a connection from {client_address}!");
    Ok(())
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
