//! A hand-made loop with asyncio's names: `sock_accept`, `sock_recv`,
//! `sock_sendall`, `create_task`, `run_forever`.
//!
//! Ports seed 003 (`003_1766f168d0ae7f13.txt`), the listing "mimicking
//! asyncio's sources": a `SelectorLoop` class (`_ready`, `_selector`,
//! `create_task`, `run_forever`, `_run_once`, `_process_tasks`,
//! `_process_events`, `wait_for`) whose `sock_accept` and `sock_recv` *try* the
//! call and only on `BlockingIOError` `yield from self.wait_for(sock)` and
//! retry; `main` and `handle_connection` (an upper-casing echo) then read like
//! asyncio code. Here coroutines are `async fn`s, `yield from` is `.await`,
//! and the executor is the few lines of [`SelectorLoop::run`]:
//!
//! | seed 003                            | here                                                                    |
//! |-------------------------------------|-------------------------------------------------------------------------|
//! | a generator, `next(gen)`            | a pinned boxed `Future`, [`Future::poll`]                               |
//! | `_current_gen` given to `register`  | `cx.waker()`, kept in `waiting` by token                                |
//! | `_ready.append(gen)`                | [`Waker::wake`]: sends the task id to `ready`                           |
//! | `_selector.select()`                | [`mio::Poll::poll`]                                                     |
//! | `_selector.unregister(key.fileobj)` | `deregister`, by the resumed `wait_for` (the coroutine owns the socket) |
//!
//! Try it:
//!
//! ```text
//! cargo run -p aio --example handmade_selector_loop   # or `-- 8001` for another port
//! nc 127.0.0.1 8000                                   # several at once; type lines
//! ```

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::task::{Context, Wake, Waker};

use mio::event::Source;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

/// A task's coroutine: what Python keeps as a generator object.
type Coroutine = Pin<Box<dyn Future<Output = ()>>>;

/// Wakes a task by putting its id on the loop's ready queue.
struct TaskWaker {
    /// The task to wake.
    id: usize,
    /// The loop's ready queue.
    ready: mpsc::Sender<usize>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        // Fails only once the loop is gone, and then nothing is left to run.
        let _ = self.ready.send(self.id);
    }
}

/// The event loop, `SelectorLoop` in the seed.
struct SelectorLoop {
    /// The OS's readiness API: `_selector`.
    selector: RefCell<Poll>,
    /// Every unfinished task by id; a task is out of the map while it runs.
    tasks: RefCell<HashMap<usize, Coroutine>>,
    /// `_ready`: the ids of tasks to run. A channel, not a `VecDeque`,
    /// because a `Waker` must be `Send + Sync`, even on one thread.
    ready: mpsc::Receiver<usize>,
    /// The sending end of `ready`, for wakers.
    ready_tx: mpsc::Sender<usize>,
    /// Tasks suspended in `wait_for`, by the token of their socket.
    waiting: RefCell<HashMap<Token, Waker>>,
    /// The next task id and the next token: neither is ever reused.
    next_id: Cell<usize>,
}

impl SelectorLoop {
    fn new() -> io::Result<Rc<SelectorLoop>> {
        let (ready_tx, ready) = mpsc::channel();
        Ok(Rc::new(SelectorLoop {
            selector: RefCell::new(Poll::new()?),
            tasks: RefCell::default(),
            ready,
            ready_tx,
            waiting: RefCell::default(),
            next_id: Cell::new(0),
        }))
    }

    fn run_forever(&self, main: impl Future<Output = ()> + 'static) -> io::Result<()> {
        self.create_task(main);
        let mut events = Events::with_capacity(128);
        loop {
            self.run_once(&mut events)?;
        }
    }

    fn create_task(&self, coro: impl Future<Output = ()> + 'static) {
        let id = self.new_id();
        self.tasks.borrow_mut().insert(id, Box::pin(coro));
        // Cannot fail: `self` holds the receiver.
        let _ = self.ready_tx.send(id);
    }

    fn run_once(&self, events: &mut Events) -> io::Result<()> {
        self.process_tasks();
        println!("Waiting for connections or data...");
        match self.selector.borrow_mut().poll(events, None) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(err) => return Err(err),
        }
        self.process_events(events);
        Ok(())
    }

    fn process_tasks(&self) {
        while let Ok(id) = self.ready.try_recv() {
            self.run(id);
        }
    }

    /// Wakes the task waiting for each ready socket; it runs on the next pass.
    fn process_events(&self, events: &Events) {
        for event in events {
            let waker = self.waiting.borrow_mut().remove(&event.token());
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// `_run(gen)`: poll the task until its next `.await` that is not ready.
    fn run(&self, id: usize) {
        // A task woken twice, or after it finished, is simply not there.
        let Some(mut coro) = self.tasks.borrow_mut().remove(&id) else {
            return;
        };
        let ready = self.ready_tx.clone();
        let waker = Waker::from(Arc::new(TaskWaker { id, ready }));
        let mut cx = Context::from_waker(&waker);
        if coro.as_mut().poll(&mut cx).is_pending() {
            self.tasks.borrow_mut().insert(id, coro);
        } // else it returned: Python's `StopIteration`, and the task is dropped.
    }

    /// Suspends the running task until `fileobj` is ready for `interest`.
    async fn wait_for(&self, fileobj: &mut impl Source, interest: Interest) -> io::Result<()> {
        let token = Token(self.new_id());
        self.selector
            .borrow()
            .registry()
            .register(fileobj, token, interest)?;
        let mut yielded = false;
        // Python's bare `yield`: back to the loop once, resumed when woken.
        poll_fn(|cx| {
            if yielded {
                self.waiting.borrow_mut().remove(&token);
                return std::task::Poll::Ready(());
            }
            // The running task, as `_current_gen` is in the seed.
            self.waiting.borrow_mut().insert(token, cx.waker().clone());
            yielded = true;
            std::task::Poll::Pending
        })
        .await;
        self.selector.borrow().registry().deregister(fileobj)
    }

    /// The seed's pattern: try the call; on `BlockingIOError` (`WouldBlock`),
    /// `yield from self.wait_for(sock)` and try again.
    async fn try_until_ready<S: Source, T>(
        &self,
        fileobj: &mut S,
        interest: Interest,
        mut call: impl FnMut(&mut S) -> io::Result<T>,
    ) -> io::Result<T> {
        loop {
            match call(fileobj) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.wait_for(fileobj, interest).await?;
                }
                result => return result,
            }
        }
    }

    /// Accepts a connection; mio's accepted sockets are non-blocking already.
    async fn sock_accept(&self, sock: &mut TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
        self.try_until_ready(sock, Interest::READABLE, |s| s.accept())
            .await
    }

    /// Receives up to `nbytes`; empty at end of stream.
    async fn sock_recv(&self, sock: &mut TcpStream, nbytes: usize) -> io::Result<Vec<u8>> {
        let mut data = vec![0; nbytes];
        let n = self
            .try_until_ready(sock, Interest::READABLE, |s| s.read(&mut data))
            .await?;
        data.truncate(n);
        Ok(data)
    }

    /// Sends all of `data`, waiting for writability as asyncio does (the
    /// seed's loop just calls `sock.send(data)` and hopes).
    async fn sock_sendall(&self, sock: &mut TcpStream, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = self
                .try_until_ready(sock, Interest::WRITABLE, |s| s.write(data))
                .await?;
            data = &data[n..];
        }
        Ok(())
    }

    fn new_id(&self) -> usize {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }
}

/// The seed's `main(host, port)`: a task per connection.
async fn serve(event_loop: Rc<SelectorLoop>, mut serv_sock: TcpListener) {
    loop {
        match event_loop.sock_accept(&mut serv_sock).await {
            Ok((sock, addr)) => {
                event_loop.create_task(handle_connection(event_loop.clone(), sock, addr));
            }
            Err(err) => println!("accept failed: {err}"),
        }
    }
}

/// The seed's `handle_connection(sock, addr)`: echo upper-cased until EOF.
async fn handle_connection(event_loop: Rc<SelectorLoop>, mut sock: TcpStream, addr: SocketAddr) {
    println!("Connected by {addr}");
    loop {
        let data = match event_loop.sock_recv(&mut sock, 1024).await {
            Ok(data) if data.is_empty() => break, // EOF: closed by the client
            Ok(data) => data,
            Err(err) => {
                println!("Client suddenly closed while receiving: {err}");
                break;
            }
        };
        println!("Received b'{}' from: {addr}", data.escape_ascii());
        let data = data.to_ascii_uppercase();
        println!("Send: b'{}' to: {addr}", data.escape_ascii());
        if let Err(err) = event_loop.sock_sendall(&mut sock, &data).await {
            println!("Client suddenly closed, cannot send: {err}");
            break;
        }
    }
    println!("Disconnected by {addr}"); // `sock` is closed as it goes out of scope
}

fn main() -> io::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port_from_args()));
    let serv_sock = TcpListener::bind(addr)?;
    println!("Server started on {addr}");
    let event_loop = SelectorLoop::new()?;
    event_loop.run_forever(serve(event_loop.clone(), serv_sock))
}

/// The port to listen on: the first argument, or 8000.
fn port_from_args() -> u16 {
    let Some(arg) = std::env::args().nth(1) else {
        return 8000;
    };
    arg.parse().unwrap_or_else(|err| {
        eprintln!("{arg:?} is not a port number ({err}); try 8001");
        std::process::exit(2)
    })
}
