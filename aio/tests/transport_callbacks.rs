//! The protocol callbacks over real sockets: their order, `connection_lost`
//! exactly once however a connection ends (close, abort, peer reset, peer
//! EOF), half-close, a panicking protocol, and transport calls made from
//! inside callbacks.
//!
//! Every wait is on an event (a recorded callback, a read completing, the
//! protocol being dropped); none is on time.

mod support;

use std::cell::RefCell;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use aio::net::TcpStream;
use aio::transport::{create_connection, create_server, BufferedProtocol, Server};
use support::protocol::{assert_callback_order, sink, Ev, Recorder};
use support::{local_listener, read_exact, read_to_end, record_errors, within};

/// A server on a free loopback port whose connections run `factory`.
async fn serve(factory: impl Fn() -> Recorder + 'static) -> (Server, SocketAddr) {
    let server = create_server(factory, "127.0.0.1", 0).await.unwrap();
    let addr = server.local_addrs()[0];
    (server, addr)
}

// ------------------------------------------------------------------ order

#[aio::test]
async fn callbacks_arrive_in_order_made_data_eof_lost() {
    let (sink, mut events) = sink();
    let (_server, addr) = serve(move || sink.recorder()).await;
    let client = TcpStream::connect_addr(addr).await.unwrap();

    // One piece at a time, each awaited, so each is its own data_received.
    for piece in [&b"one "[..], b"two ", b"three"] {
        let before = events.data_of(0).len();
        client.write_all(piece).await.unwrap();
        events.data(0, before + piece.len()).await;
    }
    client.shutdown(Shutdown::Write).unwrap();
    events.dropped(0).await;

    let log = events.log_of(0);
    assert_eq!(assert_callback_order(&log), b"one two three");
    assert!(log.contains(&Ev::Eof), "EOF was reported: {log:?}");
    assert_eq!(log[log.len() - 2], Ev::Lost(None));
    assert!(
        log.iter().filter(|e| matches!(e, Ev::Data(_))).count() >= 3,
        "each awaited piece came in its own data_received: {log:?}"
    );
    // eof_received returned false: the transport closed its side too.
    assert_eq!(within(read_to_end(&client)).await.unwrap(), b"");
}

// ------------------------------------------------- connection_lost once

#[aio::test]
async fn connection_lost_is_called_once_after_close_even_when_closed_twice() {
    let listener = local_listener();
    let addr = listener.local_addr().unwrap();
    let (sink, mut events) = sink();
    let (transport, protocol) =
        create_connection(move || sink.recorder(), "127.0.0.1", addr.port())
            .await
            .unwrap();
    let (peer, _) = listener.accept().await.unwrap();

    transport.write(b"last words");
    transport.close();
    assert!(transport.is_closing());
    transport.close();
    transport.write(b" and more"); // after close: ignored
    events.dropped(0).await;

    assert_eq!(events.log_of(0), [Ev::Made, Ev::Lost(None), Ev::Dropped]);
    // close flushed what was written before it, and nothing after.
    assert_eq!(within(read_to_end(&peer)).await.unwrap(), b"last words");
    assert!(
        protocol.with(|_| ()).is_none(),
        "the protocol is gone once connection_lost has run"
    );
    // Commands on a lost transport do nothing, and call nothing.
    transport.close();
    transport.abort();
    assert_eq!(events.lost_count(0), 1);
}

#[aio::test]
async fn connection_lost_is_called_once_after_abort() {
    let listener = local_listener();
    let addr = listener.local_addr().unwrap();
    let (sink, mut events) = sink();
    let (transport, _protocol) =
        create_connection(move || sink.recorder(), "127.0.0.1", addr.port())
            .await
            .unwrap();
    let (peer, _) = listener.accept().await.unwrap();

    transport.abort();
    assert!(transport.is_closing());
    transport.abort();
    transport.close();
    events.dropped(0).await;

    assert_eq!(events.log_of(0), [Ev::Made, Ev::Lost(None), Ev::Dropped]);
    // The socket really closed: the peer sees EOF.
    assert_eq!(within(read_to_end(&peer)).await.unwrap(), b"");
}

#[aio::test]
async fn connection_lost_reports_a_peer_reset_as_an_error() {
    let (sink, mut events) = sink();
    let (_server, addr) = serve(move || sink.recorder()).await;

    // A loopback connect completes inside the syscall; no loop turn needed.
    let client = std::net::TcpStream::connect(addr).unwrap();
    events.until(0, |e| *e == Ev::Made).await;
    // SO_LINGER 0: close sends RST instead of FIN.
    socket2::SockRef::from(&client)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client);
    events.dropped(0).await;

    let log = events.log_of(0);
    assert_eq!(log.len(), 3, "{log:?}");
    assert_eq!(log[0], Ev::Made);
    match &log[1] {
        Ev::Lost(Some((kind, _))) => assert_eq!(*kind, io::ErrorKind::ConnectionReset),
        other => panic!("expected connection_lost(Some(reset)), got {other:?}"),
    }
    assert_eq!(log[2], Ev::Dropped);
}

#[aio::test]
async fn connection_lost_follows_peer_eof_when_eof_received_returns_false() {
    let (sink, mut events) = sink();
    let (server, addr) = serve(move || sink.recorder()).await;
    let client = TcpStream::connect_addr(addr).await.unwrap();
    events.until(0, |e| *e == Ev::Made).await;

    client.shutdown(Shutdown::Write).unwrap();
    events.dropped(0).await;

    assert_eq!(
        events.log_of(0),
        [Ev::Made, Ev::Eof, Ev::Lost(None), Ev::Dropped]
    );
    assert_eq!(within(read_to_end(&client)).await.unwrap(), b"");
    // The server forgot the connection.
    assert_eq!(server.connection_count(), 0);
}

// -------------------------------------------------------------- half-close

#[aio::test]
async fn eof_received_returning_true_keeps_the_write_side_open() {
    let (sink, mut events) = sink();
    let (_server, addr) = serve(move || {
        sink.recorder().on_eof(|t| {
            t.write(b"from eof_received; ");
            true
        })
    })
    .await;
    let client = TcpStream::connect_addr(addr).await.unwrap();
    client.write_all(b"question").await.unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    events.until(0, |e| *e == Ev::Eof).await;

    // Later, from a task, outside any callback: the write side still works.
    let transport = events.transport(0);
    assert!(!transport.is_closing(), "eof_received returned true");
    transport.write(b"from a task after EOF");
    let mut first = [0; 19];
    within(read_exact(&client, &mut first)).await.unwrap();
    assert_eq!(&first, b"from eof_received; ");
    assert_eq!(events.lost_count(0), 0, "still open after the peer's EOF");

    transport.close();
    let rest = within(read_to_end(&client)).await.unwrap();
    assert_eq!(rest, b"from a task after EOF");
    events.dropped(0).await;
    let log = events.log_of(0);
    assert_eq!(assert_callback_order(&log), b"question");
    assert!(log.contains(&Ev::Eof));
    assert_eq!(log[log.len() - 2], Ev::Lost(None));
}

// ------------------------------------------------------------------ panics

#[aio::test]
async fn a_panic_in_data_received_aborts_only_that_connection() {
    let errors = record_errors();
    let (sink, mut events) = sink();
    let (_server, addr) = serve(move || {
        sink.recorder().on_data(|t, data| {
            if data == b"boom" {
                panic!("boom in data_received");
            }
            t.write(data);
        })
    })
    .await;

    let doomed = TcpStream::connect_addr(addr).await.unwrap();
    let healthy = TcpStream::connect_addr(addr).await.unwrap();
    for (stream, msg) in [(&doomed, &b"hello"[..]), (&healthy, b"world")] {
        stream.write_all(msg).await.unwrap();
        let mut back = vec![0; msg.len()];
        within(read_exact(stream, &mut back)).await.unwrap();
        assert_eq!(back, msg);
    }
    // Which recorder serves which client: the one that got "hello".
    let doomed_id = (0..2).find(|&i| events.data_of(i) == b"hello").unwrap();
    let healthy_id = 1 - doomed_id;

    doomed.write_all(b"boom").await.unwrap();
    events.dropped(doomed_id).await;

    let log = events.log_of(doomed_id);
    match &log[log.len() - 2] {
        Ev::Lost(Some((_, msg))) => assert!(
            msg.contains("panicked") && msg.contains("boom in data_received"),
            "connection_lost's error names the panic: {msg}"
        ),
        other => panic!("expected connection_lost(Some(..)), got {other:?} in {log:?}"),
    }
    // The doomed client's connection was closed by the abort.
    let end = within(read_to_end(&doomed)).await;
    assert!(
        matches!(&end, Ok(rest) if rest.is_empty()) || end.is_err(),
        "{end:?}"
    );

    // The other connection, the server and the loop carry on.
    healthy.write_all(b"still here").await.unwrap();
    let mut back = [0; 10];
    within(read_exact(&healthy, &mut back)).await.unwrap();
    assert_eq!(&back, b"still here");
    let newcomer = TcpStream::connect_addr(addr).await.unwrap();
    newcomer.write_all(b"new").await.unwrap();
    let mut back = [0; 3];
    within(read_exact(&newcomer, &mut back)).await.unwrap();
    assert_eq!(&back, b"new");
    assert_eq!(events.lost_count(healthy_id), 0);

    // Reported once, to the loop's error handler.
    let errors = errors.borrow();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].error.contains("boom in data_received"),
        "{errors:?}"
    );
    assert_eq!(events.lost_count(doomed_id), 1);
}

// ------------------------------------------------- calls from callbacks

#[aio::test]
async fn transport_methods_work_inside_callbacks() {
    let (sink, mut events) = sink();
    let seen_peer = Rc::new(RefCell::new(None));
    let (_server, addr) = serve({
        let seen_peer = seen_peer.clone();
        move || {
            let (s1, s2, seen_peer) = (sink.clone(), sink.clone(), seen_peer.clone());
            sink.recorder()
                .on_made(move |t| {
                    *seen_peer.borrow_mut() = t.peer_addr();
                    if t.local_addr().is_none() {
                        s1.fail("local_addr inside connection_made");
                    }
                    t.set_write_buffer_limits(Some(1000), None);
                    if t.write_buffer_limits() != (250, 1000) {
                        s1.fail(format!("limits {:?}", t.write_buffer_limits()));
                    }
                    t.write(b"hello; ");
                })
                .on_data(move |t, data| {
                    t.pause_reading();
                    if t.is_reading() {
                        s2.fail("is_reading after pause_reading");
                    }
                    t.resume_reading();
                    if !t.is_reading() {
                        s2.fail("not reading after resume_reading");
                    }
                    t.writelines(&[b"you said: ", data, b"; "]);
                    if data == b"quit" {
                        t.write(b"bye");
                        t.close();
                        if !t.is_closing() {
                            s2.fail("not closing after close");
                        }
                        t.write(b"ignored after close");
                    }
                })
        }
    })
    .await;

    let client = TcpStream::connect_addr(addr).await.unwrap();
    client.write_all(b"ping").await.unwrap();
    let expected = b"hello; you said: ping; ";
    let mut back = vec![0; expected.len()];
    within(read_exact(&client, &mut back)).await.unwrap();
    assert_eq!(back, expected);

    client.write_all(b"quit").await.unwrap();
    let rest = within(read_to_end(&client)).await.unwrap();
    assert_eq!(rest, b"you said: quit; bye");
    events.dropped(0).await;

    assert_eq!(events.failures(), Vec::<String>::new());
    assert_eq!(*seen_peer.borrow(), Some(client.local_addr().unwrap()));
    let log = events.log_of(0);
    assert_callback_order(&log);
    assert_eq!(log[log.len() - 2], Ev::Lost(None));
}

// ------------------------------------------------------ buffered protocol

/// Receives into its own 7-byte buffer: many reads, each straight into
/// protocol memory.
struct SmallBuffer {
    buf: [u8; 7],
    got: Vec<u8>,
    eof: bool,
    done: support::Sender<(Vec<u8>, bool, Option<io::Error>)>,
}

impl BufferedProtocol for SmallBuffer {
    fn get_buffer(&mut self, _size_hint: usize) -> &mut [u8] {
        &mut self.buf
    }

    fn buffer_updated(&mut self, nbytes: usize) {
        self.got.extend_from_slice(&self.buf[..nbytes]);
    }

    fn eof_received(&mut self) -> bool {
        self.eof = true;
        false
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        self.done
            .send((std::mem::take(&mut self.got), self.eof, error));
    }
}

#[aio::test]
async fn a_buffered_protocol_receives_everything_into_its_own_buffer() {
    const LEN: usize = 100_000;
    let data: Vec<u8> = (0..LEN).map(|k| (k % 251) as u8).collect();
    let (done, mut outcomes) = support::channel();
    let server = create_server(
        move || SmallBuffer {
            buf: [0; 7],
            got: Vec::new(),
            eof: false,
            done: done.clone(),
        },
        "127.0.0.1",
        0,
    )
    .await
    .unwrap();
    let client = TcpStream::connect_addr(server.local_addrs()[0])
        .await
        .unwrap();
    client.write_all(&data).await.unwrap();
    client.shutdown(Shutdown::Write).unwrap();

    let (got, eof, error) = within(outcomes.recv()).await.unwrap();
    assert_eq!(got.len(), LEN);
    assert!(got == data, "bytes lost or reordered");
    assert!(eof, "eof_received was not called");
    assert!(error.is_none(), "{error:?}");
}

// ---------------------------------------------------------------- loop end

/// Regression: a protocol keeping its `Transport` (the usual case) and the
/// connection held each other, so a connection still open when `aio::run`
/// returned was never closed: the peer waited for EOF for ever.
#[test]
fn a_connection_left_open_is_closed_when_its_loop_ends() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sink, events) = sink();
    aio::run(async move {
        let (transport, _protocol) = create_connection(move || sink.recorder(), "127.0.0.1", port)
            .await
            .unwrap();
        transport.write(b"bye");
        // Returning ends the loop with the connection open.
    });
    // The protocol was let go without callbacks from the closing loop...
    assert_eq!(events.log_of(0), [Ev::Made, Ev::Dropped]);
    // ...and the socket closed: the peer reads what was sent, then EOF.
    let (mut peer, _) = listener.accept().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut peer, &mut got).expect("EOF from the closed transport");
    assert_eq!(got, b"bye");
}
