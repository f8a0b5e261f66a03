//! A line client on streams: sends three lines, one at a time, and prints
//! the server's reply to each.
//!
//! Ports seed 002 (`002_69288d310ad07c21.txt`), the client of "a simple
//! echo server and client": `send_messages` opens a connection, and for
//! each of `'Привет'`, `'Как дела?'`, `'Пока'` ("Hi", "How are you?",
//! "Bye") writes it with a `\n`, `drain`s, awaits `reader.readline()` and
//! prints the reply; then `close` + `wait_closed`. The messages stay in
//! Russian, as in the seed: they are UTF-8 bytes on the wire like any other.
//!
//! | asyncio                                     | aio                                 |
//! |---------------------------------------------|-------------------------------------|
//! | `await asyncio.open_connection(host, port)` | [`aio::open_connection`]`(host, port)` |
//! | `writer.write(...)`; `await writer.drain()` | the same                            |
//! | `await reader.readline()`                   | [`StreamReader::readline`]          |
//!
//! One thing the seed does not check: a server that hangs up makes
//! `readline` return `b''`, which it would print as an empty reply. Here
//! that ends the conversation with a message.
//!
//! Try it against `echo_server_streams`:
//!
//! ```text
//! cargo run -p aio --example echo_server_streams
//! cargo run -p aio --example echo_client_streams                   # 127.0.0.1:8000
//! cargo run -p aio --example echo_client_streams -- 8001           # another port
//! cargo run -p aio --example echo_client_streams -- HOST:PORT      # another server
//! ```
//!
//! [`StreamReader::readline`]: aio::streams::StreamReader::readline

use std::io;

const MESSAGES: [&str; 3] = ["Привет", "Как дела?", "Пока"];

async fn send_messages(host: &str, port: u16) -> io::Result<()> {
    let (mut reader, writer) = aio::open_connection(host, port).await?;

    for msg in MESSAGES {
        writer.write(format!("{msg}\n").as_bytes());
        writer.drain().await?;

        let response = reader.readline().await?;
        if response.is_empty() {
            println!("The server closed the connection");
            break;
        }
        println!(
            "Server replied: {}",
            String::from_utf8_lossy(&response).trim()
        );
    }

    writer.close();
    writer.wait_closed().await;
    Ok(())
}

#[aio::main]
async fn main() {
    let (host, port) = address_from_args();
    if let Err(err) = send_messages(&host, port).await {
        eprintln!("{err}");
        std::process::exit(1);
    }
}

/// The server to talk to: `PORT` or `HOST:PORT` from the first argument,
/// by default 127.0.0.1:8000.
fn address_from_args() -> (String, u16) {
    let Some(arg) = std::env::args().nth(1) else {
        return ("127.0.0.1".to_owned(), 8000);
    };
    let (host, port) = arg.rsplit_once(':').unwrap_or(("127.0.0.1", &arg));
    match port.parse() {
        Ok(port) => (host.trim_matches(['[', ']']).to_owned(), port),
        Err(err) => {
            eprintln!("{arg:?}: expected PORT or HOST:PORT ({err})");
            std::process::exit(2)
        }
    }
}
