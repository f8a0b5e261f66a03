//! An HTTP GET on streams: `open_connection`, write the request, `drain`,
//! then `readline` until it returns nothing (EOF), and print it all.
//!
//! Ports seed 000 (`000_64d4e01f706e344e.txt`), the listing of "stream
//! readers and writers": the async generator `read_until_empty` yields
//! `await stream_reader.readline()` decoded until it is empty, and `main`
//! opens a connection to `www.example.com:80`, writes a `GET /` with
//! `Connection: close` and `Host`, drains, joins every line the generator
//! yields and prints them; a `finally` closes the writer and awaits
//! `wait_closed`. Here the server is a local one unless you name another.
//!
//! | asyncio                                        | aio                                   |
//! |------------------------------------------------|---------------------------------------|
//! | `await asyncio.open_connection(host, port)`    | [`aio::open_connection`]`(host, port)` |
//! | `stream_writer.write(...)`; `await drain()`    | the same                              |
//! | `async def read_until_empty(...)` (a generator) | [`StreamReader::lines`], a `Stream` of lines that ends at EOF |
//! | `[r async for r in read_until_empty(reader)]`  | `.try_collect().await`                |
//! | `finally: close(); await wait_closed()`        | the same, after the request either way |
//!
//! The seed's `response.decode()` would raise on bytes that are not UTF-8;
//! this prints them as `U+FFFD` instead. (`aio get URL` is this client
//! grown up: Content-Length and chunked bodies, redirects, timeouts.)
//!
//! Try it against any HTTP server:
//!
//! ```text
//! python3 -m http.server 8000                      # in one terminal
//! cargo run -p aio --example http_get_streams      # 127.0.0.1 8000 /
//! cargo run -p aio --example http_get_streams -- 127.0.0.1 8000 /some/path
//! cargo run -p aio --example http_get_streams -- example.com 80 /   # when online
//! ```
//!
//! [`StreamReader::lines`]: aio::streams::StreamReader::lines

use std::io;

use aio::streams::StreamReader;
use futures_util::{Stream, StreamExt, TryStreamExt};

/// The seed's `read_until_empty`: each line, decoded, until `readline`
/// returns an empty line at EOF.
fn read_until_empty(reader: &mut StreamReader) -> impl Stream<Item = io::Result<String>> + '_ {
    reader.lines().map(|line| {
        line.map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .map_err(io::Error::from)
    })
}

async fn get(host: &str, port: u16, path: &str) -> io::Result<String> {
    let request = format!("GET {path} HTTP/1.1\r\nConnection: close\r\nHost: {host}\r\n\r\n");
    let (mut stream_reader, stream_writer) = aio::open_connection(host, port).await?;

    let result = async {
        // Write the request, and wait until the writer's buffer drained.
        stream_writer.write(request.as_bytes());
        stream_writer.drain().await?;
        // Read every line and keep them.
        let responses: Vec<String> = read_until_empty(&mut stream_reader).try_collect().await?;
        Ok(responses.concat())
    }
    .await;

    // The seed's `finally`: close the writer and wait until it is closed.
    stream_writer.close();
    stream_writer.wait_closed().await;
    result
}

#[aio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = match args.next().map(|p| p.parse::<u16>()) {
        None => 8000,
        Some(Ok(port)) => port,
        Some(Err(err)) => {
            eprintln!("usage: http_get_streams [HOST [PORT [PATH]]]: bad port ({err})");
            std::process::exit(2);
        }
    };
    let path = args.next().unwrap_or_else(|| "/".to_owned());
    match get(&host, port, &path).await {
        Ok(response) => println!("{response}"),
        Err(err) => {
            eprintln!("{host}:{port}: {err}");
            std::process::exit(1);
        }
    }
}
