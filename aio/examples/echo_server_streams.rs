//! A line echo server on streams: every line comes back as `Эхо: LINE`
//! ("Echo: LINE"), until the client hangs up.
//!
//! Ports seed 002 (`002_69288d310ad07c21.txt`), the server of "a simple
//! echo server and client": `handle_echo` loops on `await
//! reader.readline()`, stops at `b''` (EOF), prints the stripped line,
//! writes `f'Эхо: {message}\n'` and `drain`s; then `close` +
//! `wait_closed`. Its client is `echo_client_streams`.
//!
//! | asyncio                                  | aio                                  |
//! |------------------------------------------|--------------------------------------|
//! | `await reader.readline()`, `b''` at EOF  | [`StreamReader::readline`], empty at EOF |
//! | `data.decode().strip()`                  | [`String::from_utf8_lossy`] + [`str::trim`] |
//! | `asyncio.start_server(handle_echo, ...)` | [`aio::start_server`]                |
//!
//! Two things the seed leaves to luck are handled: a line longer than the
//! reader's limit (64 KiB) makes `readline` fail with `LimitOverrun`
//! (asyncio's `LimitOverrunError`; the seed would crash the handler task),
//! and a client that vanishes mid-write makes `drain` fail; either way
//! this connection ends with a message and the server carries on.
//!
//! Try it:
//!
//! ```text
//! cargo run -p aio --example echo_server_streams   # or `-- 8001` for another port
//! nc 127.0.0.1 8000                                # type lines
//! cargo run -p aio --example echo_client_streams   # or the seed's client
//! ```
//!
//! [`StreamReader::readline`]: aio::streams::StreamReader::readline

use std::io;

use aio::streams::{StreamReader, StreamWriter};

/// Echoes each line with the `Эхо: ` prefix until EOF.
async fn handle_echo(mut reader: StreamReader, writer: StreamWriter) {
    let addr = writer
        .peer_addr()
        .map_or_else(|| "?".to_owned(), |addr| addr.to_string());
    println!("{addr} connected");
    loop {
        let data = match reader.readline().await {
            Ok(data) => data,
            Err(err) => {
                println!("{addr}: {err}; closing");
                break;
            }
        };
        if data.is_empty() {
            break; // EOF: the client closed its side
        }

        let message = String::from_utf8_lossy(&data);
        let message = message.trim();
        println!("Received: {message}");

        writer.write(format!("Эхо: {message}\n").as_bytes());
        if let Err(err) = writer.drain().await {
            println!("{addr}: {err}");
            break;
        }
    }
    writer.close();
    writer.wait_closed().await;
    println!("{addr} disconnected");
}

#[aio::main]
async fn main() -> io::Result<()> {
    let port = port_from_args();
    let server = aio::start_server(handle_echo, "127.0.0.1", port).await?;
    println!("Echo server started on {}", server.local_addrs()[0]);
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
