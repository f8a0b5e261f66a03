//! The errors of the stream reader, each carrying its data as asyncio's do.

use std::fmt;
use std::io;

/// The stream ended before the requested data (asyncio's
/// `IncompleteReadError`). `partial` holds what was read; it is no longer
/// in the reader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct IncompleteReadError {
    /// The bytes read before EOF.
    pub partial: Vec<u8>,
    /// How many bytes were asked for; `None` when reading to a separator.
    pub expected: Option<usize>,
}

impl fmt::Display for IncompleteReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.expected {
            Some(n) => write!(
                f,
                "{} bytes read on a total of {n} expected bytes",
                self.partial.len()
            ),
            None => write!(
                f,
                "{} bytes read before EOF, separator not found",
                self.partial.len()
            ),
        }
    }
}

/// The separator was not found within the reader's limit (asyncio's
/// `LimitOverrunError`). Nothing was consumed: the reader still holds the
/// data, and `consumed` says how many of its bytes were searched. Take
/// them with `read(consumed)` (or `readexactly`) to skip them, or close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LimitOverrunError {
    /// What went wrong, in asyncio's words.
    pub message: &'static str,
    /// How many buffered bytes are known not to hold a (complete) line.
    pub consumed: usize,
}

/// Why a stream read failed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// EOF came first.
    #[error(transparent)]
    Incomplete(#[from] IncompleteReadError),
    /// The separator was not found within the limit.
    #[error(transparent)]
    LimitOverrun(#[from] LimitOverrunError),
    /// The connection failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl StreamError {
    /// True for [`StreamError::Incomplete`].
    pub fn is_incomplete(&self) -> bool {
        matches!(self, StreamError::Incomplete(_))
    }

    /// True for [`StreamError::LimitOverrun`].
    pub fn is_limit_overrun(&self) -> bool {
        matches!(self, StreamError::LimitOverrun(_))
    }
}

impl From<StreamError> for io::Error {
    fn from(e: StreamError) -> io::Error {
        match e {
            StreamError::Io(e) => e,
            StreamError::Incomplete(e) => io::Error::new(io::ErrorKind::UnexpectedEof, e),
            StreamError::LimitOverrun(e) => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}

/// Copies an `io::Error` (which is not `Clone`) for every reader and
/// writer call that must report it.
pub(crate) fn copy_error(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), e.to_string())
}
