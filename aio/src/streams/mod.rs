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
//! - `state` — what the reader, the writer and the protocol share: one
//!   allocation per connection.
//! - `reader` — the reads (`readline`, `readuntil`, `readexactly`, ...),
//!   cancel-safe: nothing is consumed until a read completes; the `_ref`
//!   variants lend the bytes instead of copying them.
//! - `search` — the separators a read looks for (`memchr` for lines).
//! - `buffer` — the reader's own buffer, swapped with the shared one so
//!   that, line by line, nothing is copied twice or allocated.
//! - `adapters` — `lines()` as a `Stream`, and the `futures-io` traits.
//! - `writer` — `write`/`drain`/`close`.
//! - `protocol` — the bridge from transport events.
//! - `connect` — `open_connection`, `start_server` and their options.
//! - `stdio` — `stdin()` / `stdout()`.
//! - `error` — `IncompleteReadError`, `LimitOverrunError`, `StreamError`.

mod adapters;
mod buffer;
mod connect;
mod error;
mod protocol;
mod reader;
mod search;
mod state;
mod stdio;
mod writer;

pub use adapters::Lines;
pub use connect::{
    open_connection, open_connection_with, open_unix_connection, start_server, start_server_with,
    start_unix_server, StreamOptions,
};
pub use error::{IncompleteReadError, LimitOverrunError, StreamError};
pub use reader::{ReadLineRef, StreamFeeder, StreamReader, DEFAULT_LIMIT};
pub use stdio::{stdin, stdout};
pub use writer::StreamWriter;
