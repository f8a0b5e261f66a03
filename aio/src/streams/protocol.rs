//! The stream protocol (asyncio's `StreamReaderProtocol`): the bridge that
//! turns transport events into reader data and writer flow control, so
//! backpressure has one implementation, in the transport.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use super::error::copy_error;
use super::reader::{self, ReaderState};
use crate::sync::{wake_all, WaitList};
use crate::transport::{Protocol, Transport};

/// What the writer side learns from the protocol.
#[derive(Debug, Default)]
pub(crate) struct WriterState {
    /// The transport's buffer is above its high-water mark.
    pub(crate) paused: bool,
    /// `connection_lost` has run.
    pub(crate) lost: bool,
    /// The error the connection was lost with, if any.
    pub(crate) error: Option<io::Error>,
    /// Tasks in `drain`.
    pub(crate) drain_waiters: WaitList,
    /// Tasks in `wait_closed`.
    pub(crate) closed_waiters: WaitList,
}

/// Runs once the connection is made (a server builds the reader and writer
/// and spawns the client's handler there).
pub(crate) type OnConnect = Box<dyn FnOnce(&Transport)>;

pub(crate) struct StreamProtocol {
    reader: Rc<RefCell<ReaderState>>,
    writer: Rc<RefCell<WriterState>>,
    on_connect: Option<OnConnect>,
}

impl StreamProtocol {
    pub(crate) fn new(
        reader: Rc<RefCell<ReaderState>>,
        writer: Rc<RefCell<WriterState>>,
        on_connect: Option<OnConnect>,
    ) -> Self {
        StreamProtocol {
            reader,
            writer,
            on_connect,
        }
    }
}

impl Protocol for StreamProtocol {
    fn connection_made(&mut self, transport: &Transport) {
        reader::set_transport(&self.reader, transport.clone());
        if let Some(f) = self.on_connect.take() {
            f(transport);
        }
    }

    fn data_received(&mut self, data: &[u8]) {
        reader::feed_data(&self.reader, data);
    }

    fn eof_received(&mut self) -> bool {
        reader::feed_eof(&self.reader);
        // Keep the write side open: the task decides when to close, after
        // it has answered (half-close).
        true
    }

    fn connection_lost(&mut self, error: Option<io::Error>) {
        match &error {
            Some(e) => reader::set_exception(&self.reader, copy_error(e)),
            None => reader::feed_eof(&self.reader),
        }
        let mut w = self.writer.borrow_mut();
        w.lost = true;
        w.error = error;
        let mut wakers = w.drain_waiters.take();
        wakers.extend(w.closed_waiters.take());
        drop(w);
        wake_all(wakers);
    }

    fn pause_writing(&mut self) {
        self.writer.borrow_mut().paused = true;
    }

    fn resume_writing(&mut self) {
        let mut w = self.writer.borrow_mut();
        w.paused = false;
        let wakers = w.drain_waiters.take();
        drop(w);
        wake_all(wakers);
    }
}
