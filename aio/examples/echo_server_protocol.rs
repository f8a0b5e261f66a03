//! A protocol echo server that logs every callback and answers the
//! client's EOF with its own.
//!
//! Ports seed 004 (`004_17a0c1f9034069d5.txt`), the server listing
//! `asyncio_echo_server_protocol.py`: `EchoServer(asyncio.Protocol)` names
//! its logger after the peer (`EchoServer_{host}_{port}`) in
//! `connection_made`, echoes in `data_received` (logging `received` and
//! `sent`), sends EOF back from `eof_received` when `can_write_eof()`, and
//! logs `closing` (or `ERROR: ...`) in `connection_lost`; the main part
//! runs `create_server(EchoServer, 'localhost', 10000)` until interrupted,
//! then closes the server and waits for it.
//!
//! | asyncio                                   | aio                                     |
//! |-------------------------------------------|-----------------------------------------|
//! | `class EchoServer(asyncio.Protocol)`      | `impl Protocol for EchoServer`          |
//! | `transport.get_extra_info('peername')`    | [`Transport::peer_addr`]                |
//! | `loop.create_server(EchoServer, *ADDR)`   | [`create_server`]`(EchoServer::new, ..)` |
//! | `loop.run_forever()` until Ctrl-C         | [`aio::signal::ctrl_c`]`().await`       |
//! | `server.close(); server.wait_closed()`    | [`Server::shutdown`] (close, then wait) |
//! | `logging` to stderr, `%(name)s: %(message)s` | `eprintln!("{name}: {message}")`     |
//!
//! `eof_received` returns `false`, as the seed's returns `None`: after
//! sending its EOF the transport closes, once the echo is flushed.
//! Python 3.12's `wait_closed` also waits for open connections, so the
//! port waits for them too, but for at most a second before cutting them.
//!
//! Try it (the logs go to stderr):
//!
//! ```text
//! cargo run -p aio --example echo_server_protocol      # 127.0.0.1:10000, or `-- 10001`
//! cargo run -p aio --example echo_client_protocol      # in another terminal
//! nc 127.0.0.1 10000                                   # or by hand; Ctrl-D sends EOF
//! ```
//!
//! The seed's own Python client (`asyncio_echo_client_protocol.py`, saved
//! from the seed) works against it unchanged.

use std::io;
use std::time::Duration;

use aio::transport::{create_server, Protocol, Server, Transport};

/// Where the seed listens (`SERVER_ADDRESS = ('localhost', 10000)`).
const HOST: &str = "127.0.0.1";
const DEFAULT_PORT: u16 = 10000;

/// One client connection.
struct EchoServer {
    /// Kept from `connection_made` to write with.
    transport: Option<Transport>,
    /// The logger name, `EchoServer_{ip}_{port}`.
    log: String,
}

impl EchoServer {
    fn new() -> Self {
        EchoServer {
            transport: None,
            log: "EchoServer".to_owned(),
        }
    }

    fn debug(&self, message: &str) {
        eprintln!("{}: {message}", self.log);
    }
}

impl Protocol for EchoServer {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
        if let Some(address) = transport.peer_addr() {
            self.log = format!("EchoServer_{}_{}", address.ip(), address.port());
        }
        self.debug("connection accepted");
    }

    fn data_received(&mut self, data: &[u8]) {
        self.debug(&format!("received {}", bytes_repr(data)));
        if let Some(transport) = &self.transport {
            transport.write(data);
        }
        self.debug(&format!("sent {}", bytes_repr(data)));
    }

    fn eof_received(&mut self) -> bool {
        self.debug("received EOF");
        if let Some(transport) = &self.transport {
            if transport.can_write_eof() {
                transport.write_eof();
            }
        }
        false // the seed returns None: the transport closes itself
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        match error {
            Some(error) => self.debug(&format!("ERROR: {error}")),
            None => self.debug("closing"),
        }
    }
}

/// Python's `repr()` of a bytes object, as the seed's log lines show it:
/// `b'This is the message. '`.
fn bytes_repr(data: &[u8]) -> String {
    let mut out = String::from("b'");
    for &b in data {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('\'');
    out
}

#[aio::main]
async fn main() -> io::Result<()> {
    let server: Server = create_server(EchoServer::new, HOST, port_from_args()).await?;
    for addr in server.local_addrs() {
        eprintln!("main: starting up on {} port {}", addr.ip(), addr.port());
    }

    // `event_loop.run_forever()`, which the seed leaves with Ctrl-C.
    aio::signal::ctrl_c().await?;
    eprintln!("main: closing server");
    server.shutdown(Duration::from_secs(1)).await;
    eprintln!("main: closing event loop");
    Ok(())
}

/// The port to listen on: the first argument, or 10000.
fn port_from_args() -> u16 {
    let Some(arg) = std::env::args().nth(1) else {
        return DEFAULT_PORT;
    };
    arg.parse().unwrap_or_else(|err| {
        eprintln!("{arg:?} is not a port number ({err}); try 10001");
        std::process::exit(2)
    })
}
