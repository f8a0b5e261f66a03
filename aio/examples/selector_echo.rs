//! Readiness from the OS: an echo server on `mio::Poll`, Rust's `selectors`.
//!
//! Ports seed 001 (`001_2822c7fae0023b4d.txt`), the listing "using a selector
//! to build non-blocking sockets": a `selectors.DefaultSelector`, the server
//! socket registered for `EVENT_READ`, and a loop on `selector.select(timeout=1)`
//! that prints "no events, waiting" on a timeout, `accept`s and registers a
//! client when the server socket is ready, and otherwise `recv(1024)`s from
//! the ready client and `send`s the data back.
//!
//! Unlike `nonblocking_busy_loop`, the process sleeps in the kernel
//! (`epoll_wait`, `kevent`) until a socket is ready: about 0% CPU when idle.
//! This is the heart of every event loop, asyncio's and aio's.
//!
//! | Python `selectors`           | `mio`                                                       |
//! |------------------------------|-------------------------------------------------------------|
//! | `DefaultSelector()`          | [`Poll::new`]                                               |
//! | `register(sock, EVENT_READ)` | `registry().register(&mut sock, token, Interest::READABLE)` |
//! | `key.fileobj`, `key.data`    | a [`Token`]: the program maps it back to its socket         |
//! | `select(timeout=1)`          | [`Poll::poll`] into [`Events`], `Some(1 s)`                 |
//!
//! One real difference: `selectors` is *level-triggered* (a socket with
//! unread bytes is reported again on every `select`), mio is
//! *edge-triggered* (a socket is reported when it *becomes* ready). So on an
//! event this server accepts, or reads, until the call fails with
//! `WouldBlock`; stopping earlier could leave bytes that no event will
//! announce again. Like the listing, it does not wait for writability: a
//! short echo fits in the socket's send buffer (a client whose buffer is full
//! is dropped rather than blocking everyone). Unlike it, a client that hangs
//! up is removed, instead of being reported readable for ever.
//!
//! Try it, with several clients at once:
//!
//! ```text
//! cargo run -p aio --example selector_echo   # or `-- 8001` for another port
//! nc 127.0.0.1 8000                          # or telnet 127.0.0.1 8000; type lines
//! ```

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

/// The token the server socket is registered with.
const SERVER: Token = Token(0);

fn main() -> io::Result<()> {
    let mut selector = Poll::new()?;

    let server_address = SocketAddr::from(([127, 0, 0, 1], port_from_args()));
    // mio's bind: socket, SO_REUSEADDR, non-blocking, bind, listen.
    let mut server_socket = TcpListener::bind(server_address)?;
    selector
        .registry()
        .register(&mut server_socket, SERVER, Interest::READABLE)?;
    println!("Listening on {server_address}");

    // What `key.fileobj` gives Python: the socket behind each token.
    let mut connections: HashMap<Token, (TcpStream, SocketAddr)> = HashMap::new();
    let mut next_token = 1;
    let mut events = Events::with_capacity(128);
    loop {
        match selector.poll(&mut events, Some(Duration::from_secs(1))) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        }
        if events.is_empty() {
            println!("No events, waiting...");
        }

        for event in &events {
            if event.token() == SERVER {
                // A connection attempt. Accept every pending one (edge-triggered).
                loop {
                    let (mut connection, address) = match server_socket.accept() {
                        Ok(accepted) => accepted,
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                        Err(err) => {
                            println!("accept failed: {err}");
                            break;
                        }
                    };
                    println!("Got a connection from {address}");
                    let token = Token(next_token);
                    next_token += 1;
                    // Register the client that connected.
                    let registry = selector.registry();
                    if let Err(err) = registry.register(&mut connection, token, Interest::READABLE)
                    {
                        println!("Could not register {address}: {err}");
                        continue;
                    }
                    connections.insert(token, (connection, address));
                }
            } else if let Some((connection, address)) = connections.get_mut(&event.token()) {
                // Data from a client: read it and send it back.
                // Dropping a socket closes it, which also takes it off the poll.
                match echo(connection) {
                    Ok(true) => {}
                    Ok(false) => {
                        println!("{address} disconnected");
                        connections.remove(&event.token());
                    }
                    Err(err) => {
                        println!("{address} dropped: {err}");
                        connections.remove(&event.token());
                    }
                }
            }
        }
    }
}

/// Echoes everything `connection` has sent so far, reading until
/// `WouldBlock`. Returns `false` when the client has closed its side.
fn echo(connection: &mut TcpStream) -> io::Result<bool> {
    let mut data = [0; 1024];
    loop {
        match connection.read(&mut data) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                println!("Got data: b'{}'", data[..n].escape_ascii());
                connection.write_all(&data[..n])?;
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
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
