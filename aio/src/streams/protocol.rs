//! The stream protocol (asyncio's `StreamReaderProtocol`): the bridge that
//! turns transport events into reader data and writer flow control, so
//! backpressure has one implementation, in the transport.

use std::io;

use super::state::{self, SharedState};
use crate::transport::{Protocol, Transport};

/// Runs once the connection is made (a server builds the reader and writer
/// and spawns the client's handler there).
pub(crate) type OnConnect = Box<dyn FnOnce(&Transport)>;

pub(crate) struct StreamProtocol {
    /// The reader's and writer's state, which this protocol feeds.
    state: SharedState,
    /// Taken by `connection_made`.
    on_connect: Option<OnConnect>,
}

impl StreamProtocol {
    pub(crate) fn new(state: SharedState, on_connect: Option<OnConnect>) -> Self {
        StreamProtocol { state, on_connect }
    }
}

impl Protocol for StreamProtocol {
    fn connection_made(&mut self, transport: &Transport) {
        self.state.borrow_mut().transport = Some(transport.clone());
        if let Some(f) = self.on_connect.take() {
            f(transport);
        }
    }

    // Receives straight into the reader's pending bytes (no copy out of
    // the loop's buffer); `data_received` still serves a transport that
    // calls it, such as TLS.
    const APPENDS: bool = true;

    fn data_received(&mut self, data: &[u8]) {
        state::feed_data(&self.state, data);
    }

    #[inline]
    fn append_received<F>(&mut self, receive: F) -> Option<io::Result<(usize, usize)>>
    where
        F: FnOnce(&mut Vec<u8>) -> io::Result<(usize, usize)>,
    {
        Some(state::receive(&self.state, receive))
    }

    fn eof_received(&mut self) -> bool {
        state::feed_eof(&self.state);
        // Keep the write side open: the task decides when to close, after
        // it has answered (half-close).
        true
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        state::connection_lost(&self.state, error);
    }

    fn pause_writing(&mut self) {
        self.state.borrow_mut().write_paused = true;
    }

    fn resume_writing(&mut self) {
        self.state.borrow_mut().write_paused = false;
        state::wake_writers(&self.state);
    }
}
