//! A server that knows its clients: it welcomes each newcomer with the
//! number online, tells everyone when someone joins or leaves, and echoes
//! each client's lines back to that client.
//!
//! Ports seed 000 (`000_64d4e01f706e344e.txt`), the `ServerState` listing
//! of "creating servers": `add_client` appends the writer to `_writers`,
//! awaits `_on_connect` (the welcome, then `_notify_all('A new user
//! connected!')`) and starts an `_echo` task; `_echo` loops on `readline`
//! until `b''`, writing each line back, then removes the writer and
//! notifies the rest; `_notify_all` writes to every writer and drops
//! those that fail. `main` wraps `add_client` as the `start_server`
//! callback and serves forever.
//!
//! | asyncio                                 | aio                                   |
//! |-----------------------------------------|---------------------------------------|
//! | a `ServerState` object shared by every callback | an `Rc<ServerState>`: one loop, one thread, no lock |
//! | `self._writers: list[StreamWriter]`     | `RefCell<Vec<(id, Rc<StreamWriter>)>>`; the id finds a writer to remove |
//! | `asyncio.create_task(self._echo(...))`  | [`aio::spawn`]                        |
//! | `logging.exception(...)`                | a line on stderr                      |
//!
//! Two bugs of the listing are not ported: `_echo` removes a departed
//! writer twice (the second `remove` raises `ValueError` in the task), and
//! `_notify_all` removes from the list it is iterating over (so it skips
//! the next writer). Here each writer is removed once, and notifying walks
//! a snapshot of the list (no `RefCell` borrow is held across an
//! `await`). One quirk is dropped too: the newcomer, already in the list,
//! was told that a new user connected; here the welcome is enough.
//!
//! Notifying awaits each client's `drain` in turn, as the seed does, so a
//! client that stops reading can hold everyone else's notice up; `aio
//! chat` bounds each client's backlog instead.
//!
//! Try it with two or three clients:
//!
//! ```text
//! cargo run -p aio --example server_state   # or `-- 8001` for another port
//! nc 127.0.0.1 8000                         # in several terminals; type lines, quit one with Ctrl-D
//! ```

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;

use aio::streams::{StreamReader, StreamWriter};

/// Who is connected, shared by every connection's tasks.
#[derive(Default)]
struct ServerState {
    /// The connected clients' writers, each with the id its `_echo` task
    /// uses to remove it.
    writers: RefCell<Vec<(u64, Rc<StreamWriter>)>>,
    /// The id for the next client.
    next_id: Cell<u64>,
}

impl ServerState {
    /// Adds the client to the server state and starts its echo task.
    async fn add_client(self: Rc<Self>, reader: StreamReader, writer: StreamWriter) {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let writer = Rc::new(writer);
        self.writers.borrow_mut().push((id, writer.clone()));
        self.on_connect(id, &writer).await;
        aio::spawn(self.clone().echo(id, reader, writer));
    }

    /// Tells the newcomer how many users are connected, and everyone else
    /// that a new user came.
    async fn on_connect(&self, id: u64, writer: &StreamWriter) {
        let count = self.writers.borrow().len();
        writer.write(format!("Welcome! Connected users: {count}!\n").as_bytes());
        if let Err(err) = writer.drain().await {
            eprintln!("Error writing to a client: {err}");
        }
        self.notify_all("A new user connected!\n", Some(id)).await;
    }

    /// Echoes the client's lines back to it; when it leaves, removes it and
    /// tells the others.
    async fn echo(self: Rc<Self>, id: u64, mut reader: StreamReader, writer: Rc<StreamWriter>) {
        loop {
            match reader.readline().await {
                Ok(data) if data.is_empty() => break, // EOF
                Ok(data) => {
                    writer.write(&data);
                    if let Err(err) = writer.drain().await {
                        eprintln!("Error writing to a client: {err}");
                        break;
                    }
                }
                Err(err) => {
                    eprintln!("Error reading from a client: {err}");
                    break;
                }
            }
        }
        self.remove(id);
        let left = self.writers.borrow().len();
        let message = format!("A client disconnected. Users left: {left}!\n");
        self.notify_all(&message, None).await;
        // The last `Rc<StreamWriter>` goes here: the connection closes.
    }

    /// Sends `message` to every client but `except`, removing those whose
    /// connection fails.
    async fn notify_all(&self, message: &str, except: Option<u64>) {
        // A snapshot: clients may come and go while this awaits.
        let writers = self.writers.borrow().clone();
        for (id, writer) in writers {
            if Some(id) == except {
                continue;
            }
            writer.write(message.as_bytes());
            if let Err(err) = writer.drain().await {
                eprintln!("Error writing to a client: {err}");
                self.remove(id);
            }
        }
    }

    /// Forgets the client `id` (a no-op if it is already gone).
    fn remove(&self, id: u64) {
        self.writers.borrow_mut().retain(|(other, _)| *other != id);
    }
}

#[aio::main]
async fn main() -> io::Result<()> {
    let server_state = Rc::new(ServerState::default());
    let client_connected = move |reader, writer| server_state.clone().add_client(reader, writer);

    let server = aio::start_server(client_connected, "127.0.0.1", port_from_args()).await?;
    println!("Server started on {}", server.local_addrs()[0]);
    server.serve_forever().await;
    Ok(())
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
