//! Flow control against real peers: `pause_writing` / `resume_writing`
//! around the water marks while the peer stops and resumes reading,
//! `pause_reading` holding back `data_received` while the peer keeps
//! sending, a write buffer that stays bounded when the protocol honours
//! `pause_writing`, `writelines` ordering, and writes after `close`.
//!
//! Peers are aio sockets on the same loop whose reading is gated by an
//! `Event`; "nothing arrived while paused" is checked after a fence (a
//! round trip on a second connection of the same loop), never after a
//! sleep. Producers write until they are paused rather than a fixed
//! amount: on loopback the kernel's own send buffer starts at a few MiB
//! (it is sized from the 64 KiB MSS), so how much it absorbs before the
//! transport has to buffer varies; the peers' receive buffers are made
//! small with `socket2` to keep that bounded.

mod support;

use std::cell::{Cell, RefCell};
use std::net::{Shutdown, SocketAddr};
use std::ops::Range;
use std::rc::Rc;

use aio::net::{TcpListener, TcpStream};
use aio::sync::Event;
use aio::transport::{create_connection, create_server, Server, Transport};
use socket2::{Domain, Socket, Type};
use support::protocol::{assert_callback_order, sink, Ev, Events, Recorder};
use support::{read_exact, read_to_end, within};

/// Small water marks, so a few KiB cross them.
const HIGH: usize = 32 * 1024;
const LOW: usize = 8 * 1024;
/// The size of one write.
const CHUNK: usize = 4 * 1024;
/// A producer that has not been paused after this much is never paused.
const RUNAWAY: usize = 64 << 20;

/// Bytes `range` of an endless stream whose period (251, a prime) no chunk
/// size divides: reordered, lost or repeated chunks all show.
fn pattern(range: Range<usize>) -> Vec<u8> {
    range.map(|k| (k % 251) as u8).collect()
}

/// A loopback listener whose accepted sockets have a small receive
/// buffer, so a peer that stops reading stalls its sender sooner.
fn small_buffer_listener() -> TcpListener {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    socket.bind(&addr.into()).unwrap();
    socket.listen(16).unwrap();
    TcpListener::from_std(socket.into()).unwrap()
}

/// A client socket with a small send buffer, so its writes stall as soon
/// as the receiver stops reading.
fn small_buffer_client(addr: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    // A loopback connect completes inside the syscall.
    socket.connect(&addr.into()).unwrap();
    TcpStream::from_std(socket.into()).unwrap()
}

async fn serve(factory: impl Fn() -> Recorder + 'static) -> (Server, SocketAddr) {
    let server = create_server(factory, "127.0.0.1", 0).await.unwrap();
    let addr = server.local_addrs()[0];
    (server, addr)
}

/// A transport connected to `listener`, running a recorder built by
/// `build`, with the small water marks; and the peer's end.
async fn connect_recorder(
    listener: &TcpListener,
    build: impl FnOnce(Recorder) -> Recorder,
) -> (Transport, TcpStream, Events) {
    let (sink, events) = sink();
    let port = listener.local_addr().unwrap().port();
    let (transport, _) = create_connection(move || build(sink.recorder()), "127.0.0.1", port)
        .await
        .unwrap();
    transport.set_write_buffer_limits(Some(HIGH), Some(LOW));
    assert_eq!(transport.write_buffer_limits(), (LOW, HIGH));
    let (peer, _) = listener.accept().await.unwrap();
    (transport, peer, events)
}

fn count(log: &[Ev], ev: &Ev) -> usize {
    log.iter().filter(|e| *e == ev).count()
}

// ------------------------------------------------- pause / resume writing

#[aio::test]
async fn pause_writing_fires_above_high_and_resume_writing_at_low() {
    let listener = small_buffer_listener();
    let paused = Rc::new(Cell::new(false));
    let peer_reading = Rc::new(Cell::new(false));
    let resumed = Event::new();
    // (event, write_buffer_size, whether the peer was reading) at each call.
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (transport, peer, events) = connect_recorder(&listener, |r| {
        let (p1, p2, s1, s2) = (paused.clone(), paused.clone(), seen.clone(), seen.clone());
        let (reading, resumed) = (peer_reading.clone(), resumed.clone());
        r.on_pause(move |t| {
            p1.set(true);
            s1.borrow_mut()
                .push(("pause", t.write_buffer_size(), false));
        })
        .on_resume(move |t| {
            p2.set(false);
            s2.borrow_mut()
                .push(("resume", t.write_buffer_size(), reading.get()));
            resumed.set();
        })
    })
    .await;
    let start_reading = Event::new();
    let reader = aio::spawn({
        let start = start_reading.clone();
        async move {
            start.wait().await;
            read_to_end(&peer).await
        }
    });

    // A producer that honours pause_writing: write until told to stop.
    let mut written = 0;
    let mut sizes = Vec::new();
    while !paused.get() {
        transport.write(&pattern(written..written + CHUNK));
        written += CHUNK;
        sizes.push(transport.write_buffer_size());
        assert!(written < RUNAWAY, "pause_writing never came");
    }
    let (last, before) = sizes.split_last().unwrap();
    assert!(
        before.iter().all(|&s| s <= HIGH),
        "pause_writing came late: sizes {before:?}"
    );
    assert!(*last > HIGH && *last <= HIGH + CHUNK, "paused at {last}");
    assert_eq!(*seen.borrow(), [("pause", *last, false)]);

    // The peer starts reading; the buffer drains and resume_writing fires
    // once it is at the low-water mark.
    peer_reading.set(true);
    start_reading.set();
    within(resumed.wait()).await;
    let (what, size, reading) = seen.borrow()[1];
    assert_eq!(what, "resume");
    assert!(reading, "resume_writing before the peer read anything");
    assert!(
        size <= LOW,
        "resumed with {size} bytes buffered (low {LOW})"
    );
    assert!(!paused.get());

    // The producer goes on, then closes; the peer gets it all, in order.
    for _ in 0..2 {
        transport.write(&pattern(written..written + CHUNK));
        written += CHUNK;
    }
    transport.close();
    let got = within(reader).await.unwrap().unwrap();
    assert_eq!(got.len(), written);
    assert!(got == pattern(0..written), "bytes reordered or corrupted");
    let log = events.log_of(0);
    assert_eq!(count(&log, &Ev::PauseWriting), 1, "{:?}", seen.borrow());
    assert_eq!(count(&log, &Ev::ResumeWriting), 1, "{:?}", seen.borrow());
}

#[aio::test]
async fn a_producer_honouring_pause_writing_keeps_the_buffer_within_high_plus_one_write() {
    // The peer sends one-byte requests and never reads the answers; the
    // protocol answers each request with a chunk unless it is paused. A
    // write inside data_received that crosses the high-water mark is
    // signalled as soon as that callback returns, so at most one write
    // lands above the mark.
    let listener = small_buffer_listener();
    let paused = Rc::new(Cell::new(false));
    let answered = Rc::new(Cell::new(0usize));
    let max_buffered = Rc::new(Cell::new(0usize));
    let (transport, peer, mut events) = connect_recorder(&listener, |r| {
        let (p1, p2, p3) = (paused.clone(), paused.clone(), paused.clone());
        let (answered, max) = (answered.clone(), max_buffered.clone());
        r.on_data(move |t, _request| {
            if p1.get() {
                return;
            }
            let n = answered.get();
            t.write(&pattern(n * CHUNK..(n + 1) * CHUNK));
            answered.set(n + 1);
            max.set(max.get().max(t.write_buffer_size()));
        })
        .on_pause(move |_| p2.set(true))
        .on_resume(move |_| p3.set(false))
    })
    .await;

    // Requests, one at a time (each its own data_received), until the
    // protocol is paused, then 100 more while it stays paused.
    let mut requests = 0;
    let mut after_pause = 0;
    while after_pause < 100 {
        peer.write_all(b"?").await.unwrap();
        events.until(0, |e| matches!(e, Ev::Data(_))).await;
        requests += 1;
        if paused.get() {
            after_pause += 1;
        }
        assert!(requests * CHUNK < RUNAWAY, "pause_writing never came");
    }
    let answers = answered.get();
    assert!(
        answers < requests,
        "answered {answers} of {requests} while paused"
    );
    assert!(
        max_buffered.get() <= HIGH + CHUNK,
        "the buffer grew to {} (high {HIGH} + one write {CHUNK})",
        max_buffered.get()
    );
    assert!(transport.write_buffer_size() > HIGH);
    assert!(transport.write_buffer_size() <= HIGH + CHUNK);

    // Reading the answers resumes the producer, and they are all intact.
    let total = answers * CHUNK;
    let mut got = vec![0; total];
    within(read_exact(&peer, &mut got)).await.unwrap();
    assert!(got == pattern(0..total), "answers reordered or corrupted");
    events.until(0, |e| *e == Ev::ResumeWriting).await;
    assert!(!paused.get());
    let log = events.log_of(0);
    assert_eq!(count(&log, &Ev::PauseWriting), 1);
    assert_eq!(count(&log, &Ev::ResumeWriting), 1);
}

/// Regression: a write made through `ProtocolHandle::with` (the protocol
/// is borrowed meanwhile) that crossed the high-water mark left
/// `pause_writing` pending with nothing to deliver it, so a producer
/// driven from a task was never told to stop.
#[aio::test]
async fn pause_writing_raised_inside_protocol_handle_with_is_delivered_when_it_returns() {
    let listener = small_buffer_listener();
    let (sink, events) = sink();
    let port = listener.local_addr().unwrap().port();
    let (transport, handle) = create_connection(move || sink.recorder(), "127.0.0.1", port)
        .await
        .unwrap();
    transport.set_write_buffer_limits(Some(HIGH), Some(LOW));
    let (_peer, _) = listener.accept().await.unwrap();

    // A protocol method that writes until the buffer is over the mark, as
    // `protocol.send(message)` would.
    handle
        .with(|p| {
            let t = p.transport.clone().unwrap();
            let mut written = 0;
            while t.write_buffer_size() <= HIGH {
                t.write(&pattern(written..written + CHUNK));
                written += CHUNK;
                assert!(written < RUNAWAY);
            }
        })
        .unwrap();
    assert_eq!(
        events.log_of(0),
        [Ev::Made, Ev::PauseWriting],
        "pause_writing is due as soon as `with` returns"
    );
}

// ---------------------------------------------------------- pause reading

#[aio::test]
async fn pause_reading_stops_data_received_until_resume_reading() {
    let (sink, mut events) = sink();
    let (_server, addr) = serve(move || sink.recorder()).await;
    let client = TcpStream::connect_addr(addr).await.unwrap();
    events.until(0, |e| *e == Ev::Made).await;
    // A second connection of the same loop, used as a fence: once its data
    // has been delivered, the loop has dispatched every readiness event of
    // the first connection that came before it.
    let fence = TcpStream::connect_addr(addr).await.unwrap();
    events.until(1, |e| *e == Ev::Made).await;

    let mut sent = b"before pause|".to_vec();
    client.write_all(&sent).await.unwrap();
    events.data(0, sent.len()).await;
    let transport = events.transport(0);
    transport.pause_reading();
    assert!(!transport.is_reading());

    // The peer keeps sending, and then sends EOF.
    let mut fenced = 0;
    for round in 0..4 {
        let piece = format!("paused round {round}|").repeat(200);
        client.write_all(piece.as_bytes()).await.unwrap();
        sent.extend_from_slice(piece.as_bytes());
        let mark = format!("fence {round}|");
        fence.write_all(mark.as_bytes()).await.unwrap();
        fenced += mark.len();
        events.data(1, fenced).await;
        assert_eq!(
            events.data_of(0),
            b"before pause|",
            "data_received while paused (round {round})"
        );
    }
    client.shutdown(Shutdown::Write).unwrap();
    fence.write_all(b"last fence").await.unwrap();
    events.data(1, fenced + 10).await;
    assert_eq!(
        events.log_of(0),
        [Ev::Made, Ev::Data(b"before pause|".to_vec())],
        "nothing, not even EOF, is delivered while paused"
    );

    // Everything arrives after resume_reading, in order, then EOF.
    transport.resume_reading();
    assert!(transport.is_reading());
    events.dropped(0).await;
    let log = events.log_of(0);
    assert!(
        assert_callback_order(&log) == sent,
        "data lost or reordered"
    );
    assert!(log.contains(&Ev::Eof));
    assert_eq!(within(read_to_end(&client)).await.unwrap(), b"");
}

#[aio::test]
async fn pause_reading_inside_data_received_pushes_back_on_the_peer() {
    const BULK: usize = 1 << 20;
    let (sink, mut events) = sink();
    let (_server, addr) = serve(move || {
        // Pause on the first delivery, as a reader whose buffer is full.
        sink.recorder().on_data(|t, _| t.pause_reading())
    })
    .await;
    let client = Rc::new(small_buffer_client(addr));
    events.until(0, |e| *e == Ev::Made).await;
    let fence = TcpStream::connect_addr(addr).await.unwrap();
    events.until(1, |e| *e == Ev::Made).await;

    client.write_all(b"first").await.unwrap();
    let first = events.data(0, 5).await;
    assert_eq!(first, b"first");
    let transport = events.transport(0);
    assert!(!transport.is_reading());

    // Far more than the kernel buffers hold: the writer can only finish if
    // the transport reads.
    let writer = aio::spawn({
        let client = client.clone();
        async move { client.write_all(&pattern(0..BULK)).await }
    });
    fence.write_all(b"fence").await.unwrap();
    events.data(1, 5).await;
    assert_eq!(events.data_of(0), b"first", "data_received while paused");
    assert!(!writer.is_finished(), "the peer was not pushed back");

    // Resume repeatedly (the protocol pauses again on every delivery)
    // until the whole bulk has arrived.
    let mut got = Vec::new();
    while got.len() < 5 + BULK {
        transport.resume_reading();
        events.until(0, |e| matches!(e, Ev::Data(_))).await;
        got = events.data_of(0);
    }
    within(writer).await.unwrap().unwrap();
    let mut expected = b"first".to_vec();
    expected.extend(pattern(0..BULK));
    assert!(got == expected, "data lost or reordered");
}

// ------------------------------------------------------------- writelines

#[aio::test]
async fn writelines_delivers_every_chunk_in_order() {
    let listener = small_buffer_listener();
    let (transport, peer, mut events) = connect_recorder(&listener, |r| r).await;
    let reader = aio::spawn(async move { read_to_end(&peer).await });

    // Uneven chunks, an empty one among them, large enough that the
    // kernel takes them in part: the rest must be buffered in order. (On
    // loopback the kernel's send buffer starts at megabytes, since it is
    // sized from the 64 KiB MSS, and may grow to tcp_wmem's 4 MiB.)
    let total = 12 << 20;
    let data = pattern(0..total);
    let cuts = [0, 1, 1000, 70_001, 70_001, 6 << 20, 7 << 20, 9 << 20, total];
    let chunks: Vec<&[u8]> = cuts.windows(2).map(|w| &data[w[0]..w[1]]).collect();
    let (first, second) = chunks.split_at(5);
    transport.writelines(first);
    // The buffer is not empty now: these must queue behind it.
    assert!(transport.write_buffer_size() > 0);
    transport.writelines(second);
    transport.close();

    let got = within(reader).await.unwrap().unwrap();
    assert_eq!(got.len(), total);
    assert!(got == data, "writelines reordered or lost bytes");
    events.dropped(0).await;
    assert_eq!(events.log_of(0).last(), Some(&Ev::Dropped));
}

// ------------------------------------------------------ writes after close

#[aio::test]
async fn writes_after_close_are_ignored_and_the_buffer_is_flushed_first() {
    let listener = small_buffer_listener();
    let (transport, peer, mut events) = connect_recorder(&listener, |r| r).await;

    // Fill the kernel and the transport's buffer while the peer is idle.
    let mut written = 0;
    while transport.write_buffer_size() == 0 {
        transport.write(&pattern(written..written + CHUNK));
        written += CHUNK;
        assert!(written < RUNAWAY);
    }
    transport.close();
    assert!(transport.is_closing());
    let buffered = transport.write_buffer_size();
    transport.write(b"too late");
    transport.writelines(&[b"also", b"too late"]);
    transport.write_eof();
    assert_eq!(
        transport.write_buffer_size(),
        buffered,
        "a late write was taken"
    );
    assert_eq!(
        events.lost_count(0),
        0,
        "close waits for the buffer to drain"
    );

    let got = within(read_to_end(&peer)).await.unwrap();
    assert_eq!(
        got.len(),
        written,
        "close flushes everything written before it"
    );
    assert!(got == pattern(0..written));
    events.dropped(0).await;
    assert_eq!(events.log_of(0), [Ev::Made, Ev::Lost(None), Ev::Dropped]);
}

#[aio::test]
async fn writes_after_write_eof_are_ignored_and_reading_goes_on() {
    let listener = small_buffer_listener();
    let (transport, peer, mut events) = connect_recorder(&listener, |r| r).await;
    transport.write(b"request");
    transport.write_eof();
    transport.write(b"too late");
    // The peer sees the request, then EOF; its answer still arrives.
    assert_eq!(within(read_to_end(&peer)).await.unwrap(), b"request");
    peer.write_all(b"answer").await.unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    events.dropped(0).await;
    let log = events.log_of(0);
    assert_eq!(assert_callback_order(&log), b"answer");
    assert_eq!(log[log.len() - 2], Ev::Lost(None));
}
