//! A protocol echo client: sends a message in parts, then EOF, logs what
//! comes back, and tells `main` it is done through a one-shot future.
//!
//! Ports seed 004 (`004_17a0c1f9034069d5.txt`), the client listing
//! `asyncio_echo_client_protocol.py`: `EchoClient(asyncio.Protocol)` gets
//! the `MESSAGES` and a `Future`; `connection_made` writes each message
//! (logging `sending ...`) and then `write_eof()`; `data_received` logs
//! what arrives; on EOF or on connection loss it closes the transport and
//! completes the future; `main` runs `create_connection` and then waits for
//! that future.
//!
//! | asyncio                                       | aio                                      |
//! |-----------------------------------------------|------------------------------------------|
//! | `client_completed = asyncio.Future()`         | `let (done, completed) = oneshot::channel()` |
//! | `functools.partial(EchoClient, messages=.., future=..)` | a closure building `EchoClient`  |
//! | `run_until_complete(create_connection(..))`   | [`create_connection`]`(..).await`        |
//! | `run_until_complete(client_completed)`        | `completed.await`                        |
//! | `self.f.set_result(True)` (if not done)       | `self.done.take()` then `send(())`       |
//!
//! The future is completed in `connection_lost`, which always comes last
//! (after `eof_received` closed the transport, or after an error). The
//! seed spells that method `connnection_lost`, so asyncio never called it
//! and its output has no `server closed connection` line; here the method
//! is real, so that line appears once, before `main: closing event loop`.
//!
//! Try it, with the server of the same seed running:
//!
//! ```text
//! cargo run -p aio --example echo_server_protocol      # in one terminal
//! cargo run -p aio --example echo_client_protocol      # localhost 10000, or `-- HOST PORT`
//! ```
//!
//! The seed's own Python server (`asyncio_echo_server_protocol.py`) works as
//! the peer too. Depending on how the server's reads fall, the echo comes
//! back in one piece or several, as the seed's three runs show.

use std::io;

use aio::sync::oneshot;
use aio::transport::{create_connection, Protocol, Transport};

/// The seed's `MESSAGES`, sent one `write` at a time.
const MESSAGES: [&[u8]; 3] = [b"This is the message. ", b"It will be sent ", b"in parts."];

/// The seed's `SERVER_ADDRESS`.
const DEFAULT_HOST: &str = "localhost";
const DEFAULT_PORT: u16 = 10000;

struct EchoClient {
    messages: &'static [&'static [u8]],
    /// Kept from `connection_made`, to close it later.
    transport: Option<Transport>,
    /// The seed's `future`; `None` once completed (`self.f.done()`).
    done: Option<oneshot::Sender<()>>,
}

fn log(message: &str) {
    eprintln!("EchoClient: {message}");
}

impl Protocol for EchoClient {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
        if let Some(address) = transport.peer_addr() {
            log(&format!(
                "connecting to {} port {}",
                address.ip(),
                address.port()
            ));
        }
        // transport.writelines would send them in one go; write shows each.
        for msg in self.messages {
            transport.write(msg);
            log(&format!("sending {}", bytes_repr(msg)));
        }
        if transport.can_write_eof() {
            transport.write_eof();
        }
    }

    fn data_received(&mut self, data: &[u8]) {
        log(&format!("received {}", bytes_repr(data)));
    }

    fn eof_received(&mut self) -> bool {
        log("received EOF");
        if let Some(transport) = &self.transport {
            transport.close();
        }
        false
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        match error {
            None => log("server closed connection"),
            Some(error) => log(&format!("connection lost: {error}")),
        }
        if let Some(transport) = &self.transport {
            transport.close();
        }
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}

/// Python's `repr()` of a bytes object, as the seed's log lines show it.
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
async fn main() {
    let (host, port) = address_from_args();
    let (done, client_completed) = oneshot::channel();
    let client_factory = move || EchoClient {
        messages: &MESSAGES,
        transport: None,
        done: Some(done),
    };

    eprintln!("main: waiting for client to complete");
    if let Err(err) = create_connection(client_factory, &host, port).await {
        eprintln!("main: cannot connect to {host} port {port}: {err}");
        std::process::exit(1);
    }
    // Completed by connection_lost; `Err` only if the protocol were
    // dropped without it (the loop ending first).
    let _ = client_completed.await;
    eprintln!("main: closing event loop");
}

/// `[HOST] [PORT]` in either order: an argument that is a number is the
/// port. Defaults: localhost 10000, like the seed.
fn address_from_args() -> (String, u16) {
    let mut host = DEFAULT_HOST.to_owned();
    let mut port = DEFAULT_PORT;
    for arg in std::env::args().skip(1) {
        match arg.parse() {
            Ok(p) => port = p,
            Err(_) => host = arg,
        }
    }
    (host, port)
}
