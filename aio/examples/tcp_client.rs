//! The smallest streams client: `open_connection`, `write`, `drain`, one
//! `read`, `close`.
//!
//! Ports seed 002 (`002_69288d310ad07c21.txt`), the listing of
//! `asyncio.open_connection()`: `tcp_client` connects to
//! `example.com:80`, writes `GET / HTTP/1.1` with a `Host` header, awaits
//! `writer.drain()` ("wait until the data is sent"), reads up to 1024 bytes
//! with `reader.read(1024)`, prints the first 100 of them followed by `...`,
//! then `close` + `wait_closed`. Here the server is a local one unless you
//! name another.
//!
//! | asyncio                                     | aio                                    |
//! |---------------------------------------------|----------------------------------------|
//! | `await asyncio.open_connection(host, port)` | [`aio::open_connection`]`(host, port)` |
//! | `writer.write(request)`                     | [`StreamWriter::write`] (never blocks) |
//! | `await writer.drain()`                      | [`StreamWriter::drain`]                |
//! | `await reader.read(1024)`                   | [`StreamReader::read`]`(1024)`: whatever has arrived, up to 1024 bytes |
//! | `writer.close(); await writer.wait_closed()` | the same                              |
//!
//! `read(1024)` returns as soon as *some* bytes are there — maybe fewer
//! than the whole response, which is the point of the listing: a single
//! read is not a protocol. The bytes are printed like Python's `bytes`
//! repr (`b'HTTP/1.0 200 OK\r\n...'`).
//!
//! Try it against any HTTP server:
//!
//! ```text
//! python3 -m http.server 8000                  # in one terminal
//! cargo run -p aio --example tcp_client        # 127.0.0.1 8000
//! cargo run -p aio --example tcp_client -- example.com 80   # when online
//! ```
//!
//! [`StreamWriter::write`]: aio::streams::StreamWriter::write
//! [`StreamWriter::drain`]: aio::streams::StreamWriter::drain
//! [`StreamReader::read`]: aio::streams::StreamReader::read

use std::io;

async fn tcp_client(host: &str, port: u16) -> io::Result<()> {
    // Connect to the server.
    let (mut reader, writer) = aio::open_connection(host, port).await?;

    // Send an HTTP request.
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
    writer.write(request.as_bytes());
    writer.drain().await?; // wait until the data is on its way

    // Read the answer (the first piece of it).
    let response = reader.read(1024).await?;
    let shown = &response[..response.len().min(100)];
    println!("Received: b'{}'...", shown.escape_ascii());

    // Close the connection.
    writer.close();
    writer.wait_closed().await;
    Ok(())
}

#[aio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = match args.next().map(|p| p.parse::<u16>()) {
        None => 8000,
        Some(Ok(port)) => port,
        Some(Err(err)) => {
            eprintln!("usage: tcp_client [HOST [PORT]]: bad port ({err})");
            std::process::exit(2);
        }
    };
    if let Err(err) = tcp_client(&host, port).await {
        eprintln!("{host}:{port}: {err}");
        std::process::exit(1);
    }
}
