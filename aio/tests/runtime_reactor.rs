//! The reactor's dispatch over real sockets: a source let go of by a
//! callback while its own event waits later in the same batch, and the
//! waker a task reading in a loop leaves with its socket.
//!
//! A token is the address of its source's state, so the reactor must keep
//! a state it lets go of alive until the batch ends. Debug builds check
//! every dispatched token against the live states, which turns a broken
//! rule into a panic here instead of a silent use after free.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io::{self, Write};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

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

/// A waker that wakes `task` and counts how often it was cloned.
struct Counted {
    task: Waker,
    clones: AtomicUsize,
}

static COUNTED: RawWakerVTable =
    RawWakerVTable::new(counted_clone, counted_wake, counted_wake, counted_drop);

// SAFETY (all four): `data` is always a `&'static Counted` (see
// `counted_waker`), shared and never freed; only its atomic counter and
// the waker inside, which is `Sync`, are used through it.
unsafe fn counted_clone(data: *const ()) -> RawWaker {
    // SAFETY: see above.
    let counted = unsafe { &*data.cast::<Counted>() };
    counted.clones.fetch_add(1, Ordering::Relaxed);
    RawWaker::new(data, &COUNTED)
}

unsafe fn counted_wake(data: *const ()) {
    // SAFETY: see above.
    unsafe { &*data.cast::<Counted>() }.task.wake_by_ref();
}

unsafe fn counted_drop(_: *const ()) {}

fn counted_waker(counted: &'static Counted) -> Waker {
    let data = (counted as *const Counted).cast::<()>();
    // SAFETY: the vtable's functions keep its contract for a `data` that
    // points to a `Counted` living for the rest of the program.
    unsafe { Waker::from_raw(RawWaker::new(data, &COUNTED)) }
}

#[aio::test]
async fn a_task_reading_in_a_loop_lends_its_waker_once() {
    let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (stream, _) = listener.accept().await.unwrap();
    let task = poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
    // Leaked: the socket's state may keep a clone until the loop ends.
    let counted: &'static Counted = Box::leak(Box::new(Counted {
        task,
        clones: AtomicUsize::new(0),
    }));
    let waker = counted_waker(counted);
    let mut byte = [0u8; 1];
    for round in 0..3 {
        // Drained to `WouldBlock`, nothing is readable, and the loop
        // cannot learn otherwise before this task yields: the wait below
        // is a real one.
        loop {
            match stream.try_read(&mut byte) {
                Ok(n) => assert_eq!(n, 1, "round {round}: unexpected EOF"),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("round {round}: {e}"),
            }
        }
        let mut readable = pin!(stream.readable());
        let mut waited = false;
        poll_fn(|_| {
            let poll = readable.as_mut().poll(&mut Context::from_waker(&waker));
            if poll.is_pending() && !waited {
                waited = true;
                peer.write_all(b"x").unwrap();
            }
            poll
        })
        .await
        .unwrap();
        assert!(waited, "round {round}: readable without a wait");
    }
    // Lent at the first wait and found in the socket's slot at the others:
    // a clone per wait (and a drop per wake) used to cost two atomic
    // operations per read.
    assert_eq!(counted.clones.load(Ordering::Relaxed), 1);
}
