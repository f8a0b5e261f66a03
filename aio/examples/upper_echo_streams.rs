//! The final upper-casing server: `start_server` with streams, and what
//! `async with server` does when it ends — on Ctrl-C.
//!
//! Ports seed 003 (`003_1766f168d0ae7f13.txt`), its "final version":
//! `handle_connection(reader, writer)` prints `Connected by`, reads with
//! `await reader.read(1024)`, reports a `ConnectionError` as "Client
//! suddenly closed", stops at EOF, upper-cases and writes back, and at the
//! end `writer.close()` and prints `Disconnected by`; `main` runs
//! `start_server(handle_connection, host, port)` and `async with server:
//! await server.serve_forever()`. Compare with `upper_echo_sockets`, the
//! same server on the `sock_*` layer: the accept loop is gone into
//! `start_server`, the socket behind a reader and a writer.
//!
//! | asyncio                                    | aio                                   |
//! |--------------------------------------------|---------------------------------------|
//! | `await reader.read(1024)`                  | [`StreamReader::read`]`(1024)`        |
//! | `writer.write(data)`                       | [`StreamWriter::write`], then [`drain`] |
//! | `async with server:` (`__aexit__`: `close()` + `await wait_closed()`) | [`Server::close`] + [`Server::wait_closed`], written out |
//! | `await server.serve_forever()`, ended by `KeyboardInterrupt` | [`Server::serve_forever`], ended by a task awaiting [`aio::signal::ctrl_c`] that calls `close` |
//!
//! Rust has no `async with` (an async `Drop` does not exist), so the exit
//! path is spelled out: Ctrl-C closes the server, which stops accepting
//! and ends `serve_forever`; then `wait_closed` waits — as asyncio's does
//! since 3.12 — until every open connection has ended. Clients already
//! connected keep being served until they hang up, which is the point of
//! a graceful close. Hooking SIGINT means Ctrl-C no longer kills the
//! process, so a second Ctrl-C exits at once.
//!
//! Unlike the seed, each write is followed by `drain`, so a client that
//! sends without reading slows this handler down instead of growing its
//! write buffer without bound.
//!
//! Try it (the seed listened on port 50007; the examples use 8000):
//!
//! ```text
//! cargo run -p aio --example upper_echo_streams   # or `-- 8001` for another port
//! nc 127.0.0.1 8000                               # type lines; they come back in capitals
//! ```
//!
//! then press Ctrl-C in the server's terminal: it stops accepting, waits
//! for the open `nc` to quit (or a second Ctrl-C), and exits.
//!
//! [`StreamReader::read`]: aio::streams::StreamReader::read
//! [`StreamWriter::write`]: aio::streams::StreamWriter::write
//! [`drain`]: aio::streams::StreamWriter::drain
//! [`Server::close`]: aio::transport::Server::close
//! [`Server::wait_closed`]: aio::transport::Server::wait_closed
//! [`Server::serve_forever`]: aio::transport::Server::serve_forever

use std::io;

use aio::streams::{StreamReader, StreamWriter};

/// The seed's `ConnectionError`: the errors that mean the peer went away.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

async fn handle_connection(mut reader: StreamReader, writer: StreamWriter) {
    let addr = writer
        .peer_addr()
        .map_or_else(|| "?".to_owned(), |addr| addr.to_string());
    println!("Connected by {addr}");
    loop {
        // Receive
        let mut data = match reader.read(1024).await {
            Ok(data) => data,
            Err(err) if is_connection_error(&err) => {
                println!("Client suddenly closed while receiving from {addr}");
                break;
            }
            Err(err) => {
                println!("Receiving from {addr} failed: {err}");
                break;
            }
        };
        if data.is_empty() {
            break;
        }
        data.make_ascii_uppercase();
        writer.write(&data);
        if let Err(err) = writer.drain().await {
            if is_connection_error(&err) {
                println!("Client suddenly closed, cannot send");
            } else {
                println!("Sending to {addr} failed: {err}");
            }
            break;
        }
    }
    writer.close();
    println!("Disconnected by {addr}");
}

#[aio::main]
async fn main() -> io::Result<()> {
    let server = aio::start_server(handle_connection, "127.0.0.1", port_from_args()).await?;
    println!(
        "Server started on {}; Ctrl-C stops it",
        server.local_addrs()[0]
    );

    // What KeyboardInterrupt does to `serve_forever` in the seed. The
    // second wait starts in the same step the first one ends, so no press
    // falls between them.
    let closer = server.clone();
    aio::spawn(async move {
        if aio::signal::ctrl_c().await.is_ok() {
            println!("Ctrl-C: no longer accepting");
            closer.close();
            if aio::signal::ctrl_c().await.is_ok() {
                println!("Second Ctrl-C: exiting now");
                std::process::exit(130);
            }
        }
    });

    // async with server:
    server.serve_forever().await;
    // __aexit__: close() + await wait_closed()
    server.close();
    let open = server.connection_count();
    if open > 0 {
        println!("Waiting for {open} open connection(s) to end; Ctrl-C again exits now");
    }
    server.wait_closed().await;
    println!("Server closed");
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
