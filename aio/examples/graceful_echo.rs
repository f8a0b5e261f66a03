//! Graceful shutdown with a deadline: on SIGINT or SIGTERM stop accepting,
//! give each client task up to 2 seconds to finish, then exit.
//!
//! Ports seed 001 (`001_2822c7fae0023b4d.txt`), its final listing: the
//! `sock_*` echo server (with the `boom` error, logged, and the connection
//! closed in `finally`) that keeps every `echo_task` in a list; SIGINT and
//! SIGTERM handlers `raise GracefulExit`, which ends
//! `loop.run_until_complete(main())`; the `except GracefulExit` branch then
//! runs `close_echo_tasks`, which awaits `asyncio.wait_for(task, 2)` for
//! each task and ignores the time-outs.
//!
//! | asyncio                                     | aio                                   |
//! |---------------------------------------------|---------------------------------------|
//! | handlers raising `GracefulExit` out of the loop | `main` awaiting [`Signals::recv`]: the wait simply ends |
//! | a hand-made loop, because `asyncio.run` would cancel the tasks | not needed: `main` still runs while it drains |
//! | `asyncio.wait_for(task, 2)`                 | [`aio::timeout`]`(2 s, task)`, then [`aio::TaskRef::cancel`] on time-out |
//!
//! `wait_for` cancels the task when time runs out. Dropping an aio `Task`
//! handle only detaches the task, so the port cancels it explicitly. Like
//! the seed, it waits up to 2 seconds *per task*, one after another; `aio
//! echo` uses one deadline for all connections instead.
//!
//! Once the signals are hooked, Ctrl-C no longer kills the program, so
//! while it drains a second Ctrl-C exits at once.
//!
//! Try it:
//!
//! ```text
//! cargo run -p aio --example graceful_echo   # or `-- 8001` for another port
//! nc 127.0.0.1 8000                          # type lines, or `boom`
//! ```
//!
//! then press Ctrl-C in the server's terminal (or `kill PID`): the open
//! `nc` keeps being echoed for 2 seconds, then is cut off, and the server
//! exits.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use aio::net::{TcpListener, TcpStream};
use aio::signal::{Signal, Signals};
use aio::Task;

/// How long `close_echo_tasks` gives each task.
const GRACE: Duration = Duration::from_secs(2);

/// The echo tasks started so far.
type EchoTasks = Rc<RefCell<Vec<Task<()>>>>;

/// The seed's `echo`, with `boom` as an error.
async fn echo(connection: &TcpStream) -> io::Result<()> {
    let mut data = [0; 1024];
    loop {
        let n = connection.read(&mut data).await?;
        if n == 0 {
            return Ok(());
        }
        println!("got data!");
        if data[..n].trim_ascii_end() == b"boom" {
            return Err(io::Error::other("Unexpected network error"));
        }
        connection.write_all(&data[..n]).await?;
    }
}

async fn connection_listener(server_socket: TcpListener, echo_tasks: EchoTasks) -> io::Result<()> {
    loop {
        let (connection, address) = server_socket.accept().await?;
        println!("Got a connection from {address}");
        let task = aio::spawn(async move {
            // try / except / finally
            if let Err(err) = echo(&connection).await {
                eprintln!("{address}: {err}"); // logging.exception(ex)
            }
            drop(connection); // connection.close()
        });
        let mut tasks = echo_tasks.borrow_mut();
        // Unlike the seed, forget the tasks that are done, so a long-running
        // server's list does not grow for ever.
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }
}

async fn close_echo_tasks(echo_tasks: Vec<Task<()>>) {
    for task in echo_tasks {
        let handle = task.task_ref();
        if aio::timeout(GRACE, task).await.is_err() {
            // Here we expect the time-out; like wait_for, cancel the task.
            handle.cancel();
        }
    }
}

#[aio::main]
async fn main() -> io::Result<()> {
    let address = SocketAddr::from(([127, 0, 0, 1], port_from_args()));
    let server_socket = TcpListener::bind(address)?;
    let mut signals = Signals::new(&[Signal::Int, Signal::Term])?;
    println!("Listening on {address}; Ctrl-C or SIGTERM stops it gracefully");

    let echo_tasks = EchoTasks::default();
    let listener = aio::spawn(connection_listener(server_socket, echo_tasks.clone()));

    // GracefulExit: waiting for the first signal ends here.
    let signal = signals.recv().await;
    println!(
        "Got {}: no longer accepting",
        signal.map_or("?", Signal::name)
    );
    listener.cancel(); // closes the server socket at the loop's next step
    let _force = aio::signal::add_handler(Signal::Int, || {
        println!("Second SIGINT: exiting now");
        std::process::exit(130);
    })?;

    let tasks = std::mem::take(&mut *echo_tasks.borrow_mut());
    println!("Giving {} connection(s) up to {GRACE:?} each", tasks.len());
    close_echo_tasks(tasks).await;
    println!("Bye");
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
