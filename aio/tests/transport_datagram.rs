//! UDP endpoints: an echo round trip through a `DatagramProtocol`, and
//! errors reported to `error_received` without closing the endpoint.

mod support;

use std::io;
use std::net::SocketAddr;

use aio::net::UdpSocket;
use aio::transport::{create_datagram_endpoint, DatagramProtocol, DatagramTransport};
use support::{channel, within, Sender};

/// What a [`Udp`] protocol saw.
#[derive(Debug)]
enum Dg {
    Made,
    Datagram(Vec<u8>, SocketAddr),
    Error(io::ErrorKind),
    Lost,
}

/// Records its events; echoes datagrams back when `echo` is set.
struct Udp {
    echo: bool,
    transport: Option<DatagramTransport>,
    events: Sender<Dg>,
}

impl DatagramProtocol for Udp {
    fn connection_made(&mut self, transport: &DatagramTransport) {
        self.transport = Some(transport.clone());
        self.events.send(Dg::Made);
    }

    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        if self.echo {
            if let Some(t) = &self.transport {
                t.sendto(data, Some(addr));
            }
        }
        self.events.send(Dg::Datagram(data.to_vec(), addr));
    }

    fn error_received(&mut self, error: io::Error) {
        self.events.send(Dg::Error(error.kind()));
    }

    fn connection_lost(&mut self, _error: Option<io::Error>) {
        self.events.send(Dg::Lost);
    }
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[aio::test]
async fn an_echo_endpoint_answers_each_datagram() {
    let (tx, mut rx) = channel();
    let server = create_datagram_endpoint(
        move || Udp {
            echo: true,
            transport: None,
            events: tx,
        },
        any_port(),
        None,
    )
    .await
    .unwrap();
    assert!(matches!(rx.recv().await, Ok(Dg::Made)));
    let server_addr = server.local_addr().unwrap();

    let client = UdpSocket::bind(any_port()).unwrap();
    let client_addr = client.local_addr().unwrap();
    for msg in [&b"first"[..], b"", b"third, a little longer"] {
        client.send_to(msg, server_addr).await.unwrap();
        let mut buf = [0; 64];
        let (n, from) = within(client.recv_from(&mut buf)).await.unwrap();
        assert_eq!(&buf[..n], msg, "echoed whole, as one datagram");
        assert_eq!(from, server_addr);
        match within(rx.recv()).await {
            Ok(Dg::Datagram(d, from)) => {
                assert_eq!(d, msg);
                assert_eq!(from, client_addr);
            }
            other => panic!("expected a datagram, got {other:?}"),
        }
    }
    assert_eq!(server.write_buffer_size(), 0);

    server.close();
    assert!(server.is_closing());
    assert!(matches!(within(rx.recv()).await, Ok(Dg::Lost)));
    // connection_lost was the last call; the protocol (and its sender) is
    // gone, which closes the channel.
    assert!(within(rx.recv()).await.is_err());
}

#[aio::test]
async fn error_received_does_not_close_the_endpoint() {
    // A peer that goes away: the endpoint is connected to its port, so the
    // ICMP "port unreachable" comes back as ECONNREFUSED.
    let peer = std::net::UdpSocket::bind(any_port()).unwrap();
    let peer_addr = peer.local_addr().unwrap();
    drop(peer);

    let (tx, mut rx) = channel();
    let endpoint = create_datagram_endpoint(
        move || Udp {
            echo: false,
            transport: None,
            events: tx,
        },
        any_port(),
        Some(("127.0.0.1", peer_addr.port())),
    )
    .await
    .unwrap();
    assert!(matches!(rx.recv().await, Ok(Dg::Made)));

    endpoint.sendto(b"anyone there?", None);
    match within(rx.recv()).await {
        Ok(Dg::Error(kind)) => assert_eq!(kind, io::ErrorKind::ConnectionRefused),
        other => panic!("expected error_received, got {other:?}"),
    }
    // A datagram larger than UDP allows fails at once (EMSGSIZE).
    endpoint.sendto(&vec![0; 70_000], None);
    assert!(matches!(within(rx.recv()).await, Ok(Dg::Error(_))));
    assert!(!endpoint.is_closing(), "an error closed the endpoint");

    // The peer comes back on the same port; the endpoint still works both
    // ways.
    let peer = UdpSocket::bind(peer_addr).unwrap();
    endpoint.sendto(b"hello again", None);
    let mut buf = [0; 64];
    let (n, from) = within(peer.recv_from(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], b"hello again");
    peer.send_to(b"welcome back", from).await.unwrap();
    match within(rx.recv()).await {
        Ok(Dg::Datagram(d, from)) => {
            assert_eq!(d, b"welcome back");
            assert_eq!(from, peer_addr);
        }
        other => panic!("expected a datagram, got {other:?}"),
    }
    endpoint.close();
    assert!(matches!(within(rx.recv()).await, Ok(Dg::Lost)));
}

/// Regression: an endpoint whose protocol keeps its transport stayed bound
/// after its loop ended (the two held each other).
#[test]
fn an_endpoint_left_open_is_closed_when_its_loop_ends() {
    let (tx, rx) = channel();
    let addr = aio::run(async move {
        let protocol = || Udp {
            echo: true,
            transport: None,
            events: tx,
        };
        let endpoint = create_datagram_endpoint(protocol, any_port(), None)
            .await
            .unwrap();
        endpoint.local_addr().unwrap()
    });
    // The protocol was dropped (its sender with it) without callbacks...
    assert!(matches!(rx.try_recv(), Some(Dg::Made)));
    assert!(rx.try_recv().is_none());
    // ...and the port is free again.
    std::net::UdpSocket::bind(addr).expect("the endpoint's port is still bound");
}
