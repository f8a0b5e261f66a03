//! `mio_echo`: a raw `mio` edge-triggered TCP echo server, the practical floor
//! the other servers are measured against.
//!
//! One thread, one `Poll`, one shared 64 KiB read buffer. Each socket is
//! registered once for readable and writable (edge-triggered), so there is no
//! `epoll_ctl` per request. On readable it reads until `WouldBlock` or a short
//! read (taken as drained) and writes each chunk straight back; if the socket
//! takes only part, the rest is buffered and sent on the next writable edge,
//! and reading that connection pauses while more than 1 MiB waits.
//! `TCP_NODELAY` is set on every connection.
//!
//! Usage: `mio_echo [--host 127.0.0.1] [--port 0]`. Prints
//! `listening on IP:PORT` when ready and runs until killed.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};

use aio_bench::announce;
use clap::Parser;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

#[derive(Parser, Debug)]
#[command(name = "mio_echo", about = "Raw mio edge-triggered echo server")]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to bind (0 = let the kernel pick).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

const LISTENER: Token = Token(usize::MAX);
/// Above this many unsent bytes a connection stops reading until it drains.
const HIGH_WATER: usize = 1 << 20;

struct Conn {
    stream: TcpStream,
    /// Bytes read but not yet written back.
    pending: Vec<u8>,
    /// Reading stopped on backpressure while the socket may still hold data.
    read_paused: bool,
}

/// What became of a connection after handling an event.
enum Outcome {
    Open,
    Closed,
}

/// Writes `pending` out until it is empty or the socket is full.
fn flush(conn: &mut Conn) -> io::Result<()> {
    while !conn.pending.is_empty() {
        match conn.stream.write(&conn.pending) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                conn.pending.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Echoes `data`: written directly when nothing waits, else appended.
fn echo(conn: &mut Conn, data: &[u8]) -> io::Result<()> {
    if !conn.pending.is_empty() {
        conn.pending.extend_from_slice(data);
        return Ok(());
    }
    let mut off = 0;
    while off < data.len() {
        match conn.stream.write(&data[off..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    conn.pending.extend_from_slice(&data[off..]);
    Ok(())
}

/// Reads until drained (or backpressure), echoing every chunk.
fn read_all(conn: &mut Conn, buf: &mut [u8]) -> io::Result<Outcome> {
    conn.read_paused = false;
    loop {
        if conn.pending.len() > HIGH_WATER {
            conn.read_paused = true;
            return Ok(Outcome::Open);
        }
        match conn.stream.read(buf) {
            Ok(0) => return Ok(Outcome::Closed),
            Ok(n) => {
                echo(conn, &buf[..n])?;
                if n < buf.len() {
                    return Ok(Outcome::Open); // short read: drained
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Outcome::Open),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn handle(conn: &mut Conn, ev: &mio::event::Event, buf: &mut [u8]) -> io::Result<Outcome> {
    if ev.is_writable() && !conn.pending.is_empty() {
        flush(conn)?;
        if conn.read_paused && conn.pending.len() <= HIGH_WATER {
            if let Outcome::Closed = read_all(conn, buf)? {
                return Ok(Outcome::Closed);
            }
        }
    }
    if (ev.is_readable() || ev.is_read_closed() || ev.is_error()) && !conn.read_paused {
        return read_all(conn, buf);
    }
    Ok(Outcome::Open)
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(SocketAddr::new(args.host, args.port))?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    announce(listener.local_addr()?);

    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut events = Events::with_capacity(1024);
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            let slot = free.pop().unwrap_or_else(|| {
                                conns.push(None);
                                conns.len() - 1
                            });
                            poll.registry().register(
                                &mut stream,
                                Token(slot),
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            conns[slot] = Some(Conn {
                                stream,
                                pending: Vec::new(),
                                read_paused: false,
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            // EMFILE and friends: report and retry on the next edge.
                            eprintln!("mio_echo: accept: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let slot = ev.token().0;
            let Some(conn) = conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let close = match handle(conn, ev, &mut buf) {
                Ok(Outcome::Open) => false,
                Ok(Outcome::Closed) => true,
                Err(_) => true,
            };
            if close {
                if let Some(mut c) = conns[slot].take() {
                    let _ = poll.registry().deregister(&mut c.stream);
                }
                free.push(slot);
            }
        }
    }
}
