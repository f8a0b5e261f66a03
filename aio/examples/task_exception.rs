//! A failing task: reported, and contained to its one client.
//!
//! Ports seed 001 (`001_2822c7fae0023b4d.txt`), the listings "handling
//! errors in tasks": the `sock_*` echo server whose `echo` raises
//! `Exception('Network error')` when a client sends `boom`, and the fix
//! that wraps the body in `try` / `except` (`logging.exception`) /
//! `finally` (`connection.close()`).
//!
//! In Python the failed task's exception sits unseen until the task is
//! garbage-collected, and then `Task exception was never retrieved` is
//! printed, at some unpredictable moment. In aio a task that panics is
//! finished with `TaskError::Panicked`, and as soon as nobody can await it
//! any more (here at once: the handle was dropped when the task was
//! spawned) the loop's error handler reports it, once. The default handler
//! logs through `tracing`; this example installs a subscriber so it shows
//! on stderr. Either way the panic ends only that client's task: the server
//! and the other clients carry on.
//!
//! Rust's panic hook also prints `thread 'main' panicked at ...` (the
//! traceback's counterpart) at the moment of the panic.
//!
//! With `--handled`, `echo` returns an error instead of panicking and the
//! task logs it and closes the connection: the seed's second listing, and
//! the idiomatic Rust form (`Result` instead of `raise`).
//!
//! Try it:
//!
//! ```text
//! cargo run -p aio --example task_exception               # or `-- --handled`, `-- 8001`
//! nc 127.0.0.1 8000                                       # type lines, then `boom`
//! ```
//!
//! After `boom` that `nc` is cut off; a second `nc` is still served.

use std::io;
use std::net::SocketAddr;

use aio::net::{TcpListener, TcpStream};

/// The seed's `echo`: raises (panics) on `boom`.
async fn echo(connection: TcpStream) {
    let mut data = [0; 1024];
    loop {
        let n = match connection.read(&mut data).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        println!("got data!");
        if data[..n].trim_ascii_end() == b"boom" {
            panic!("Unexpected network error");
        }
        if connection.write_all(&data[..n]).await.is_err() {
            return;
        }
    }
}

/// The fixed `echo`: the failure is an error value the caller handles.
async fn echo_handled(connection: &TcpStream) -> io::Result<()> {
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

#[aio::main]
async fn main() -> io::Result<()> {
    tracing_subscriber::fmt().with_writer(io::stderr).init();
    let handled = std::env::args().any(|a| a == "--handled");
    let address = SocketAddr::from(([127, 0, 0, 1], port_from_args()));
    let server_socket = TcpListener::bind(address)?;
    println!(
        "Listening on {address} (boom is {})",
        if handled { "handled" } else { "a panic" }
    );
    loop {
        let (connection, address) = server_socket.accept().await?;
        println!("Got a connection from {address}");
        if handled {
            aio::spawn(async move {
                // try / except / finally
                if let Err(err) = echo_handled(&connection).await {
                    tracing::error!("{address}: {err}"); // logging.exception(ex)
                }
                drop(connection); // connection.close()
            });
        } else {
            // The handle is dropped: nobody will ever await this task, so
            // if it panics the loop reports it.
            let task = aio::spawn(echo(connection));
            task.set_name(format!("echo {address}"));
        }
    }
}

/// The port to listen on: the first argument that is not a flag, or 8000.
fn port_from_args() -> u16 {
    let Some(arg) = std::env::args().skip(1).find(|a| !a.starts_with("--")) else {
        return 8000;
    };
    arg.parse().unwrap_or_else(|err| {
        eprintln!("{arg:?} is not a port number ({err}); try 8001");
        std::process::exit(2)
    })
}
