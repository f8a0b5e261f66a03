//! The socket layer over real sockets: a TCP echo server with many
//! concurrent clients, a large transfer, half-close, a peer that resets,
//! connect errors, name resolution, UDP, and Unix sockets.

mod support;

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use aio::net::{TcpStream, UdpSocket, UnixListener, UnixStream};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use support::{channel, local_listener, read_exact, read_to_end, serve_echo, within};

/// The bytes client `c` sends as message `m`: unique to both, and of a
/// size that varies from a few bytes to a few tens of KiB.
fn message(c: usize, m: usize) -> Vec<u8> {
    let len = 16 + (c * 7919 + m * 104_729) % 40_000;
    let tag = format!("client {c} message {m}|");
    tag.bytes().cycle().take(len).collect()
}

// ---------------------------------------------------------------- echo

#[aio::test]
async fn echo_serves_many_concurrent_clients_each_getting_its_own_bytes() {
    const CLIENTS: usize = 50;
    const MESSAGES: usize = 5;
    let listener = local_listener();
    let addr = listener.local_addr().unwrap();
    let (outcomes, mut outcomes_rx) = channel();
    let server = aio::spawn(serve_echo(listener, outcomes));

    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            aio::spawn(async move {
                let stream = TcpStream::connect_addr(addr).await?;
                assert!(stream.nodelay()?, "TCP_NODELAY is on by default");
                let mut sent = 0u64;
                for m in 0..MESSAGES {
                    let msg = message(c, m);
                    stream.write_all(&msg).await?;
                    let mut back = vec![0; msg.len()];
                    read_exact(&stream, &mut back).await?;
                    assert!(back == msg, "client {c} message {m} came back changed");
                    sent += msg.len() as u64;
                }
                stream.shutdown(Shutdown::Write)?;
                // The server closes after our EOF; nothing else arrives.
                assert_eq!(read_to_end(&stream).await?, b"");
                io::Result::Ok(sent)
            })
        })
        .collect();

    let mut expected = Vec::new();
    for (c, client) in clients.into_iter().enumerate() {
        let sent = within(client).await.unwrap();
        expected.push(sent.unwrap_or_else(|e| panic!("client {c}: {e}")));
    }
    // Every connection ended cleanly, having echoed exactly what was sent.
    let mut echoed = Vec::new();
    for _ in 0..CLIENTS {
        echoed.push(within(outcomes_rx.recv()).await.unwrap().unwrap());
    }
    echoed.sort_unstable();
    expected.sort_unstable();
    assert_eq!(echoed, expected);
    assert!(!server.is_finished());
    server.cancel();
}

#[aio::test]
async fn a_large_transfer_survives_partial_reads_and_writes() {
    // Several MiB written by one task while another reads: the socket
    // buffers fill, so writes come back short or `WouldBlock` and must
    // resume on the next writable edge.
    const LEN: usize = 8 << 20;
    let listener = local_listener();
    let addr = listener.local_addr().unwrap();
    let (outcomes, mut outcomes_rx) = channel();
    let server = aio::spawn(serve_echo(listener, outcomes));

    let stream = Rc::new(TcpStream::connect_addr(addr).await.unwrap());
    let data: Rc<Vec<u8>> = Rc::new((0..LEN).map(|i| (i % 251) as u8).collect());
    let (w, d) = (stream.clone(), data.clone());
    let writer = aio::spawn(async move {
        w.write_all(&d).await?;
        w.shutdown(Shutdown::Write)
    });
    let back = within(read_to_end(&stream)).await.unwrap();
    within(writer).await.unwrap().unwrap();
    assert_eq!(back.len(), LEN);
    assert!(back == *data, "the echoed bytes differ");
    assert_eq!(
        within(outcomes_rx.recv()).await.unwrap().unwrap(),
        LEN as u64
    );
    server.cancel();
}

// ----------------------------------------------------------- half-close

#[aio::test]
async fn after_shutdown_write_the_client_still_reads_the_whole_reply() {
    let listener = local_listener();
    let addr = listener.local_addr().unwrap();
    // A server that answers only once it saw EOF, in several writes.
    let server = aio::spawn(async move {
        let (stream, _) = listener.accept().await?;
        let request = read_to_end(&stream).await?;
        let upper = request.to_ascii_uppercase();
        stream.write_all(b"you said: ").await?;
        stream.write_all(&upper).await?;
        stream.write_all(&vec![b'.'; 100_000]).await?;
        io::Result::Ok(request)
    });

    let mut client = TcpStream::connect_addr(addr).await.unwrap();
    // Through the futures-io traits this time.
    client.write_all(b"hello ").await.unwrap();
    client.write_all(b"world").await.unwrap();
    client.close().await.unwrap(); // shutdown(Write): the server sees EOF
    let mut reply = Vec::new();
    within(client.read_to_end(&mut reply)).await.unwrap();

    assert_eq!(within(server).await.unwrap().unwrap(), b"hello world");
    let mut expected = b"you said: HELLO WORLD".to_vec();
    expected.extend(std::iter::repeat_n(b'.', 100_000));
    assert_eq!(reply.len(), expected.len());
    assert!(reply == expected);
    assert!(
        client.write_all(b"more").await.is_err(),
        "writing after shutdown(Write) must fail"
    );
}

// ---------------------------------------------------------- reset peer

#[aio::test]
async fn a_reset_peer_fails_only_its_own_connection() {
    let listener = local_listener();
    let addr = listener.local_addr().unwrap();
    let (outcomes, mut outcomes_rx) = channel();
    let server = aio::spawn(serve_echo(listener, outcomes));

    // A plain blocking client on the pool: one echo round trip (so the
    // server has accepted and is reading), then SO_LINGER 0 and close,
    // which sends RST instead of FIN.
    let rude = aio::spawn_blocking(move || -> io::Result<()> {
        let mut s = std::net::TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.write_all(b"ping")?;
        let mut back = [0; 4];
        s.read_exact(&mut back)?;
        assert_eq!(&back, b"ping");
        socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO))?;
        drop(s);
        Ok(())
    });
    within(rude).await.unwrap().unwrap();

    let outcome = within(outcomes_rx.recv()).await.unwrap();
    match &outcome {
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        Ok(4) => {} // the reset read as EOF, after the echoed "ping"
        other => panic!("the reset connection ended with {other:?}"),
    }

    // The server is still serving.
    assert!(!server.is_finished(), "the server died with one connection");
    let polite = TcpStream::connect_addr(addr).await.unwrap();
    polite.write_all(b"still there?").await.unwrap();
    polite.shutdown(Shutdown::Write).unwrap();
    assert_eq!(within(read_to_end(&polite)).await.unwrap(), b"still there?");
    assert_eq!(within(outcomes_rx.recv()).await.unwrap().unwrap(), 12);
    server.cancel();
}

// -------------------------------------------------------- connect, DNS

#[aio::test]
async fn a_refused_connect_is_connection_refused_and_names_the_address() {
    // A port that was free a moment ago and has no listener now.
    let addr = {
        let l = local_listener();
        l.local_addr().unwrap()
    };
    let err = within(TcpStream::connect_addr(addr)).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");

    let err = within(TcpStream::connect("127.0.0.1", addr.port()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[aio::test]
async fn binding_a_taken_address_names_it() {
    let taken = local_listener();
    let addr = taken.local_addr().unwrap();
    let options = aio::net::BindOptions {
        reuse_address: false,
        ..Default::default()
    };
    let err = aio::net::TcpListener::bind_with(addr, &options).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[aio::test]
async fn localhost_resolves_to_loopback_and_connect_by_name_works() {
    let addrs = within(aio::net::resolve("localhost", 4321)).await.unwrap();
    assert!(!addrs.is_empty());
    for a in &addrs {
        assert!(a.ip().is_loopback(), "{a}");
        assert_eq!(a.port(), 4321);
    }
    // A literal is returned as is, brackets and all.
    let literal = aio::net::resolve("[::1]", 80).await.unwrap();
    assert_eq!(
        literal,
        [SocketAddr::new(
            IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
            80
        )]
    );

    // Connecting by name tries each address ("localhost" may give ::1
    // first, where nothing listens) until one accepts.
    let listener = local_listener();
    let port = listener.local_addr().unwrap().port();
    let accepted = aio::spawn(async move { listener.accept().await.map(|(_, peer)| peer) });
    let client = within(TcpStream::connect("localhost", port)).await.unwrap();
    let peer = within(accepted).await.unwrap().unwrap();
    assert_eq!(client.local_addr().unwrap(), peer);
    assert_eq!(client.peer_addr().unwrap().port(), port);
}

// ----------------------------------------------------------------- UDP

#[aio::test]
async fn udp_round_trip_with_and_without_connect() {
    let a = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let b = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());

    // The receiver waits first, so the datagram wakes a parked task.
    let b = Rc::new(b);
    let server = b.clone();
    let echo = aio::spawn(async move {
        let mut buf = [0; 64];
        for _ in 0..2 {
            let (n, from) = server.recv_from(&mut buf).await?;
            let mut reply = b"re: ".to_vec();
            reply.extend_from_slice(&buf[..n]);
            server.send_to(&reply, from).await?;
        }
        io::Result::Ok(())
    });

    a.send_to(b"ping", b_addr).await.unwrap();
    let mut buf = [0; 64];
    let (n, from) = within(a.recv_from(&mut buf)).await.unwrap();
    assert_eq!((&buf[..n], from), (&b"re: ping"[..], b_addr));

    // Connected: send/recv talk to the one peer; boundaries are kept.
    a.connect("127.0.0.1", b_addr.port()).await.unwrap();
    assert_eq!(a.peer_addr().unwrap(), b_addr);
    a.send(b"pong").await.unwrap();
    let n = within(a.recv(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], b"re: pong");
    within(echo).await.unwrap().unwrap();
    assert_ne!(a_addr, b_addr);
}

// ---------------------------------------------------------------- Unix

#[aio::test]
async fn unix_stream_pair_round_trip_and_half_close() {
    let (a, b) = UnixStream::pair().unwrap();
    let b = aio::spawn(async move {
        let mut got = Vec::new();
        let mut buf = [0; 7];
        loop {
            match b.read(&mut buf).await? {
                0 => break,
                n => got.extend_from_slice(&buf[..n]),
            }
        }
        b.write_all(format!("{} bytes", got.len()).as_bytes())
            .await?;
        io::Result::Ok(got)
    });
    a.write_all(b"over a unix socket").await.unwrap();
    a.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    let mut buf = [0; 64];
    loop {
        match within(a.read(&mut buf)).await.unwrap() {
            0 => break,
            n => reply.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(within(b).await.unwrap().unwrap(), b"over a unix socket");
    assert_eq!(reply, b"18 bytes");
}

#[aio::test]
async fn unix_listener_accepts_and_echoes() {
    let path = support::unique_socket_path("echo");
    let listener = UnixListener::bind(&path).unwrap();
    assert_eq!(
        listener.local_addr().unwrap().as_pathname(),
        Some(path.as_path())
    );
    // The path is taken now, and the error says which path.
    let err = UnixListener::bind(&path).unwrap_err();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );

    let server = aio::spawn(async move {
        let (stream, _) = listener.accept().await?;
        let mut buf = [0; 1024];
        loop {
            match stream.read(&mut buf).await? {
                0 => return io::Result::Ok(()),
                n => stream.write_all(&buf[..n]).await?,
            }
        }
    });
    let client = within(UnixStream::connect(&path)).await.unwrap();
    client.write_all(b"hello, listener").await.unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    let mut buf = [0; 4];
    loop {
        match within(client.read(&mut buf)).await.unwrap() {
            0 => break,
            n => reply.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(reply, b"hello, listener");
    within(server).await.unwrap().unwrap();
    std::fs::remove_file(&path).unwrap();

    let err = within(UnixStream::connect(&path)).await.unwrap_err();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

/// `readable`/`try_read`/`writable`/`try_write`: waiting holds no buffer,
/// trying never waits, and a spent readiness says `WouldBlock`.
#[aio::test]
async fn readiness_then_try_read_and_try_write_without_waiting() {
    let listener = local_listener();
    let client = TcpStream::connect_addr(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();

    // Nothing sent yet: the first attempt finds the queue empty, and the
    // readiness it spent stays spent until a new edge.
    let mut buf = [0; 16];
    let first = server.try_read(&mut buf);
    assert_eq!(first.unwrap_err().kind(), io::ErrorKind::WouldBlock);
    assert_eq!(
        server.try_read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );

    client.writable().await.unwrap();
    assert_eq!(client.try_write(b"hello").unwrap(), 5);
    within(server.readable()).await.unwrap();
    assert_eq!(server.try_read(&mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"hello");
    // A short read drained the queue: readiness is spent without a syscall.
    assert_eq!(
        server.try_read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );

    // EOF is readable too, and reads as 0.
    client.shutdown(Shutdown::Write).unwrap();
    within(server.readable()).await.unwrap();
    assert_eq!(server.try_read(&mut buf).unwrap(), 0);
}
