//! `create_server` and `create_connection` together: reaching the protocol
//! through `ProtocolHandle`, the one-shot completion pattern, `Server::close`
//! (no new connections, old ones go on), `close_clients` (flush, then
//! close), `abort_clients`, `shutdown`, `wait_closed`, `serve_forever`, and
//! the Unix-socket variants.

mod support;

use std::cell::Cell;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use aio::net::TcpStream;
use aio::sync::{oneshot, Event};
use aio::transport::{
    create_connection, create_server, create_server_with, create_unix_connection,
    create_unix_server, Protocol, Server, ServerOptions, Transport,
};
use support::protocol::{sink, Ev, Recorder};
use support::{read_exact, read_to_end, unique_socket_path, within};

/// More than the kernel buffers of a loopback connection hold (the send
/// buffer can grow to tcp_wmem's 4 MiB), so some of it stays in the
/// transport's buffer while the peer is not reading.
const BULK: usize = 8 << 20;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|k| (k % 251) as u8).collect()
}

async fn serve(factory: impl Fn() -> Recorder + 'static) -> (Server, SocketAddr) {
    let server = create_server(factory, "127.0.0.1", 0).await.unwrap();
    let addr = server.local_addrs()[0];
    (server, addr)
}

async fn round_trip(stream: &TcpStream, msg: &[u8]) {
    stream.write_all(msg).await.unwrap();
    let mut back = vec![0; msg.len()];
    within(read_exact(stream, &mut back)).await.unwrap();
    assert_eq!(back, msg);
}

/// A client protocol: sends `request` then EOF, collects the reply, and
/// completes `done` with it when the connection is lost (seed 004's
/// `EchoClient`, seed 000's `HTTPGetClientProtocol`).
struct Collect {
    request: &'static [u8],
    reply: Vec<u8>,
    /// Set on every delivery, for a test that wants to look mid-way.
    arrived: Event,
    done: Option<oneshot::Sender<io::Result<Vec<u8>>>>,
}

impl Collect {
    fn new(request: &'static [u8]) -> (Collect, oneshot::Receiver<io::Result<Vec<u8>>>) {
        let (tx, rx) = oneshot::channel();
        let protocol = Collect {
            request,
            reply: Vec::new(),
            arrived: Event::new(),
            done: Some(tx),
        };
        (protocol, rx)
    }
}

impl Protocol for Collect {
    fn connection_made(&mut self, transport: &Transport) {
        transport.write(self.request);
    }

    fn data_received(&mut self, data: &[u8]) {
        self.reply.extend_from_slice(data);
        self.arrived.set();
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        if let Some(done) = self.done.take() {
            let result = match error {
                None => Ok(std::mem::take(&mut self.reply)),
                Some(e) => Err(e),
            };
            let _ = done.send(result);
        }
    }
}

// ------------------------------------------------------- connect + handle

#[aio::test]
async fn protocol_handle_reaches_the_protocol_until_it_is_lost() {
    let (sink, _events) = sink();
    let (_server, addr) = serve(move || sink.recorder().echo()).await;
    let (protocol, done) = Collect::new(b"ping");
    let (transport, handle) = create_connection(move || protocol, "127.0.0.1", addr.port())
        .await
        .unwrap();
    assert_eq!(transport.peer_addr(), Some(addr));

    // Look at the protocol's state from the task, mid-connection.
    let arrived = handle.with(|p| p.arrived.clone()).unwrap();
    within(arrived.wait()).await;
    assert_eq!(handle.with(|p| p.reply.clone()).unwrap(), b"ping");
    // ...and change it: the next request is sent from here.
    handle.with(|p| p.request = b"pong").unwrap();
    let request = handle.with(|p| p.request).unwrap();
    transport.write(request);
    transport.write_eof();

    // The echo server closes after our EOF; connection_lost completes the
    // one-shot, the Rust form of `await protocol.get_response()`.
    let reply = within(done).await.unwrap().unwrap();
    assert_eq!(reply, b"pingpong");
    assert!(
        handle.with(|_| ()).is_none(),
        "the protocol outlived its connection"
    );
}

#[aio::test]
async fn a_oneshot_carries_a_protocols_result_to_the_awaiting_task() {
    // A tiny HTTP/1.0 server: answers once the request is complete, then
    // closes. The client is seed 000's HTTPGetClientProtocol in spirit.
    let (sink, _events) = sink();
    let (_server, addr) = serve(move || {
        sink.recorder().on_data(|t, data| {
            if data.ends_with(b"\r\n\r\n") {
                t.write(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello");
                t.close();
            }
        })
    })
    .await;
    let (protocol, response) = Collect::new(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n");
    create_connection(move || protocol, "127.0.0.1", addr.port())
        .await
        .unwrap();
    let response = within(response).await.unwrap().unwrap();
    assert_eq!(
        response,
        b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    );
}

#[aio::test]
async fn the_oneshot_carries_the_error_when_the_peer_resets() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (protocol, response) = Collect::new(b"hello");
    create_connection(move || protocol, "127.0.0.1", addr.port())
        .await
        .unwrap();
    // The connection is already queued: this accept does not block.
    let (peer, _) = listener.accept().unwrap();
    // SO_LINGER 0: the peer's close is a reset.
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer);
    let error = within(response).await.unwrap().unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionReset, "{error}");
}

// ------------------------------------------------------------------- close

#[aio::test]
async fn close_stops_accepting_while_open_connections_keep_working() {
    let (sink, mut events) = sink();
    let (server, addr) = serve(move || sink.recorder().echo()).await;
    assert!(server.is_serving());
    let client = TcpStream::connect_addr(addr).await.unwrap();
    round_trip(&client, b"before close").await;

    server.close();
    assert!(!server.is_serving());
    let refused = TcpStream::connect_addr(addr).await.unwrap_err();
    assert_eq!(
        refused.kind(),
        io::ErrorKind::ConnectionRefused,
        "{refused}"
    );
    let refused = create_connection(|| Collect::new(b"").0, "127.0.0.1", addr.port())
        .await
        .unwrap_err();
    assert_eq!(
        refused.kind(),
        io::ErrorKind::ConnectionRefused,
        "{refused}"
    );

    // wait_closed waits for the open connection, which still echoes.
    let wait_closed = aio::spawn({
        let server = server.clone();
        async move { server.wait_closed().await }
    });
    round_trip(&client, b"after close").await;
    assert_eq!(server.connection_count(), 1);
    assert!(
        !wait_closed.is_finished(),
        "wait_closed with a connection open"
    );

    client.shutdown(Shutdown::Write).unwrap();
    within(wait_closed).await.unwrap();
    assert_eq!(server.connection_count(), 0);
    assert_eq!(events.count(), 1, "no connection was accepted after close");
    events.dropped(0).await;
}

#[aio::test]
async fn close_clients_flushes_each_buffer_then_closes() {
    let (sink, mut events) = sink();
    let (server, addr) = serve(move || sink.recorder().on_made(|t| t.write(&pattern(BULK)))).await;
    let clients = [
        TcpStream::connect_addr(addr).await.unwrap(),
        TcpStream::connect_addr(addr).await.unwrap(),
    ];
    events.until(1, |e| *e == Ev::Made).await;
    for id in 0..2 {
        assert!(
            events.transport(id).write_buffer_size() > 0,
            "nothing buffered"
        );
    }

    server.close();
    server.close_clients();
    // Nothing is cut: each client reads everything, then EOF.
    for client in &clients {
        let got = within(read_to_end(client)).await.unwrap();
        assert_eq!(got.len(), BULK);
        assert!(got == pattern(BULK));
    }
    within(server.wait_closed()).await;
    assert_eq!(server.connection_count(), 0);
    for id in 0..2 {
        events.dropped(id).await;
        assert_eq!(events.lost_count(id), 1);
        assert!(events.log_of(id).contains(&Ev::Lost(None)));
    }
}

#[aio::test]
async fn abort_clients_ends_every_connection_at_once() {
    let (sink, mut events) = sink();
    let (server, addr) = serve(move || sink.recorder().on_made(|t| t.write(&pattern(BULK)))).await;
    let clients = [
        TcpStream::connect_addr(addr).await.unwrap(),
        TcpStream::connect_addr(addr).await.unwrap(),
    ];
    events.until(1, |e| *e == Ev::Made).await;
    for id in 0..2 {
        assert!(
            events.transport(id).write_buffer_size() > 0,
            "nothing buffered"
        );
    }

    server.abort_clients();
    for id in 0..2 {
        events.dropped(id).await;
        assert_eq!(events.lost_count(id), 1);
    }
    assert_eq!(server.connection_count(), 0);
    // The server itself is still open, so wait_closed waits for close.
    assert!(server.is_serving());
    server.close();
    within(server.wait_closed()).await;
    // What the transports had buffered was dropped, not sent.
    for client in &clients {
        let got = within(read_to_end(client)).await.unwrap_or_default();
        assert!(
            got.len() < BULK,
            "an aborted connection delivered everything"
        );
    }
}

#[aio::test]
async fn shutdown_aborts_the_connections_still_open_after_the_grace() {
    // The first connection is sent more than the kernel buffers hold and
    // its client never reads, so no grace is long enough for it; the
    // second is sent a few bytes, which the kernel takes at once, so it
    // closes gracefully however short the grace is.
    let (sink, mut events) = sink();
    let accepted = Rc::new(Cell::new(0));
    let (server, addr) = serve(move || {
        let n = accepted.replace(accepted.get() + 1);
        let len = if n == 0 { BULK } else { 5 };
        sink.recorder().on_made(move |t| t.write(&pattern(len)))
    })
    .await;
    let stuck = TcpStream::connect_addr(addr).await.unwrap();
    events.until(0, |e| *e == Ev::Made).await;
    let graceful = TcpStream::connect_addr(addr).await.unwrap();
    events.until(1, |e| *e == Ev::Made).await;
    assert!(events.transport(0).write_buffer_size() > 0);
    assert_eq!(events.transport(1).write_buffer_size(), 0);

    within(server.shutdown(Duration::from_millis(50))).await;
    assert_eq!(server.connection_count(), 0);
    assert!(!server.is_serving());
    for id in 0..2 {
        events.dropped(id).await;
        assert_eq!(events.lost_count(id), 1);
    }
    // The graceful one got its bytes, then EOF; the stuck one was cut.
    assert_eq!(within(read_to_end(&graceful)).await.unwrap(), pattern(5));
    let got = within(read_to_end(&stuck)).await.unwrap_or_default();
    assert!(got.len() < BULK, "the stuck connection was not aborted");
}

// ------------------------------------------------------------ serving

#[aio::test]
async fn serve_forever_starts_serving_and_returns_after_close() {
    let (sink, _events) = sink();
    let options = ServerOptions {
        start_serving: false,
        ..ServerOptions::default()
    };
    let server = create_server_with(move || sink.recorder().echo(), "127.0.0.1", 0, &options)
        .await
        .unwrap();
    assert!(!server.is_serving());
    let addr = server.local_addrs()[0];

    let forever = aio::spawn({
        let server = server.clone();
        async move { server.serve_forever().await }
    });
    // serve_forever started serving: a client is accepted and echoed.
    let client = TcpStream::connect_addr(addr).await.unwrap();
    round_trip(&client, b"served").await;
    assert!(server.is_serving());
    assert!(!forever.is_finished());

    server.close();
    within(forever).await.unwrap();
}

// -------------------------------------------------------------------- unix

#[aio::test]
async fn a_unix_server_serves_create_unix_connection() {
    let path = unique_socket_path("transport-server");
    let (sink, mut events) = sink();
    let server = create_unix_server(move || sink.recorder().echo(), &path)
        .await
        .unwrap();
    assert!(server.is_serving());

    let (protocol, reply) = Collect::new(b"over a unix socket");
    let (transport, _handle) = create_unix_connection(move || protocol, &path)
        .await
        .unwrap();
    assert_eq!(
        transport.peer_addr(),
        None,
        "no IP address on a unix socket"
    );
    assert!(transport.can_write_eof());
    transport.write_eof();
    let reply = within(reply).await.unwrap().unwrap();
    assert_eq!(reply, b"over a unix socket");
    events.dropped(0).await;

    server.close();
    within(server.wait_closed()).await;
    let refused = create_unix_connection(|| Collect::new(b"").0, &path).await;
    assert!(refused.is_err(), "connected to a closed unix server");
    let _ = std::fs::remove_file(&path);
}

// ------------------------------------------------------------- lifetime

/// Regression: the listener held its server only weakly, so dropping the
/// `Server` handle without `close` (as `create_server(..).await?;` with
/// the result unused does) silently stopped accepting, although `Server`
/// is documented as "dropping it does not stop it" (as in asyncio, where
/// the loop keeps a server alive).
#[aio::test]
async fn a_server_whose_handle_was_dropped_keeps_accepting() {
    let (sink, mut events) = sink();
    let (server, addr) = serve(move || sink.recorder().echo()).await;
    drop(server);
    let client = TcpStream::connect_addr(addr).await.unwrap();
    round_trip(&client, b"still served").await;
    client.shutdown(Shutdown::Write).unwrap();
    events.dropped(0).await;
}

/// The other side of the same lifetime: a server left open when its loop
/// ends is closed with it, so the port is free again.
#[test]
fn a_server_left_open_closes_when_its_loop_ends() {
    let addr = aio::run(async {
        let (sink, _events) = sink();
        let (server, addr) = serve(move || sink.recorder().echo()).await;
        drop(server);
        addr
    });
    let refused = std::net::TcpStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
}

/// Regression guard for the loop-end cycle break: a connection still open
/// when its loop ends has its protocol dropped (no callback runs) and its
/// socket closed, so the peer sees EOF instead of a socket left open.
#[test]
fn a_connection_left_open_is_closed_and_its_protocol_dropped_when_its_loop_ends() {
    struct Held {
        transport: Option<Transport>,
        made: Event,
        dropped: Rc<Cell<bool>>,
        lost: Rc<Cell<bool>>,
    }
    impl Protocol for Held {
        fn connection_made(&mut self, transport: &Transport) {
            // Holding the transport is what makes the cycle.
            self.transport = Some(transport.clone());
            self.made.set();
        }
        fn connection_lost(&mut self, _error: Option<io::Error>) {
            self.lost.set(true);
        }
    }
    impl Drop for Held {
        fn drop(&mut self) {
            self.dropped.set(true);
        }
    }

    let dropped = Rc::new(Cell::new(false));
    let lost = Rc::new(Cell::new(false));
    let (dropped_in, lost_in) = (dropped.clone(), lost.clone());
    let client = aio::run(async move {
        let made = Event::new();
        let factory = {
            let made = made.clone();
            move || Held {
                transport: None,
                made: made.clone(),
                dropped: dropped_in.clone(),
                lost: lost_in.clone(),
            }
        };
        let server = create_server(factory, "127.0.0.1", 0).await.unwrap();
        let client = std::net::TcpStream::connect(server.local_addrs()[0]).unwrap();
        made.wait().await;
        client
    });
    assert!(dropped.get(), "the protocol was dropped with the loop");
    assert!(!lost.get(), "no callback runs from a closing loop");
    let mut client = client;
    let mut buf = [0; 1];
    assert_eq!(std::io::Read::read(&mut client, &mut buf).unwrap(), 0);
}
