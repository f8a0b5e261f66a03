//! # aio — asyncio's networking layers, in Rust
//!
//! The layers of Python's asyncio — event loop, sockets, transports and
//! protocols, streams — on `mio`, single-threaded per loop like asyncio, and
//! thread-per-core when you want every core.
//!
//! ```text
//!  aio::streams     StreamReader / StreamWriter / open_connection / start_server
//!  aio::transport   Protocol trait, Transport, create_connection / create_server
//!  aio::net         non-blocking TcpListener / TcpStream / UdpSocket / Unix sockets
//!  aio::runtime     event loop: tasks, timers, reactor (mio), blocking pool
//!  aio::tls         TLS on rustls, a protocol between transport and streams
//! ```
//!
//! ```
//! use std::time::Duration;
//!
//! #[aio::main]
//! async fn main() {
//!     let task = aio::spawn(async {
//!         aio::sleep(Duration::from_millis(1)).await;
//!         "done"
//!     });
//!     assert_eq!(task.await, Ok("done"));
//! }
//! ```

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub,
    clippy::undocumented_unsafe_blocks
)]
#![deny(unsafe_op_in_unsafe_fn)]
#![doc(test(attr(deny(warnings))))]

pub mod net;
pub mod runtime;
pub mod signal;
pub mod streams;
pub mod sync;
pub mod time;
pub mod tls;
pub mod transport;

pub use aio_macros::{main, test};
pub use runtime::{
    all_tasks, call_later, call_soon, current_task, run, set_error_handler, spawn, spawn_blocking,
    yield_now, GroupError, Handle, Runtime, Task, TaskError, TaskGroup, TaskRef, TimerHandle,
};
pub use streams::{open_connection, start_server};
pub use time::{sleep, sleep_until, timeout, Elapsed};
pub use transport::{create_connection, create_server};
