//! A hand-made event loop resuming coroutines: `_ready`, `wait_for`, `select`.
//!
//! Ports seed 003 (`003_1766f168d0ae7f13.txt`), the 100-line "first version of
//! asynchrony": generators as coroutines on a `selectors` loop. A `_ready`
//! list of generators to run; `create_task(gen)` appends to it;
//! `wait_for(sock)` registers the socket with the selector, with the running
//! generator (`_current_gen`) as its data, and the generator then `yield`s;
//! `loop(main_gen)` runs the ready generators with `next(gen)`, then
//! `select()`s and resumes the generator each ready socket was registered
//! for. `main` accepts connections and starts a `handle_connection` task for
//! each, which upper-cases what it receives and hangs up on `close`.
//!
//! Rust has no generators on stable, so each coroutine is written out as the
//! state machine a generator is underneath: [`Coroutine::resume`] is
//! `next(gen)`, its state field says at which `yield` it is suspended, and
//! returning [`Step::Yield`] or [`Step::Return`] is `yield` or
//! `StopIteration`. This is also what the compiler makes of an `async fn`;
//! `handmade_selector_loop` lets it do so.
//!
//! Two departures: `wait_for` takes the interest, so `handle_connection` waits
//! for writability instead of hoping `send` won't block; and as the coroutine,
//! not the loop, owns its socket, the loop "unregisters" a resumed task by
//! taking it out of `waiting` and the next `wait_for` re-arms the same
//! registration (mio's `reregister`, which also reports a socket that is
//! still ready, as `selectors` would).
//!
//! Try it:
//!
//! ```text
//! cargo run -p aio --example handmade_loop   # or `-- 8001` for another port
//! nc 127.0.0.1 8000                          # several at once; type lines, or `close`
//! ```
//!
//! The server logs each task it creates and runs, and each time the loop
//! goes to sleep in `select`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::event::Source;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

/// How a coroutine gives control back to the loop.
enum Step {
    /// Python's `yield`, after a call to [`Loop::wait_for`]: resume me when
    /// my socket is ready.
    Yield,
    /// Python's `StopIteration`: the coroutine has returned.
    Return,
}

/// A generator written by hand.
trait Coroutine {
    /// Python's `next(gen)`: run from the last `yield` to the next one, or to
    /// the end.
    fn resume(&mut self, lp: &mut Loop) -> Step;
}

/// A coroutine the loop schedules.
struct Task {
    /// Names the task in the log, where Python prints the generator object.
    name: String,
    /// Identifies the task to the selector: the `data` of its `SelectorKey`.
    token: Token,
    /// The coroutine itself.
    coro: Box<dyn Coroutine>,
}

/// The loop: the module-level globals of the Python listing.
struct Loop {
    /// Tasks to run on the next pass: `_ready`.
    ready: VecDeque<Task>,
    /// Tasks suspended in `wait_for`, by the token their socket reports with.
    waiting: HashMap<Token, Task>,
    /// Tokens whose socket is in the selector already, so `wait_for` re-arms
    /// it rather than registering it twice.
    registered: HashSet<Token>,
    /// The OS's readiness API: `_selector`.
    selector: Poll,
    /// The token of the task being resumed: `_current_gen`.
    current: Token,
    /// The token for the next task created.
    next_token: usize,
}

impl Loop {
    fn new() -> io::Result<Loop> {
        Ok(Loop {
            ready: VecDeque::new(),
            waiting: HashMap::new(),
            registered: HashSet::new(),
            selector: Poll::new()?,
            current: Token(0),
            next_token: 0,
        })
    }

    /// `loop(main_gen)`: run ready tasks, then sleep in `select` until
    /// sockets are ready and resume the tasks waiting for them. For ever.
    fn run_forever(&mut self, main: impl Coroutine + 'static) -> io::Result<()> {
        self.create_task("main".to_string(), main);
        let mut events = Events::with_capacity(128);
        loop {
            while let Some(task) = self.ready.pop_front() {
                println!("(Run task {}...)", task.name);
                self.run(task);
            }

            println!("Waiting for connections or data...");
            match self.selector.poll(&mut events, None) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
            for event in &events {
                // Taking the task out of `waiting` is the listing's
                // `_selector.unregister(key.fileobj)`.
                if let Some(task) = self.waiting.remove(&event.token()) {
                    self.run(task);
                }
            }
        }
    }

    /// `create_task(gen)`: schedule a coroutine to start on the next pass.
    fn create_task(&mut self, name: String, coro: impl Coroutine + 'static) {
        println!("(Create task {name}...)");
        let token = Token(self.next_token);
        self.next_token += 1;
        self.ready.push_back(Task {
            name,
            token,
            coro: Box::new(coro),
        });
    }

    /// `_run(gen)`: resume a task until it yields or returns.
    fn run(&mut self, mut task: Task) {
        self.current = task.token;
        match task.coro.resume(self) {
            Step::Yield => {
                self.waiting.insert(task.token, task);
            }
            // Dropping the task drops its socket, which closes it and takes
            // it off the selector.
            Step::Return => {
                self.registered.remove(&task.token);
            }
        }
    }

    /// `wait_for(fileobj)`: have the selector wake the running task when
    /// `fileobj` is ready for `interest`. The task then returns
    /// [`Step::Yield`].
    fn wait_for(&mut self, fileobj: &mut impl Source, interest: Interest) -> io::Result<()> {
        let registry = self.selector.registry();
        if self.registered.insert(self.current) {
            registry.register(fileobj, self.current, interest)
        } else {
            registry.reregister(fileobj, self.current, interest)
        }
    }
}

/// `main(host, port)`: accept connections for ever, a task for each.
struct Main {
    /// The listening socket.
    serv_sock: TcpListener,
    /// Whether the first `next()` has run, i.e. we are suspended at the yield.
    started: bool,
}

impl Coroutine for Main {
    fn resume(&mut self, lp: &mut Loop) -> Step {
        // `while True: wait_for(serv_sock); yield; accept(); create_task(...)`
        if self.started {
            // Resumed after the `yield`: a client is waiting, accept() won't block.
            match self.serv_sock.accept() {
                Ok((sock, addr)) => {
                    println!("Connected by {addr}");
                    let name = format!("handle_connection({addr})");
                    lp.create_task(name, HandleConnection::new(sock, addr));
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {} // a false alarm
                Err(err) => println!("accept failed: {err}"),
            }
        }
        self.started = true;
        match lp.wait_for(&mut self.serv_sock, Interest::READABLE) {
            Ok(()) => Step::Yield,
            Err(err) => {
                println!("Cannot wait for connections: {err}");
                Step::Return
            }
        }
    }
}

/// `handle_connection(sock, addr)`: upper-case what the client sends.
struct HandleConnection {
    /// The client's socket; closed when the task is dropped.
    sock: TcpStream,
    /// The client's address, for the log.
    addr: SocketAddr,
    /// Where the generator is suspended.
    state: State,
}

/// The points at which `handle_connection` can be suspended.
enum State {
    /// Not started: the first `next()` runs to the first `yield`.
    Start,
    /// At `yield wait_for(sock)` before `recv`.
    Receiving,
    /// Waiting to send the rest of `data`, from `sent` on.
    Sending { data: Vec<u8>, sent: usize },
}

impl Coroutine for HandleConnection {
    fn resume(&mut self, lp: &mut Loop) -> Step {
        loop {
            match &mut self.state {
                State::Start => {
                    self.state = State::Receiving;
                    return self.wait_for(lp, Interest::READABLE);
                }
                State::Receiving => {
                    let mut buf = [0; 1024];
                    let data = match self.sock.read(&mut buf) {
                        Ok(0) => return self.disconnect(), // EOF: closed by the client
                        Ok(n) => &buf[..n],
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                            return self.wait_for(lp, Interest::READABLE);
                        }
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                        Err(err) => {
                            println!("Client suddenly closed while receiving: {err}");
                            return self.disconnect();
                        }
                    };
                    println!("Received b'{}' from: {}", data.escape_ascii(), self.addr);
                    if data.trim_ascii() == b"close" {
                        return self.disconnect();
                    }
                    let data = data.to_ascii_uppercase();
                    println!("Send: b'{}' to: {}", data.escape_ascii(), self.addr);
                    self.state = State::Sending { data, sent: 0 };
                }
                State::Sending { data, sent } => match self.sock.write(&data[*sent..]) {
                    Ok(n) => {
                        *sent += n;
                        if *sent == data.len() {
                            self.state = State::Receiving;
                            return self.wait_for(lp, Interest::READABLE);
                        }
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                        return self.wait_for(lp, Interest::WRITABLE);
                    }
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => {
                        println!("Client suddenly closed, cannot send: {err}");
                        return self.disconnect();
                    }
                },
            }
        }
    }
}

impl HandleConnection {
    fn new(sock: TcpStream, addr: SocketAddr) -> HandleConnection {
        let state = State::Start;
        HandleConnection { sock, addr, state }
    }

    /// `yield wait_for(sock)`, staying in the current state.
    fn wait_for(&mut self, lp: &mut Loop, interest: Interest) -> Step {
        match lp.wait_for(&mut self.sock, interest) {
            Ok(()) => Step::Yield,
            Err(err) => {
                println!("Cannot wait for {}: {err}", self.addr);
                self.disconnect()
            }
        }
    }

    /// The end of the generator; the loop drops it, closing the socket.
    fn disconnect(&self) -> Step {
        println!("Disconnected by {}", self.addr);
        Step::Return
    }
}

fn main() -> io::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port_from_args()));
    let serv_sock = TcpListener::bind(addr)?;
    println!("Server started on {addr}");
    Loop::new()?.run_forever(Main {
        serv_sock,
        started: false,
    })
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
