//! A streams server that answers each client once: read one message, print
//! who sent it, send it back with an `Эхо: ` ("Echo: ") prefix, close.
//!
//! Ports seed 002 (`002_69288d310ad07c21.txt`), the `asyncio.start_server()`
//! listing: `handle_client` takes the peer's address with
//! `writer.get_extra_info('peername')`, reads once with `reader.read(100)`,
//! writes `f'Эхо: {message}'`, `drain`s, then `close` + `wait_closed`;
//! `main` starts the server, prints the bound address
//! (`server.sockets[0].getsockname()`) and serves forever.
//!
//! | asyncio                                   | aio                                  |
//! |-------------------------------------------|--------------------------------------|
//! | `await asyncio.start_server(cb, host, port)` | [`aio::start_server`]`(cb, host, port)` |
//! | `server.sockets[0].getsockname()`         | [`Server::local_addrs`]              |
//! | `writer.get_extra_info('peername')`       | [`StreamWriter::peer_addr`]          |
//! | `await reader.read(100)`                  | [`StreamReader::read`]`(100)`        |
//! | `writer.write(b)`; `await writer.drain()` | the same                             |
//! | `writer.close()`; `await writer.wait_closed()` | the same                        |
//! | `async with server: await server.serve_forever()` | [`Server::serve_forever`] (see `upper_echo_streams` for the `async with` part) |
//!
//! `read(100)` returns whatever arrived first, up to 100 bytes: one read is
//! one TCP segment or so, not one "message". A multi-byte UTF-8 character
//! cut at the 100th byte is shown as `�` (Python's `decode()` would raise).
//!
//! Try it:
//!
//! ```text
//! cargo run -p aio --example start_server_once   # or `-- 8001` for another port
//! nc 127.0.0.1 8000                              # type one line: it comes back, then the server hangs up
//! ```
//!
//! [`Server::local_addrs`]: aio::transport::Server::local_addrs
//! [`Server::serve_forever`]: aio::transport::Server::serve_forever
//! [`StreamWriter::peer_addr`]: aio::streams::StreamWriter::peer_addr
//! [`StreamReader::read`]: aio::streams::StreamReader::read

use std::io;

use aio::streams::{StreamReader, StreamWriter};

/// Reads one message, answers it and closes the connection.
async fn handle_client(mut reader: StreamReader, writer: StreamWriter) {
    let addr = peer_name(&writer);
    println!("New connection from {addr}");

    // Read what the client sent
    let data = match reader.read(100).await {
        Ok(data) => data,
        Err(err) => {
            println!("Reading from {addr} failed: {err}");
            return;
        }
    };
    let message = String::from_utf8_lossy(&data);
    println!("Received: {message:?}");

    // Send the answer
    let response = format!("Эхо: {message}");
    writer.write(response.as_bytes());
    if let Err(err) = writer.drain().await {
        println!("Sending to {addr} failed: {err}");
    }

    // Close the connection
    writer.close();
    writer.wait_closed().await;
    println!("Connection with {addr} closed");
}

/// The peer's `IP:PORT`, or `?` once the socket no longer knows it.
fn peer_name(writer: &StreamWriter) -> String {
    writer
        .peer_addr()
        .map_or_else(|| "?".to_owned(), |addr| addr.to_string())
}

#[aio::main]
async fn main() -> io::Result<()> {
    let server = aio::start_server(handle_client, "127.0.0.1", port_from_args()).await?;

    let addr = server.local_addrs()[0];
    println!("Server started on {addr}");

    server.serve_forever().await;
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
