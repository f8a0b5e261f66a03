//! The reactor's dispatch over real sockets: a source let go of by a
//! callback while its own event waits later in the same batch.
//!
//! A token is the address of its source's state, so the reactor must keep
//! a state it lets go of alive until the batch ends. Debug builds check
//! every dispatched token against the live states, which turns a broken
//! rule into a panic here instead of a silent use after free.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

use aio::net::{TcpListener, TcpStream};
use aio::sync::Event;
use aio::transport::{create_server, Protocol};

/// Drops `victim` when its connection receives data.
struct DropOnData {
    victim: Rc<RefCell<Option<TcpStream>>>,
    connected: Event,
    dropped: Event,
}

impl Protocol for DropOnData {
    fn connection_made(&mut self, _transport: &aio::transport::Transport) {
        self.connected.set();
    }

    fn data_received(&mut self, _data: &[u8]) {
        drop(self.victim.borrow_mut().take());
        self.dropped.set();
    }
}

#[aio::test]
async fn a_source_dropped_by_a_callback_keeps_its_pending_event_harmless() {
    let victim_slot = Rc::new(RefCell::new(None));
    let connected = Event::new();
    let dropped = Event::new();
    let factory = {
        let (victim, connected, dropped) =
            (victim_slot.clone(), connected.clone(), dropped.clone());
        move || DropOnData {
            victim: victim.clone(),
            connected: connected.clone(),
            dropped: dropped.clone(),
        }
    };
    let server = create_server(factory, "127.0.0.1", 0).await.unwrap();
    let mut trigger = std::net::TcpStream::connect(server.local_addrs()[0]).unwrap();
    connected.wait().await;

    // The victim: a task-driven socket registered with the same loop.
    let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let mut victim_peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (victim, _) = listener.accept().await.unwrap();
    *victim_slot.borrow_mut() = Some(victim);
    // A fresh registration is queued as writable at once; one loop step
    // delivers that, so the victim's next event comes after the trigger's.
    aio::yield_now().await;

    // Both become readable before the loop polls again (this task does not
    // yield in between), so one epoll batch holds both events, the
    // trigger's first: epoll reports in the order readiness arrived.
    trigger.write_all(b"go").unwrap();
    victim_peer.write_all(b"late").unwrap();
    dropped.wait().await;

    assert!(victim_slot.borrow().is_none());
    // The loop goes on serving: another round trip through a new source.
    let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let client = TcpStream::connect_addr(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (accepted, _) = listener.accept().await.unwrap();
    client.write_all(b"ping").await.unwrap();
    let mut buf = [0; 4];
    let mut got = 0;
    while got < buf.len() {
        let n = accepted.read(&mut buf[got..]).await.unwrap();
        assert_ne!(n, 0, "unexpected EOF");
        got += n;
    }
    assert_eq!(&buf, b"ping");
}
