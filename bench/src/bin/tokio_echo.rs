//! `tokio_echo`: the idiomatic tokio TCP echo server, a task per connection
//! doing `read` into a buffer and `write_all` of what was read.
//!
//! By default it runs on a `current_thread` runtime (the peer of a
//! single-threaded event loop); `--threads N` runs it on a multi-thread
//! runtime with N workers instead (reported, not a target). `TCP_NODELAY` is
//! set on every connection; each connection has its own `--buf`-byte buffer.
//!
//! Usage: `tokio_echo [--host 127.0.0.1] [--port 0] [--threads N] [--buf 16384]`.
//! Prints `listening on IP:PORT` when ready and runs until killed.

use std::io;
use std::net::{IpAddr, SocketAddr};

use aio_bench::announce;
use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Parser, Debug)]
#[command(name = "tokio_echo", about = "tokio echo server (read + write_all)")]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to bind (0 = let the kernel pick).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Worker threads; 0 means a current_thread runtime.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Per-connection read buffer size in bytes.
    #[arg(long, default_value_t = 16384)]
    buf: usize,
}

async fn serve(mut stream: TcpStream, size: usize) -> io::Result<()> {
    let mut buf = vec![0u8; size];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

async fn run(args: Args) -> io::Result<()> {
    let listener = TcpListener::bind(SocketAddr::new(args.host, args.port)).await?;
    announce(listener.local_addr()?);
    let size = args.buf.max(1);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let _ = serve(stream, size).await;
                });
            }
            Err(e) => eprintln!("tokio_echo: accept: {e}"),
        }
    }
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    let rt = if args.threads == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_io()
            .build()?
    };
    rt.block_on(run(args))
}
