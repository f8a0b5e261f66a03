//! An HTTP GET client written as a protocol: the protocol sends the
//! request when connected, collects the response, and completes a future
//! that `make_request` awaits.
//!
//! Ports seed 000 (`000_64d4e01f706e344e.txt`), the listing
//! `HTTPGetClientProtocol` + `make_request`: the protocol builds
//! `GET / HTTP/1.1` with `Connection: close` and `Host`, writes it in
//! `connection_made`, appends every `data_received` to a buffer, completes
//! its future with the decoded buffer in `eof_received` (returning
//! `False`), and in `connection_lost` reports a clean close or fails the
//! future with the error; `make_request` does
//! `_, protocol = await loop.create_connection(...)` and then
//! `return await protocol.get_response()`.
//!
//! | asyncio                                        | aio                                         |
//! |------------------------------------------------|---------------------------------------------|
//! | `self._future = loop.create_future()`          | `oneshot::channel()`, both ends kept        |
//! | `async def get_response(self)`                 | `fn get_response(&mut self)` hands out the receiving end |
//! | `_, protocol = await loop.create_connection(..)` | `let (_, protocol) = create_connection(..).await?` |
//! | `await protocol.get_response()`                | `protocol.with(\|p\| p.get_response())` then `.await` |
//! | `self._future.set_result(...)` / `set_exception(exc)` | `send(Ok(text))` / `send(Err(error))`  |
//!
//! The seed asks `www.example.com`; this machine has no internet, so it
//! takes `[HOST] [PORT] [PATH]` (default `127.0.0.1 8000 /`) and sends
//! `Host: HOST:PORT` when the port is not 80. The progress messages the
//! seed prints (in Russian) go to stderr in English, so stdout holds just
//! the response, status line and headers included.
//!
//! Try it:
//!
//! ```text
//! python3 -m http.server 8000                      # in one terminal, as the peer
//! cargo run -p aio --example http_get_protocol     # or `-- HOST PORT PATH`
//! ```

use std::io;

use aio::sync::oneshot;
use aio::transport::{create_connection, Protocol, Transport};

/// What the protocol's future resolves to: the response text, or the error
/// the connection was lost with.
type Response = io::Result<String>;

struct HttpGetClientProtocol {
    host: String,
    port: u16,
    path: String,
    /// Completes the future; `None` once it is done.
    future: Option<oneshot::Sender<Response>>,
    /// The future's other end, until `get_response` hands it out.
    response: Option<oneshot::Receiver<Response>>,
    transport: Option<Transport>,
    response_buffer: Vec<u8>,
}

impl HttpGetClientProtocol {
    fn new(host: String, port: u16, path: String) -> Self {
        let (future, response) = oneshot::channel();
        HttpGetClientProtocol {
            host,
            port,
            path,
            future: Some(future),
            response: Some(response),
            transport: None,
            response_buffer: Vec::new(),
        }
    }

    /// The seed's `get_response`: await what this returns for the response,
    /// available once the server has sent everything.
    fn get_response(&mut self) -> oneshot::Receiver<Response> {
        self.response
            .take()
            .expect("get_response is called once per request")
    }

    fn get_request_bytes(&self) -> Vec<u8> {
        let host = if self.port == 80 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        };
        format!(
            "GET {} HTTP/1.1\r\nConnection: close\r\nHost: {host}\r\n\r\n",
            self.path
        )
        .into_bytes()
    }

    fn complete(&mut self, result: Response) {
        if let Some(future) = self.future.take() {
            let _ = future.send(result);
        }
    }
}

impl Protocol for HttpGetClientProtocol {
    fn connection_made(&mut self, transport: &Transport) {
        eprintln!("Connection made to {}", self.host);
        self.transport = Some(transport.clone());
        // Use the transport to send the request.
        transport.write(&self.get_request_bytes());
    }

    fn data_received(&mut self, data: &[u8]) {
        eprintln!("Data received!");
        // Keep it in the buffer until the server closes.
        self.response_buffer.extend_from_slice(data);
    }

    fn eof_received(&mut self) -> bool {
        // The server closed (Connection: close): complete the future with
        // what the buffer holds.
        let text = String::from_utf8_lossy(&self.response_buffer).into_owned();
        self.complete(Ok(text));
        false
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        match error {
            None => eprintln!("Connection closed without errors"),
            Some(error) => self.complete(Err(error)),
        }
    }
}

async fn make_request(host: &str, port: u16, path: &str) -> Response {
    let (h, p) = (host.to_owned(), path.to_owned());
    let protocol_factory = move || HttpGetClientProtocol::new(h, port, p);
    let (_, protocol) = create_connection(protocol_factory, host, port).await?;
    // connection_made has run and connection_lost cannot have yet (it is
    // never called before the loop's next step), so the protocol is there.
    let response = protocol
        .with(|p| p.get_response())
        .expect("the protocol is alive right after create_connection");
    response
        .await
        .map_err(|_| io::Error::other("the connection ended without a response"))?
}

#[aio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let host = args.next().unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = match args.next().map(|p| p.parse::<u16>()) {
        None => 8000,
        Some(Ok(port)) => port,
        Some(Err(err)) => {
            eprintln!("the port must be a number ({err})");
            std::process::exit(2)
        }
    };
    let path = args.next().unwrap_or_else(|| "/".to_owned());

    match make_request(&host, port, &path).await {
        Ok(result) => println!("{result}"),
        Err(err) => {
            eprintln!("GET http://{host}:{port}{path} failed: {err}");
            std::process::exit(1);
        }
    }
}
