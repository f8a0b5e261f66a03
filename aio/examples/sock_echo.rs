//! The loop's socket coroutines: an echo server with a task per client.
//!
//! Ports seed 001 (`001_2822c7fae0023b4d.txt`), the listing "building an
//! asynchronous echo server": `listen_for_connection` loops on
//! `await loop.sock_accept(server_socket)`, prints who connected and
//! `asyncio.create_task(echo(connection, loop))`; `echo` loops
//! `while data := await loop.sock_recv(connection, 1024)` and sends each
//! piece back with `await loop.sock_sendall(connection, data)`.
//!
//! | asyncio                          | aio                                  |
//! |----------------------------------|--------------------------------------|
//! | `socket` + `setblocking(False)` + `bind` + `listen` | [`TcpListener::bind`] |
//! | `await loop.sock_accept(sock)`   | [`TcpListener::accept`]              |
//! | `await loop.sock_recv(conn, n)`  | [`TcpStream::read`]                  |
//! | `await loop.sock_sendall(conn, data)` | [`TcpStream::write_all`]        |
//! | `asyncio.create_task(coro)`      | [`aio::spawn`]                       |
//! | `asyncio.run(main())`            | `#[aio::main]`                       |
//!
//! Under the hood it is still the selector of `selector_echo`, but each
//! client is now straight-line code in its own task, and the CPU stays idle
//! while nobody talks. (`aio echo --api sockets` is this server hardened:
//! accept errors pause instead of ending it, and it shuts down gracefully.)
//!
//! Try it, with several clients at once:
//!
//! ```text
//! cargo run -p aio --example sock_echo   # or `-- 8001` for another port
//! nc 127.0.0.1 8000                      # or telnet 127.0.0.1 8000; type lines
//! ```

use std::io;
use std::net::SocketAddr;

use aio::net::{TcpListener, TcpStream};

/// Reads whatever the client sent and sends it back, until it hangs up.
async fn echo(connection: TcpStream) -> io::Result<()> {
    let mut data = [0; 1024];
    loop {
        let n = connection.read(&mut data).await?;
        if n == 0 {
            return Ok(()); // `sock_recv` returned b'': the client closed
        }
        connection.write_all(&data[..n]).await?;
    }
}

/// Accepts clients for ever, a task per client.
async fn listen_for_connection(server_socket: TcpListener) -> io::Result<()> {
    loop {
        let (connection, address) = server_socket.accept().await?;
        println!("Got a connection from {address}");
        // The task owns the connection; dropping it at the end closes it.
        aio::spawn(async move {
            match echo(connection).await {
                Ok(()) => println!("{address} disconnected"),
                Err(err) => println!("{address} dropped: {err}"),
            }
        });
    }
}

#[aio::main]
async fn main() -> io::Result<()> {
    let server_address = SocketAddr::from(([127, 0, 0, 1], port_from_args()));
    // SO_REUSEADDR, non-blocking, bind and listen, registered with the loop.
    let server_socket = TcpListener::bind(server_address)?;
    println!("Listening on {server_address}");
    listen_for_connection(server_socket).await
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
