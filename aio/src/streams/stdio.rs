//! Async stdin and stdout (the seeds' `create_stdin_reader`, built the same
//! way: `connect_read_pipe` with a stream protocol).
//!
//! No thread sits blocked in `read`: stdin is watched by epoll like a
//! socket. A pipe or terminal is reopened through `/proc/self/fd` so the
//! shell's shared descriptor keeps its blocking mode; a regular file (input
//! redirected from a file) is read as an always-ready source.

use std::io;
use std::os::fd::AsFd;

use super::protocol::StreamProtocol;
use super::reader::{StreamReader, DEFAULT_LIMIT};
use super::state::StreamState;
use super::writer::StreamWriter;
use crate::transport::{connect_read_pipe, connect_write_pipe};

/// An async reader of this process's stdin. Reads are cancel-safe: a
/// `readline` cut short by a timeout loses no keystroke, it stays buffered.
///
/// ```no_run
/// aio::run(async {
///     let mut stdin = aio::streams::stdin()?;
///     while let Ok(line) = stdin.readline().await {
///         if line.is_empty() {
///             break; // EOF
///         }
///         print!("you typed: {}", String::from_utf8_lossy(&line));
///     }
///     Ok::<(), std::io::Error>(())
/// }).unwrap();
/// ```
///
/// # Errors
///
/// When stdin is closed or cannot be watched.
pub fn stdin() -> io::Result<StreamReader> {
    let fd = io::stdin().as_fd().try_clone_to_owned()?;
    let reader = StreamReader::new();
    let protocol = StreamProtocol::new(reader.shared(), None);
    connect_read_pipe(move || protocol, fd)?;
    Ok(reader)
}

/// An async writer to this process's stdout, with the transport's flow
/// control (`drain` waits while a slow terminal or pipe lags).
///
/// # Errors
///
/// When stdout is closed or cannot be watched.
pub fn stdout() -> io::Result<StreamWriter> {
    let fd = io::stdout().as_fd().try_clone_to_owned()?;
    let state = StreamState::new_shared(DEFAULT_LIMIT);
    let protocol = StreamProtocol::new(state.clone(), None);
    let (transport, _) = connect_write_pipe(move || protocol, fd)?;
    Ok(StreamWriter::new(transport, state))
}
