//! Streams (asyncio's high-level networking API): [`StreamReader`] and
//! [`StreamWriter`], [`open_connection`], [`start_server`], and async
//! [`stdin`].
//!
//! # Design
//!
//! Exactly as asyncio: a stream is a transport whose protocol
//! (`StreamProtocol`, asyncio's `StreamReaderProtocol`) feeds a reader's
//! buffer and tracks the writer's flow control. So backpressure lives in
//! one place, the transport: the reader pauses reading when its buffer
//! passes twice its limit and resumes when drained to the limit; the writer
//! waits in `drain` while the transport's write buffer is above its
//! high-water mark.
//!
//! - `reader` — the buffer and its reads (`readline`, `readuntil`,
//!   `readexactly`, ...), cancel-safe: nothing is consumed until a read
//!   completes.
//! - `writer` — `write`/`drain`/`close`.
//! - `protocol` — the bridge from transport events.
//! - `connect` — `open_connection`, `start_server` and their options.
//! - `stdio` — `stdin()` / `stdout()`.
//! - `error` — `IncompleteReadError`, `LimitOverrunError`, `StreamError`.

mod connect;
mod error;
mod protocol;
mod reader;
mod stdio;
mod writer;

pub use connect::{
    open_connection, open_connection_with, open_unix_connection, start_server, start_server_with,
    start_unix_server, StreamOptions,
};
pub use error::{IncompleteReadError, LimitOverrunError, StreamError};
pub use reader::{Lines, StreamFeeder, StreamReader, DEFAULT_LIMIT};
pub use stdio::{stdin, stdout};
pub use writer::StreamWriter;
