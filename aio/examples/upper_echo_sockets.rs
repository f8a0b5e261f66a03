//! The upper-casing server on the loop's `sock_*` coroutines, with
//! async/await.
//!
//! Ports seed 003 (`003_1766f168d0ae7f13.txt`), the listings "moving to
//! asyncio" and "moving to async-await": the `main` and `handle_connection`
//! that ran on the hand-made `SelectorLoop` (see `handmade_selector_loop`),
//! now on the real loop. `main` accepts with `await loop.sock_accept` and
//! starts a task per client; `handle_connection` prints `Connected by`,
//! reads with `await loop.sock_recv(sock, 1024)`, upper-cases, sends with
//! `await loop.sock_sendall`, reports a `ConnectionError` on either side as
//! "Client suddenly closed", and prints `Disconnected by` at the end.
//!
//! The seed's last step is that the user code did not change when the
//! hand-made engine was swapped for asyncio; the same holds here: compare
//! `handle_connection` with the one in `handmade_selector_loop.rs`.
//!
//! Try it (the seed listened on port 50007; the examples use 8000):
//!
//! ```text
//! cargo run -p aio --example upper_echo_sockets   # or `-- 8001` for another port
//! nc 127.0.0.1 8000                               # type lines; they come back in capitals
//! ```

use std::io;
use std::net::SocketAddr;

use aio::net::{TcpListener, TcpStream};

/// The seed's `ConnectionError`: the errors that mean the peer went away.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

async fn handle_connection(sock: TcpStream, addr: SocketAddr) {
    println!("Connected by {addr}");
    let mut buf = [0; 1024];
    loop {
        // Receive
        let n = match sock.read(&mut buf).await {
            Ok(n) => n,
            Err(err) if is_connection_error(&err) => {
                println!("Client suddenly closed while receiving from {addr}");
                break;
            }
            Err(err) => {
                println!("Receiving from {addr} failed: {err}");
                break;
            }
        };
        let data = &mut buf[..n];
        println!("Received b'{}' from: {addr}", data.escape_ascii());
        if data.is_empty() {
            break; // EOF - closed by client
        }
        data.make_ascii_uppercase();
        println!("Send: b'{}' to: {addr}", data.escape_ascii());
        // Unlike the seed's hand-made loop ("Hope it won't block"), this
        // waits for room in the send buffer instead of hoping.
        if let Err(err) = sock.write_all(data).await {
            if is_connection_error(&err) {
                println!("Client suddenly closed, cannot send");
            } else {
                println!("Sending to {addr} failed: {err}");
            }
            break;
        }
    }
    drop(sock); // sock.close()
    println!("Disconnected by {addr}");
}

#[aio::main]
async fn main() -> io::Result<()> {
    let address = SocketAddr::from(([127, 0, 0, 1], port_from_args()));
    let serv_sock = TcpListener::bind(address)?;
    println!("Server started on {address}");
    loop {
        let (sock, addr) = serv_sock.accept().await?;
        aio::spawn(handle_connection(sock, addr));
    }
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
