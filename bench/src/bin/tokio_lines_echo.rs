//! `tokio_lines_echo`: a tokio line echo server, the peer of a `readline`
//! streams echo: a task per connection reads with `BufReader::read_line`
//! (default 8 KiB buffer) and sends each line back with `write_all`.
//!
//! Runs on a `current_thread` runtime; `TCP_NODELAY` is set on every
//! connection. Input must be UTF-8 (`read_line` fills a `String`); the load
//! generator's messages are.
//!
//! Usage: `tokio_lines_echo [--host 127.0.0.1] [--port 0]`. Prints
//! `listening on IP:PORT` when ready and runs until killed.

use std::io;
use std::net::{IpAddr, SocketAddr};

use aio_bench::announce;
use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Parser, Debug)]
#[command(
    name = "tokio_lines_echo",
    about = "tokio line echo server (read_line + write_all)"
)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to bind (0 = let the kernel pick).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

async fn serve(mut stream: TcpStream) -> io::Result<()> {
    let (reader, mut writer) = stream.split();
    let mut reader = BufReader::new(reader);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        writer.write_all(line.as_bytes()).await?;
    }
}

async fn run(args: Args) -> io::Result<()> {
    let listener = TcpListener::bind(SocketAddr::new(args.host, args.port)).await?;
    announce(listener.local_addr()?);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let _ = serve(stream).await;
                });
            }
            Err(e) => eprintln!("tokio_lines_echo: accept: {e}"),
        }
    }
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?
        .block_on(run(args))
}
